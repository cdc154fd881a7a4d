/**
 * The address families a simulated node announces its blocks in, as the
 * fleet (sim-fleet.ts) sees them: which addresses a node's and a
 * reflector's sessions use, how a block is encoded and read back, and what
 * next hop each node's blocks must carry. One `Fleet` plays one family, so a
 * dual-stack run (`--ipv6`) is two fleets over the same nodes, as Calico
 * runs separate IPv4 and IPv6 sessions (bird / bird6, or BIRD 2's two
 * channels), each between the two ends' addresses of that family.
 *
 * Blocks and next hops are named by 32-bit numbers in both families (an
 * IPv6 block or node address shares its upper 96 bits with all the others,
 * sim-topology.ts), so the fleet's per-byte bookkeeping is the same.
 */
import { Afi, DEFAULT_CONTEXT, PrefixList, encodeMessage, endOfRib, packUpdates, type AfiCode, type PathAttributes } from '../../src/bgp/packet/index.js';
import { isIpv4EndOfRib, isIpv6EndOfRib, scanIpv4Update, scanIpv6Update, type UpdateVisitor } from './raw-update.js';
import {
  BLOCK6_LEN,
  BLOCK_LEN,
  NODE6_HIGH,
  POOL6_HIGH,
  block6Index,
  block6Low,
  block6Text,
  blockIndex,
  blockInt,
  intToIp,
  nodeAddress,
  nodeAddress6,
  nodeAddress6Low,
  nodeAddressInt,
  reflectorAddress,
  reflectorAddress6,
} from './sim-topology.js';

export interface SimFamily {
  readonly afi: AfiCode;
  /** "IPv4" or "IPv6", for messages. */
  readonly name: string;
  readonly blockLen: number;
  /** Node c's session address in this family (its BGP identifier stays its IPv4 address). */
  nodeAddress(c: number): string;
  reflectorAddress(j: number): string;
  /** The next hop node c's blocks must carry, as `scan` reports it. */
  nextHopKey(c: number): number;
  /** A block's index from what `scan` reports (address, length), or -1 when it is not one of the blocks. */
  blockOf(addr: number, len: number): number;
  blockText(b: number): string;
  isEndOfRib(msg: Buffer): boolean;
  scan(msg: Buffer, v: UpdateVisitor): void;
  /** Node c's announcement of `blocks` (packed UPDATEs, its own address as next hop). */
  announce(c: number, blocks: readonly number[]): Buffer[];
  withdraw(blocks: readonly number[]): Buffer;
  endOfRib(): Buffer;
}

/** ORIGIN IGP, empty AS_PATH, LOCAL_PREF 100: what a node's BIRD sends its reflector. */
const attrs = (): PathAttributes => ({ origin: 0, asPath: [], localPref: 100 });

export const IPV4: SimFamily = {
  afi: Afi.IPV4,
  name: 'IPv4',
  blockLen: BLOCK_LEN,
  nodeAddress,
  reflectorAddress,
  nextHopKey: nodeAddressInt,
  blockOf: (addr, len) => (len === BLOCK_LEN ? blockIndex(addr) : -1),
  blockText: (b) => `${intToIp(blockInt(b))}/${BLOCK_LEN}`,
  isEndOfRib: isIpv4EndOfRib,
  scan: scanIpv4Update,
  announce: (c, blocks) => packUpdates(v4Prefixes(blocks), { ...attrs(), nextHop: intToIp(nodeAddressInt(c)) }, DEFAULT_CONTEXT),
  withdraw: (blocks) => encodeMessage({ type: 'UPDATE', withdrawn: v4Prefixes(blocks), attributes: {}, nlri: PrefixList.empty(Afi.IPV4) }, DEFAULT_CONTEXT),
  endOfRib: () => encodeMessage(endOfRib(Afi.IPV4), DEFAULT_CONTEXT),
};

function v4Prefixes(blocks: readonly number[]): PrefixList {
  return new PrefixList(Afi.IPV4, new Uint8Array(blocks.length).fill(BLOCK_LEN), Uint32Array.from(blocks, blockInt), null);
}

function v6Prefixes(blocks: readonly number[]): PrefixList {
  const words = new Uint32Array(blocks.length * 4);
  blocks.forEach((b, i) => {
    words.set(POOL6_HIGH, 4 * i);
    words[4 * i + 3] = block6Low(b);
  });
  return new PrefixList(Afi.IPV6, new Uint8Array(blocks.length).fill(BLOCK6_LEN), words, null);
}

const RANGES6 = { prefixHigh: POOL6_HIGH, nextHopHigh: NODE6_HIGH };

export const IPV6: SimFamily = {
  afi: Afi.IPV6,
  name: 'IPv6',
  blockLen: BLOCK6_LEN,
  nodeAddress: nodeAddress6,
  reflectorAddress: reflectorAddress6,
  nextHopKey: nodeAddress6Low,
  blockOf: (addr, len) => (len === BLOCK6_LEN ? block6Index(addr) : -1),
  blockText: (b) => `${block6Text(b)}/${BLOCK6_LEN}`,
  isEndOfRib: isIpv6EndOfRib,
  scan: (msg, v) => scanIpv6Update(msg, RANGES6, v),
  announce: (c, blocks) => packUpdates(v6Prefixes(blocks), attrs(), DEFAULT_CONTEXT, [nodeAddress6(c)]),
  withdraw: (blocks) =>
    encodeMessage({ type: 'UPDATE', withdrawn: PrefixList.empty(Afi.IPV4), attributes: { mpUnreach: { afi: Afi.IPV6, safi: 1, withdrawn: v6Prefixes(blocks) } }, nlri: PrefixList.empty(Afi.IPV4) }, DEFAULT_CONTEXT),
  endOfRib: () => encodeMessage(endOfRib(Afi.IPV6), DEFAULT_CONTEXT),
};
