/**
 * Message header and framing (RFC 4271 section 4.1):
 *
 *   +---------------------------------------------------------------+
 *   |                      Marker (16 octets of 0xff)               |
 *   +-------------------------------+---------------+---------------+
 *   |          Length (2)           |   Type (1)    |
 *   +-------------------------------+---------------+
 *
 * Framing is separate from decoding: `frameLength()` says how long the next
 * message is (or that more bytes are needed), and `Framer` accumulates TCP
 * segments and hands out whole messages, whatever the segmentation.
 */
import { fail } from './errors.js';
import { HEADER_LENGTH, MsgType } from './iana.js';

const MARKER_WORD = 0xffffffff;

/**
 * Length of the message starting at `offset`, or -1 if fewer than 19 octets
 * are available. Throws on a bad marker or a length outside [19, max].
 */
export function frameLength(buf: Buffer, offset: number, end: number, maxLength: number): number {
  if (end - offset < HEADER_LENGTH) return -1;
  // "Marker: This 16-octet field ... MUST be set to all ones."
  for (let i = 0; i < 16; i += 4) {
    if (buf.readUInt32BE(offset + i) !== MARKER_WORD) fail({ kind: 'connectionNotSynchronized' });
  }
  const length = buf.readUInt16BE(offset + 16);
  // "if the Length field of the message header is less than 19 or greater
  //  than 4096 ... the Error Subcode MUST be set to Bad Message Length."
  if (length < HEADER_LENGTH || length > maxLength) fail({ kind: 'badMessageLength', length });
  return length;
}

/** Writes the 19-octet header for a message of `length` octets and `type`. */
export function writeHeader(buf: Buffer, offset: number, length: number, type: number): void {
  buf.fill(0xff, offset, offset + 16);
  buf.writeUInt16BE(length, offset + 16);
  buf[offset + 18] = type;
}

/** The smallest legal total length per message type (RFC 4271 section 4). */
export const MIN_LENGTH: Record<number, number> = {
  [MsgType.OPEN]: 29,
  [MsgType.UPDATE]: 23,
  [MsgType.NOTIFICATION]: 21,
  [MsgType.KEEPALIVE]: 19,
  [MsgType.ROUTE_REFRESH]: 23,
};

/**
 * Accumulates bytes from a stream and yields whole messages. Holds at most
 * one partial message plus whatever the caller pushed; the caller applies
 * back-pressure by not pushing while it is busy.
 */
export class Framer {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private maxLength: number) {}

  /** Raises the limit once extended messages are negotiated (RFC 8654). */
  setMaxLength(maxLength: number): void {
    this.maxLength = maxLength;
  }

  /** Bytes waiting for the rest of their message. */
  get buffered(): number {
    return this.pending.length;
  }

  /**
   * Adds a chunk and returns the complete messages now available (each a
   * view of one whole message, header included). Throws `BgpCodecError` on
   * a framing error, after which the stream cannot be resynchronised.
   */
  push(chunk: Buffer): Buffer[] {
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    let o = 0;
    for (;;) {
      const len = frameLength(buf, o, buf.length, this.maxLength);
      if (len < 0 || o + len > buf.length) break;
      out.push(buf.subarray(o, o + len));
      o += len;
    }
    // Copy the tail so the big chunk can be collected.
    this.pending = o === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(o));
    return out;
  }
}
