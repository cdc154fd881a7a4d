/**
 * Path attributes on the wire (RFC 4271 section 4.3):
 *
 *   +---------------------------------+---------------------------------+
 *   | Attr. Flags (1) | Attr. Type (1)| Length (1, or 2 if Extended bit) |
 *   +---------------------------------+---------------------------------+
 *   | Attribute Value (variable)                                        |
 *   +-------------------------------------------------------------------+
 *
 * The generic loop checks framing, duplicates and flags once for every
 * attribute, then hands the value to the attribute's entry in the table.
 * Problems are collected as `AttrIssue`s with their RFC 7606 action, never
 * thrown: `validateUpdate()` decides what happens to the UPDATE.
 */
import { AS_TRANS, AttrFlag, AttrType } from '../iana.js';
import type { CodecContext } from '../context.js';
import type { DecodeError } from '../errors.js';
import { AttrMalformed } from './malformed.js';
import { mergeAs4Path } from './as-path.js';
import { ATTR_TABLE, ENCODE_ORDER, type AttrDecodeState, type AttrSpec } from './registry.js';
import type { ErrorAction, PathAttributes } from './types.js';

export * from './types.js';

/** One problem found in the attribute list. */
export interface AttrIssue {
  /** Attribute type code (0 when the problem is the list itself). */
  typeCode: number;
  action: ErrorAction;
  reason: string;
  /** The RFC 4271 error (and so the NOTIFICATION) this problem corresponds to. */
  error: DecodeError;
}

export interface DecodedAttributes {
  attrs: PathAttributes;
  issues: AttrIssue[];
}

const FLAG_BITS = AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE;
const SEEN = new Int32Array(8);

function attrName(code: number): string {
  return ATTR_TABLE[code]?.name ?? `attribute ${code}`;
}

/** Decodes the path attributes in buf[start, end). */
export function decodeAttributes(buf: Buffer, start: number, end: number, ctx: CodecContext): DecodedAttributes {
  const st: AttrDecodeState = { attrs: {}, ctx };
  const issues: AttrIssue[] = [];
  // Which type codes were seen: a reused 256-bit set (decoding is
  // synchronous, so one scratch set is enough and saves an allocation per UPDATE).
  const seen = SEEN;
  seen.fill(0);
  let o = start;
  while (o < end) {
    const flags = buf[o]!;
    const headerLen = flags & AttrFlag.EXTENDED_LENGTH ? 4 : 3;
    // RFC 7606 section 4: too few octets left for an attribute header, or an
    // attribute running past Total Path Attribute Length, is treat-as-withdraw;
    // Total Path Attribute Length still locates the NLRI.
    if (end - o < headerLen) {
      issues.push({
        typeCode: 0,
        action: 'treat-as-withdraw',
        reason: `${end - o} trailing octet(s) cannot hold an attribute header`,
        error: { kind: 'malformedAttributeList', reason: 'truncated attribute header' },
      });
      break;
    }
    const type = buf[o + 1]!;
    const len = headerLen === 4 ? buf.readUInt16BE(o + 2) : buf[o + 2]!;
    const vstart = o + headerLen;
    const vend = vstart + len;
    if (vend > end) {
      issues.push({
        typeCode: type,
        action: 'treat-as-withdraw',
        reason: `${attrName(type)} length ${len} runs past the attribute list`,
        error: { kind: 'attributeLengthError', attribute: Buffer.from(buf.subarray(o, end)) },
      });
      break;
    }
    const attrStart = o;
    o = vend;

    // RFC 7606 section 3 (g): a repeated MP_REACH/MP_UNREACH is a Malformed
    // Attribute List; any other repeat is discarded after the first.
    if ((seen[type >> 5]! & (1 << (type & 31))) !== 0) {
      const mp = type === AttrType.MP_REACH_NLRI || type === AttrType.MP_UNREACH_NLRI;
      issues.push({
        typeCode: type,
        action: mp ? 'session-reset' : 'attribute-discard',
        reason: `${attrName(type)} appears more than once`,
        error: { kind: 'malformedAttributeList', reason: `${attrName(type)} repeated` },
      });
      continue;
    }
    seen[type >> 5]! |= 1 << (type & 31);

    const spec = ATTR_TABLE[type];
    if (spec === undefined) {
      if ((flags & AttrFlag.OPTIONAL) === 0) {
        // RFC 4271 section 6.3: "If any of the well-known mandatory attributes
        // are not recognized, then the Error Subcode MUST be set to
        // Unrecognized Well-known Attribute."
        issues.push({
          typeCode: type,
          action: 'session-reset',
          reason: `unrecognized well-known attribute ${type}`,
          error: { kind: 'unrecognizedWellKnownAttribute', attribute: Buffer.from(buf.subarray(attrStart, vend)) },
        });
      } else {
        keepUnknown(st, type, flags, buf, vstart, vend);
      }
      continue;
    }

    const issue = decodeKnown(spec, buf, flags, attrStart, vstart, vend, st);
    if (issue !== undefined) issues.push(issue);
  }
  applyAs4(st);
  return { attrs: st.attrs, issues };
}

/** Keeps an attribute we do not decode (unknown optional, or one the registry passes on) as raw octets. */
function keepUnknown(st: AttrDecodeState, type: number, flags: number, buf: Buffer, vstart: number, vend: number): void {
  (st.attrs.unknown ??= []).push({ type, flags: flags & ~AttrFlag.EXTENDED_LENGTH, data: Buffer.from(buf.subarray(vstart, vend)) });
}

/** Checks the flags of a registered attribute and decodes its value into `st`; the issue, if it is malformed. */
function decodeKnown(spec: AttrSpec, buf: Buffer, flags: number, attrStart: number, vstart: number, vend: number, st: AttrDecodeState): AttrIssue | undefined {
  const type = buf[attrStart + 1]!;
  // RFC 7606 section 3 (c): Optional/Transitive bits that conflict with the
  // type code make the attribute malformed, handled with its own action.
  // RFC 4271: the Partial bit must be 0 for well-known and for optional
  // non-transitive attributes.
  const partialWrong = (flags & AttrFlag.PARTIAL) !== 0 && spec.flags !== (AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE);
  if ((flags & FLAG_BITS) !== spec.flags || partialWrong) {
    return {
      typeCode: type,
      action: spec.action,
      reason: `${spec.name} has flags 0x${flags.toString(16)}`,
      error: { kind: 'attributeFlagsError', attribute: Buffer.from(buf.subarray(attrStart, vend)) },
    };
  }
  try {
    if (spec.decode(buf, vstart, vend, st) === false) keepUnknown(st, type, flags, buf, vstart, vend);
    return undefined;
  } catch (e) {
    if (!(e instanceof AttrMalformed)) throw e;
    const raw = Buffer.from(buf.subarray(attrStart, vend));
    return {
      typeCode: type,
      action: spec.action,
      reason: `${spec.name}: ${e.reason}`,
      error: e.isLength ? { kind: 'attributeLengthError', attribute: raw } : spec.valueError(raw, e.reason),
    };
  }
}

/**
 * RFC 6793 section 4.2.3, for sessions with a 2-octet peer: "If the AS number
 * in the AGGREGATOR attribute is not AS_TRANS, then ... the AS4_AGGREGATOR
 * attribute and the AS4_PATH attribute SHALL be ignored"; otherwise take the
 * aggregator from AS4_AGGREGATOR and merge AS4_PATH into AS_PATH. From a
 * 4-octet peer both attributes are simply dropped (section 4.1).
 */
function applyAs4(st: AttrDecodeState): void {
  if (st.ctx.fourOctetAs) return;
  const attrs = st.attrs;
  if (attrs.aggregator !== undefined && attrs.aggregator.as !== AS_TRANS) return;
  if (st.as4Aggregator !== undefined) attrs.aggregator = st.as4Aggregator;
  if (st.as4Path !== undefined && attrs.asPath !== undefined) attrs.asPath = mergeAs4Path(attrs.asPath, st.as4Path);
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

function headerLength(valueLen: number): number {
  return valueLen > 255 ? 4 : 3;
}

/** Encoded length of the attributes, optionally leaving out MP_REACH_NLRI (the packer writes it itself). */
export function attributesLength(a: PathAttributes, ctx: CodecContext, withoutMpReach = false): number {
  let n = 0;
  for (const spec of ENCODE_ORDER) {
    if (withoutMpReach && spec.code === AttrType.MP_REACH_NLRI) continue;
    const len = spec.length(a, ctx);
    if (len >= 0) n += headerLength(len) + len;
  }
  for (const u of a.unknown ?? []) {
    if (u.flags & AttrFlag.TRANSITIVE) n += headerLength(u.data.length) + u.data.length;
  }
  return n;
}

/** Writes the attributes at offset; returns the next offset. */
export function encodeAttributes(a: PathAttributes, buf: Buffer, offset: number, ctx: CodecContext, withoutMpReach = false): number {
  let o = offset;
  for (const spec of ENCODE_ORDER) {
    if (withoutMpReach && spec.code === AttrType.MP_REACH_NLRI) continue;
    const len = spec.length(a, ctx);
    if (len < 0) continue;
    const ext = len > 255;
    buf[o] = spec.flags | (ext ? AttrFlag.EXTENDED_LENGTH : 0);
    buf[o + 1] = spec.code;
    if (ext) buf.writeUInt16BE(len, o + 2);
    else buf[o + 2] = len;
    const vstart = o + (ext ? 4 : 3);
    o = spec.write(a, buf, vstart, ctx);
    if (o - vstart !== len) throw new Error(`internal: ${spec.name} wrote ${o - vstart} octets, announced ${len}`);
  }
  for (const u of a.unknown ?? []) {
    // RFC 4271 section 5: unrecognized optional transitive attributes are
    // passed on with the Partial bit set; non-transitive ones are dropped.
    if ((u.flags & AttrFlag.TRANSITIVE) === 0) continue;
    const ext = u.data.length > 255;
    buf[o] = (u.flags & (AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE)) | AttrFlag.PARTIAL | (ext ? AttrFlag.EXTENDED_LENGTH : 0);
    buf[o + 1] = u.type;
    if (ext) buf.writeUInt16BE(u.data.length, o + 2);
    else buf[o + 2] = u.data.length;
    o += ext ? 4 : 3;
    o += u.data.copy(buf, o);
  }
  return o;
}
