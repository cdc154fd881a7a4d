/**
 * The JSON form of messages: what `calico-bgpd decode` prints, what test
 * fixtures are written in, and what test tools build messages from. Both
 * directions live here so the two can never drift apart.
 */
import type { AddPathMode, Capability } from './capabilities.js';
import { Afi, type AfiCode, CapCode } from './iana.js';
import type { DecodedMessage, BgpMessage } from './message.js';
import { shutdownCommunication } from './notification.js';
import { PrefixList } from './prefix.js';
import type { AsPathSegment, Origin, PathAttributes, SegmentTypeCode } from './attributes/types.js';
import { endOfRibFamily } from './update.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const ORIGIN_NAMES = ['igp', 'egp', 'incomplete'] as const;
const SEGMENT_NAMES: Record<SegmentTypeCode, string> = { 1: 'set', 2: 'sequence', 3: 'confedSequence', 4: 'confedSet' };
const SEGMENT_CODES: Record<string, SegmentTypeCode> = { set: 1, sequence: 2, confedSequence: 3, confedSet: 4 };

// ---------------------------------------------------------------------------
// to JSON
// ---------------------------------------------------------------------------

export function prefixesToJson(list: PrefixList): Json[] {
  const out: Json[] = new Array(list.count);
  for (let i = 0; i < list.count; i++) {
    out[i] = list.pathIds === null ? list.prefixString(i) : { prefix: list.prefixString(i), pathId: list.pathIds[i]! };
  }
  return out;
}

function communityText(c: number): string {
  return `${c >>> 16}:${c & 0xffff}`;
}

export function attributesToJson(a: PathAttributes): JsonObject {
  const o: JsonObject = {};
  if (a.origin !== undefined) o.origin = ORIGIN_NAMES[a.origin];
  if (a.asPath !== undefined) o.asPath = a.asPath.map((s) => ({ type: SEGMENT_NAMES[s.type], asns: [...s.asns] }));
  if (a.nextHop !== undefined) o.nextHop = a.nextHop;
  if (a.med !== undefined) o.med = a.med;
  if (a.localPref !== undefined) o.localPref = a.localPref;
  if (a.atomicAggregate === true) o.atomicAggregate = true;
  if (a.aggregator !== undefined) o.aggregator = { as: a.aggregator.as, address: a.aggregator.address };
  if (a.communities !== undefined) o.communities = a.communities.map(communityText);
  if (a.originatorId !== undefined) o.originatorId = a.originatorId;
  if (a.clusterList !== undefined) o.clusterList = [...a.clusterList];
  if (a.mpReach !== undefined) {
    o.mpReach = { afi: a.mpReach.afi, safi: a.mpReach.safi, nextHops: [...a.mpReach.nextHops], nlri: prefixesToJson(a.mpReach.nlri) };
  }
  if (a.mpUnreach !== undefined) {
    o.mpUnreach = { afi: a.mpUnreach.afi, safi: a.mpUnreach.safi, withdrawn: prefixesToJson(a.mpUnreach.withdrawn) };
  }
  if (a.extendedCommunities !== undefined) o.extendedCommunities = [...a.extendedCommunities];
  if (a.largeCommunities !== undefined) o.largeCommunities = a.largeCommunities.map(([g, l1, l2]) => `${g}:${l1}:${l2}`);
  if (a.unknown !== undefined) o.unknown = a.unknown.map((u) => ({ type: u.type, flags: u.flags, data: u.data.toString('hex') }));
  return o;
}

export function messageToJson(msg: DecodedMessage | BgpMessage): JsonObject {
  switch (msg.type) {
    case 'OPEN':
      return {
        type: 'OPEN',
        version: msg.version,
        myAs: msg.myAs,
        holdTime: msg.holdTime,
        bgpId: msg.bgpId,
        capabilities: msg.capabilities.map((c): Json => ({ ...c })),
      };
    case 'UPDATE': {
      const o: JsonObject = {
        type: 'UPDATE',
        withdrawn: prefixesToJson(msg.withdrawn),
        attributes: attributesToJson(msg.attributes),
        nlri: prefixesToJson(msg.nlri),
      };
      const eor = endOfRibFamily(msg);
      if (eor !== undefined) o.endOfRib = { afi: eor.afi, safi: eor.safi };
      return o;
    }
    case 'NOTIFICATION': {
      const o: JsonObject = { type: 'NOTIFICATION', code: msg.code, subcode: msg.subcode, data: msg.data.toString('hex') };
      const text = shutdownCommunication(msg);
      if (text !== undefined) o.shutdownMessage = text;
      return o;
    }
    case 'KEEPALIVE':
      return { type: 'KEEPALIVE' };
    case 'ROUTE-REFRESH':
      return { type: 'ROUTE-REFRESH', afi: msg.afi, safi: msg.safi, subtype: msg.subtype };
  }
}

// ---------------------------------------------------------------------------
// from JSON
// ---------------------------------------------------------------------------

function bad(what: string): never {
  throw new RangeError(`invalid message JSON: ${what}`);
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(`${what} must be an object`);
  return v as Record<string, unknown>;
}

function num(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) bad(`${what} must be an unsigned integer`);
  return v;
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') bad(`${what} must be a string`);
  return v;
}

function arr(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) bad(`${what} must be an array`);
  return v;
}

export function prefixesFromJson(afi: AfiCode, v: unknown, what: string): PrefixList {
  const items = arr(v ?? [], what);
  if (items.length === 0) return PrefixList.empty(afi);
  const withIds = typeof items[0] === 'object';
  const texts: string[] = [];
  const ids: number[] = [];
  for (const item of items) {
    if (withIds) {
      const o = obj(item, `${what} entry`);
      texts.push(str(o.prefix, `${what}.prefix`));
      ids.push(num(o.pathId, `${what}.pathId`));
    } else {
      texts.push(str(item, `${what} entry`));
    }
  }
  return PrefixList.fromStrings(afi, texts, withIds ? ids : undefined);
}

function familyAfi(afi: number): AfiCode {
  if (afi !== Afi.IPV4 && afi !== Afi.IPV6) bad(`unsupported AFI ${afi}`);
  return afi;
}

function parseCommunity(text: string): number {
  const m = /^(\d+):(\d+)$/.exec(text);
  if (m === null || Number(m[1]) > 0xffff || Number(m[2]) > 0xffff) bad(`community '${text}'`);
  return ((Number(m[1]) << 16) | Number(m[2])) >>> 0;
}

export function attributesFromJson(v: unknown): PathAttributes {
  const o = obj(v ?? {}, 'attributes');
  const a: PathAttributes = {};
  if (o.origin !== undefined) {
    const i = ORIGIN_NAMES.indexOf(o.origin as (typeof ORIGIN_NAMES)[number]);
    if (i < 0) bad(`origin '${String(o.origin)}'`);
    a.origin = i as Origin;
  }
  if (o.asPath !== undefined) {
    a.asPath = arr(o.asPath, 'asPath').map((s): AsPathSegment => {
      const seg = obj(s, 'asPath segment');
      const type = SEGMENT_CODES[str(seg.type, 'segment type')];
      if (type === undefined) bad(`segment type '${String(seg.type)}'`);
      return { type, asns: arr(seg.asns, 'asns').map((n) => num(n, 'asn')) };
    });
  }
  if (o.nextHop !== undefined) a.nextHop = str(o.nextHop, 'nextHop');
  if (o.med !== undefined) a.med = num(o.med, 'med');
  if (o.localPref !== undefined) a.localPref = num(o.localPref, 'localPref');
  if (o.atomicAggregate === true) a.atomicAggregate = true;
  if (o.aggregator !== undefined) {
    const g = obj(o.aggregator, 'aggregator');
    a.aggregator = { as: num(g.as, 'aggregator.as'), address: str(g.address, 'aggregator.address') };
  }
  if (o.communities !== undefined) a.communities = arr(o.communities, 'communities').map((c) => parseCommunity(str(c, 'community')));
  if (o.originatorId !== undefined) a.originatorId = str(o.originatorId, 'originatorId');
  if (o.clusterList !== undefined) a.clusterList = arr(o.clusterList, 'clusterList').map((c) => str(c, 'cluster id'));
  if (o.mpReach !== undefined) {
    const m = obj(o.mpReach, 'mpReach');
    const afi = familyAfi(num(m.afi, 'mpReach.afi'));
    a.mpReach = {
      afi,
      safi: num(m.safi, 'mpReach.safi'),
      nextHops: arr(m.nextHops, 'mpReach.nextHops').map((n) => str(n, 'next hop')),
      nlri: prefixesFromJson(afi, m.nlri, 'mpReach.nlri'),
    };
  }
  if (o.mpUnreach !== undefined) {
    const m = obj(o.mpUnreach, 'mpUnreach');
    const afi = familyAfi(num(m.afi, 'mpUnreach.afi'));
    a.mpUnreach = { afi, safi: num(m.safi, 'mpUnreach.safi'), withdrawn: prefixesFromJson(afi, m.withdrawn, 'mpUnreach.withdrawn') };
  }
  if (o.extendedCommunities !== undefined) {
    a.extendedCommunities = arr(o.extendedCommunities, 'extendedCommunities').map((c) => str(c, 'extended community').toLowerCase());
  }
  if (o.largeCommunities !== undefined) {
    a.largeCommunities = arr(o.largeCommunities, 'largeCommunities').map((c) => {
      const m = /^(\d+):(\d+):(\d+)$/.exec(str(c, 'large community'));
      if (m === null) bad(`large community '${String(c)}'`);
      return [num(Number(m[1]), 'global'), num(Number(m[2]), 'local1'), num(Number(m[3]), 'local2')];
    });
  }
  if (o.unknown !== undefined) {
    a.unknown = arr(o.unknown, 'unknown').map((u) => {
      const x = obj(u, 'unknown attribute');
      return { type: num(x.type, 'type'), flags: num(x.flags, 'flags'), data: Buffer.from(str(x.data, 'data'), 'hex') };
    });
  }
  return a;
}

function bounded(v: unknown, max: number, what: string): number {
  const n = num(v, what);
  if (n > max) bad(`${what} must be at most ${max}`);
  return n;
}

function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') bad(`${what} must be true or false`);
  return v;
}

/** A capability value's field must fit in one octet of the length byte. */
function shortText(v: unknown, what: string): string {
  const s = str(v, what);
  if (Buffer.byteLength(s) > 255) bad(`${what} must be at most 255 bytes`);
  return s;
}

const ADD_PATH_MODE_NAMES: readonly AddPathMode[] = ['receive', 'send', 'both'];

/** Each family entry of a per-family capability, with its AFI (2 octets) and SAFI. */
function families<T>(o: Record<string, unknown>, what: string, safiMax: number, rest: (f: Record<string, unknown>, at: string) => T): ({ afi: number; safi: number } & T)[] {
  return arr(o.families, `${what}.families`).map((item, i) => {
    const at = `${what}.families[${i}]`;
    const f = obj(item, at);
    return { afi: bounded(f.afi, 0xffff, `${at}.afi`), safi: bounded(f.safi, safiMax, `${at}.safi`), ...rest(f, at) };
  });
}

/**
 * One capability from its JSON form, each field checked against what its
 * wire encoding can carry, so a bad fixture fails here with the field's name
 * rather than producing a wrong OPEN. A capability in its raw form
 * (`{code, data}`: unknown codes, or a known one we could not parse) passes
 * through as even-length hex.
 */
export function capabilityFromJson(v: unknown, index: number): Capability {
  const what = `capabilities[${index}]`;
  const o = obj(v, what);
  const code = bounded(o.code, 255, `${what}.code`);
  if (o.data !== undefined) {
    const data = str(o.data, `${what}.data`);
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(data)) bad(`${what}.data must be hex octets`);
    if (data.length / 2 > 255) bad(`${what}.data must be at most 255 octets`);
    return { code, data: data.toLowerCase() };
  }
  switch (code) {
    case CapCode.MULTIPROTOCOL:
      return { code, afi: bounded(o.afi, 0xffff, `${what}.afi`), safi: bounded(o.safi, 0xff, `${what}.safi`) };
    case CapCode.ROUTE_REFRESH:
      return { code };
    case CapCode.EXTENDED_MESSAGE:
      return { code };
    case CapCode.ENHANCED_ROUTE_REFRESH:
      return { code };
    case CapCode.EXTENDED_NEXT_HOP:
      return { code, families: families(o, what, 0xffff, (f, at) => ({ nextHopAfi: bounded(f.nextHopAfi, 0xffff, `${at}.nextHopAfi`) })) };
    case CapCode.GRACEFUL_RESTART:
      return {
        code,
        restartState: bool(o.restartState, `${what}.restartState`),
        notification: bool(o.notification ?? false, `${what}.notification`),
        restartTime: bounded(o.restartTime, 0x0fff, `${what}.restartTime`),
        families: families(o, what, 0xff, (f, at) => ({ forwardingState: bool(f.forwardingState, `${at}.forwardingState`) })),
      };
    case CapCode.FOUR_OCTET_AS:
      return { code, asn: num(o.asn, `${what}.asn`) };
    case CapCode.ADD_PATH:
      return {
        code,
        families: families(o, what, 0xff, (f, at) => {
          const mode = ADD_PATH_MODE_NAMES.find((m) => m === f.mode);
          if (mode === undefined) bad(`${at}.mode must be one of ${ADD_PATH_MODE_NAMES.join(', ')}`);
          return { mode };
        }),
      };
    case CapCode.LONG_LIVED_GRACEFUL_RESTART:
      return {
        code,
        families: families(o, what, 0xff, (f, at) => ({
          forwardingState: bool(f.forwardingState, `${at}.forwardingState`),
          staleTime: bounded(f.staleTime, 0xffffff, `${at}.staleTime`),
        })),
      };
    case CapCode.FQDN:
      return { code, hostname: shortText(o.hostname, `${what}.hostname`), domain: shortText(o.domain ?? '', `${what}.domain`) };
    default:
      return bad(`${what}: capability ${code} needs its value as hex in 'data'`);
  }
}

/** Builds a message from its JSON form. Throws RangeError naming the bad field. */
export function messageFromJson(v: unknown): BgpMessage {
  const o = obj(v, 'message');
  switch (o.type) {
    case 'OPEN':
      return {
        type: 'OPEN',
        version: num(o.version ?? 4, 'version'),
        myAs: num(o.myAs, 'myAs'),
        holdTime: num(o.holdTime, 'holdTime'),
        bgpId: str(o.bgpId, 'bgpId'),
        capabilities: arr(o.capabilities ?? [], 'capabilities').map(capabilityFromJson),
      };
    case 'UPDATE':
      return {
        type: 'UPDATE',
        withdrawn: prefixesFromJson(Afi.IPV4, o.withdrawn, 'withdrawn'),
        attributes: attributesFromJson(o.attributes),
        nlri: prefixesFromJson(Afi.IPV4, o.nlri, 'nlri'),
      };
    case 'NOTIFICATION':
      return {
        type: 'NOTIFICATION',
        code: num(o.code, 'code'),
        subcode: num(o.subcode, 'subcode'),
        data: Buffer.from(typeof o.data === 'string' ? o.data : '', 'hex'),
      };
    case 'KEEPALIVE':
      return { type: 'KEEPALIVE' };
    case 'ROUTE-REFRESH':
      return { type: 'ROUTE-REFRESH', afi: num(o.afi, 'afi'), safi: num(o.safi, 'safi'), subtype: num(o.subtype ?? 0, 'subtype') };
    default:
      return bad(`unknown type '${String(o.type)}'`);
  }
}
