/**
 * Calico's routing policy, as its BIRD filters express it, for the native
 * speaker:
 *
 * Export (`calico_export_to_bgp_peers`): per-prefix communities first
 * (`apply_communities`), then this node's blocks (`calico_aggr`: a
 * confirmed block itself is accepted, anything inside one of our blocks is
 * rejected), then any route inside an IP pool that allows BGP export, then
 * the static (service) routes; everything else is rejected.
 *
 * Import: accept everything, as Calico does ("we don't know what the
 * upstream topology is and therefore have to trust the ToR/RR"), with two
 * opt-in filters (only routes inside pools; never routes inside reject
 * CIDRs), plus the loop checks every BGP speaker must make.
 */
import { Afi, PrefixList, type PathAttributes } from '../packet/index.js';
import { maskWord, parseIpv4, parseIpv6, parsePrefixLength } from '../../net/ip.js';
import type { NodeBgpConfig, PrefixCommunities } from '../../model/types.js';
import { type PrefixKey, ipv4KeyAddr, ipv4KeyLen } from '../rib/prefix-key.js';

/** A CIDR in a form that makes containment a few integer operations. */
export interface Cidr {
  afi: 1 | 2;
  words: number[];
  len: number;
  text: string;
}

/** Parses `addr/len` (strictly, as src/net does) into the word form; undefined when invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addr = text.slice(0, slash);
  if (addr.includes(':')) {
    const w = parseIpv6(addr);
    const len = parsePrefixLength(text, slash + 1, text.length, 128);
    if (w === undefined || len === undefined) return undefined;
    return { afi: 2, words: w.map((x, i) => maskWord(x, len - 32 * i)), len, text };
  }
  const v = parseIpv4(addr);
  const len = parsePrefixLength(text, slash + 1, text.length, 32);
  if (v === undefined || len === undefined) return undefined;
  return { afi: 1, words: [maskWord(v, len)], len, text };
}

/** Is prefix (words, len) inside `outer` (equal counts as inside, like BIRD's `~`)? */
export function within(afi: number, words: ArrayLike<number>, len: number, outer: Cidr): boolean {
  if (afi !== outer.afi || len < outer.len) return false;
  for (let i = 0; i < outer.words.length; i++) {
    if (maskWord(words[i]!, outer.len - 32 * i) !== outer.words[i]) return false;
  }
  return true;
}

/** Prefix text -> (afi, words, len). */
export function prefixParts(text: string): { afi: 1 | 2; words: number[]; len: number } {
  const c = parseCidr(text);
  if (c === undefined) throw new RangeError(`invalid prefix '${text}'`);
  return { afi: c.afi, words: c.words, len: c.len };
}

/**
 * The policy's view of a RIB key (afi, address words, length). IPv4 keys
 * share one words array: the policy reads it and keeps nothing, and this
 * runs per prefix on every import and export.
 */
const IPV4_WORDS = [0];
export function keyParts(key: PrefixKey): { afi: number; words: ArrayLike<number>; len: number } {
  if (typeof key !== 'number') return prefixParts(key);
  const len = ipv4KeyLen(key);
  IPV4_WORDS[0] = ipv4KeyAddr(key, len);
  return { afi: 1, words: IPV4_WORDS, len };
}

export type ExportDecision = { accept: true; communities: number[]; largeCommunities: [number, number, number][] } | { accept: false; reason: string };

/** Decisions shared by every prefix they apply to (never mutated: readers copy communities). */
const ACCEPT_PLAIN: ExportDecision = Object.freeze({ accept: true as const, communities: [], largeCommunities: [] });
const NOT_EXPORTED: ExportDecision = Object.freeze({ accept: false as const, reason: 'not in a pool, block or advertised service range' });

/** The parts of the model the export filter needs, pre-parsed once per model. */
export class CalicoPolicy {
  private readonly blocks: { cidr: Cidr; confirmed: boolean }[] = [];
  private readonly exportPools: Cidr[] = [];
  private readonly allPools: Cidr[] = [];
  private readonly staticRoutes: Cidr[] = [];
  private readonly rejectCidrs: Cidr[] = [];
  private readonly communities: { cidr: Cidr; communities: number[]; large: [number, number, number][] }[] = [];

  constructor(
    model: NodeBgpConfig,
    private readonly options: { importOnlyPools?: boolean; importRejectCidrs?: boolean } = {},
  ) {
    for (const fam of [model.ipv4, model.ipv6]) {
      for (const b of fam.blocks) {
        const cidr = parseCidr(b.cidr);
        if (cidr !== undefined) this.blocks.push({ cidr, confirmed: b.confirmed });
      }
      for (const p of fam.pools) {
        const cidr = parseCidr(p.cidr);
        if (cidr === undefined) continue;
        this.allPools.push(cidr);
        if (!p.disableBGPExport) this.exportPools.push(cidr);
      }
      for (const s of fam.staticRoutes) {
        const cidr = parseCidr(s);
        if (cidr !== undefined) this.staticRoutes.push(cidr);
      }
      for (const r of fam.rejectCidrs) {
        const cidr = parseCidr(r);
        if (cidr !== undefined) this.rejectCidrs.push(cidr);
      }
      for (const c of fam.communities) this.addCommunities(c);
    }
  }

  private addCommunities(c: PrefixCommunities): void {
    const cidr = parseCidr(c.cidr);
    if (cidr === undefined) return;
    const communities = c.communities.map((t) => {
      const [a, b] = t.split(':').map(Number);
      return (((a ?? 0) << 16) | ((b ?? 0) & 0xffff)) >>> 0;
    });
    const large = c.largeCommunities.map((t) => t.split(':').map(Number) as [number, number, number]);
    this.communities.push({ cidr, communities, large });
  }

  /** The export filter for one prefix (all peers get the same Calico filter). */
  exportPrefix(afi: number, words: ArrayLike<number>, len: number): ExportDecision {
    // Without community rules (the common case) an accepted prefix shares one decision object.
    if (this.communities.length === 0) return this.exportVerdict(afi, words, len, ACCEPT_PLAIN);
    // apply_communities(): every matching prefix advertisement adds its communities.
    const communities: number[] = [];
    const large: [number, number, number][] = [];
    for (const c of this.communities) {
      if (within(afi, words, len, c.cidr)) {
        communities.push(...c.communities);
        large.push(...c.large);
      }
    }
    return this.exportVerdict(afi, words, len, { accept: true, communities, largeCommunities: large });
  }

  /** Accept (with `accepted`) or not, by Calico's blocks, pools and advertised service ranges. */
  private exportVerdict(afi: number, words: ArrayLike<number>, len: number, accepted: ExportDecision): ExportDecision {
    // calico_aggr(): our own blocks.
    for (const b of this.blocks) {
      if (!within(afi, words, len, b.cidr)) continue;
      if (b.confirmed && len === b.cidr.len) return accepted;
      return { accept: false, reason: b.confirmed ? `inside our block ${b.cidr.text}` : `our block ${b.cidr.text} is not confirmed` };
    }
    for (const p of this.exportPools) if (within(afi, words, len, p)) return accepted;
    for (const s of this.staticRoutes) if (within(afi, words, len, s)) return accepted;
    return NOT_EXPORTED;
  }

  /** The opt-in import filters; undefined = accept. */
  importPrefix(afi: number, words: ArrayLike<number>, len: number): string | undefined {
    if (this.options.importRejectCidrs === true) {
      for (const r of this.rejectCidrs) if (within(afi, words, len, r)) return `inside reject CIDR ${r.text}`;
    }
    if (this.options.importOnlyPools === true && !this.allPools.some((p) => within(afi, words, len, p))) return 'outside every IP pool';
    return undefined;
  }
}

/** Why a received route is unusable whatever the policy (RFC 4271, RFC 4456). */
export type LoopReason = 'asPathLoop' | 'originatorIsUs' | 'clusterListLoop';

export function loopCheck(
  attrs: Readonly<PathAttributes>,
  self: { localAs: number; routerId: string; clusterId: string | null },
  fromExternal: boolean,
): LoopReason | undefined {
  // RFC 4271 section 9.1.2: routes whose AS_PATH contains our own AS (from
  // an external peer) are excluded.
  if (fromExternal && attrs.asPath?.some((s) => s.asns.includes(self.localAs))) return 'asPathLoop';
  // RFC 4456 section 8: "A router that recognizes the ORIGINATOR_ID attribute
  // SHOULD ignore a route received with its BGP Identifier as the ORIGINATOR_ID."
  if (attrs.originatorId === self.routerId) return 'originatorIsUs';
  // "If the local CLUSTER_ID is found in the CLUSTER_LIST, the advertisement
  //  received SHOULD be ignored."
  if (self.clusterId !== null && attrs.clusterList?.includes(self.clusterId)) return 'clusterListLoop';
  return undefined;
}

/** Helper for tests and the speaker: export decision for prefix text. */
export function exportPrefixText(policy: CalicoPolicy, text: string): ExportDecision {
  const p = prefixParts(text);
  return policy.exportPrefix(p.afi, p.words, p.len);
}

export { PrefixList, Afi };
