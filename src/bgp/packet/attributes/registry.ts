/**
 * The path attribute table: one entry per attribute this codec knows, with
 * its expected flags, its RFC 7606 error action, and its decode/encode pair
 * (BIRD's `bgp_attr_table` idea). Flags are checked once, in the generic
 * loop in `attributes.ts`, never in the per-attribute code.
 *
 * Per-attribute error actions are RFC 7606 section 7 unless noted.
 */
import { AS_TRANS, AttrFlag, AttrType } from '../iana.js';
import type { CodecContext } from '../context.js';
import type { DecodeError } from '../errors.js';
import { ipv4ToString, writeIpv4 } from '../../../net/ip.js';
import { AttrMalformed } from './malformed.js';
import { asPathLength, as4PathOf, decodeAsPath, encodeAsPath, needsAs4Path } from './as-path.js';
import { decodeMpReach, decodeMpUnreach, encodeMpReach, encodeMpUnreach, mpReachLength, mpUnreachLength } from './mp.js';
import type { AsPathSegment, ErrorAction, PathAttributes } from './types.js';

/** Per-UPDATE decode scratch: the attributes plus the RFC 6793 inputs that are merged afterwards. */
export interface AttrDecodeState {
  attrs: PathAttributes;
  ctx: CodecContext;
  as4Path?: AsPathSegment[];
  as4Aggregator?: { as: number; address: string };
}

export interface AttrSpec {
  code: number;
  name: string;
  /** Expected Optional and Transitive bits. */
  flags: number;
  /** What to do when the attribute is malformed (RFC 7606). */
  action: ErrorAction;
  /** RFC 4271 section 6.3 error for a malformed value (a wrong length maps to Attribute Length Error). */
  valueError: (raw: Buffer, reason: string) => DecodeError;
  /** Decodes the value into `st`; returns false when the value is well-formed but of a kind we keep raw (MP attributes of other families). */
  decode(buf: Buffer, start: number, end: number, st: AttrDecodeState): boolean | void;
  /** Value length to encode, or -1 when the attribute is absent. */
  length(a: PathAttributes, ctx: CodecContext): number;
  /** Writes the value at offset; returns the next offset. */
  write(a: PathAttributes, buf: Buffer, offset: number, ctx: CodecContext): number;
}

const WELL_KNOWN = AttrFlag.TRANSITIVE;
const OPT_TRANSITIVE = AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE;
const OPT_NON_TRANSITIVE = AttrFlag.OPTIONAL;

function exactLength(start: number, end: number, want: number): void {
  if (end - start !== want) throw new AttrMalformed(`length ${end - start}, expected ${want}`, true);
}

function multipleOf(start: number, end: number, unit: number): void {
  const len = end - start;
  if (len === 0 || len % unit !== 0) throw new AttrMalformed(`length ${len} is not a non-zero multiple of ${unit}`, true);
}

const lengthError = (raw: Buffer): DecodeError => ({ kind: 'attributeLengthError', attribute: raw });
const optionalError = (raw: Buffer, reason: string): DecodeError => ({ kind: 'optionalAttributeError', attribute: raw, reason });

function u32Spec(
  code: number,
  name: string,
  flags: number,
  get: (a: PathAttributes) => number | undefined,
  set: (a: PathAttributes, v: number) => void,
): AttrSpec {
  return {
    code,
    name,
    flags,
    action: 'treat-as-withdraw',
    valueError: lengthError,
    decode(buf, start, end, st) {
      exactLength(start, end, 4);
      set(st.attrs, buf.readUInt32BE(start));
    },
    length: (a) => (get(a) === undefined ? -1 : 4),
    write(a, buf, o) {
      buf.writeUInt32BE(get(a)! >>> 0, o);
      return o + 4;
    },
  };
}

function aggregatorSpec(code: number, name: string, fourOctetAlways: boolean): AttrSpec {
  return {
    code,
    name,
    flags: OPT_TRANSITIVE,
    // RFC 7606 section 7.7, and RFC 6793 as updated by 7606 for AS4_AGGREGATOR.
    action: 'attribute-discard',
    valueError: lengthError,
    decode(buf, start, end, st) {
      const asSize = fourOctetAlways || st.ctx.fourOctetAs ? 4 : 2;
      exactLength(start, end, asSize + 4);
      const value = {
        as: asSize === 4 ? buf.readUInt32BE(start) : buf.readUInt16BE(start),
        address: ipv4ToString(buf.readUInt32BE(start + asSize)),
      };
      if (fourOctetAlways) st.as4Aggregator = value;
      else st.attrs.aggregator = value;
    },
    length(a, ctx) {
      if (a.aggregator === undefined) return -1;
      if (fourOctetAlways) return ctx.fourOctetAs || a.aggregator.as <= 0xffff ? -1 : 8;
      return ctx.fourOctetAs ? 8 : 6;
    },
    write(a, buf, o, ctx) {
      const agg = a.aggregator!;
      if (fourOctetAlways || ctx.fourOctetAs) {
        buf.writeUInt32BE(agg.as >>> 0, o);
        o += 4;
      } else {
        buf.writeUInt16BE(agg.as > 0xffff ? AS_TRANS : agg.as, o);
        o += 2;
      }
      return writeIpv4(agg.address, buf, o);
    },
  };
}

function ipv4ListSpec(code: number, name: string, get: (a: PathAttributes) => string[] | undefined, set: (a: PathAttributes, v: string[]) => void): AttrSpec {
  return {
    code,
    name,
    flags: OPT_NON_TRANSITIVE,
    action: 'treat-as-withdraw',
    valueError: lengthError,
    decode(buf, start, end, st) {
      multipleOf(start, end, 4);
      const out: string[] = [];
      for (let o = start; o < end; o += 4) out.push(ipv4ToString(buf.readUInt32BE(o)));
      set(st.attrs, out);
    },
    length: (a) => {
      const v = get(a);
      return v === undefined ? -1 : 4 * v.length;
    },
    write(a, buf, o) {
      for (const id of get(a)!) o = writeIpv4(id, buf, o);
      return o;
    },
  };
}

const specs: AttrSpec[] = [
  {
    // ORIGIN (RFC 4271 section 5.1.1): one octet, 0 IGP, 1 EGP, 2 INCOMPLETE.
    code: AttrType.ORIGIN,
    name: 'ORIGIN',
    flags: WELL_KNOWN,
    action: 'treat-as-withdraw',
    valueError: (raw) => ({ kind: 'invalidOrigin', attribute: raw }),
    decode(buf, start, end, st) {
      exactLength(start, end, 1);
      const v = buf[start]!;
      if (v > 2) throw new AttrMalformed(`undefined ORIGIN value ${v}`);
      st.attrs.origin = v as 0 | 1 | 2;
    },
    length: (a) => (a.origin === undefined ? -1 : 1),
    write(a, buf, o) {
      buf[o] = a.origin!;
      return o + 1;
    },
  },
  {
    code: AttrType.AS_PATH,
    name: 'AS_PATH',
    flags: WELL_KNOWN,
    action: 'treat-as-withdraw',
    valueError: () => ({ kind: 'malformedAsPath', reason: 'malformed AS_PATH' }),
    decode(buf, start, end, st) {
      st.attrs.asPath = decodeAsPath(buf, start, end, st.ctx.fourOctetAs ? 4 : 2);
    },
    length: (a, ctx) => (a.asPath === undefined ? -1 : asPathLength(a.asPath, ctx.fourOctetAs ? 4 : 2)),
    write: (a, buf, o, ctx) => encodeAsPath(a.asPath!, buf, o, ctx.fourOctetAs ? 4 : 2),
  },
  {
    code: AttrType.NEXT_HOP,
    name: 'NEXT_HOP',
    flags: WELL_KNOWN,
    action: 'treat-as-withdraw',
    valueError: (raw) => ({ kind: 'invalidNextHop', attribute: raw }),
    decode(buf, start, end, st) {
      exactLength(start, end, 4);
      st.attrs.nextHop = ipv4ToString(buf.readUInt32BE(start));
    },
    length: (a) => (a.nextHop === undefined ? -1 : 4),
    write: (a, buf, o) => writeIpv4(a.nextHop!, buf, o),
  },
  u32Spec(AttrType.MULTI_EXIT_DISC, 'MULTI_EXIT_DISC', OPT_NON_TRANSITIVE, (a) => a.med, (a, v) => (a.med = v)),
  u32Spec(AttrType.LOCAL_PREF, 'LOCAL_PREF', WELL_KNOWN, (a) => a.localPref, (a, v) => (a.localPref = v)),
  {
    code: AttrType.ATOMIC_AGGREGATE,
    name: 'ATOMIC_AGGREGATE',
    flags: WELL_KNOWN,
    action: 'attribute-discard',
    valueError: lengthError,
    decode(_buf, start, end, st) {
      exactLength(start, end, 0);
      st.attrs.atomicAggregate = true;
    },
    length: (a) => (a.atomicAggregate === true ? 0 : -1),
    write: (_a, _buf, o) => o,
  },
  aggregatorSpec(AttrType.AGGREGATOR, 'AGGREGATOR', false),
  {
    code: AttrType.COMMUNITIES,
    name: 'COMMUNITIES',
    flags: OPT_TRANSITIVE,
    action: 'treat-as-withdraw',
    valueError: optionalError,
    decode(buf, start, end, st) {
      multipleOf(start, end, 4);
      const out = new Array<number>((end - start) >> 2);
      for (let i = 0, o = start; o < end; o += 4, i++) out[i] = buf.readUInt32BE(o);
      st.attrs.communities = out;
    },
    length: (a) => (a.communities === undefined || a.communities.length === 0 ? -1 : 4 * a.communities.length),
    write(a, buf, o) {
      for (const c of a.communities!) {
        buf.writeUInt32BE(c >>> 0, o);
        o += 4;
      }
      return o;
    },
  },
  {
    code: AttrType.ORIGINATOR_ID,
    name: 'ORIGINATOR_ID',
    flags: OPT_NON_TRANSITIVE,
    action: 'treat-as-withdraw',
    valueError: lengthError,
    decode(buf, start, end, st) {
      exactLength(start, end, 4);
      st.attrs.originatorId = ipv4ToString(buf.readUInt32BE(start));
    },
    length: (a) => (a.originatorId === undefined ? -1 : 4),
    write: (a, buf, o) => writeIpv4(a.originatorId!, buf, o),
  },
  ipv4ListSpec(AttrType.CLUSTER_LIST, 'CLUSTER_LIST', (a) => a.clusterList, (a, v) => (a.clusterList = v)),
  {
    code: AttrType.MP_REACH_NLRI,
    name: 'MP_REACH_NLRI',
    flags: OPT_NON_TRANSITIVE,
    // RFC 7606 section 7.11: the NLRI cannot be located reliably, so the
    // session is reset.
    action: 'session-reset',
    valueError: optionalError,
    decode: (buf, start, end, st) => decodeMpReach(buf, start, end, st),
    length: (a, ctx) => (a.mpReach === undefined ? -1 : mpReachLength(a.mpReach, ctx)),
    write: (a, buf, o, ctx) => encodeMpReach(a.mpReach!, buf, o, ctx),
  },
  {
    code: AttrType.MP_UNREACH_NLRI,
    name: 'MP_UNREACH_NLRI',
    flags: OPT_NON_TRANSITIVE,
    action: 'session-reset',
    valueError: optionalError,
    decode: (buf, start, end, st) => decodeMpUnreach(buf, start, end, st),
    length: (a, ctx) => (a.mpUnreach === undefined ? -1 : mpUnreachLength(a.mpUnreach, ctx)),
    write: (a, buf, o, ctx) => encodeMpUnreach(a.mpUnreach!, buf, o, ctx),
  },
  {
    code: AttrType.EXTENDED_COMMUNITIES,
    name: 'EXTENDED_COMMUNITIES',
    flags: OPT_TRANSITIVE,
    action: 'treat-as-withdraw',
    valueError: optionalError,
    decode(buf, start, end, st) {
      multipleOf(start, end, 8);
      const out: string[] = [];
      for (let o = start; o < end; o += 8) out.push(buf.toString('hex', o, o + 8));
      st.attrs.extendedCommunities = out;
    },
    length: (a) => (a.extendedCommunities === undefined || a.extendedCommunities.length === 0 ? -1 : 8 * a.extendedCommunities.length),
    write(a, buf, o) {
      for (const c of a.extendedCommunities!) {
        if (!/^[0-9a-f]{16}$/i.test(c)) throw new RangeError(`extended community '${c}' is not 16 hex digits`);
        o += buf.write(c, o, 'hex');
      }
      return o;
    },
  },
  {
    // RFC 6793: AS4_PATH is only exchanged with 2-octet speakers; its errors
    // lead to attribute-discard (RFC 7606 section 7, updating RFC 6793).
    code: AttrType.AS4_PATH,
    name: 'AS4_PATH',
    flags: OPT_TRANSITIVE,
    action: 'attribute-discard',
    valueError: optionalError,
    decode(buf, start, end, st) {
      const path = decodeAsPath(buf, start, end, 4);
      // RFC 6793 section 6: confederation segments in AS4_PATH are an error.
      if (path.some((s) => s.type === 3 || s.type === 4)) throw new AttrMalformed('confederation segment in AS4_PATH');
      st.as4Path = path;
    },
    length(a, ctx) {
      if (ctx.fourOctetAs || a.asPath === undefined || !needsAs4Path(a.asPath)) return -1;
      return asPathLength(as4PathOf(a.asPath), 4);
    },
    write: (a, buf, o) => encodeAsPath(as4PathOf(a.asPath!), buf, o, 4),
  },
  aggregatorSpec(AttrType.AS4_AGGREGATOR, 'AS4_AGGREGATOR', true),
  {
    code: AttrType.LARGE_COMMUNITIES,
    name: 'LARGE_COMMUNITIES',
    flags: OPT_TRANSITIVE,
    // RFC 8092 section 6: not a non-zero multiple of 12 -> treat-as-withdraw.
    action: 'treat-as-withdraw',
    valueError: optionalError,
    decode(buf, start, end, st) {
      multipleOf(start, end, 12);
      const out: [number, number, number][] = [];
      for (let o = start; o < end; o += 12) out.push([buf.readUInt32BE(o), buf.readUInt32BE(o + 4), buf.readUInt32BE(o + 8)]);
      st.attrs.largeCommunities = out;
    },
    length: (a) => (a.largeCommunities === undefined || a.largeCommunities.length === 0 ? -1 : 12 * a.largeCommunities.length),
    write(a, buf, o) {
      for (const [g, l1, l2] of a.largeCommunities!) {
        buf.writeUInt32BE(g >>> 0, o);
        buf.writeUInt32BE(l1 >>> 0, o + 4);
        buf.writeUInt32BE(l2 >>> 0, o + 8);
        o += 12;
      }
      return o;
    },
  },
];

/** Type code -> spec, as a dense array for a branch-free lookup. */
export const ATTR_TABLE: (AttrSpec | undefined)[] = new Array(256).fill(undefined);
for (const spec of specs) ATTR_TABLE[spec.code] = spec;

/**
 * Encoding order: MP_UNREACH_NLRI and MP_REACH_NLRI first ("SHOULD be encoded
 * as the very first path attribute", RFC 7606 section 5.1), then ascending
 * type codes.
 */
export const ENCODE_ORDER: AttrSpec[] = [
  ATTR_TABLE[AttrType.MP_UNREACH_NLRI]!,
  ATTR_TABLE[AttrType.MP_REACH_NLRI]!,
  ...specs.filter((s) => s.code !== AttrType.MP_REACH_NLRI && s.code !== AttrType.MP_UNREACH_NLRI),
];
