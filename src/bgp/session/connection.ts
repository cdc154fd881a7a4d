/**
 * One TCP connection of a neighbor: frames the byte stream, decodes each
 * message with the context negotiated so far, and turns it into the FSM event
 * it stands for. Writes go straight to the socket; `writableLength` tells the
 * RIB side when to hold back (back-pressure).
 */
import type { Socket } from 'node:net';
import {
  BgpCodecError,
  DEFAULT_CONTEXT,
  Framer,
  HEADER_LENGTH,
  MAX_MESSAGE_LENGTH,
  decodeMessage,
  encodeMessage,
  validateUpdate,
  type BgpMessage,
  type CodecContext,
  type DecodedUpdate,
} from '../packet/index.js';
import type { FsmEvent } from '../fsm/fsm.js';
import type { SessionStats } from './session-stats.js';

export type Direction = 'outgoing' | 'incoming';

/**
 * Small buffers (under a quarter of this) that `writeAll` joins into one
 * socket write, up to this many octets: a list of small UPDATEs was one
 * write system call per message, and a restarted reflector sending tables
 * to thousands of peers at once spent most of its time in those calls.
 */
const COALESCE_OCTETS = 64 * 1024;

export interface ConnectionHandlers {
  event(ev: FsmEvent): void;
  /** The socket closed or failed (after which nothing more arrives). */
  closed(error?: string): void;
  /** The socket drained its write buffer. */
  drain?(): void;
}

export class Connection {
  private readonly framer = new Framer(MAX_MESSAGE_LENGTH);
  private rxCtx: CodecContext = DEFAULT_CONTEXT;
  private txCtx: CodecContext = DEFAULT_CONTEXT;
  private closedAlready = false;
  /** Messages received and sent, for status counters. */
  rxMessages = 0;
  txMessages = 0;

  constructor(
    readonly socket: Socket,
    readonly direction: Direction,
    private readonly handlers: ConnectionHandlers,
    /** The neighbor's counters (metrics); absent in codec-level tests. */
    private readonly stats?: SessionStats,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.handlers.drain?.());
    socket.on('error', (err) => this.finish(err.message));
    socket.on('close', () => this.finish());
    socket.on('end', () => socket.end());
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }

  /** Switches to the negotiated contexts (after OPENs are exchanged). */
  setContexts(rx: CodecContext, tx: CodecContext): void {
    this.rxCtx = rx;
    this.txCtx = tx;
    this.framer.setMaxLength(rx.maxMessageLength);
  }

  get tx(): CodecContext {
    return this.txCtx;
  }

  send(message: BgpMessage): void {
    this.write(encodeMessage(message, this.txCtx));
  }

  /** Writes pre-encoded messages; returns false when the socket buffer is full. */
  write(bytes: Buffer): boolean {
    if (this.closedAlready || this.socket.destroyed) return false;
    this.txMessages++;
    this.stats?.noteSent(bytes);
    return this.socket.write(bytes);
  }

  /**
   * Writes pre-encoded messages (each Buffer one or more whole messages) as
   * few socket writes of up to COALESCE_OCTETS; returns false when the
   * socket buffer is full.
   */
  writeAll(buffers: readonly Buffer[]): boolean {
    if (this.closedAlready || this.socket.destroyed) return false;
    let ok = true;
    let batch: Buffer[] = [];
    let size = 0;
    const flush = (): void => {
      if (batch.length === 0) return;
      ok = this.socket.write(batch.length === 1 ? batch[0]! : Buffer.concat(batch, size));
      batch = [];
      size = 0;
    };
    for (const b of buffers) {
      this.countMessages(b);
      if (b.length >= COALESCE_OCTETS / 4) {
        // Large buffers go as they are: an update group's flush is one
        // Buffer shared by all its members, and a copy per member would
        // undo that sharing.
        flush();
        ok = this.socket.write(b);
        continue;
      }
      if (size + b.length > COALESCE_OCTETS) flush();
      batch.push(b);
      size += b.length;
    }
    flush();
    return ok;
  }

  /**
   * Counts every message in `b`: update groups hand over one Buffer for a
   * whole flush, thousands of UPDATEs, and the counters (status, metrics)
   * count messages, not writes. Each header's length field frames the next.
   */
  private countMessages(b: Buffer): void {
    for (let at = 0; at + HEADER_LENGTH <= b.length; ) {
      this.txMessages++;
      this.stats?.noteSent(b, at);
      const length = b.readUInt16BE(at + 16);
      if (length < HEADER_LENGTH) return; // never framed by us; stop rather than loop
      at += length;
    }
  }

  /** Octets queued in the socket, not yet handed to the kernel. */
  get writableLength(): number {
    return this.socket.writableLength;
  }

  /** Stops reading (the consumer is behind) or resumes. */
  pauseReading(paused: boolean): void {
    if (paused) this.socket.pause();
    else this.socket.resume();
  }

  /** Flushes what was written (a NOTIFICATION, say) and closes. */
  close(): void {
    if (this.closedAlready) return;
    this.closedAlready = true;
    this.socket.end();
    // Do not wait forever for a peer that stopped reading.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  private finish(error?: string): void {
    if (!this.closedAlready) {
      this.closedAlready = true;
      this.socket.destroy();
      this.handlers.closed(error);
    }
  }

  private onData(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.framer.push(chunk);
    } catch (e) {
      if (!(e instanceof BgpCodecError)) throw e;
      // Framing is lost: nothing after this can be trusted.
      this.handlers.event({ type: 'MessageError', error: e.detail });
      return;
    }
    for (const frame of frames) {
      if (this.closedAlready) return;
      this.rxMessages++;
      this.stats?.noteReceived(frame);
      this.handlers.event(this.toEvent(frame));
    }
  }

  private toEvent(frame: Buffer): FsmEvent {
    try {
      const { message } = decodeMessage(frame, this.rxCtx);
      switch (message.type) {
        case 'OPEN':
          return { type: 'BGPOpen', open: message };
        case 'KEEPALIVE':
          return { type: 'KeepAliveMsg' };
        case 'NOTIFICATION':
          return { type: 'NotifMsg', notification: message };
        case 'ROUTE-REFRESH':
          return { type: 'RouteRefreshMsg', message };
        case 'UPDATE': {
          const verdict = validateUpdate(message as DecodedUpdate, this.rxCtx);
          if (verdict.action === 'session-reset') return { type: 'MessageError', error: verdict.error };
          return { type: 'UpdateMsg', verdict };
        }
      }
    } catch (e) {
      if (e instanceof BgpCodecError) return { type: 'MessageError', error: e.detail };
      throw e;
    }
  }
}
