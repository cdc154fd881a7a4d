/**
 * The HTTP endpoint for Prometheus and kubelet probes: `/metrics` (the
 * registry of src/metrics/registry.ts), `/readiness` and `/liveness` (200 or
 * 503 with the one-line reason, the same checks as `calico-bgpd health`).
 * Off unless a port is given (like Felix's Prometheus endpoint).
 */
import { createServer, type Server } from 'node:http';
import type { HealthKind, HealthResult } from '../health/checks.js';
import { enableProcessMetrics, metricsRegistry } from './registry.js';

export { metricsListen, type MetricsListen } from './listen.js';
import type { MetricsListen } from './listen.js';

/** The metrics HTTP server; `port` is the bound one (useful with port 0). */
export class MetricsServer {
  private server: Server | null = null;
  port = 0;

  constructor(
    private readonly listenOn: MetricsListen,
    private readonly health: (kind: HealthKind) => HealthResult,
  ) {}

  async start(): Promise<void> {
    enableProcessMetrics();
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD' }).end();
        return;
      }
      if (path === '/metrics') {
        const registry = metricsRegistry();
        registry.metrics().then(
          (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
          (e: unknown) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${(e as Error).message}\n`),
        );
        return;
      }
      if (path === '/readiness' || path === '/liveness') {
        const r = this.health(path === '/readiness' ? 'ready' : 'live');
        res.writeHead(r.ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(`${r.reason}\n`);
        return;
      }
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: try /metrics, /readiness or /liveness\n');
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.listenOn.port, this.listenOn.address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address();
    this.port = typeof a === 'object' && a !== null ? a.port : this.listenOn.port;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s === null) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
