/**
 * What a session must make of one message, decided in process by the codec:
 * a NOTIFICATION (code/subcode) or, for an UPDATE that decodes, the RFC 7606
 * verdict. Anything else escaping — a thrown error that is not the codec's
 * typed BgpCodecError, or an accepted UPDATE our encoder cannot write back —
 * is a crash. Crash inputs are kept as files for regression.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BgpCodecError,
  decodeMessage,
  encodeMessage,
  makeContext,
  messageToJson,
  toNotification,
  validateUpdate,
  type CodecContext,
  type DecodedUpdate,
} from '../../src/bgp/packet/index.js';

export type Verdict =
  | { kind: 'notification'; code: number; subcode: number }
  | { kind: 'accept' | 'treat-as-withdraw'; type: 'UPDATE' }
  | { kind: 'decoded'; type: string };

/** Decodes, validates, renders to JSON and (if accepted) re-encodes. Throws only on a crash. */
export function verdictOf(bytes: Buffer, ctx: CodecContext): Verdict {
  let message;
  try {
    message = decodeMessage(bytes, ctx).message;
  } catch (e) {
    if (!(e instanceof BgpCodecError)) throw e;
    const n = toNotification(e.detail);
    return { kind: 'notification', code: n.code, subcode: n.subcode };
  }
  messageToJson(message);
  if (message.type !== 'UPDATE') return { kind: 'decoded', type: message.type };
  const v = validateUpdate(message as DecodedUpdate, ctx);
  if (v.action === 'session-reset') {
    const n = toNotification(v.error);
    return { kind: 'notification', code: n.code, subcode: n.subcode };
  }
  if (v.action === 'accept') {
    // What we accept we must be able to send on (the RIB re-advertises it).
    try {
      encodeMessage(v.update, ctx);
    } catch (e) {
      if (!(e instanceof RangeError && /exceeds/.test(e.message))) throw e;
    }
  }
  return { kind: v.action, type: 'UPDATE' };
}

/** Counters of one fuzz phase. */
export class FuzzStats {
  messages = 0;
  readonly notifications = new Map<string, number>();
  readonly decoded = new Map<string, number>();
  treatAsWithdraw = 0;
  accepted = 0;
  readonly crashes: { file: string; error: string }[] = [];
  hangs = 0;
  seconds = 0;

  count(v: Verdict): void {
    this.messages++;
    if (v.kind === 'notification') {
      const k = `${v.code}/${v.subcode}`;
      this.notifications.set(k, (this.notifications.get(k) ?? 0) + 1);
    } else if (v.kind === 'treat-as-withdraw') this.treatAsWithdraw++;
    else if (v.kind === 'accept') this.accepted++;
    else this.decoded.set(v.type, (this.decoded.get(v.type) ?? 0) + 1);
  }

  /** Human-readable summary lines. */
  lines(name: string): string[] {
    const rate = this.seconds > 0 ? Math.round(this.messages / this.seconds) : 0;
    const notes = [...this.notifications.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}=${n}`).join(' ');
    const dec = [...this.decoded.entries()].map(([k, n]) => `${k}=${n}`).join(' ');
    return [
      `${name}: ${this.messages} messages in ${this.seconds.toFixed(1)} s (${rate} messages/s)`,
      `  NOTIFICATION by code/subcode: ${notes || 'none'}`,
      `  UPDATE accepted ${this.accepted}, treat-as-withdraw ${this.treatAsWithdraw}${dec ? `; other messages decoded: ${dec}` : ''}`,
      `  crashes ${this.crashes.length}, hangs ${this.hangs}`,
      ...this.crashes.map((c) => `  CRASH ${c.file}: ${c.error}`),
    ];
  }
}

interface SavedContext {
  fourOctetAs: boolean;
  addPath: number[];
  maxMessageLength: number;
  peerType?: 'internal' | 'external';
}

/** Keeps a crashing input as `<dir>/<sha1>.bin` with `<sha1>.json` (context, error). Returns the .bin path. */
export function saveCrash(dir: string, bytes: Buffer, ctx: CodecContext, error: unknown, phase: string): string {
  mkdirSync(dir, { recursive: true });
  const id = createHash('sha1').update(bytes).digest('hex').slice(0, 16);
  const saved: SavedContext = { fourOctetAs: ctx.fourOctetAs, addPath: [...ctx.addPath], maxMessageLength: ctx.maxMessageLength, ...(ctx.peerType ? { peerType: ctx.peerType } : {}) };
  const e = error as Error;
  writeFileSync(join(dir, `${id}.bin`), bytes);
  writeFileSync(join(dir, `${id}.json`), JSON.stringify({ phase, ctx: saved, error: String(e?.stack ?? e) }, null, 2) + '\n');
  return join(dir, `${id}.bin`);
}

/** The kept crash inputs of a directory, with their contexts (none if the directory does not exist). */
export function savedCrashes(dir: string): { file: string; bytes: Buffer; ctx: CodecContext }[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.bin')).sort();
  } catch {
    return [];
  }
  return names.map((n) => {
    const meta = JSON.parse(readFileSync(join(dir, n.replace(/\.bin$/, '.json')), 'utf8')) as { ctx: SavedContext };
    const { addPath, ...rest } = meta.ctx;
    return { file: n, bytes: readFileSync(join(dir, n)), ctx: makeContext({ ...rest, addPath: new Set(addPath) }) };
  });
}
