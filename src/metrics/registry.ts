/**
 * The process-wide Prometheus registry (prom-client). Every module that wants
 * a metric asks here, by name, and gets the same instrument back however
 * often it asks: modules stay independent of who serves /metrics, and a test
 * that builds two daemons in one process does not trip over "already
 * registered".
 *
 * Naming (docs/metrics.md): `calico_bgpd_` prefix, base units (seconds,
 * bytes), counters end in `_total`. Labels are bounded sets only (peer,
 * AFI, message type, NOTIFICATION code, outcome): never a prefix.
 *
 * Counters here are cheap to bump on hot paths only when the label values
 * are bound once (`counter.labels(...)` kept in a variable); gauges that
 * mirror existing state should be read at scrape time with `collect`.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics, type CounterConfiguration, type GaugeConfiguration } from 'prom-client';

/** Prefix of every metric of ours. */
export const METRIC_PREFIX = 'calico_bgpd_';

let registry = new Registry();
let defaultsOn = false;

/** The registry /metrics serves. */
export function metricsRegistry(): Registry {
  return registry;
}

/** Adds prom-client's process metrics (CPU, memory, event loop lag, handles), once. */
export function enableProcessMetrics(): void {
  if (defaultsOn) return;
  defaultsOn = true;
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
}

function existing<T>(name: string, kind: new (...a: never[]) => T): T | undefined {
  const m = registry.getSingleMetric(name);
  if (m === undefined) return undefined;
  if (!(m instanceof kind)) throw new Error(`metric ${name} is already registered as another type`);
  return m;
}

/**
 * A counter by full name (must start with `calico_bgpd_` and end in `_total`).
 * Asking again with the same name returns the same counter.
 */
export function counter<L extends string>(cfg: Omit<CounterConfiguration<L>, 'registers'>): Counter<L> {
  if (!cfg.name.startsWith(METRIC_PREFIX) || !cfg.name.endsWith('_total')) throw new Error(`counter ${cfg.name}: name must start with ${METRIC_PREFIX} and end in _total`);
  return existing(cfg.name, Counter) ?? new Counter<L>({ ...cfg, registers: [registry] });
}

/**
 * A gauge by full name (must start with `calico_bgpd_`). With `collect`, the
 * value is read from existing state at scrape time. Asking again with the
 * same name returns the first gauge (and its first `collect`).
 */
export function gauge<L extends string>(cfg: Omit<GaugeConfiguration<L>, 'registers'>): Gauge<L> {
  if (!cfg.name.startsWith(METRIC_PREFIX)) throw new Error(`gauge ${cfg.name}: name must start with ${METRIC_PREFIX}`);
  return existing(cfg.name, Gauge) ?? new Gauge<L>({ ...cfg, registers: [registry] });
}

/** Starts from an empty registry (tests that build several daemons in one process). */
export function resetMetricsRegistry(): void {
  registry = new Registry();
  defaultsOn = false;
}
