/**
 * The concrete reason a session is not up, in the words `status` shows
 * (connection refused, hold timer expired, the NOTIFICATION text, ...).
 */
import type { DownReason } from '../fsm/fsm.js';
import type { Peer } from '../../model/types.js';

/** The concrete reason a session is not up, as `status` shows it. */
export function describeDown(reason: DownReason | null, spec: Peer, state: string): string {
  if (spec.invalid !== undefined) return `not configured: ${spec.invalid}`;
  if (reason === null) return state === 'Active' && spec.passive ? 'waiting for the peer to connect (passive)' : `${state}`;
  switch (reason.kind) {
    case 'connectionFailed': {
      const e = reason.error;
      if (/ECONNREFUSED/.test(e)) return 'connection refused';
      if (/EHOSTUNREACH|ENETUNREACH/.test(e)) return 'no route to host';
      if (/ETIMEDOUT|timed out/i.test(e)) return spec.password !== null ? 'connection timed out (TCP-MD5 password mismatch suspected)' : 'connection timed out';
      if (/ECONNRESET/.test(e) && spec.password !== null) return 'connection reset (TCP-MD5 password mismatch suspected)';
      return e;
    }
    case 'holdTimerExpired':
      return 'hold timer expired';
    case 'notificationReceived':
      return `NOTIFICATION received: ${reason.text}${reason.message !== undefined ? `: "${reason.message}"` : ''}`;
    case 'notificationSent':
      return `NOTIFICATION sent: ${reason.text}`;
    case 'stopped':
      return `stopped: ${reason.reason}`;
    case 'collision':
      return 'connection collision resolved';
  }
}
