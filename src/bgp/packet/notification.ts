/**
 * NOTIFICATION (RFC 4271 section 4.5):
 *
 *   +-----------------+-----------------+----------------------+
 *   | Error code (1)  | Error subcode(1)| Data (variable)      |
 *   +-----------------+-----------------+----------------------+
 *
 * For Cease / Administrative Shutdown and Administrative Reset the data may
 * be a shutdown communication (RFC 9003): a length octet and up to 255
 * octets of UTF-8.
 */
import { fail } from './errors.js';
import { CeaseSub, ErrCode } from './iana.js';

export interface NotificationMessage {
  type: 'NOTIFICATION';
  code: number;
  subcode: number;
  data: Buffer;
}

export function decodeNotification(buf: Buffer, start: number, end: number): NotificationMessage {
  if (end - start < 2) fail({ kind: 'badMessageLength', length: end - start + 19 });
  return { type: 'NOTIFICATION', code: buf[start]!, subcode: buf[start + 1]!, data: Buffer.from(buf.subarray(start + 2, end)) };
}

export function encodeNotification(msg: NotificationMessage, buf: Buffer, offset: number): number {
  buf[offset] = msg.code;
  buf[offset + 1] = msg.subcode;
  return offset + 2 + msg.data.copy(buf, offset + 2);
}

function isShutdownCommunicationCode(code: number, subcode: number): boolean {
  return code === ErrCode.CEASE && (subcode === CeaseSub.ADMINISTRATIVE_SHUTDOWN || subcode === CeaseSub.ADMINISTRATIVE_RESET);
}

/**
 * The RFC 9003 shutdown communication in a NOTIFICATION, if it carries a
 * well-formed one. "If a Shutdown Communication with an invalid Length value,
 * or an invalid UTF-8 sequence is received, a message indicating this event
 * SHOULD be logged" -- the caller logs when this returns undefined but data
 * was present.
 */
export function shutdownCommunication(msg: Pick<NotificationMessage, 'code' | 'subcode' | 'data'>): string | undefined {
  if (!isShutdownCommunicationCode(msg.code, msg.subcode) || msg.data.length === 0) return undefined;
  const len = msg.data[0]!;
  if (len === 0 || 1 + len > msg.data.length) return undefined;
  const bytes = msg.data.subarray(1, 1 + len);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** Cease NOTIFICATION with an RFC 9003 shutdown communication, truncated to 255 octets on a character boundary. */
export function ceaseWithMessage(subcode: number, message: string): NotificationMessage {
  let bytes = Buffer.from(message, 'utf8');
  if (bytes.length > 255) {
    let cut = 255;
    // Back off to the start of a UTF-8 sequence.
    while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--;
    bytes = bytes.subarray(0, cut);
  }
  const data = Buffer.alloc(1 + bytes.length);
  data[0] = bytes.length;
  bytes.copy(data, 1);
  return { type: 'NOTIFICATION', code: ErrCode.CEASE, subcode, data };
}
