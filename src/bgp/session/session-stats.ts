/**
 * Per-neighbor message counters, kept where the bytes pass (the connection)
 * so that the metrics endpoint reads them at scrape time. Counting is one
 * array increment per message: the header's type octet indexes the array.
 */
import type { DownReason } from '../fsm/fsm.js';

/** BGP message type codes (RFC 4271 section 4.1, RFC 2918) and their names. */
export const MESSAGE_TYPE_NAMES = ['', 'OPEN', 'UPDATE', 'NOTIFICATION', 'KEEPALIVE', 'ROUTE-REFRESH'] as const;

/** Offset of the type octet in a BGP header (after the 16-octet marker and 2-octet length). */
const TYPE_OCTET = 18;

export class SessionStats {
  /** Messages sent / received, indexed by type code (0 = unknown type). */
  readonly sent = new Float64Array(MESSAGE_TYPE_NAMES.length);
  readonly received = new Float64Array(MESSAGE_TYPE_NAMES.length);
  /** NOTIFICATIONs by "code/subcode". */
  readonly notificationsSent = new Map<string, number>();
  readonly notificationsReceived = new Map<string, number>();
  /** Times an Established session went down. */
  flaps = 0;

  /** Counts one framed message about to be written (starting at `offset` of `frame`). */
  noteSent(frame: Buffer, offset = 0): void {
    bump(this.sent, frame[offset + TYPE_OCTET] ?? 0);
  }

  /** Counts one framed message received. */
  noteReceived(frame: Buffer): void {
    bump(this.received, frame[TYPE_OCTET] ?? 0);
  }

  /** Counts what a session end says: a NOTIFICATION either way, a flap. */
  noteDown(reason: DownReason, wasEstablished: boolean): void {
    if (wasEstablished) this.flaps++;
    if (reason.kind === 'notificationSent') addTo(this.notificationsSent, `${reason.code}/${reason.subcode}`);
    if (reason.kind === 'notificationReceived') addTo(this.notificationsReceived, `${reason.code}/${reason.subcode}`);
  }
}

function bump(counts: Float64Array, type: number): void {
  const i = type < counts.length ? type : 0;
  counts[i] = (counts[i] ?? 0) + 1;
}

function addTo(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}
