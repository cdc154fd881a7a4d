/**
 * Tester peers for the route-reflector benchmark: N iBGP sessions from one
 * Node process, written with our codec. Each tester connects from its own
 * loopback address (127.66.x.y), exchanges OPENs (IPv4 unicast, 4-octet
 * AS), and, when told to, writes M unique IPv4 /24s as packed UPDATEs plus
 * an End-of-RIB, honouring back-pressure.
 *
 * Testers do not keep what the reflector sends them (every other tester's
 * routes): they only frame it and look at the message type, so draining
 * millions of reflected routes costs this process little and the reflector
 * is never throttled by a slow reader. `Session` is shared with the monitor,
 * which does decode its UPDATEs.
 *
 * Every wait is bounded: connecting (with retries while the reflector is
 * still starting), the OPEN exchange, and each socket drain.
 */
import { connect, type Socket } from 'node:net';
import {
  Afi,
  AS_TRANS,
  CapCode,
  DEFAULT_CONTEXT,
  Framer,
  MAX_MESSAGE_LENGTH,
  MsgType,
  PrefixList,
  Safi,
  decodeMessage,
  encodeMessage,
  endOfRib,
  packUpdates,
  type AfiCode,
  type Capability,
  type PathAttributes,
} from '../../src/bgp/packet/index.js';
import { chunkMessages } from '../../bench/support/bgp-sender.js';

/** The AS of the reflector, the testers and the monitor (iBGP). */
export const BENCH_AS = 65000;
/** First prefix of the tester address space: 16.0.0.0/4 holds 2^20 /24s. */
export const PREFIX_BASE = 0x10000000;
export const PREFIX_POOL = '16.0.0.0/4';
export const MAX_ROUTES = 1 << 20;

/** Loopback plan: the reflector, the monitor, and tester i. */
export const RR_ADDRESS = '127.66.0.1';
export const MONITOR_ADDRESS = '127.66.0.2';
export function testerAddress(i: number): string {
  return `127.66.${1 + Math.floor(i / 200)}.${10 + (i % 200)}`;
}
/**
 * The NEXT_HOP tester i advertises: not its loopback session address,
 * because FRR rejects 127/8 next hops as martian (Invalid NEXT_HOP).
 */
export function testerNextHop(i: number): string {
  return `10.66.${1 + Math.floor(i / 200)}.${10 + (i % 200)}`;
}
export const NEXT_HOP_NET = '10.66.0.0/16';

// ---------------------------------------------------------------------------
// One session: connect, OPEN, KEEPALIVE; then hand messages to a sink
// ---------------------------------------------------------------------------

export interface SessionOptions {
  host: string;
  port: number;
  localAddress: string;
  bgpId: string;
  asn?: number;
  /** Proposed hold time in seconds (default 180). */
  holdTime?: number;
  /** Bound on connect (with retries) + OPEN exchange, in ms. */
  establishTimeoutMs: number;
  /**
   * Bound on one connection's OPEN exchange, in ms, after which it is
   * dropped and the peer dialled again (a speaker's ConnectRetry timer);
   * default: the whole `establishTimeoutMs`. Without it a connection the
   * reflector's kernel dropped from a full accept queue (the client saw the
   * handshake complete; its OPEN is never acknowledged, and TCP retries for
   * minutes) holds the session back for the whole bound.
   */
  attemptTimeoutMs?: number;
  /** Capabilities besides the family and 4-octet AS (e.g. graceful restart). */
  extraCapabilities?: readonly Capability[];
  /** The unicast family offered in the OPEN (default IPv4; a Calico node's IPv6 session offers IPv6 only). */
  afi?: AfiCode;
}

/** Called with each whole message received once the session is Established. */
export type MessageSink = (msg: Buffer) => void;

export class Session {
  private sock: Socket | undefined;
  private keepalive: NodeJS.Timeout | undefined;
  private failure: Error | undefined;
  private failed: ((err: Error) => void) | undefined;
  private established = false;
  /** UPDATE messages received after Established. */
  updates = 0;
  bytesIn = 0;

  private constructor(
    readonly opts: SessionOptions,
    private readonly sink: MessageSink | undefined,
  ) {}

  /** Connects (retrying refused connections until the deadline) and waits for Established. */
  static async establish(opts: SessionOptions, sink?: MessageSink): Promise<Session> {
    const s = new Session(opts, sink);
    const deadline = Date.now() + opts.establishTimeoutMs;
    let last: Error | undefined;
    while (Date.now() < deadline) {
      try {
        await s.attempt(deadline);
        return s;
      } catch (err) {
        last = err as Error;
        s.drop();
        if (!/ECONNREFUSED|ECONNRESET|closed|OPEN exchange timed out/.test(last.message)) break;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    s.close();
    throw new Error(`${opts.localAddress} -> ${opts.host}:${opts.port}: not Established within ${opts.establishTimeoutMs} ms (${last?.message ?? 'timeout'})`);
  }

  /** The error that ended the session, if any. */
  get error(): Error | undefined {
    return this.failure;
  }

  /** Called once if the session fails after Established. */
  onFailure(cb: (err: Error) => void): void {
    this.failed = cb;
    if (this.failure !== undefined) cb(this.failure);
  }

  private drop(): void {
    this.sock?.destroy();
    this.sock = undefined;
    this.failure = undefined;
  }

  private attempt(deadline: number): Promise<void> {
    const { host, port, localAddress, bgpId } = this.opts;
    const asn = this.opts.asn ?? BENCH_AS;
    const holdTime = this.opts.holdTime ?? 180;
    const framer = new Framer(MAX_MESSAGE_LENGTH);
    return new Promise<void>((resolve, reject) => {
      let gotOpen = false;
      let settled = false;
      const settle = (err?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const bound = Math.min(deadline - Date.now(), this.opts.attemptTimeoutMs ?? Infinity);
      const timer = setTimeout(() => settle(new Error('OPEN exchange timed out')), Math.max(1, bound));
      const fail = (err: Error): void => {
        if (!this.established) return settle(err);
        if (this.failure !== undefined) return;
        this.failure = err;
        this.failed?.(err);
      };
      const sock = connect({ host, port, localAddress });
      this.sock = sock;
      sock.setNoDelay(true);
      sock.on('error', (err) => fail(err));
      sock.on('close', () => fail(new Error(`connection from ${localAddress} closed by the reflector`)));
      sock.on('connect', () => {
        const caps = [
          { code: CapCode.MULTIPROTOCOL, afi: this.opts.afi ?? Afi.IPV4, safi: Safi.UNICAST },
          { code: CapCode.FOUR_OCTET_AS, asn },
          ...(this.opts.extraCapabilities ?? []),
        ] as Capability[];
        sock.write(encodeMessage({ type: 'OPEN', version: 4, myAs: asn > 0xffff ? AS_TRANS : asn, holdTime, bgpId, capabilities: caps }, DEFAULT_CONTEXT));
      });
      sock.on('data', (chunk: Buffer) => {
        this.bytesIn += chunk.length;
        let msgs: Buffer[];
        try {
          msgs = framer.push(chunk);
        } catch (err) {
          return fail(err as Error);
        }
        for (const m of msgs) {
          const type = m[18];
          if (this.established) {
            if (type === MsgType.UPDATE) {
              this.updates++;
              try {
                this.sink?.(m);
              } catch (err) {
                return fail(err as Error);
              }
            } else if (type === MsgType.NOTIFICATION) {
              return fail(new Error(`reflector sent NOTIFICATION ${m[19]}/${m[20]} to ${localAddress}`));
            }
            continue;
          }
          let decoded;
          try {
            decoded = decodeMessage(m, DEFAULT_CONTEXT).message;
          } catch (err) {
            return fail(err as Error);
          }
          if (decoded.type === 'OPEN') {
            gotOpen = true;
            const hold = Math.min(holdTime, decoded.holdTime);
            sock.write(encodeMessage({ type: 'KEEPALIVE' }, DEFAULT_CONTEXT));
            if (hold > 0) {
              this.keepalive = setInterval(() => {
                if (!sock.destroyed) sock.write(encodeMessage({ type: 'KEEPALIVE' }, DEFAULT_CONTEXT));
              }, (hold * 1000) / 3);
              this.keepalive.unref();
            }
          } else if (decoded.type === 'KEEPALIVE' && gotOpen) {
            this.established = true;
            settle();
          } else if (decoded.type === 'NOTIFICATION') {
            return fail(new Error(`reflector sent NOTIFICATION ${decoded.code}/${decoded.subcode} during OPEN exchange`));
          }
        }
      });
    });
  }

  /**
   * Writes `chunks` in order, waiting for 'drain' when the socket pushes
   * back; rejects if the session fails or one drain takes over `stallMs`.
   */
  async write(chunks: readonly Buffer[], stallMs: number): Promise<void> {
    const sock = this.sock;
    if (sock === undefined || this.failure !== undefined) throw this.failure ?? new Error('not connected');
    for (const c of chunks) {
      if (this.failure !== undefined) throw this.failure;
      if (sock.write(c)) continue;
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => done(new Error(`socket write from ${this.opts.localAddress} stalled for ${stallMs} ms`)), stallMs);
        const onDrain = (): void => done();
        const onClose = (): void => done(this.failure ?? new Error('closed'));
        const done = (err?: Error): void => {
          clearTimeout(t);
          sock.off('drain', onDrain);
          sock.off('close', onClose);
          if (err) reject(err);
          else resolve();
        };
        sock.on('drain', onDrain);
        sock.on('close', onClose);
      });
    }
    if (this.failure !== undefined) throw this.failure;
  }

  /** Sends a Cease NOTIFICATION (administrative shutdown), so the peer drops our routes at once, then closes. */
  shutdown(): void {
    const sock = this.sock;
    if (sock !== undefined && !sock.destroyed && this.failure === undefined) {
      this.failure = new Error('shut down');
      this.failed = undefined;
      if (this.keepalive !== undefined) clearInterval(this.keepalive);
      this.keepalive = undefined;
      // end() flushes the NOTIFICATION first; destroy() later in case the peer never closes its side.
      sock.end(encodeMessage({ type: 'NOTIFICATION', code: 6, subcode: 2, data: Buffer.alloc(0) }, DEFAULT_CONTEXT));
      setTimeout(() => sock.destroy(), 2000).unref();
      return;
    }
    this.close();
  }

  close(): void {
    if (this.keepalive !== undefined) clearInterval(this.keepalive);
    this.keepalive = undefined;
    this.failure ??= new Error('closed');
    this.failed = undefined;
    this.sock?.destroy();
  }
}

// ---------------------------------------------------------------------------
// The testers
// ---------------------------------------------------------------------------

/**
 * Tester i's stream: prefixes [i*m, (i+1)*m) of the /24s from 16.0.0.0,
 * packed into as few UPDATEs as fit, next hop `testerNextHop(i)`, then
 * End-of-RIB.
 */
export function testerStream(i: number, m: number): Buffer[] {
  const words = new Uint32Array(m);
  for (let k = 0; k < m; k++) words[k] = (PREFIX_BASE + (i * m + k) * 256) >>> 0;
  const nlri = new PrefixList(Afi.IPV4, new Uint8Array(m).fill(24), words, null);
  const attrs: PathAttributes = { origin: 0, asPath: [], nextHop: testerNextHop(i), localPref: 100 };
  const msgs = packUpdates(nlri, attrs, DEFAULT_CONTEXT);
  msgs.push(encodeMessage(endOfRib(Afi.IPV4), DEFAULT_CONTEXT));
  return chunkMessages(msgs);
}

export interface Testers {
  sessions: Session[];
  /** Sends every tester's stream at once; resolves when all is handed to the kernel. */
  blast(stallMs: number): Promise<{ firstByteAt: bigint; flushedAt: bigint }>;
  /** The first failure of any tester session after Established, if any. */
  readonly error: Error | undefined;
  close(): void;
}

/**
 * Establishes n tester sessions to the reflector (at most `parallel` OPEN
 * exchanges at a time) and prepares their streams of m prefixes each.
 */
export async function startTesters(opts: { n: number; m: number; host: string; port: number; establishTimeoutMs: number; parallel?: number }): Promise<Testers> {
  const streams = Array.from({ length: opts.n }, (_, i) => testerStream(i, opts.m));
  const sessions: Session[] = new Array<Session>(opts.n);
  let error: Error | undefined;
  const close = (): void => {
    for (const s of sessions) s?.close();
  };
  try {
    const parallel = opts.parallel ?? 20;
    for (let i = 0; i < opts.n; i += parallel) {
      const results = await Promise.allSettled(
        Array.from({ length: Math.min(parallel, opts.n - i) }, (_, j) =>
          Session.establish({ host: opts.host, port: opts.port, localAddress: testerAddress(i + j), bgpId: testerAddress(i + j), establishTimeoutMs: opts.establishTimeoutMs }),
        ),
      );
      results.forEach((r, j) => {
        if (r.status === 'fulfilled') sessions[i + j] = r.value;
      });
      const bad = results.find((r) => r.status === 'rejected');
      if (bad !== undefined) throw (bad as PromiseRejectedResult).reason;
      for (let j = i; j < i + results.length; j++) sessions[j]!.onFailure((err) => (error ??= err));
    }
  } catch (err) {
    close();
    throw err;
  }
  return {
    sessions,
    get error() {
      return error;
    },
    async blast(stallMs) {
      const firstByteAt = process.hrtime.bigint();
      await Promise.all(sessions.map((s, i) => s.write(streams[i]!, stallMs)));
      return { firstByteAt, flushedAt: process.hrtime.bigint() };
    },
    close,
  };
}
