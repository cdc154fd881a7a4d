/**
 * `calico-bgpd speaker`: the native BGP daemon for this node (or, with
 * `--role reflector`, a standalone route reflector). Watches the datastore,
 * keeps the peering model current, runs the sessions, answers `status` and
 * `routes` on the control socket.
 *
 * Signals: SIGTERM/SIGINT stop; with graceful restart (the default, as
 * Calico configures BIRD) the sessions are closed without a Cease so peers
 * keep our routes while we come back; with --no-graceful-restart a Cease
 * with a shutdown message is sent. SIGHUP re-applies the current model
 * (the datastore is watched, so changes are applied without it too).
 */
import { logger } from '../log.js';
import { UsageError } from '../usage-error.js';
import { createDatastore, datastoreConfig, type DatastoreConfig } from '../datastore/config.js';
import { ModelWatcher } from '../model/watcher.js';
import { nodeInKeyView } from '../model/build.js';
import { type FirstModelOptions, waitForFirstModel } from './first-model.js';
import { Speaker } from '../bgp/speaker/speaker.js';
import { openKernelFib } from '../bgp/fib/fallback.js';
import { KernelSync } from '../bgp/speaker/kernel-sync.js';
import { metricsListen } from '../metrics/listen.js';
import { openSpeakerEndpoints, speakerLimits, type SpeakerLifecycle } from './speaker-endpoints.js';
import type { Datastore } from '../datastore/types.js';
import { configurationWarnings, exampleClusterProblem } from '../datastore/misconfig.js';
import { formatProblem } from '../datastore/resources/problem.js';
import { type BirdSockets, openBirdSockets } from '../control/bird/sockets.js';

export interface SpeakerCommandOptions {
  role: string;
  node?: string;
  datastoreFile?: string[];
  datastoreType?: string;
  controlSocket: string;
  listenPort?: string;
  listenAddress?: string;
  gracefulRestart: boolean;
  holdTime: string;
  /** commander's --no-kernel */
  kernel: boolean;
  maxPrefixes?: string;
  maxPrefixAction: string;
  importOnlyPools: boolean;
  importRejectCidrs: boolean;
  /** BIRD-compatible control sockets ('' = off). */
  birdSocket: string;
  bird6Socket: string;
  metricsPort?: string;
  metricsAddress?: string;
  /** Aborting it while the speaker waits for its first model makes runSpeaker return a no-op handle. */
  startSignal?: AbortSignal;
}

/** What the speaker needs before it starts (see first-model.ts); the reason it waits is kept for `health`. */
function firstModelRules(config: DatastoreConfig, store: Datastore, life: SpeakerLifecycle, signal: AbortSignal | undefined): FirstModelOptions {
  return {
    unusable: (u) => {
      if (!nodeInKeyView(store.snapshot(), config.nodeName)) return (life.waitingFor = `node ${config.nodeName} is not in the datastore (set NODENAME or --node)`);
      if (u.config.routerId === '') return (life.waitingFor = `node ${config.nodeName} has no router id: give it an IPv4 address or set CALICO_ROUTER_ID`);
      return null;
    },
    waitingFor: () => (life.waitingFor = `the ${config.type} datastore is not in sync yet (${store.status()})`),
    ...(signal !== undefined ? { signal } : {}),
  };
}

export async function runSpeaker(opts: SpeakerCommandOptions): Promise<{ stop: () => Promise<void>; reload: () => void }> {
  const log = logger('speaker');
  if (opts.role !== 'node' && opts.role !== 'reflector') throw new UsageError(`--role must be node or reflector, not "${opts.role}"`);
  const { holdTime, maxPrefixes } = speakerLimits(opts);
  const config = datastoreConfig(process.env, {
    ...(opts.datastoreFile !== undefined ? { datastoreFile: opts.datastoreFile } : {}),
    ...(opts.datastoreType !== undefined ? { datastoreType: opts.datastoreType } : {}),
    ...(opts.node !== undefined ? { nodeName: opts.node } : {}),
  });
  const metricsAt = metricsListen(opts, process.env);
  let ds: Datastore | null = null;
  const warnings = (): string[] => (ds === null ? [] : configurationWarnings(config, ds).map(formatProblem));
  const life: SpeakerLifecycle = { speaker: null, waitingFor: 'waiting for the datastore', startedAt: 0, restarting: false, converged: false, warnings };
  const endpoints = await openSpeakerEndpoints(opts.controlSocket, metricsAt, life, log);
  const example = exampleClusterProblem(config);
  if (example !== null) log.warn(formatProblem(example));
  const store = await createDatastore(config, { watch: true });
  ds = store;
  await store.start();
  log.info({ datastore: config.type, node: config.nodeName, role: opts.role }, 'waiting for the datastore to be in sync');
  const watcher = new ModelWatcher(store, config.nodeName, config.routerId !== undefined ? { routerId: config.routerId } : {});
  const first = await waitForFirstModel(watcher, log, firstModelRules(config, store, life, opts.startSignal));
  if (first === null) {
    watcher.stop();
    await store.stop();
    await endpoints.close();
    return { stop: async () => undefined, reload: () => undefined };
  }
  // Kernel routes: a node programs them (like BIRD's kernel protocol); a
  // standalone reflector does not. Routes of ours left by a previous run
  // mean we are restarting with forwarding state kept (RFC 4724 R bit).
  const programKernel = opts.role === 'node' && opts.kernel;
  const fib = programKernel ? await openKernelFib({}, log) : null;
  const restarting = (life.restarting = fib !== null && fib.staleCount() > 0);
  let kernel: KernelSync | null = null;
  let birdSockets: BirdSockets | null = null;
  const running = new Speaker(first.config, {
    role: opts.role,
    log,
    session: { holdTime, restarting, ...(opts.gracefulRestart ? {} : { gracefulRestartTime: 0 }) },
    ...(opts.listenPort !== undefined ? { listenPort: Number(opts.listenPort) } : {}),
    ...(opts.listenAddress !== undefined ? { listenHost: opts.listenAddress } : {}),
    ...(maxPrefixes !== undefined ? { maxPrefixes } : {}),
    importOnlyPools: opts.importOnlyPools,
    importRejectCidrs: opts.importRejectCidrs,
    onBestChange: (changes) => kernel?.schedule(changes.map((c) => c.dest.key)),
    onConverged: () => {
      life.converged = true;
      kernel?.converged();
      birdSockets?.converged();
    },
    installed: () => kernel?.installed ?? new Set(),
  });
  if (fib !== null) {
    kernel = new KernelSync(fib, () => running.locRib, first.config, log);
    kernel.start();
  }
  await running.start();
  life.speaker = running;
  life.startedAt = Date.now();
  // prom-client and the metrics load only when a metrics port is given.
  const detachMetrics = metricsAt === null ? () => undefined : (await import('../metrics/speaker-metrics.js')).attachSpeakerMetrics({
    speaker: running,
    kernel: () => (kernel === null ? null : { installed: kernel.installed.size, failed: kernel.failedCount }),
    datastore: store,
    problems: () => watcher.current()?.problems.length ?? 0,
  });
  watcher.onChange((u) => {
    running.applyModel(u.config);
    kernel?.setModel(u.config);
    birdSockets?.reconfigured();
  });
  birdSockets = await openBirdSockets(running, { bird: opts.birdSocket, bird6: opts.bird6Socket, restarting, log });

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    watcher.stop();
    detachMetrics();
    await running.stop({ graceful: opts.gracefulRestart, message: 'calico-bgpd shutting down' });
    // Kernel routes stay (BIRD's `persist`): forwarding goes on while we are away.
    await kernel?.close();
    await birdSockets?.close();
    await endpoints.close();
    await store.stop();
  };
  // SIGHUP: re-apply the current model (peers re-checked, every route
  // re-exported, kernel re-synced); the datastore itself is watched live.
  const reload = (): void => {
    const now = watcher.current();
    if (now === undefined) return;
    running.applyModel(now.config);
    kernel?.setModel(now.config);
    log.info({ peers: now.config.ipv4.peers.length + now.config.ipv6.peers.length }, 'SIGHUP: configuration re-applied');
  };
  return { stop, reload };
}
