/**
 * Where the metrics endpoint listens, from flags and env. Kept apart from
 * the server so that a daemon without a metrics port never loads prom-client.
 */
import { UsageError } from '../usage-error.js';

/** Where to listen: `--metrics-port` / `--metrics-address`, or the env. */
export interface MetricsListen {
  port: number;
  address: string;
}

/**
 * Reads `--metrics-port`/`--metrics-address` (flags win over
 * CALICO_BGPD_METRICS_PORT / CALICO_BGPD_METRICS_ADDRESS). No port: null
 * (metrics off). A bad port throws (a usage error).
 */
export function metricsListen(flags: { metricsPort?: string; metricsAddress?: string }, env: NodeJS.ProcessEnv): MetricsListen | null {
  const portText = flags.metricsPort ?? env.CALICO_BGPD_METRICS_PORT;
  if (portText === undefined || portText === '') return null;
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--metrics-port must be a port number 0..65535, not "${portText}"`);
  const address = flags.metricsAddress ?? env.CALICO_BGPD_METRICS_ADDRESS ?? '0.0.0.0';
  return { port, address: address === '' ? '0.0.0.0' : address };
}
