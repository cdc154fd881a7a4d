/**
 * `calico-bgpd decode`: raw BGP messages in (a capture's TCP payload, a file
 * of concatenated messages, or one message as hex), one JSON object per
 * message out. Malformed messages print the NOTIFICATION a speaker would
 * send, and decoding goes on with the next frame where the length field
 * still frames it.
 */
import { existsSync, readFileSync } from 'node:fs';
import {
  BgpCodecError,
  HEADER_LENGTH,
  MAX_EXTENDED_MESSAGE_LENGTH,
  MAX_MESSAGE_LENGTH,
  type CodecContext,
  afiSafiKey,
  decodeMessage,
  describeError,
  makeContext,
  messageToJson,
  toNotification,
  validateUpdate,
} from '../bgp/packet/index.js';

export interface DecodeOptions {
  addPath: string[];
  twoOctetAs: boolean;
  extendedMessage: boolean;
}

/** Parses "AFI/SAFI" (e.g. "1/1") into a family key. */
export function parseFamily(text: string): number {
  const m = /^(\d{1,5})\/(\d{1,3})$/.exec(text.trim());
  if (m === null || Number(m[1]) > 0xffff || Number(m[2]) > 0xff) {
    throw new RangeError(`'${text}' is not AFI/SAFI (for example 1/1 for IPv4 unicast, 2/1 for IPv6 unicast)`);
  }
  return afiSafiKey(Number(m[1]), Number(m[2]));
}

export function contextFromOptions(opts: DecodeOptions): CodecContext {
  return makeContext({
    fourOctetAs: !opts.twoOctetAs,
    addPath: new Set(opts.addPath.map(parseFamily)),
    maxMessageLength: opts.extendedMessage ? MAX_EXTENDED_MESSAGE_LENGTH : MAX_MESSAGE_LENGTH,
  });
}

function errorLine(code: number, subcode: number, reason: string): string {
  return JSON.stringify({ type: 'ERROR', code, subcode, reason });
}

/**
 * Decodes every message in `buf`; returns the output lines and whether any
 * message was malformed.
 */
export function decodeStream(buf: Buffer, ctx: CodecContext): { lines: string[]; malformed: boolean } {
  const lines: string[] = [];
  let malformed = false;
  let o = 0;
  while (o < buf.length) {
    const left = buf.length - o;
    // The frame length as the header states it, if a header is there at all:
    // used to skip past a bad message and carry on.
    const stated = left >= HEADER_LENGTH ? buf.readUInt16BE(o + 16) : 0;
    try {
      if (left < HEADER_LENGTH) throw new RangeError(`${left} trailing octet(s) are too short for a message header`);
      const { message, length } = decodeMessage(buf, ctx, o);
      if (message.type === 'UPDATE') {
        const verdict = validateUpdate(message, ctx);
        if (verdict.action === 'session-reset') {
          const n = toNotification(verdict.error);
          lines.push(errorLine(n.code, n.subcode, verdict.issues.find((i) => i.action === 'session-reset')?.reason ?? describeError(verdict.error)));
          malformed = true;
        } else {
          const json = messageToJson(message);
          if (verdict.issues.length > 0) {
            malformed = true;
            json.rfc7606 = {
              action: verdict.action,
              issues: verdict.issues.map((i) => ({ attribute: i.typeCode, action: i.action, reason: i.reason })),
            };
          }
          lines.push(JSON.stringify(json));
        }
      } else {
        lines.push(JSON.stringify(messageToJson(message)));
      }
      o += length;
    } catch (e) {
      malformed = true;
      if (e instanceof BgpCodecError) {
        const n = toNotification(e.detail);
        lines.push(errorLine(n.code, n.subcode, e.message));
      } else if (e instanceof RangeError) {
        lines.push(errorLine(1, 2, e.message));
      } else {
        throw e;
      }
      // Carry on only where the stated length still frames the bad message.
      if (stated < HEADER_LENGTH || stated > left) break;
      o += stated;
    }
  }
  return { lines, malformed };
}

/**
 * `--add-path` takes several families, and the option parser hands it every
 * word up to the next option, so `--add-path 1/1 2/1 -` also swallows the
 * file argument. When no file argument is left and the last word is not a
 * family but is `-` or an existing file, it was meant as the file.
 */
export function splitFileFromFamilies(addPath: string[], file: string | undefined): { addPath: string[]; file: string | undefined } {
  const last = addPath[addPath.length - 1];
  if (file !== undefined || last === undefined || /^\s*\d+\/\d+\s*$/.test(last)) return { addPath, file };
  if (last !== '-' && !existsSync(last)) return { addPath, file };
  return { addPath: addPath.slice(0, -1), file: last };
}

/** The raw bytes: `--hex`, a file, or stdin. */
export function readInput(file: string | undefined, hex: string | undefined): Buffer {
  if (hex !== undefined) {
    const clean = hex.replace(/[\s:]/g, '');
    if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new RangeError('--hex needs an even number of hexadecimal digits');
    return Buffer.from(clean, 'hex');
  }
  return readFileSync(file === undefined || file === '-' ? 0 : file);
}
