/**
 * What the speaker answers besides BGP: the control socket (status, routes,
 * refresh, reset, health) and the metrics endpoint (/metrics, /readiness,
 * /liveness). Both open before the datastore is awaited: a speaker that
 * waits is live and says what it waits for, but is not ready.
 */
import type { Logger } from '../log.js';
import type { Speaker } from '../bgp/speaker/speaker.js';
import { ControlServer, type ControlRequest } from '../control/server.js';
import { speakerLiveness, speakerReadiness, startingHealth, type HealthKind, type HealthResult } from '../health/checks.js';
import type { MetricsListen } from '../metrics/listen.js';
import { UsageError } from '../usage-error.js';
import { processDebug } from '../control/debug.js';

/** The speaker's life as the endpoints see it; runSpeaker fills it in as it goes. */
export interface SpeakerLifecycle {
  /** Null until the first model is there and the sessions started. */
  speaker: Speaker | null;
  /** What the start waits for (said by `health` and `status` meanwhile). */
  waitingFor: string;
  /** When the sessions started (ms). */
  startedAt: number;
  /** Restarted with our kernel routes kept (graceful restart)... */
  restarting: boolean;
  /** ...and every peer's End-of-RIB since came in. */
  converged: boolean;
  /** Configuration warnings for `status` (src/datastore/misconfig.ts). */
  warnings: () => string[];
}

/** Readiness and liveness of the speaker (src/health/checks.ts). */
export function speakerHealth(life: SpeakerLifecycle, kind: HealthKind): HealthResult {
  if (life.speaker === null) return startingHealth(kind, life.waitingFor);
  const peers = life.speaker.status().peers;
  if (kind === 'live') return speakerLiveness(peers);
  return speakerReadiness({ peers, uptimeSeconds: (Date.now() - life.startedAt) / 1000, gracefulRestartInProgress: life.restarting && !life.converged });
}

/** `reset [peer]`: a name that matches no peer is an error to report, not "0 sessions reset". */
function resetPeers(speaker: Speaker, peer: string | undefined): number {
  const n = speaker.reset(peer);
  if (peer !== undefined && n === 0) throw new Error(`no peer named ${peer} (see calico-bgpd status)`);
  return n;
}

function answer(life: SpeakerLifecycle, req: ControlRequest): unknown {
  if (req.cmd === 'health') return speakerHealth(life, req.kind);
  const speaker = life.speaker;
  if (speaker === null) throw new Error(`the speaker is starting: ${life.waitingFor}`);
  switch (req.cmd) {
    case 'status':
      return { ...speaker.status(), warnings: life.warnings(), debug: processDebug() };
    case 'routes':
      return speaker.routes(req.prefix);
    case 'refresh':
      if (!speaker.refresh(req.peer)) throw new Error(`peer ${req.peer} is not established or does not support route refresh`);
      return { refreshed: req.peer };
    case 'reset':
      return { reset: resetPeers(speaker, req.peer) };
  }
}

/** Opens the control socket and (with a port) the metrics endpoint. */
export async function openSpeakerEndpoints(controlSocket: string, metricsAt: MetricsListen | null, life: SpeakerLifecycle, log: Logger): Promise<{ close: () => Promise<void> }> {
  const control = new ControlServer(controlSocket, (req) => answer(life, req));
  await control.listen();
  log.info({ controlSocket }, 'control socket ready');
  // prom-client loads only when a metrics port is given.
  const metrics = metricsAt === null ? null : new (await import('../metrics/server.js')).MetricsServer(metricsAt, (kind) => speakerHealth(life, kind));
  await metrics?.start();
  if (metrics !== null) log.info({ address: metricsAt?.address, port: metrics.port }, 'metrics endpoint ready (/metrics, /readiness, /liveness)');
  return {
    close: async () => {
      await control.close();
      await metrics?.close();
    },
  };
}

/** The speaker's numeric options, checked (bad values are usage errors). */
export function speakerLimits(opts: { holdTime: string; maxPrefixes?: string; maxPrefixAction: string }): {
  holdTime: number;
  maxPrefixes?: { limit: number; action: 'warn' | 'teardown' };
} {
  const holdTime = Number(opts.holdTime);
  if (!Number.isInteger(holdTime) || holdTime === 1 || holdTime === 2 || holdTime < 0 || holdTime > 65535) {
    throw new UsageError(`--hold-time must be 0 or 3..65535 seconds, not "${opts.holdTime}"`);
  }
  if (opts.maxPrefixes === undefined) return { holdTime };
  const limit = Number(opts.maxPrefixes);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--max-prefixes must be a positive integer, not "${opts.maxPrefixes}"`);
  if (opts.maxPrefixAction !== 'warn' && opts.maxPrefixAction !== 'teardown') throw new UsageError(`--max-prefix-action must be warn or teardown, not "${opts.maxPrefixAction}"`);
  return { holdTime, maxPrefixes: { limit, action: opts.maxPrefixAction } };
}
