/**
 * A hand-driven BGP peer over a plain TCP socket, for sending exactly the
 * bytes a test wants (malformed messages included) and reading what comes
 * back.
 */
import { connect, type Socket } from 'node:net';
import { DEFAULT_CONTEXT, Framer, decodeMessage, encodeMessage, type BgpMessage, type Capability, type DecodedMessage } from '../../src/bgp/packet/index.js';

export class RawPeer {
  private readonly framer = new Framer(65535);
  readonly received: DecodedMessage[] = [];
  closed = false;
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.framer.push(chunk)) {
        try {
          this.received.push(decodeMessage(frame, DEFAULT_CONTEXT).message);
        } catch {
          // Not our concern here: the speaker under test sent it.
        }
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** A peer on a connection the speaker under test opened (accepted by the test's own server). */
  static wrap(socket: Socket): RawPeer {
    return new RawPeer(socket);
  }

  static connect(host: string, port: number, localAddress: string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = connect({ host, port, localAddress });
      s.once('connect', () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }

  sendRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  send(msg: BgpMessage): void {
    this.socket.write(encodeMessage(msg, DEFAULT_CONTEXT));
  }

  /** Sends our OPEN (or `openBytes`) and completes the handshake unless the speaker objects. */
  async handshake(opts: { as: number; id: string; caps?: Capability[]; openBytes?: Buffer }): Promise<void> {
    if (opts.openBytes !== undefined) this.sendRaw(opts.openBytes);
    else {
      this.send({
        type: 'OPEN', version: 4, myAs: opts.as > 0xffff ? 23456 : opts.as, holdTime: 30, bgpId: opts.id,
        capabilities: opts.caps ?? [{ code: 1, afi: 1, safi: 1 }, { code: 65, asn: opts.as }],
      });
    }
    await this.waitFor((m) => m.type === 'OPEN' || m.type === 'NOTIFICATION', 10_000);
    if (this.received.some((m) => m.type === 'NOTIFICATION')) return;
    this.send({ type: 'KEEPALIVE' });
    await this.waitFor((m) => m.type === 'KEEPALIVE', 10_000);
  }

  /** Resolves with the first received message matching `pred` (searching from the start), or undefined on close/timeout. */
  async waitFor(pred: (m: DecodedMessage) => boolean, timeoutMs: number): Promise<DecodedMessage | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.received.find(pred);
      if (hit !== undefined) return hit;
      if (this.closed || Date.now() >= deadline) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Sends a KEEPALIVE every `seconds` until closed, so a long test does not trip the hold timer. */
  keepAlive(seconds: number): void {
    const t = setInterval(() => {
      if (this.closed) clearInterval(t);
      else this.send({ type: 'KEEPALIVE' });
    }, seconds * 1000);
    t.unref();
    this.socket.once('close', () => clearInterval(t));
  }

  close(): void {
    this.socket.destroy();
  }
}
