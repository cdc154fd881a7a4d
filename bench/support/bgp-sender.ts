/**
 * A minimal BGP speaker for benchmarks, written with our codec: connects to a
 * daemon, exchanges OPENs (multiprotocol IPv4 + IPv6 unicast, 4-octet AS),
 * answers and sends KEEPALIVEs, then writes a pre-encoded UPDATE stream
 * followed by End-of-RIB as fast as the socket takes it.
 *
 * It does not keep a RIB or react to anything but KEEPALIVE, OPEN and
 * NOTIFICATION: it exists to feed a real daemon a known byte stream and note
 * when the first UPDATE octet went out. Every wait is bounded.
 */
import { connect, type Socket } from 'node:net';
import {
  AS_TRANS,
  Afi,
  CapCode,
  DEFAULT_CONTEXT,
  Framer,
  MAX_MESSAGE_LENGTH,
  Safi,
  decodeMessage,
  encodeMessage,
  endOfRib,
  type AfiCode,
  type Capability,
  type OpenMessage,
} from '../../src/bgp/packet/index.js';

export interface SenderOptions {
  host: string;
  port: number;
  /** Source address to bind (the daemon's configured neighbor address). */
  localAddress: string;
  asn: number;
  bgpId: string;
  /** Proposed hold time in seconds (default 180). */
  holdTime?: number;
  /** Bound on connect + OPEN exchange, in ms (default 20 s). */
  establishTimeoutMs?: number;
}

export interface BlastResult {
  /** process.hrtime.bigint() just before the first UPDATE octet was handed to the socket. */
  firstByteAt: bigint;
  /** When the last octet (End-of-RIB included) had been flushed to the kernel. */
  flushedAt: bigint;
  bytes: number;
  messages: number;
}

/** Concatenates messages into chunks of about `size` octets, so a write is not one syscall per UPDATE. */
export function chunkMessages(msgs: readonly Buffer[], size = 256 * 1024): Buffer[] {
  const out: Buffer[] = [];
  let batch: Buffer[] = [];
  let len = 0;
  for (const m of msgs) {
    batch.push(m);
    len += m.length;
    if (len >= size) {
      out.push(Buffer.concat(batch, len));
      batch = [];
      len = 0;
    }
  }
  if (len > 0) out.push(Buffer.concat(batch, len));
  return out;
}

export class BgpSender {
  private sock: Socket | undefined;
  private readonly framer = new Framer(MAX_MESSAGE_LENGTH);
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private failure: Error | undefined;
  private onFailure: ((err: Error) => void) | undefined;
  peerOpen: OpenMessage | undefined;
  private constructor(private readonly opts: SenderOptions) {}

  /** Connects and waits until the session is Established (OPEN + KEEPALIVE both ways). */
  static async establish(opts: SenderOptions): Promise<BgpSender> {
    const s = new BgpSender(opts);
    try {
      await s.run();
    } catch (err) {
      s.close();
      throw err;
    }
    return s;
  }

  /** The error that ended the session, if any (NOTIFICATION, reset, decode error). */
  get error(): Error | undefined {
    return this.failure;
  }

  private fail(err: Error): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.onFailure?.(err);
  }

  private run(): Promise<void> {
    const { host, port, localAddress, asn, bgpId } = this.opts;
    const holdTime = this.opts.holdTime ?? 180;
    const timeoutMs = this.opts.establishTimeoutMs ?? 20_000;
    return new Promise<void>((resolve, reject) => {
      let gotOpen = false;
      let done = false;
      const finish = (err?: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => finish(new Error(`BGP session to ${host}:${port} not Established within ${timeoutMs} ms`)), timeoutMs);
      this.onFailure = (err) => finish(err);
      const sock = connect({ host, port, localAddress });
      this.sock = sock;
      sock.setNoDelay(true);
      sock.on('error', (err) => this.fail(err));
      sock.on('close', () => this.fail(new Error(`connection to ${host}:${port} closed`)));
      sock.on('connect', () => {
        const caps: Capability[] = [
          { code: CapCode.MULTIPROTOCOL, afi: Afi.IPV4, safi: Safi.UNICAST },
          { code: CapCode.MULTIPROTOCOL, afi: Afi.IPV6, safi: Safi.UNICAST },
          { code: CapCode.FOUR_OCTET_AS, asn },
        ] as Capability[];
        const open: OpenMessage = { type: 'OPEN', version: 4, myAs: asn > 0xffff ? AS_TRANS : asn, holdTime, bgpId, capabilities: caps };
        sock.write(encodeMessage(open, DEFAULT_CONTEXT));
      });
      sock.on('data', (chunk: Buffer) => {
        let msgs: Buffer[];
        try {
          msgs = this.framer.push(chunk);
        } catch (err) {
          this.fail(err as Error);
          return;
        }
        for (const m of msgs) {
          let decoded;
          try {
            decoded = decodeMessage(m, DEFAULT_CONTEXT).message;
          } catch (err) {
            this.fail(err as Error);
            return;
          }
          switch (decoded.type) {
            case 'OPEN': {
              this.peerOpen = decoded;
              if (!decoded.capabilities.some((c) => c.code === CapCode.FOUR_OCTET_AS)) {
                this.fail(new Error('peer did not advertise the 4-octet AS capability'));
                return;
              }
              gotOpen = true;
              const hold = Math.min(holdTime, decoded.holdTime);
              sock.write(encodeMessage({ type: 'KEEPALIVE' }, DEFAULT_CONTEXT));
              if (hold > 0) {
                this.keepaliveTimer = setInterval(() => {
                  if (!sock.destroyed) sock.write(encodeMessage({ type: 'KEEPALIVE' }, DEFAULT_CONTEXT));
                }, (hold * 1000) / 3);
                this.keepaliveTimer.unref();
              }
              break;
            }
            case 'KEEPALIVE':
              // The first KEEPALIVE after OPEN means Established; later ones
              // need no answer beyond our own timer.
              if (gotOpen) finish();
              break;
            case 'NOTIFICATION':
              this.fail(new Error(`peer sent NOTIFICATION ${decoded.code}/${decoded.subcode}`));
              return;
            default:
              break; // UPDATEs (the daemon's End-of-RIB) and ROUTE-REFRESH are ignored
          }
        }
      });
    });
  }

  /**
   * Writes `chunks` (pre-encoded UPDATEs, see `chunkMessages`) and an
   * End-of-RIB for `afi`, honouring back-pressure. Resolves once everything
   * has been handed to the kernel; rejects if the session fails or the
   * write stalls longer than `timeoutMs`.
   */
  async blast(chunks: readonly Buffer[], afi: AfiCode, timeoutMs = 120_000): Promise<BlastResult> {
    const sock = this.sock;
    if (sock === undefined || this.failure !== undefined) throw this.failure ?? new Error('not connected');
    const eor = encodeMessage(endOfRib(afi), DEFAULT_CONTEXT);
    let bytes = eor.length;
    let messages = 1;
    for (const c of chunks) bytes += c.length;
    for (const c of chunks) {
      for (let o = 0; o < c.length; ) {
        o += c.readUInt16BE(o + 16);
        messages++;
      }
    }
    const deadline = Date.now() + timeoutMs;
    const firstByteAt = process.hrtime.bigint();
    const waitDrain = () =>
      new Promise<void>((resolve, reject) => {
        const left = deadline - Date.now();
        const t = setTimeout(() => {
          cleanup();
          reject(new Error(`socket write stalled for ${timeoutMs} ms`));
        }, Math.max(0, left));
        const onDrain = () => {
          cleanup();
          resolve();
        };
        const prev = this.onFailure;
        const cleanup = () => {
          clearTimeout(t);
          sock.off('drain', onDrain);
          this.onFailure = prev;
        };
        this.onFailure = (err) => {
          cleanup();
          reject(err);
        };
        sock.on('drain', onDrain);
      });
    for (const c of chunks) {
      if (this.failure !== undefined) throw this.failure;
      if (!sock.write(c)) await waitDrain();
    }
    if (!sock.write(eor)) await waitDrain();
    if (this.failure !== undefined) throw this.failure;
    return { firstByteAt, flushedAt: process.hrtime.bigint(), bytes, messages };
  }

  close(): void {
    if (this.keepaliveTimer !== undefined) clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = undefined;
    this.failure ??= new Error('closed');
    this.sock?.destroy();
  }
}
