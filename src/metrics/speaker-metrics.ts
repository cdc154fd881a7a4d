/**
 * The speaker's metrics. Gauges and the per-peer message counters are read
 * at scrape time from state the speaker keeps anyway (`Speaker.observe()`,
 * the Loc-RIB's per-family size, the kernel sync's sets): nothing is added
 * to the per-message or per-route path except one array increment per
 * message in the connection. Labels are bounded: peer (the BIRD-style
 * protocol name), peer type, AFI, message type, NOTIFICATION code/subcode.
 */
import type { Counter, Gauge } from 'prom-client';
import type { Speaker } from '../bgp/speaker/speaker.js';
import { MESSAGE_TYPE_NAMES, type SessionStats } from '../bgp/session/session-stats.js';
import type { Datastore } from '../datastore/types.js';
import { counter, gauge } from './registry.js';

/** What the metrics read; the speaker command fills it in. */
export interface SpeakerMetricsSource {
  speaker: Pick<Speaker, 'observe' | 'locRib'>;
  /** Kernel route counts, or null when the kernel is not programmed. */
  kernel: () => { installed: number; failed: number } | null;
  datastore: Datastore;
  /** Problems found in the datastore by the current model (bad values skipped), or 0 before there is one. */
  problems: () => number;
}

/** FSM states as numbers, the order of RFC 4271 section 8.2.2 (as GoBGP's and FRR's exporters count). */
export const SESSION_STATE_CODES: Record<string, number> = { Idle: 1, Connect: 2, Active: 3, OpenSent: 4, OpenConfirm: 5, Established: 6 };

let source: SpeakerMetricsSource | null = null;

/** One observation per scrape: the collectors of one scrape run in the same turn of the event loop. */
let cached: ReturnType<Speaker['observe']> | null = null;
function observed(): ReturnType<Speaker['observe']> | null {
  if (cached === null && source !== null) {
    cached = source.speaker.observe();
    setImmediate(() => (cached = null));
  }
  return cached;
}

type PeerLabels = 'peer' | 'peer_type' | 'afi';
const afiOf = (family: 4 | 6): string => (family === 4 ? 'ipv4' : 'ipv6');

/** Fills a gauge from the current peers at scrape time. */
function perPeerGauge(name: string, help: string, value: (p: ReturnType<Speaker['observe']>['peers'][number]) => number): Gauge<PeerLabels> {
  return gauge<PeerLabels>({
    name,
    help,
    labelNames: ['peer', 'peer_type', 'afi'],
    collect() {
      this.reset();
      for (const p of observed()?.peers ?? []) this.set({ peer: p.spec.name, peer_type: p.spec.type, afi: afiOf(p.spec.family) }, value(p));
    },
  });
}

/** A counter whose values live in each neighbor's SessionStats; copied at scrape time. */
function statsCounter<L extends string>(name: string, help: string, labelNames: L[], fill: (c: Counter<L>, peer: string, stats: SessionStats) => void): void {
  counter<L>({
    name,
    help,
    labelNames,
    collect() {
      this.reset();
      for (const p of observed()?.peers ?? []) fill(this, p.spec.name, p.neighbor.stats);
    },
  });
}

/** Every known type is exported from the start (0 included), so no series appears later. */
function messagesBy(c: Counter<'peer' | 'type'>, peer: string, counts: Float64Array): void {
  counts.forEach((n, i) => {
    if (i > 0 || n > 0) c.inc({ peer, type: MESSAGE_TYPE_NAMES[i] || 'unknown' }, n);
  });
}

function notificationsBy(c: Counter<'peer' | 'code' | 'subcode'>, peer: string, counts: Map<string, number>): void {
  for (const [key, n] of counts) {
    const [code = '0', subcode = '0'] = key.split('/');
    c.inc({ peer, code, subcode }, n);
  }
}

let registered = false;

function registerSpeakerMetrics(): void {
  if (registered) return;
  registered = true;
  perPeerGauge('calico_bgpd_bgp_session_up', 'BGP session Established (1) or not (0), per configured peer', (p) => (p.neighbor.state === 'Established' ? 1 : 0));
  perPeerGauge('calico_bgpd_bgp_session_state', 'BGP FSM state: 1 Idle, 2 Connect, 3 Active, 4 OpenSent, 5 OpenConfirm, 6 Established', (p) => SESSION_STATE_CODES[p.neighbor.state] ?? 0);
  perPeerGauge('calico_bgpd_bgp_session_established_timestamp_seconds', 'Unix time the session became Established; 0 while it is not', (p) =>
    p.neighbor.state === 'Established' ? p.neighbor.since.getTime() / 1000 : 0,
  );
  perPeerGauge('calico_bgpd_bgp_prefixes_received', 'Prefixes the peer has announced and not withdrawn (before import policy)', (p) => p.received);
  perPeerGauge('calico_bgpd_bgp_prefixes_accepted', 'Prefixes from the peer held in the Loc-RIB (after import policy)', (p) => p.accepted);
  perPeerGauge('calico_bgpd_bgp_prefixes_advertised', 'Prefixes advertised to the peer (Adj-RIB-Out)', (p) => p.advertised);
  statsCounter<'peer' | 'type'>('calico_bgpd_bgp_messages_sent_total', 'BGP messages sent, by message type', ['peer', 'type'], (c, peer, s) => messagesBy(c, peer, s.sent));
  statsCounter<'peer' | 'type'>('calico_bgpd_bgp_messages_received_total', 'BGP messages received, by message type', ['peer', 'type'], (c, peer, s) => messagesBy(c, peer, s.received));
  statsCounter<'peer' | 'code' | 'subcode'>('calico_bgpd_bgp_notifications_sent_total', 'NOTIFICATIONs sent, by error code and subcode', ['peer', 'code', 'subcode'], (c, peer, s) =>
    notificationsBy(c, peer, s.notificationsSent),
  );
  statsCounter<'peer' | 'code' | 'subcode'>('calico_bgpd_bgp_notifications_received_total', 'NOTIFICATIONs received, by error code and subcode', ['peer', 'code', 'subcode'], (c, peer, s) =>
    notificationsBy(c, peer, s.notificationsReceived),
  );
  statsCounter<'peer'>('calico_bgpd_bgp_session_flaps_total', 'Times an Established session went down', ['peer'], (c, peer, s) => {
    c.inc({ peer }, s.flaps);
  });
  counter({
    name: 'calico_bgpd_bgp_connections_refused_total',
    help: 'Incoming BGP connections refused: not from a configured peer, or failing its TCP-MD5/GTSM settings',
    collect() {
      this.reset();
      this.inc(observed()?.refused ?? 0);
    },
  });
  counter({
    name: 'calico_bgpd_log_lines_suppressed_total',
    help: 'Refused-connection log lines left out by the per-source rate limit (the next line says how many)',
    collect() {
      this.reset();
      this.inc(observed()?.refusedNotLogged ?? 0);
    },
  });
  gauge({
    name: 'calico_bgpd_datastore_problems',
    help: 'Problems in the datastore (malformed or inexpressible values, each costing only its own object); calico-bgpd model lists them',
    collect() {
      this.set(source?.problems() ?? 0);
    },
  });
  gauge<'afi'>({
    name: 'calico_bgpd_rib_destinations',
    help: 'Prefixes in the Loc-RIB, per address family',
    labelNames: ['afi'],
    collect() {
      const sizes = source?.speaker.locRib.sizeByFamily ?? { ipv4: 0, ipv6: 0 };
      this.set({ afi: 'ipv4' }, sizes.ipv4);
      this.set({ afi: 'ipv6' }, sizes.ipv6);
    },
  });
  gauge({
    name: 'calico_bgpd_update_group_backlog_prefixes',
    help: 'Prefixes changed in the Loc-RIB but not yet sent to the peers (all update groups)',
    collect() {
      this.set(observed()?.backlog ?? 0);
    },
  });
  gauge<'state'>({
    name: 'calico_bgpd_kernel_routes',
    help: 'Routes of ours in the kernel (state="installed") and routes the kernel refused at the last sync (state="failed")',
    labelNames: ['state'],
    collect() {
      this.reset();
      const k = source?.kernel() ?? null;
      if (k === null) return;
      this.set({ state: 'installed' }, k.installed);
      this.set({ state: 'failed' }, k.failed);
    },
  });
}

/** The datastore the daemon of this process watches (speaker or confd). */
let watched: Datastore | null = null;

/**
 * Datastore metrics (shared by speaker and confd): the sync state, read at
 * scrape time, and events counted while subscribed. Returns the unsubscribe.
 */
export function countDatastoreEvents(ds: Datastore): () => void {
  gauge({
    name: 'calico_bgpd_datastore_in_sync',
    help: 'The datastore view is complete and current (1) or not (0: connecting or resyncing)',
    collect() {
      this.set(watched?.status() === 'in-sync' ? 1 : 0);
    },
  });
  watched = ds;
  const events = counter<'kind'>({ name: 'calico_bgpd_datastore_events_total', help: 'Datastore events: kind="changes" (a batch of key changes), kind="status" (a sync-state change)', labelNames: ['kind'] });
  const keys = counter({ name: 'calico_bgpd_datastore_key_changes_total', help: 'Keys changed in the datastore view' });
  const changes = events.labels({ kind: 'changes' });
  const status = events.labels({ kind: 'status' });
  const off = ds.subscribe({
    changes: (batch) => {
      changes.inc();
      keys.inc(batch.length);
    },
    status: () => status.inc(),
  });
  return () => {
    off();
    if (watched === ds) watched = null;
  };
}

/** Points the speaker metrics at a running speaker; returns the detach function. */
export function attachSpeakerMetrics(next: SpeakerMetricsSource): () => void {
  registerSpeakerMetrics();
  source = next;
  const unsubscribe = countDatastoreEvents(next.datastore);
  return () => {
    unsubscribe();
    if (source === next) source = null;
  };
}
