/**
 * BIRD 1.6's text for `show status`, `show protocols [all]` and `show route
 * count`, from a `BirdDaemonView`. Pure: the same view always gives the same
 * lines. Column widths and labels are BIRD 1.6's (`proto.c`, `bgp.c`),
 * because calicoctl, calico-node and bird_exporter parse them by position
 * and by label.
 */
import { ReplyCode, type ReplyLine } from './reply.js';
import type { BirdDaemonView, BirdProtocolView } from './view.js';

const two = (n: number): string => String(n).padStart(2, '0');

/** BIRD's `%F %T` in local time, as `show status` prints times. */
export function birdDateTime(t: Date): string {
  return `${t.getFullYear()}-${two(t.getMonth() + 1)}-${two(t.getDate())} ${two(t.getHours())}:${two(t.getMinutes())}:${two(t.getSeconds())}`;
}

/** BIRD 1.6's default protocol time format: the time of day within 20 hours, the date before that. */
export function birdSince(since: Date, now: Date): string {
  const full = birdDateTime(since);
  return now.getTime() - since.getTime() < 20 * 3600 * 1000 ? full.slice(11) : full.slice(0, 10);
}

const pad = (s: string, width: number): string => s.padEnd(width, ' ');

/** `show status`: version, router id, times, graceful-restart recovery (0024) while it lasts, then 0013. */
export function formatStatus(v: BirdDaemonView): ReplyLine[] {
  const lines: ReplyLine[] = [
    { code: ReplyCode.VERSION, text: `BIRD ${v.version}` },
    { code: ReplyCode.STATUS_DETAILS, text: `Router ID is ${v.routerId}` },
    { code: ReplyCode.STATUS_DETAILS, text: `Current server time is ${birdDateTime(v.now)}` },
    { code: ReplyCode.STATUS_DETAILS, text: `Last reboot on ${birdDateTime(v.bootedAt)}` },
    { code: ReplyCode.STATUS_DETAILS, text: `Last reconfiguration on ${birdDateTime(v.reconfiguredAt)}` },
  ];
  const gr = v.gracefulRestart;
  if (gr !== null) {
    // calico-node's readiness check treats any 0024 line as "graceful restart in progress".
    lines.push(
      { code: ReplyCode.GR_STATUS, text: 'Graceful restart recovery in progress' },
      { code: ReplyCode.GR_STATUS, text: `  Waiting for ${gr.waiting} protocols to recover` },
      { code: ReplyCode.GR_STATUS, text: `  Wait timer is ${gr.remaining}/${gr.wait}` },
    );
  }
  lines.push({ code: ReplyCode.STATUS_UP, text: 'Daemon is up and running' });
  return lines;
}

/** The `show protocols` row of one BGP protocol (`%-8s %-8s %-8s %-5s  %-10s  %s`, info `%-14s%s`). */
export function protocolRow(p: BirdProtocolView, now: Date): string {
  const info = `${pad(p.bgpState, 14)}${p.lastError}`;
  return `${pad(p.name, 8)} ${pad('BGP', 8)} ${pad('master', 8)} ${pad(p.state, 5)}  ${pad(birdSince(p.since, now), 10)}  ${info}`;
}

const HEADING = `${pad('name', 8)} ${pad('proto', 8)} ${pad('table', 8)} ${pad('state', 5)}  ${pad('since', 10)}  info`;

const num = (n: number): string => String(n).padStart(10, ' ');
const NONE = '       ---';

/** The `show protocols all` block under a row: BIRD's basic protocol info, then its BGP details. */
export function protocolDetails(p: BirdProtocolView): string[] {
  const filtered = Math.max(0, p.received - p.imported);
  const lines = [
    // What Calico's bird.cfg gives every BGP protocol (its bgp_template).
    '  Description:    Connection to BGP peer',
    '  Preference:     100',
    '  Input filter:   ACCEPT',
    '  Output filter:  calico_export_to_bgp_peers',
    `  Routes:         ${p.imported} imported, ${p.exported} exported, ${p.preferred} preferred`,
    '  Route change stats:     received   rejected   filtered    ignored   accepted',
    `    Import updates:     ${num(p.received)} ${num(0)} ${num(filtered)} ${num(0)} ${num(p.imported)}`,
    `    Import withdraws:   ${num(0)} ${num(0)} ${NONE} ${num(0)} ${num(0)}`,
    `    Export updates:     ${num(p.exported)} ${num(0)} ${num(0)} ${NONE} ${num(p.exported)}`,
    `    Export withdraws:   ${num(0)} ${NONE} ${NONE} ${NONE} ${num(0)}`,
    `  BGP state:          ${p.bgpState}`,
    `    Neighbor address: ${p.neighborAddress}`,
    `    Neighbor AS:      ${p.neighborAs}`,
  ];
  const s = p.session;
  if (s !== null) {
    lines.push(
      `    Neighbor ID:      ${s.neighborId}`,
      `    Neighbor caps:    ${s.neighborCaps.join(' ')}`,
      `    Session:          ${s.session.join(' ')}`,
      `    Source address:   ${s.sourceAddress}`,
      `    Hold timer:       ${s.holdTime}/${s.holdTime}`,
      `    Keepalive timer:  ${s.keepaliveTime}/${s.keepaliveTime}`,
    );
  }
  if (p.lastError !== '') lines.push(`    Last error:       ${p.lastError}`);
  // BIRD ends each protocol's block with an empty line (bird_exporter resets its parser on it).
  lines.push('');
  return lines;
}

/** `show protocols [all]` over the given protocols (already selected by name or pattern). */
export function formatProtocols(protocols: readonly BirdProtocolView[], all: boolean, now: Date): ReplyLine[] {
  const lines: ReplyLine[] = [{ code: ReplyCode.PROTOCOL_HEADING, text: HEADING }];
  for (const p of protocols) {
    lines.push({ code: ReplyCode.PROTOCOL_ROW, text: protocolRow(p, now) });
    if (all) for (const text of protocolDetails(p)) lines.push({ code: ReplyCode.PROTOCOL_DETAILS, text });
  }
  lines.push({ code: ReplyCode.END, text: '' });
  return lines;
}

/** `show route count`: `N of N routes for M networks` (no filter, so shown = total). */
export function formatRouteCount(v: BirdDaemonView): ReplyLine[] {
  return [{ code: ReplyCode.ROUTE_COUNT, text: `${v.routes.paths} of ${v.routes.paths} routes for ${v.routes.networks} networks` }];
}
