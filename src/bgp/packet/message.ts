/**
 * Whole messages: decode one framed message, encode any message. The only
 * place that dispatches on the message type.
 */
import type { CodecContext } from './context.js';
import { fail } from './errors.js';
import { MIN_LENGTH, frameLength, writeHeader } from './header.js';
import { HEADER_LENGTH, MAX_MESSAGE_LENGTH, MsgType } from './iana.js';
import { type NotificationMessage, decodeNotification, encodeNotification } from './notification.js';
import { type OpenMessage, decodeOpen, encodeOpen, openBodyLength } from './open.js';
import { type RouteRefreshMessage, decodeRouteRefresh, encodeRouteRefresh } from './route-refresh.js';
import { type DecodedUpdate, type UpdateMessage, decodeUpdate, encodeUpdate, updateBodyLength } from './update.js';

export interface KeepaliveMessage {
  type: 'KEEPALIVE';
}

export type BgpMessage = OpenMessage | UpdateMessage | NotificationMessage | KeepaliveMessage | RouteRefreshMessage;
export type DecodedMessage = OpenMessage | DecodedUpdate | NotificationMessage | KeepaliveMessage | RouteRefreshMessage;

/**
 * Decodes the message at the start of `buf` (which may hold more after it).
 * Returns the message and its length. Throws `BgpCodecError`.
 */
export function decodeMessage(buf: Buffer, ctx: CodecContext, offset = 0): { message: DecodedMessage; length: number } {
  const length = frameLength(buf, offset, buf.length, ctx.maxMessageLength);
  if (length < 0 || offset + length > buf.length) fail({ kind: 'badMessageLength', length: buf.length - offset });
  const type = buf[offset + 18]!;
  const min = MIN_LENGTH[type];
  if (min === undefined) fail({ kind: 'badMessageType', msgType: type });
  const start = offset + HEADER_LENGTH;
  const end = offset + length;
  // RFC 4271 section 6.1: per-type length limits are Bad Message Length;
  // ROUTE-REFRESH has its own error (RFC 7313), raised by its decoder.
  if (type !== MsgType.ROUTE_REFRESH) {
    if (length < min || (type === MsgType.KEEPALIVE && length !== HEADER_LENGTH)) fail({ kind: 'badMessageLength', length });
    // RFC 8654: OPEN and KEEPALIVE never exceed 4096, even with extended messages.
    if ((type === MsgType.OPEN || type === MsgType.KEEPALIVE) && length > MAX_MESSAGE_LENGTH) fail({ kind: 'badMessageLength', length });
  }
  let message: DecodedMessage;
  switch (type) {
    case MsgType.OPEN:
      message = decodeOpen(buf, start, end);
      break;
    case MsgType.UPDATE:
      message = decodeUpdate(buf, start, end, ctx);
      break;
    case MsgType.NOTIFICATION:
      message = decodeNotification(buf, start, end);
      break;
    case MsgType.KEEPALIVE:
      message = { type: 'KEEPALIVE' };
      break;
    default:
      message = decodeRouteRefresh(buf.subarray(offset, end), HEADER_LENGTH, length);
      break;
  }
  return { message, length };
}

function bodyLength(msg: BgpMessage, ctx: CodecContext): number {
  switch (msg.type) {
    case 'OPEN':
      return openBodyLength(msg);
    case 'UPDATE':
      return updateBodyLength(msg, ctx);
    case 'NOTIFICATION':
      return 2 + msg.data.length;
    case 'KEEPALIVE':
      return 0;
    case 'ROUTE-REFRESH':
      return 4;
  }
}

const TYPE_CODE: Record<BgpMessage['type'], number> = {
  OPEN: MsgType.OPEN,
  UPDATE: MsgType.UPDATE,
  NOTIFICATION: MsgType.NOTIFICATION,
  KEEPALIVE: MsgType.KEEPALIVE,
  'ROUTE-REFRESH': MsgType.ROUTE_REFRESH,
};

/** Encoded length of a message, header included. */
export function messageLength(msg: BgpMessage, ctx: CodecContext): number {
  return HEADER_LENGTH + bodyLength(msg, ctx);
}

/**
 * Encodes one message. Throws RangeError when it would exceed the
 * negotiated maximum (use the packers for large route sets).
 */
export function encodeMessage(msg: BgpMessage, ctx: CodecContext): Buffer {
  const length = messageLength(msg, ctx);
  const limit = msg.type === 'OPEN' || msg.type === 'KEEPALIVE' ? MAX_MESSAGE_LENGTH : ctx.maxMessageLength;
  if (length > limit) throw new RangeError(`${msg.type} of ${length} octets exceeds the ${limit}-octet limit`);
  // Every octet is written below (checked against `length`), so the pooled,
  // unzeroed allocation is safe and much cheaper for small messages.
  const buf = Buffer.allocUnsafe(length);
  writeHeader(buf, 0, length, TYPE_CODE[msg.type]);
  let end: number;
  switch (msg.type) {
    case 'OPEN':
      end = encodeOpen(msg, buf, HEADER_LENGTH);
      break;
    case 'UPDATE':
      end = encodeUpdate(msg, buf, HEADER_LENGTH, ctx);
      break;
    case 'NOTIFICATION':
      end = encodeNotification(msg, buf, HEADER_LENGTH);
      break;
    case 'KEEPALIVE':
      end = HEADER_LENGTH;
      break;
    case 'ROUTE-REFRESH':
      end = encodeRouteRefresh(msg, buf, HEADER_LENGTH);
      break;
  }
  if (end !== length) throw new Error(`internal: ${msg.type} encoded ${end} octets, computed ${length}`);
  return buf;
}
