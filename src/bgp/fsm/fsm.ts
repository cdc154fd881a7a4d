/**
 * The BGP session state machine of RFC 4271 section 8, for one TCP
 * connection. Pure: `process(event)` returns the actions to take (send a
 * message, start or stop a timer, open or close the connection, report the
 * session up or down). Timers are actions too, so tests need no clock; a thin
 * driver (`../session/`) maps actions onto sockets and `setTimeout`.
 *
 * Connection collisions (section 6.8) are resolved one level up, by the
 * neighbor that owns both connections; it tells the losing connection's FSM
 * with the `OpenCollisionDump` event.
 *
 * Deviation, on purpose: a NOTIFICATION received in OpenSent is answered by
 * closing, not with an FSM-error NOTIFICATION (section 4.5: the sender has
 * already closed the connection), as BIRD, FRR and GoBGP do.
 */
import {
  CapCode,
  CeaseSub,
  ErrCode,
  FsmSub,
  OpenSub,
  ceaseWithMessage,
  encodeCapability,
  notificationText,
  shutdownCommunication,
  toNotification,
  type BgpMessage,
  type Capability,
  type DecodeError,
  type NotificationMessage,
  type OpenMessage,
  type RouteRefreshMessage,
  type UpdateVerdict,
} from '../packet/index.js';
import { type Negotiated, myAsField, negotiate, openAs } from './negotiate.js';

export type FsmState = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';

export type TimerName = 'connectRetry' | 'hold' | 'keepalive';

export interface FsmConfig {
  localAs: number;
  routerId: string;
  /** The AS the peer must announce. */
  peerAs: number;
  /** Offered hold time in seconds: 0 or >= 3. */
  holdTime: number;
  /** Seconds between connection attempts. */
  connectRetryTime: number;
  /** Capabilities we advertise (4-octet AS is always added). */
  capabilities: Capability[];
  /** Capability codes the peer must advertise, else OPEN error Unsupported Capability. */
  requiredCapabilities?: number[];
}

/** Events, named after RFC 4271 section 8.1. */
export type FsmEvent =
  | { type: 'ManualStart' }
  | { type: 'ManualStart_with_PassiveTcpEstablishment' }
  /** `data`: the Cease data to send instead of an RFC 9003 shutdown communication (e.g. RFC 4486 prefix limit). */
  | { type: 'ManualStop'; reason?: string; subcode?: number; data?: Buffer }
  | { type: 'ConnectRetryTimer_Expires' }
  | { type: 'HoldTimer_Expires' }
  | { type: 'KeepaliveTimer_Expires' }
  /** Tcp_CR_Acked (we connected) or TcpConnectionConfirmed (they connected). */
  | { type: 'TcpConnectionConfirmed' }
  | { type: 'TcpConnectionFails'; error?: string }
  | { type: 'BGPOpen'; open: OpenMessage }
  /** A message that failed to decode (header, OPEN, UPDATE or ROUTE-REFRESH error). */
  | { type: 'MessageError'; error: DecodeError }
  | { type: 'OpenCollisionDump' }
  | { type: 'NotifMsg'; notification: NotificationMessage }
  | { type: 'KeepAliveMsg' }
  | { type: 'UpdateMsg'; verdict: Exclude<UpdateVerdict, { action: 'session-reset' }> }
  | { type: 'RouteRefreshMsg'; message: RouteRefreshMessage }
  /** We sent an UPDATE: the keepalive timer restarts (section 4.4). */
  | { type: 'UpdateSent' };

/** Why a session went down, for logs and `calico-bgpd status`. */
export type DownReason =
  | { kind: 'stopped'; reason: string }
  | { kind: 'connectionFailed'; error: string }
  | { kind: 'holdTimerExpired' }
  | { kind: 'notificationReceived'; code: number; subcode: number; text: string; message?: string }
  | { kind: 'notificationSent'; code: number; subcode: number; text: string }
  | { kind: 'collision' };

export type FsmAction =
  | { type: 'connect' }
  | { type: 'close' }
  | { type: 'send'; message: BgpMessage }
  | { type: 'setTimer'; timer: TimerName; seconds: number }
  | { type: 'clearTimer'; timer: TimerName }
  | { type: 'established'; negotiated: Negotiated }
  | { type: 'down'; reason: DownReason; wasEstablished: boolean }
  | { type: 'update'; verdict: Exclude<UpdateVerdict, { action: 'session-reset' }> }
  | { type: 'routeRefresh'; message: RouteRefreshMessage }
  | { type: 'stateChange'; from: FsmState; to: FsmState };

/** RFC 4271 section 8: "a large value (suggested 4 minutes)" for the hold timer until OPEN is received. */
export const LARGE_HOLD_TIME = 240;

const FSM_SUBCODE: Record<FsmState, number> = {
  Idle: FsmSub.UNSPECIFIED,
  Connect: FsmSub.UNSPECIFIED,
  Active: FsmSub.UNSPECIFIED,
  OpenSent: FsmSub.UNEXPECTED_IN_OPENSENT,
  OpenConfirm: FsmSub.UNEXPECTED_IN_OPENCONFIRM,
  Established: FsmSub.UNEXPECTED_IN_ESTABLISHED,
};

export class SessionFsm {
  private current: FsmState = 'Idle';
  private ourOpen: OpenMessage;
  private neg: Negotiated | null = null;
  private passive = false;
  /** RFC 4271 ConnectRetryCounter: failed attempts since the last success. */
  connectRetryCounter = 0;

  constructor(
    private readonly config: FsmConfig,
    private readonly peerType: 'internal' | 'external',
    /** Jitter source (RFC 4271 section 10: timers jittered to 75-100%). */
    private readonly random: () => number = Math.random,
  ) {
    const caps = config.capabilities.filter((c) => c.code !== CapCode.FOUR_OCTET_AS);
    caps.push({ code: CapCode.FOUR_OCTET_AS, asn: config.localAs });
    this.ourOpen = { type: 'OPEN', version: 4, myAs: myAsField(config.localAs), holdTime: config.holdTime, bgpId: config.routerId, capabilities: caps };
  }

  get state(): FsmState {
    return this.current;
  }

  /** Session parameters, once OPENs were exchanged. */
  get negotiated(): Negotiated | null {
    return this.neg;
  }

  /** Our OPEN as sent. */
  get open(): OpenMessage {
    return this.ourOpen;
  }

  process(ev: FsmEvent): FsmAction[] {
    const out: FsmAction[] = [];
    const from = this.current;
    this.step(ev, out);
    if (this.current !== from) out.push({ type: 'stateChange', from, to: this.current });
    return out;
  }

  // -------------------------------------------------------------------------

  private jitter(seconds: number): number {
    return seconds * (0.75 + 0.25 * this.random());
  }

  private go(to: FsmState): void {
    this.current = to;
  }

  /** Everything that leaves a session for Idle: stop timers, close, report. */
  private toIdle(out: FsmAction[], reason: DownReason, countFailure = true): void {
    const wasEstablished = this.current === 'Established';
    for (const timer of ['connectRetry', 'hold', 'keepalive'] as const) out.push({ type: 'clearTimer', timer });
    out.push({ type: 'close' });
    if (countFailure) this.connectRetryCounter++;
    this.neg = null;
    this.go('Idle');
    out.push({ type: 'down', reason, wasEstablished });
  }

  private notifyAndIdle(out: FsmAction[], n: NotificationMessage, countFailure = true): void {
    out.push({ type: 'send', message: n });
    this.toIdle(out, { kind: 'notificationSent', code: n.code, subcode: n.subcode, text: notificationText(n.code, n.subcode) }, countFailure);
  }

  private fsmError(out: FsmAction[]): void {
    // RFC 6608: the subcode says which state got the unexpected message.
    this.notifyAndIdle(out, { type: 'NOTIFICATION', code: ErrCode.FSM, subcode: FSM_SUBCODE[this.current], data: Buffer.alloc(0) });
  }

  private sendOpen(out: FsmAction[]): void {
    out.push({ type: 'clearTimer', timer: 'connectRetry' });
    out.push({ type: 'send', message: this.ourOpen });
    out.push({ type: 'setTimer', timer: 'hold', seconds: LARGE_HOLD_TIME });
    this.go('OpenSent');
  }

  private startKeepalive(out: FsmAction[]): void {
    if (this.neg !== null && this.neg.keepaliveTime > 0) {
      out.push({ type: 'setTimer', timer: 'keepalive', seconds: this.jitter(this.neg.keepaliveTime) });
    }
  }

  private restartHold(out: FsmAction[]): void {
    if (this.neg !== null && this.neg.holdTime > 0) out.push({ type: 'setTimer', timer: 'hold', seconds: this.neg.holdTime });
  }

  /** Session-level OPEN checks beyond what the codec checks; returns the NOTIFICATION due, if any. */
  private checkOpen(open: OpenMessage): NotificationMessage | undefined {
    const note = (subcode: number, data: Buffer = Buffer.alloc(0)): NotificationMessage => ({ type: 'NOTIFICATION', code: ErrCode.OPEN_MESSAGE, subcode, data });
    // "If the Autonomous System field of the OPEN message is unacceptable,
    //  then the Error Subcode MUST be set to Bad Peer AS."
    if (openAs(open) !== this.config.peerAs) return note(OpenSub.BAD_PEER_AS);
    // RFC 6286 section 2.1: an internal peer must not use our identifier.
    if (this.peerType === 'internal' && open.bgpId === this.config.routerId) return note(OpenSub.BAD_BGP_IDENTIFIER);
    const missing = (this.config.requiredCapabilities ?? []).filter((code) => !open.capabilities.some((c) => c.code === code));
    if (missing.length > 0) {
      // RFC 5492 section 5: the data lists the capabilities we require.
      const ours = this.ourOpen.capabilities.filter((c) => missing.includes(c.code));
      const data = Buffer.alloc(ours.reduce((n, c) => n + 260, 0));
      let o = 0;
      for (const c of ours) o = encodeCapability(c, data, o);
      return note(OpenSub.UNSUPPORTED_CAPABILITY, data.subarray(0, o));
    }
    return undefined;
  }

  private receivedNotification(out: FsmAction[], n: NotificationMessage): void {
    const message = shutdownCommunication(n);
    this.toIdle(out, {
      kind: 'notificationReceived',
      code: n.code,
      subcode: n.subcode,
      text: notificationText(n.code, n.subcode),
      ...(message !== undefined ? { message } : {}),
    });
  }

  private stop(out: FsmAction[], ev: Extract<FsmEvent, { type: 'ManualStop' }>): void {
    const reason = ev.reason ?? 'administratively stopped';
    this.connectRetryCounter = 0;
    if (this.current === 'OpenSent' || this.current === 'OpenConfirm' || this.current === 'Established') {
      // "sends the NOTIFICATION with a Cease"; RFC 9003 adds the reason text.
      out.push({
        type: 'send',
        message:
          ev.data !== undefined
            ? { type: 'NOTIFICATION', code: ErrCode.CEASE, subcode: ev.subcode ?? CeaseSub.ADMINISTRATIVE_SHUTDOWN, data: ev.data }
            : ceaseWithMessage(ev.subcode ?? CeaseSub.ADMINISTRATIVE_SHUTDOWN, reason),
      });
    }
    this.toIdle(out, { kind: 'stopped', reason }, false);
  }

  /**
   * One event in the current state. Laid out as RFC 4271 section 8.2.2:
   * the events handled alike in every state but Idle first, then one
   * handler per state.
   */
  private step(ev: FsmEvent, out: FsmAction[]): void {
    if (this.current !== 'Idle' && this.commonEvent(ev, out)) return;
    switch (this.current) {
      case 'Idle':
        return this.inIdle(ev, out);
      case 'Connect':
      case 'Active':
        return this.inConnectOrActive(ev, out);
      case 'OpenSent':
        return this.inOpenSent(ev, out);
      case 'OpenConfirm':
        return this.inOpenConfirm(ev, out);
      case 'Established':
        return this.inEstablished(ev, out);
    }
  }

  /** Events with the same handling in every non-Idle state; false when `ev` is not one of them here. */
  private commonEvent(ev: FsmEvent, out: FsmAction[]): boolean {
    const s = this.current;
    switch (ev.type) {
      case 'ManualStop':
        this.stop(out, ev);
        return true;
      case 'TcpConnectionFails':
        this.connectionFailed(out, ev.error);
        return true;
      case 'NotifMsg':
        this.receivedNotification(out, ev.notification);
        return true;
      case 'MessageError':
        this.messageError(out, ev.error);
        return true;
      case 'HoldTimer_Expires':
        if (s === 'Connect' || s === 'Active') return false;
        out.push({ type: 'send', message: { type: 'NOTIFICATION', code: ErrCode.HOLD_TIMER_EXPIRED, subcode: 0, data: Buffer.alloc(0) } });
        this.toIdle(out, { kind: 'holdTimerExpired' });
        return true;
      case 'OpenCollisionDump':
        if (s === 'Connect' || s === 'Active') return false;
        out.push({ type: 'send', message: { type: 'NOTIFICATION', code: ErrCode.CEASE, subcode: CeaseSub.CONNECTION_COLLISION_RESOLUTION, data: Buffer.alloc(0) } });
        this.toIdle(out, { kind: 'collision' }, false);
        return true;
      default:
        return false;
    }
  }

  /** TcpConnectionFails (Event 18). */
  private connectionFailed(out: FsmAction[], error: string | undefined): void {
    const s = this.current;
    if (s === 'Connect' || s === 'OpenSent') {
      // Connect: "restarts the ConnectRetryTimer, continues to listen
      // for a connection ... changes its state to Active". OpenSent:
      // "closes the BGP connection, restarts the ConnectRetryTimer,
      // continues to listen ... changes its state to Active".
      out.push({ type: 'close' }, { type: 'clearTimer', timer: 'hold' });
      if (!this.passive) out.push({ type: 'setTimer', timer: 'connectRetry', seconds: this.jitter(this.config.connectRetryTime) });
      this.go('Active');
      out.push({ type: 'down', reason: { kind: 'connectionFailed', error: error ?? 'connection failed' }, wasEstablished: false });
      return;
    }
    this.toIdle(out, { kind: 'connectionFailed', error: error ?? 'connection closed' });
  }

  /** BGPHeaderErr, BGPOpenMsgErr, UpdateMsgErr and their kin (Events 21, 22, 28). */
  private messageError(out: FsmAction[], error: DecodeError): void {
    if (error.kind === 'malformedNotification') return this.toIdle(out, { kind: 'connectionFailed', error: 'malformed NOTIFICATION' });
    const n = toNotification(error);
    // Established: "In response to any other event (Events 9, 12-13, 20-22),
    // the local system: - sends a NOTIFICATION message with the Error Code
    // Finite State Machine Error". An OPEN, well-formed or not (Event 22,
    // BGPOpenMsgErr), has no place in Established: RFC 6608 subcode 3.
    if (this.current === 'Established' && n.code === ErrCode.OPEN_MESSAGE) return this.fsmError(out);
    this.notifyAndIdle(out, { type: 'NOTIFICATION', ...n });
  }

  /** Idle: "refuses all incoming BGP connections ... Any other event is ignored." */
  private inIdle(ev: FsmEvent, out: FsmAction[]): void {
    if (ev.type === 'ManualStart') {
      this.passive = false;
      out.push({ type: 'setTimer', timer: 'connectRetry', seconds: this.jitter(this.config.connectRetryTime) });
      out.push({ type: 'connect' });
      this.go('Connect');
    } else if (ev.type === 'ManualStart_with_PassiveTcpEstablishment') {
      // A passive session only waits: no connect-retry timer to run
      // (with a thousand passive mesh peers those timers are real load).
      this.passive = true;
      this.go('Active');
    }
  }

  /** Connect and Active: waiting for the TCP connection. */
  private inConnectOrActive(ev: FsmEvent, out: FsmAction[]): void {
    switch (ev.type) {
      case 'ConnectRetryTimer_Expires':
        // A passive peer never connects; it just keeps waiting in Active.
        if (this.passive) return;
        out.push({ type: 'setTimer', timer: 'connectRetry', seconds: this.jitter(this.config.connectRetryTime) });
        out.push({ type: 'close' }, { type: 'connect' });
        this.go('Connect');
        return;
      case 'TcpConnectionConfirmed':
        return this.sendOpen(out);
      default:
        // Any other event (a message before any OPEN was sent, timers
        // that cannot run here): drop the connection, back to Idle.
        return this.toIdle(out, { kind: 'connectionFailed', error: `unexpected ${ev.type} in ${this.current}` });
    }
  }

  /** OpenSent: our OPEN is out, waiting for theirs. */
  private inOpenSent(ev: FsmEvent, out: FsmAction[]): void {
    if (ev.type !== 'BGPOpen') return this.fsmError(out);
    const bad = this.checkOpen(ev.open);
    if (bad !== undefined) return this.notifyAndIdle(out, bad);
    this.neg = negotiate(this.ourOpen, ev.open, this.peerType);
    out.push({ type: 'clearTimer', timer: 'connectRetry' });
    out.push({ type: 'send', message: { type: 'KEEPALIVE' } });
    // "If the negotiated hold time value is zero, then the HoldTimer
    //  and KeepaliveTimer are not started."
    if (this.neg.holdTime === 0) out.push({ type: 'clearTimer', timer: 'hold' });
    else this.restartHold(out);
    this.startKeepalive(out);
    this.go('OpenConfirm');
  }

  /** OpenConfirm: OPENs exchanged, waiting for their KEEPALIVE. */
  private inOpenConfirm(ev: FsmEvent, out: FsmAction[]): void {
    switch (ev.type) {
      case 'KeepaliveTimer_Expires':
        out.push({ type: 'send', message: { type: 'KEEPALIVE' } });
        this.startKeepalive(out);
        return;
      case 'KeepAliveMsg':
        this.restartHold(out);
        this.connectRetryCounter = 0;
        this.go('Established');
        out.push({ type: 'established', negotiated: this.neg! });
        return;
      default:
        return this.fsmError(out);
    }
  }

  /** Established: UPDATEs, KEEPALIVEs and ROUTE-REFRESHes flow. */
  private inEstablished(ev: FsmEvent, out: FsmAction[]): void {
    switch (ev.type) {
      case 'KeepaliveTimer_Expires':
        out.push({ type: 'send', message: { type: 'KEEPALIVE' } });
        this.startKeepalive(out);
        return;
      case 'UpdateSent':
        // "Each time the local system sends a KEEPALIVE or UPDATE message,
        //  it restarts its KeepaliveTimer."
        this.startKeepalive(out);
        return;
      case 'KeepAliveMsg':
        this.restartHold(out);
        return;
      case 'UpdateMsg':
        this.restartHold(out);
        out.push({ type: 'update', verdict: ev.verdict });
        return;
      case 'RouteRefreshMsg':
        this.restartHold(out);
        out.push({ type: 'routeRefresh', message: ev.message });
        return;
      default:
        return this.fsmError(out);
    }
  }
}
