/**
 * ROUTE-REFRESH (RFC 2918, subtypes from RFC 7313):
 *
 *   +-----------------------+-----------------+-----------------+
 *   |        AFI (2)        | Subtype (1)     | SAFI (1)        |
 *   +-----------------------+-----------------+-----------------+
 *
 * Subtype 0: normal request, 1: Beginning of Route Refresh, 2: End of Route
 * Refresh. Other subtypes are decoded as they are; the session ignores them
 * ("When the BGP speaker receives a ROUTE-REFRESH message with a 'Message
 * Subtype' field other than 0, 1, or 2, it MUST ignore the received
 * ROUTE-REFRESH message").
 */
import { fail } from './errors.js';

export interface RouteRefreshMessage {
  type: 'ROUTE-REFRESH';
  afi: number;
  safi: number;
  subtype: number;
}

/** `message` is the whole message (header included), for the RFC 7313 error data. */
export function decodeRouteRefresh(message: Buffer, start: number, end: number): RouteRefreshMessage {
  // RFC 7313 section 5: a length other than 23 is a ROUTE-REFRESH Message
  // Error / Invalid Message Length carrying the complete message.
  if (end - start !== 4) fail({ kind: 'badRouteRefreshLength', message: Buffer.from(message) });
  return { type: 'ROUTE-REFRESH', afi: message.readUInt16BE(start), subtype: message[start + 2]!, safi: message[start + 3]! };
}

export function encodeRouteRefresh(msg: RouteRefreshMessage, buf: Buffer, offset: number): number {
  buf.writeUInt16BE(msg.afi, offset);
  buf[offset + 2] = msg.subtype;
  buf[offset + 3] = msg.safi;
  return offset + 4;
}
