/**
 * Codec errors are data. Every way a message can be wrong is one member of
 * `DecodeError`; `toNotification()` maps each, in one exhaustive switch, to
 * the NOTIFICATION (code, subcode, data) that RFC 4271 section 6 (and RFC
 * 7313 for ROUTE-REFRESH) prescribes. The codec throws only `BgpCodecError`.
 */
import { ErrCode, HeaderSub, OpenSub, RouteRefreshSub, UpdateSub } from './iana.js';

export type DecodeError =
  // --- message header (RFC 4271 section 6.1) ---
  | { kind: 'connectionNotSynchronized' }
  | { kind: 'badMessageLength'; length: number }
  | { kind: 'badMessageType'; msgType: number }
  // --- OPEN (section 6.2) ---
  | { kind: 'unsupportedVersion'; version: number }
  | { kind: 'badPeerAs'; as: number }
  | { kind: 'badBgpIdentifier'; id: string }
  | { kind: 'unsupportedOptionalParameter'; paramType: number }
  | { kind: 'unacceptableHoldTime'; holdTime: number }
  | { kind: 'unsupportedCapability'; capabilities: Buffer }
  | { kind: 'malformedOpen'; reason: string }
  // --- UPDATE (section 6.3) ---
  | { kind: 'malformedAttributeList'; reason: string }
  | { kind: 'unrecognizedWellKnownAttribute'; attribute: Buffer }
  | { kind: 'missingWellKnownAttribute'; typeCode: number }
  | { kind: 'attributeFlagsError'; attribute: Buffer }
  | { kind: 'attributeLengthError'; attribute: Buffer }
  | { kind: 'invalidOrigin'; attribute: Buffer }
  | { kind: 'invalidNextHop'; attribute: Buffer }
  | { kind: 'optionalAttributeError'; attribute: Buffer; reason: string }
  | { kind: 'invalidNetworkField'; reason: string }
  | { kind: 'malformedAsPath'; reason: string }
  | { kind: 'malformedUpdate'; reason: string }
  // --- ROUTE-REFRESH (RFC 7313 section 5) ---
  | { kind: 'badRouteRefreshLength'; message: Buffer }
  // --- NOTIFICATION itself malformed: never answered with a NOTIFICATION
  //     (RFC 4271 section 6.4), but a decode tool still has to say so ---
  | { kind: 'malformedNotification'; reason: string };

export interface Notification {
  code: number;
  subcode: number;
  data: Buffer;
}

const EMPTY = Buffer.alloc(0);

function u16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value & 0xffff, 0);
  return b;
}

/** The NOTIFICATION a speaker sends for a decode error. */
export function toNotification(err: DecodeError): Notification {
  switch (err.kind) {
    case 'connectionNotSynchronized':
      return { code: ErrCode.MESSAGE_HEADER, subcode: HeaderSub.CONNECTION_NOT_SYNCHRONIZED, data: EMPTY };
    case 'badMessageLength':
      // "the Data field MUST contain the erroneous Length field"
      return { code: ErrCode.MESSAGE_HEADER, subcode: HeaderSub.BAD_MESSAGE_LENGTH, data: u16(err.length) };
    case 'badMessageType':
      // "the Data field MUST contain the erroneous Type field"
      return { code: ErrCode.MESSAGE_HEADER, subcode: HeaderSub.BAD_MESSAGE_TYPE, data: Buffer.from([err.msgType]) };
    case 'unsupportedVersion':
      // "the Data field is a 2-octet unsigned integer, which indicates the
      //  largest, locally-supported version number less than the version the
      //  remote BGP peer bid"
      return { code: ErrCode.OPEN_MESSAGE, subcode: OpenSub.UNSUPPORTED_VERSION, data: u16(4) };
    case 'badPeerAs':
      return { code: ErrCode.OPEN_MESSAGE, subcode: OpenSub.BAD_PEER_AS, data: EMPTY };
    case 'badBgpIdentifier':
      return { code: ErrCode.OPEN_MESSAGE, subcode: OpenSub.BAD_BGP_IDENTIFIER, data: EMPTY };
    case 'unsupportedOptionalParameter':
      return { code: ErrCode.OPEN_MESSAGE, subcode: OpenSub.UNSUPPORTED_OPTIONAL_PARAMETER, data: EMPTY };
    case 'unacceptableHoldTime':
      return { code: ErrCode.OPEN_MESSAGE, subcode: OpenSub.UNACCEPTABLE_HOLD_TIME, data: EMPTY };
    case 'unsupportedCapability':
      // RFC 5492: the Data field lists the capabilities we need but lack.
      return { code: ErrCode.OPEN_MESSAGE, subcode: OpenSub.UNSUPPORTED_CAPABILITY, data: err.capabilities };
    case 'malformedOpen':
      return { code: ErrCode.OPEN_MESSAGE, subcode: OpenSub.UNSPECIFIC, data: EMPTY };
    case 'malformedAttributeList':
      return { code: ErrCode.UPDATE_MESSAGE, subcode: UpdateSub.MALFORMED_ATTRIBUTE_LIST, data: EMPTY };
    case 'unrecognizedWellKnownAttribute':
      // "The Data field MUST contain the unrecognized attribute (type, length,
      //  and value)."
      return { code: ErrCode.UPDATE_MESSAGE, subcode: UpdateSub.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE, data: err.attribute };
    case 'missingWellKnownAttribute':
      // "The Data field MUST contain the Attribute Type Code of the missing,
      //  well-known attribute."
      return { code: ErrCode.UPDATE_MESSAGE, subcode: UpdateSub.MISSING_WELL_KNOWN_ATTRIBUTE, data: Buffer.from([err.typeCode]) };
    case 'attributeFlagsError':
      return { code: ErrCode.UPDATE_MESSAGE, subcode: UpdateSub.ATTRIBUTE_FLAGS_ERROR, data: err.attribute };
    case 'attributeLengthError':
      return { code: ErrCode.UPDATE_MESSAGE, subcode: UpdateSub.ATTRIBUTE_LENGTH_ERROR, data: err.attribute };
    case 'invalidOrigin':
      return { code: ErrCode.UPDATE_MESSAGE, subcode: UpdateSub.INVALID_ORIGIN_ATTRIBUTE, data: err.attribute };
    case 'invalidNextHop':
      return { code: ErrCode.UPDATE_MESSAGE, subcode: UpdateSub.INVALID_NEXT_HOP_ATTRIBUTE, data: err.attribute };
    case 'optionalAttributeError':
      return { code: ErrCode.UPDATE_MESSAGE, subcode: UpdateSub.OPTIONAL_ATTRIBUTE_ERROR, data: err.attribute };
    case 'invalidNetworkField':
      return { code: ErrCode.UPDATE_MESSAGE, subcode: UpdateSub.INVALID_NETWORK_FIELD, data: EMPTY };
    case 'malformedAsPath':
      return { code: ErrCode.UPDATE_MESSAGE, subcode: UpdateSub.MALFORMED_AS_PATH, data: EMPTY };
    case 'malformedUpdate':
      return { code: ErrCode.UPDATE_MESSAGE, subcode: UpdateSub.UNSPECIFIC, data: EMPTY };
    case 'badRouteRefreshLength':
      // RFC 7313 section 5: "the Data field ... MUST contain the complete
      // ROUTE-REFRESH message"
      return { code: ErrCode.ROUTE_REFRESH, subcode: RouteRefreshSub.INVALID_MESSAGE_LENGTH, data: err.message };
    case 'malformedNotification':
      // Never sent on the wire; code 0 marks "no NOTIFICATION applies".
      return { code: 0, subcode: 0, data: EMPTY };
    default: {
      const unreachable: never = err;
      throw new Error(`unhandled decode error ${JSON.stringify(unreachable)}`);
    }
  }
}

/** Short, human-readable description of a decode error for logs. */
export function describeError(err: DecodeError): string {
  switch (err.kind) {
    case 'badMessageLength':
      return `bad message length ${err.length}`;
    case 'badMessageType':
      return `bad message type ${err.msgType}`;
    case 'unsupportedVersion':
      return `unsupported BGP version ${err.version}`;
    case 'badPeerAs':
      return `bad peer AS ${err.as}`;
    case 'badBgpIdentifier':
      return `bad BGP identifier ${err.id}`;
    case 'unsupportedOptionalParameter':
      return `unsupported optional parameter type ${err.paramType}`;
    case 'unacceptableHoldTime':
      return `unacceptable hold time ${err.holdTime}`;
    case 'missingWellKnownAttribute':
      return `missing well-known attribute ${err.typeCode}`;
    case 'malformedOpen':
    case 'malformedAttributeList':
    case 'optionalAttributeError':
    case 'invalidNetworkField':
    case 'malformedAsPath':
    case 'malformedUpdate':
    case 'malformedNotification':
      return `${err.kind}: ${err.reason}`;
    default:
      return err.kind;
  }
}

/** The only exception the codec throws. */
export class BgpCodecError extends Error {
  constructor(readonly detail: DecodeError) {
    super(describeError(detail));
    this.name = 'BgpCodecError';
  }
}

/** Throws the codec's typed error. */
export function fail(detail: DecodeError): never {
  throw new BgpCodecError(detail);
}
