/**
 * confd's metrics, read at scrape time from the daemon's counters
 * (ConfdDaemon.stats): nothing is counted twice and nothing is added to
 * the render path.
 */
import type { ConfdDaemon } from '../confd/daemon.js';
import type { Datastore } from '../datastore/types.js';
import { counter, gauge } from './registry.js';
import { countDatastoreEvents } from './speaker-metrics.js';

let source: { daemon: ConfdDaemon } | null = null;
let registered = false;

/** A counter that mirrors one field of ConfdDaemon.stats. */
function statCounter(name: string, help: string, field: 'renders' | 'writes' | 'reloads' | 'checkFailures' | 'reloadFailures' | 'batches'): void {
  counter({
    name,
    help,
    collect() {
      this.reset();
      const n = source?.daemon.stats[field] ?? 0;
      if (n > 0) this.inc(n);
    },
  });
}

function registerConfdMetrics(): void {
  if (registered) return;
  registered = true;
  statCounter('calico_bgpd_confd_batches_total', 'Batches of changes written (each is one check and at most one reload per BIRD)', 'batches');
  statCounter('calico_bgpd_confd_renders_total', 'Template renders', 'renders');
  statCounter('calico_bgpd_confd_writes_total', 'Configuration files replaced (bytes changed)', 'writes');
  statCounter('calico_bgpd_confd_reloads_total', 'Successful BIRD reloads', 'reloads');
  statCounter('calico_bgpd_confd_check_failures_total', 'Rendered files the check command refused (nothing installed)', 'checkFailures');
  statCounter('calico_bgpd_confd_reload_failures_total', 'BIRD reloads that failed (BIRD kept the previous configuration)', 'reloadFailures');
  gauge({
    name: 'calico_bgpd_confd_last_reload_timestamp_seconds',
    help: 'Unix time of the last successful BIRD reload; 0 before the first',
    collect() {
      this.set((source?.daemon.stats.lastReloadAt ?? 0) / 1000);
    },
  });
  gauge({
    name: 'calico_bgpd_confd_seconds_since_last_reload',
    help: 'Seconds since the last successful BIRD reload (since confd started, before the first)',
    collect() {
      const at = source?.daemon.stats.lastReloadAt ?? 0;
      this.set(Math.max(0, (Date.now() - (at > 0 ? at : startedAt)) / 1000));
    },
  });
  gauge({
    name: 'calico_bgpd_confd_ready',
    help: 'confd is ready (1): in sync, files checked and loaded; see docs/confd.md',
    collect() {
      this.set(source?.daemon.readiness().ok === true ? 1 : 0);
    },
  });
}

let startedAt = Date.now();

/** Points the confd metrics at a running daemon; returns the detach function. */
export function attachConfdMetrics(daemon: ConfdDaemon, datastore: Datastore): () => void {
  registerConfdMetrics();
  const mine = { daemon };
  source = mine;
  startedAt = Date.now();
  const unsubscribe = countDatastoreEvents(datastore);
  return () => {
    unsubscribe();
    if (source === mine) source = null;
  };
}
