/**
 * A configured BGP neighbor: owns the session FSM(s), the TCP connection(s),
 * the timers and the restart policy, and reports what happens to the speaker.
 *
 * Two connections exist only during a collision (RFC 4271 section 6.8): our
 * outgoing one and the peer's incoming one. Each has its own FSM; when one
 * receives an OPEN while the other is in OpenConfirm, the BGP identifiers
 * decide which survives, and the loser is told `OpenCollisionDump`.
 */
import { connect as netConnect, Socket } from 'node:net';
import { ipv4ToString, parseIpv4, type BgpMessage, type RouteRefreshMessage, type UpdateVerdict } from '../packet/index.js';
import { SessionFsm, type DownReason, type FsmAction, type FsmConfig, type FsmEvent, type FsmState, type TimerName } from '../fsm/fsm.js';
import type { Negotiated } from '../fsm/negotiate.js';
import { IdleHoldBackoff, type IdleHoldPolicy } from './backoff.js';
import { type Clock, TimerSet, systemClock } from './clock.js';
import { Connection, type Direction } from './connection.js';
import { SessionStats } from './session-stats.js';

export interface NeighborConfig extends FsmConfig {
  /** Name for logs and status (Calico's `Mesh_192_0_2_2` style). */
  name: string;
  address: string;
  port: number;
  /** Local address to connect from, if any. */
  localAddress?: string;
  /** Only accept the peer's connections; never connect. */
  passive: boolean;
  idleHold?: IdleHoldPolicy;
  /**
   * Octets we let queue up for a peer that does not read before resetting the
   * session (Cease / Out of Resources): memory stays bounded whatever the peer
   * does. Default 64 MiB.
   */
  maxQueuedBytes?: number;
  /** TCP-MD5 key (RFC 2385); null/absent = none. Applied by the connector and the listener. */
  password?: string | null;
  /** GTSM (RFC 5082): the peer is at most this many hops away; 0/absent = off. */
  ttlSecurity?: number;
}

export const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024;

export interface NeighborListener {
  state?(state: FsmState, previous: FsmState): void;
  established?(negotiated: Negotiated): void;
  down?(reason: DownReason, wasEstablished: boolean): void;
  update?(verdict: Exclude<UpdateVerdict, { action: 'session-reset' }>): void;
  routeRefresh?(message: RouteRefreshMessage): void;
  /** The established connection can take more writes. */
  drain?(): void;
  log?(level: 'debug' | 'info' | 'warn', msg: string, extra?: Record<string, unknown>): void;
}

/**
 * Opens a TCP connection to the peer (tests and MD5/GTSM plug in here): a
 * connecting Socket, or a Promise of a connected one (`sockopt.ts`).
 */
export type Connector = (cfg: NeighborConfig) => Socket | Promise<Socket>;

export const plainConnector: Connector = (cfg) =>
  netConnect({ host: cfg.address, port: cfg.port, ...(cfg.localAddress !== undefined ? { localAddress: cfg.localAddress } : {}) });

interface Leg {
  fsm: SessionFsm;
  conn: Connection | null;
  direction: Direction;
  timers: TimerSet<TimerName>;
  /** A connect in progress (not yet a Connection). */
  pending: Socket | null;
  /** A peer's connection accepted beside an Established graceful-restart session (see `accept`). */
  probe: boolean;
}

export class Neighbor {
  private primary: Leg;
  private secondary: Leg | null = null;
  private readonly backoff: IdleHoldBackoff;
  private restartTimer: unknown = null;
  private running = false;
  /** When the current state was entered, and the last reason it went down. */
  since = new Date();
  lastDown: DownReason | null = null;
  /** Messages, NOTIFICATIONs and flaps of this neighbor (read by the metrics endpoint). */
  readonly stats = new SessionStats();

  constructor(
    readonly config: NeighborConfig,
    private readonly listener: NeighborListener,
    private readonly clock: Clock = systemClock,
    private readonly connector: Connector = plainConnector,
    private readonly random: () => number = Math.random,
  ) {
    this.backoff = new IdleHoldBackoff(config.idleHold, random);
    this.primary = this.newLeg('outgoing');
  }

  get state(): FsmState {
    return this.primary.fsm.state;
  }

  get negotiated(): Negotiated | null {
    return this.primary.fsm.state === 'Established' ? this.primary.fsm.negotiated : null;
  }

  /** The established connection, for the RIB side to write UPDATEs to. */
  get connection(): Connection | null {
    return this.primary.fsm.state === 'Established' ? this.primary.conn : null;
  }

  private get peerType(): 'internal' | 'external' {
    return this.config.peerAs === this.config.localAs ? 'internal' : 'external';
  }

  private newLeg(direction: Direction): Leg {
    // The timer callback runs only after `leg` below exists.
    const timers = new TimerSet<TimerName>(this.clock, (t) => {
      if (t === 'connectRetry' && leg.pending !== null && leg === this.primary) {
        // The attempt got no answer before the retry: with TCP-MD5 that is
        // what a key mismatch looks like (the peer's kernel drops our SYNs).
        this.lastDown = { kind: 'connectionFailed', error: 'connection timed out' };
      }
      const ev: FsmEvent =
        t === 'connectRetry' ? { type: 'ConnectRetryTimer_Expires' } : t === 'hold' ? { type: 'HoldTimer_Expires' } : { type: 'KeepaliveTimer_Expires' };
      this.dispatch(leg, ev);
    });
    const leg: Leg = { fsm: new SessionFsm(this.config, this.peerType, this.random), conn: null, direction, timers, pending: null, probe: false };
    return leg;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.dispatch(this.primary, this.config.passive ? { type: 'ManualStart_with_PassiveTcpEstablishment' } : { type: 'ManualStart' });
  }

  /** Stops the session with a Cease (RFC 9003 text) and keeps it down. */
  stop(reason = 'administratively stopped', subcode?: number): void {
    this.running = false;
    if (this.restartTimer !== null) this.clock.clearTimeout(this.restartTimer);
    this.restartTimer = null;
    if (this.secondary !== null) this.dispatch(this.secondary, { type: 'ManualStop', reason, ...(subcode !== undefined ? { subcode } : {}) });
    this.dispatch(this.primary, { type: 'ManualStop', reason, ...(subcode !== undefined ? { subcode } : {}) });
  }

  /**
   * Closes the connections without a NOTIFICATION and keeps the session down:
   * a graceful-restart shutdown (RFC 4724), after which peers keep our routes
   * for the restart time.
   */
  abandon(): void {
    this.running = false;
    if (this.restartTimer !== null) this.clock.clearTimeout(this.restartTimer);
    this.restartTimer = null;
    if (this.secondary !== null) this.dispatch(this.secondary, { type: 'TcpConnectionFails', error: 'shutting down (graceful restart)' });
    this.dispatch(this.primary, { type: 'TcpConnectionFails', error: 'shutting down (graceful restart)' });
    // The FSM would keep retrying from Active; nothing should run any more.
    this.primary.timers.clearAll();
    this.secondary?.timers.clearAll();
  }

  /** Drops the session (admin reset) and lets the restart policy bring it back. */
  reset(reason = 'administratively reset'): void {
    this.dispatch(this.primary, { type: 'ManualStop', reason, subcode: 4 });
    if (this.running) this.scheduleRestart(0);
  }

  /**
   * Closes the session with a Cease of `subcode` carrying `data`, then comes
   * back after the flap backoff (a misbehaving peer is not retried at once).
   */
  drop(reason: string, subcode: number, data: Buffer): void {
    this.dispatch(this.primary, { type: 'ManualStop', reason, subcode, data });
    if (this.running) this.scheduleRestart(this.backoff.down(this.clock.now()));
  }

  /** Sends a message on the established connection. */
  send(message: BgpMessage): boolean {
    const conn = this.connection;
    if (conn === null) return false;
    conn.send(message);
    if (message.type === 'UPDATE') this.dispatch(this.primary, { type: 'UpdateSent' });
    return true;
  }

  /** Writes pre-encoded UPDATEs on the established connection; false when the socket is full. */
  writeUpdates(messages: readonly Buffer[]): boolean {
    const conn = this.connection;
    if (conn === null || messages.length === 0) return false;
    const ok = conn.writeAll(messages);
    this.dispatch(this.primary, { type: 'UpdateSent' });
    const limit = this.config.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    if (conn.writableLength > limit) {
      this.log('warn', 'peer is not reading; resetting the session to bound memory', { queuedBytes: conn.writableLength, limit });
      this.dispatch(this.primary, { type: 'ManualStop', reason: `peer did not read ${conn.writableLength} queued octets`, subcode: 8 });
      if (this.running) this.scheduleRestart(this.backoff.down(this.clock.now()));
      return false;
    }
    return ok;
  }

  /**
   * An incoming TCP connection from this peer's address. Returns false if it
   * was refused (the caller closes it).
   */
  accept(socket: Socket): boolean {
    if (!this.running) return false;
    const p = this.primary;
    const s = p.fsm.state;
    if ((s === 'Connect' || s === 'Active') && p.conn === null) {
      // Take the peer's connection; abandon our own attempt.
      p.pending?.destroy();
      p.pending = null;
      p.direction = 'incoming';
      this.attach(p, socket);
      this.dispatch(p, { type: 'TcpConnectionConfirmed' });
      return true;
    }
    if (s === 'Idle') {
      // We were waiting out the restart backoff; the peer is ready now.
      if (this.restartTimer !== null) this.clock.clearTimeout(this.restartTimer);
      this.restartTimer = null;
      this.dispatch(this.primary, { type: 'ManualStart_with_PassiveTcpEstablishment' });
      return this.accept(socket);
    }
    // Established with graceful restart: RFC 4724 section 4.2 reads a new
    // connection as the peer having restarted. It may instead be the peer's
    // own connect crossing ours just as our session came up, and then the
    // peer keeps the old session and closes the new connection (RFC 4271
    // section 6.8). Dropping the old session on accept would leave both
    // sides with nothing, so the OPEN exchange runs on the new connection
    // beside the session: only if it reaches Established did the peer
    // restart, and it replaces the old session (see `promote`).
    const restartProbe = s === 'Established' && this.gracefulRestart(p);
    if ((s === 'OpenSent' || s === 'OpenConfirm' || restartProbe) && this.secondary === null) {
      const leg = this.newLeg('incoming');
      leg.probe = restartProbe;
      this.secondary = leg;
      this.attach(leg, socket);
      this.dispatch(leg, { type: 'ManualStart_with_PassiveTcpEstablishment' });
      this.dispatch(leg, { type: 'TcpConnectionConfirmed' });
      return true;
    }
    // Established without graceful restart, or a third connection: RFC 4271
    // section 6.8 keeps the existing one.
    return false;
  }

  // -------------------------------------------------------------------------

  private attach(leg: Leg, socket: Socket): void {
    leg.conn = new Connection(socket, leg.direction, {
      event: (ev) => this.dispatch(leg, ev),
      closed: (error) => {
        leg.conn = null;
        this.dispatch(leg, { type: 'TcpConnectionFails', error: error ?? 'connection closed by peer' });
      },
      drain: () => {
        if (leg === this.primary) this.listener.drain?.();
      },
    }, this.stats);
  }

  private connectOut(leg: Leg): void {
    leg.pending?.destroy();
    const out = this.connector(this.config);
    if (out instanceof Promise) {
      // A socket-less placeholder stands for the attempt, so `close` and
      // `accept` cancel it as they cancel a plain one.
      const placeholder = new Socket();
      leg.pending = placeholder;
      out.then(
        (socket) => {
          if (leg.pending !== placeholder) return void socket.destroy();
          leg.pending = null;
          this.connected(leg, socket);
        },
        (err: Error) => {
          if (leg.pending !== placeholder) return;
          leg.pending = null;
          this.dispatch(leg, { type: 'TcpConnectionFails', error: err.message });
        },
      );
      return;
    }
    const socket = out;
    leg.pending = socket;
    const onError = (err: Error): void => {
      if (leg.pending !== socket) return;
      leg.pending = null;
      socket.destroy();
      this.dispatch(leg, { type: 'TcpConnectionFails', error: err.message });
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      if (leg.pending !== socket) return;
      socket.off('error', onError);
      leg.pending = null;
      this.connected(leg, socket);
    });
  }

  private connected(leg: Leg, socket: Socket): void {
    if (leg.conn !== null) {
      // The peer's connection won the race while we were connecting.
      socket.destroy();
      return;
    }
    leg.direction = 'outgoing';
    this.attach(leg, socket);
    this.dispatch(leg, { type: 'TcpConnectionConfirmed' });
  }

  private gracefulRestart(leg: Leg): boolean {
    return (leg.fsm.negotiated?.gracefulRestart ?? null) !== null;
  }

  /** RFC 4271 section 6.8 plus RFC 6286 for equal identifiers. */
  private collisionLoser(a: Leg, b: Leg, peerId: string): Leg {
    const local = parseIpv4(this.config.routerId) ?? 0;
    const remote = parseIpv4(peerId) ?? 0;
    const outgoing = a.direction === 'outgoing' ? a : b;
    const incoming = outgoing === a ? b : a;
    // "If the value of the local BGP Identifier is less than the remote one,
    //  the local system closes the BGP connection that already exists (the one
    //  that is already in the OpenConfirm state), and accepts the BGP
    //  connection initiated by the remote system." In direction terms: the
    //  connection initiated by the side with the higher identifier survives.
    if (local !== remote) return local < remote ? outgoing : incoming;
    // RFC 6286 section 2.3: equal identifiers: the larger AS's connection survives.
    return this.config.localAs > this.config.peerAs ? incoming : outgoing;
  }

  private dispatch(leg: Leg, ev: FsmEvent): void {
    if (ev.type === 'BGPOpen') {
      const other = leg === this.primary ? this.secondary : this.primary;
      // The BGP identifiers decide between two connections that both got
      // an OPEN, also when one of them is already Established: it can only
      // be alive beside the session because the identifiers favour it (see
      // `promote`), and the peer, deciding by the same rule, keeps it. A
      // restart probe is not a collision: it goes on to show whether the
      // peer restarted (see `accept`).
      if (other !== null && !leg.probe && (other.fsm.state === 'OpenConfirm' || other.fsm.state === 'Established')) {
        const loser = this.collisionLoser(leg, other, ev.open.bgpId);
        this.log('info', 'connection collision', { keep: loser === leg ? other.direction : leg.direction });
        this.apply(loser, loser.fsm.process({ type: 'OpenCollisionDump' }));
        if (loser === leg) return;
      }
    }
    this.apply(leg, leg.fsm.process(ev));
  }

  private apply(leg: Leg, actions: FsmAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'connect':
          this.connectOut(leg);
          break;
        case 'close':
          leg.pending?.destroy();
          leg.pending = null;
          leg.conn?.close();
          leg.conn = null;
          break;
        case 'send':
          leg.conn?.send(a.message);
          break;
        case 'setTimer':
          leg.timers.set(a.timer, a.seconds);
          break;
        case 'clearTimer':
          leg.timers.clear(a.timer);
          break;
        case 'stateChange':
          if (a.to === 'OpenConfirm' && leg.conn !== null && leg.fsm.negotiated !== null) {
            leg.conn.setContexts(leg.fsm.negotiated.rxCtx, leg.fsm.negotiated.txCtx);
          }
          this.onLegState(leg, a.from, a.to);
          break;
        case 'established':
          this.promote(leg);
          this.backoff.up(this.clock.now());
          this.listener.established?.(a.negotiated);
          break;
        case 'down':
          this.onLegDown(leg, a.reason, a.wasEstablished);
          break;
        case 'update':
          if (leg === this.primary) this.listener.update?.(a.verdict);
          break;
        case 'routeRefresh':
          if (leg === this.primary) this.listener.routeRefresh?.(a.message);
          break;
      }
    }
  }

  /**
   * A leg that reached Established becomes the primary. The other one, if
   * still alive:
   * - an Established session that a restart probe replaces goes down like a
   *   dropped connection (its routes stay, stale, until the new session's
   *   End-of-RIB);
   * - a connection the BGP identifiers favour stays, as the secondary: the
   *   peer may have seen both OPENs and chosen it, having already sent the
   *   KEEPALIVE that brought this leg up; its OPEN settles it (`dispatch`),
   *   or it closes;
   * - any other connection is closed as the collision loser.
   */
  private promote(leg: Leg): void {
    const other = leg === this.primary ? this.secondary : this.primary;
    this.since = new Date(this.clock.now());
    this.primary = leg;
    this.secondary = null;
    if (other === null || other.fsm.state === 'Idle') return;
    if (leg.probe) {
      leg.probe = false;
      if (other.fsm.state === 'Established') {
        this.apply(other, other.fsm.process({ type: 'TcpConnectionFails', error: 'peer reconnected (graceful restart)' }));
        other.timers.clearAll();
        return;
      }
    }
    const peerId = leg.fsm.negotiated?.peerId ?? '0.0.0.0';
    if (this.collisionLoser(leg, other, peerId) === leg) {
      this.secondary = other;
      return;
    }
    this.apply(other, other.fsm.process({ type: 'OpenCollisionDump' }));
    other.timers.clearAll();
  }

  private onLegState(leg: Leg, from: FsmState, to: FsmState): void {
    if (leg !== this.primary) return;
    this.since = new Date(this.clock.now());
    this.listener.state?.(to, from);
  }

  private onLegDown(leg: Leg, reason: DownReason, wasEstablished: boolean): void {
    this.stats.noteDown(reason, wasEstablished && leg !== this.secondary);
    if (leg === this.secondary) {
      this.secondary = null;
      leg.timers.clearAll();
      return;
    }
    if (isCollision(reason) && this.secondary !== null) {
      // The other connection carries on as the session. If this one was
      // Established, the session restarts on it: the RIB hears of the drop
      // (graceful restart keeps the routes, stale, until End-of-RIB).
      this.primary = this.secondary;
      this.secondary = null;
      leg.timers.clearAll();
      if (wasEstablished) {
        this.lastDown = reason;
        this.listener.down?.(reason, true);
      }
      return;
    }
    if (leg.fsm.state === 'Active') {
      // Connection attempt failed; the FSM keeps retrying on its own timer.
      this.lastDown = reason;
      this.listener.down?.(reason, false);
      return;
    }
    this.lastDown = reason;
    this.listener.down?.(reason, wasEstablished);
    if (this.running && reason.kind !== 'stopped') this.scheduleRestart(this.backoff.down(this.clock.now()));
  }

  private scheduleRestart(seconds: number): void {
    if (this.restartTimer !== null) this.clock.clearTimeout(this.restartTimer);
    this.log('debug', 'session restart scheduled', { seconds: Math.round(seconds * 10) / 10 });
    this.restartTimer = this.clock.setTimeout(() => {
      this.restartTimer = null;
      if (!this.running || this.primary.fsm.state !== 'Idle') return;
      this.dispatch(this.primary, this.config.passive ? { type: 'ManualStart_with_PassiveTcpEstablishment' } : { type: 'ManualStart' });
    }, seconds * 1000);
  }

  private log(level: 'debug' | 'info' | 'warn', msg: string, extra?: Record<string, unknown>): void {
    this.listener.log?.(level, msg, { neighbor: this.config.name, ...extra });
  }
}

/**
 * A connection closed by collision resolution (RFC 4271 section 6.8), by us
 * or by the peer (Cease, Connection Collision Resolution): the session
 * carries on, or restarts, on the other connection.
 */
export function isCollision(reason: DownReason): boolean {
  return reason.kind === 'collision' || (reason.kind === 'notificationReceived' && reason.code === 6 && reason.subcode === 7);
}

/** Router id text from a number (for tests and hashing). */
export const routerIdText = ipv4ToString;
