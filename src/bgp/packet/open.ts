/**
 * OPEN message (RFC 4271 section 4.2), after the 19-octet header:
 *
 *   +-----------------+-----------------+-----------------+
 *   | Version (1)     | My AS (2)       | Hold Time (2)   |
 *   +-----------------+-----------------+-----------------+
 *   | BGP Identifier (4)                | Opt Parm Len (1)|
 *   +-----------------------------------+-----------------+
 *   | Optional Parameters (variable): Type (1) | Len (1) | Value
 *   +-----------------------------------------------------+
 *
 * RFC 9072 extended optional parameters are accepted: Opt Parm Len 255 and a
 * first parameter type of 255 mean a 2-octet length follows, and every
 * parameter then has a 2-octet length.
 */
import { fail } from './errors.js';
import { ipv4ToString, writeIpv4 } from '../../net/ip.js';
import { type Capability, capabilityValueLength, decodeCapability, encodeCapability } from './capabilities.js';

export interface OpenMessage {
  type: 'OPEN';
  version: number;
  /** The 2-octet My AS field (AS_TRANS when the real AS needs 4 octets). */
  myAs: number;
  holdTime: number;
  bgpId: string;
  capabilities: Capability[];
}

const PARAM_CAPABILITIES = 2;
const PARAM_EXTENDED = 255;

/** Decodes an OPEN body buf[start, end). */
export function decodeOpen(buf: Buffer, start: number, end: number): OpenMessage {
  if (end - start < 10) fail({ kind: 'badMessageLength', length: end - start + 19 });
  const version = buf[start]!;
  // "If the version number in the Version field of the received OPEN message
  //  is not supported, then the Error Subcode MUST be set to Unsupported
  //  Version Number."
  if (version !== 4) fail({ kind: 'unsupportedVersion', version });
  const myAs = buf.readUInt16BE(start + 1);
  const holdTime = buf.readUInt16BE(start + 3);
  const bgpIdNum = buf.readUInt32BE(start + 5);
  const bgpId = ipv4ToString(bgpIdNum);
  // RFC 7607: AS 0 is never a valid peer AS.
  if (myAs === 0) fail({ kind: 'badPeerAs', as: myAs });
  // "An implementation MUST reject Hold Time values of one or two seconds."
  if (holdTime === 1 || holdTime === 2) fail({ kind: 'unacceptableHoldTime', holdTime });
  // RFC 6286: the identifier is any non-zero 32-bit value.
  if (bgpIdNum === 0) fail({ kind: 'badBgpIdentifier', id: bgpId });

  let optLen = buf[start + 9]!;
  let o = start + 10;
  let extended = false;
  if (optLen === PARAM_EXTENDED && o < end && buf[o] === PARAM_EXTENDED) {
    if (o + 3 > end) fail({ kind: 'malformedOpen', reason: 'truncated extended optional parameters length' });
    optLen = buf.readUInt16BE(o + 1);
    o += 3;
    extended = true;
  }
  if (o + optLen !== end) {
    fail({ kind: 'malformedOpen', reason: `optional parameters length ${optLen} does not match the message` });
  }
  const capabilities: Capability[] = [];
  while (o < end) {
    const hdr = extended ? 3 : 2;
    if (o + hdr > end) fail({ kind: 'malformedOpen', reason: 'truncated optional parameter header' });
    const ptype = buf[o]!;
    const plen = extended ? buf.readUInt16BE(o + 1) : buf[o + 1]!;
    const pstart = o + hdr;
    const pend = pstart + plen;
    if (pend > end) fail({ kind: 'malformedOpen', reason: `optional parameter ${ptype} overruns the message` });
    // "If one of the Optional Parameters in the OPEN message is not
    //  recognized, then the Error Subcode MUST be set to Unsupported
    //  Optional Parameters."
    if (ptype !== PARAM_CAPABILITIES) fail({ kind: 'unsupportedOptionalParameter', paramType: ptype });
    let c = pstart;
    while (c < pend) {
      if (c + 2 > pend) fail({ kind: 'malformedOpen', reason: 'truncated capability header' });
      const code = buf[c]!;
      const clen = buf[c + 1]!;
      if (c + 2 + clen > pend) fail({ kind: 'malformedOpen', reason: `capability ${code} overruns its parameter` });
      capabilities.push(decodeCapability(code, buf, c + 2, clen));
      c += 2 + clen;
    }
    o = pend;
  }
  return { type: 'OPEN', version, myAs, holdTime, bgpId, capabilities };
}

function capabilitiesLength(caps: readonly Capability[]): number {
  let n = 0;
  for (const cap of caps) n += 2 + capabilityValueLength(cap);
  return n;
}

/** Body length of an OPEN as we encode it. */
export function openBodyLength(msg: OpenMessage): number {
  const caps = capabilitiesLength(msg.capabilities);
  if (caps === 0) return 10;
  // One Capabilities parameter holding every capability; the RFC 9072 form
  // only when they do not fit in 255 octets.
  return caps <= 253 ? 10 + 2 + caps : 10 + 3 + 3 + caps;
}

/** Writes an OPEN body at offset; returns the next offset. */
export function encodeOpen(msg: OpenMessage, buf: Buffer, offset: number): number {
  buf[offset] = msg.version;
  buf.writeUInt16BE(msg.myAs & 0xffff, offset + 1);
  buf.writeUInt16BE(msg.holdTime, offset + 3);
  writeIpv4(msg.bgpId, buf, offset + 5);
  const caps = capabilitiesLength(msg.capabilities);
  let o = offset + 10;
  if (caps === 0) {
    buf[offset + 9] = 0;
    return o;
  }
  if (caps <= 253) {
    buf[offset + 9] = caps + 2;
    buf[o++] = PARAM_CAPABILITIES;
    buf[o++] = caps;
  } else {
    buf[offset + 9] = PARAM_EXTENDED;
    buf[o++] = PARAM_EXTENDED;
    buf.writeUInt16BE(caps + 3, o);
    o += 2;
    buf[o++] = PARAM_CAPABILITIES;
    buf.writeUInt16BE(caps, o);
    o += 2;
  }
  for (const cap of msg.capabilities) o = encodeCapability(cap, buf, o);
  return o;
}
