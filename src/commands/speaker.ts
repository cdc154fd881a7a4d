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
import type { Command } from 'commander';
import { logger } from '../log.js';
import { createDatastore, datastoreConfig } from '../datastore/config.js';
import { ModelWatcher } from '../model/watcher.js';
import { nodeInKeyView } from '../model/build.js';
import { waitForFirstModel } from './first-model.js';
import { Speaker } from '../bgp/speaker/speaker.js';
import { processDebug } from '../control/debug.js';
import { ControlServer, DEFAULT_CONTROL_SOCKET, type ControlRequest } from '../control/server.js';
import { openKernelFib } from '../bgp/fib/fallback.js';
import { KernelSync } from '../bgp/speaker/kernel-sync.js';

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
  /** Aborting it while the speaker waits for its first model makes runSpeaker return a no-op handle. */
  startSignal?: AbortSignal;
}

/** `reset [peer]`: a name that matches no peer is an error to report, not "0 sessions reset". */
function resetPeers(speaker: Speaker, peer: string | undefined): number {
  const n = speaker.reset(peer);
  if (peer !== undefined && n === 0) throw new Error(`no peer named ${peer} (see calico-bgpd status)`);
  return n;
}

export async function runSpeaker(opts: SpeakerCommandOptions): Promise<{ stop: () => Promise<void>; reload: () => void }> {
  const log = logger('speaker');
  if (opts.role !== 'node' && opts.role !== 'reflector') throw new Error(`--role must be node or reflector, not "${opts.role}"`);
  const holdTime = Number(opts.holdTime);
  if (!Number.isInteger(holdTime) || holdTime === 1 || holdTime === 2 || holdTime < 0 || holdTime > 65535) {
    throw new Error(`--hold-time must be 0 or 3..65535 seconds, not "${opts.holdTime}"`);
  }
  let maxPrefixes: { limit: number; action: 'warn' | 'teardown' } | undefined;
  if (opts.maxPrefixes !== undefined) {
    const limit = Number(opts.maxPrefixes);
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`--max-prefixes must be a positive integer, not "${opts.maxPrefixes}"`);
    if (opts.maxPrefixAction !== 'warn' && opts.maxPrefixAction !== 'teardown') throw new Error(`--max-prefix-action must be warn or teardown, not "${opts.maxPrefixAction}"`);
    maxPrefixes = { limit, action: opts.maxPrefixAction };
  }
  const config = datastoreConfig(process.env, {
    ...(opts.datastoreFile !== undefined ? { datastoreFile: opts.datastoreFile } : {}),
    ...(opts.datastoreType !== undefined ? { datastoreType: opts.datastoreType } : {}),
    ...(opts.node !== undefined ? { nodeName: opts.node } : {}),
  });
  const ds = await createDatastore(config, { watch: true });
  await ds.start();
  log.info({ datastore: config.type, node: config.nodeName, role: opts.role }, 'waiting for the datastore to be in sync');
  const watcher = new ModelWatcher(ds, config.nodeName, config.routerId !== undefined ? { routerId: config.routerId } : {});
  const first = await waitForFirstModel(watcher, log, {
    unusable: (u) => {
      if (!nodeInKeyView(ds.snapshot(), config.nodeName)) return `node ${config.nodeName} is not in the datastore (set NODENAME or --node)`;
      if (u.config.routerId === '') return `node ${config.nodeName} has no router id: give it an IPv4 address or set CALICO_ROUTER_ID`;
      return null;
    },
    waitingFor: () => `the ${config.type} datastore is not in sync yet (${ds.status()})`,
    ...(opts.startSignal !== undefined ? { signal: opts.startSignal } : {}),
  });
  if (first === null) {
    watcher.stop();
    await ds.stop();
    return { stop: async () => undefined, reload: () => undefined };
  }
  // Kernel routes: a node programs them (like BIRD's kernel protocol); a
  // standalone reflector does not. Routes of ours left by a previous run
  // mean we are restarting with forwarding state kept (RFC 4724 R bit).
  const programKernel = opts.role === 'node' && opts.kernel;
  const fib = programKernel ? await openKernelFib({}, log) : null;
  const restarting = fib !== null && fib.staleCount() > 0;
  let kernel: KernelSync | null = null;
  const speaker = new Speaker(first.config, {
    role: opts.role,
    log,
    session: { holdTime, restarting, ...(opts.gracefulRestart ? {} : { gracefulRestartTime: 0 }) },
    ...(opts.listenPort !== undefined ? { listenPort: Number(opts.listenPort) } : {}),
    ...(opts.listenAddress !== undefined ? { listenHost: opts.listenAddress } : {}),
    ...(maxPrefixes !== undefined ? { maxPrefixes } : {}),
    importOnlyPools: opts.importOnlyPools,
    importRejectCidrs: opts.importRejectCidrs,
    onBestChange: (changes) => kernel?.schedule(changes.map((c) => c.dest.key)),
    onConverged: () => kernel?.converged(),
    installed: () => kernel?.installed ?? new Set(),
  });
  if (fib !== null) {
    kernel = new KernelSync(fib, () => speaker.locRib, first.config, log);
    kernel.start();
  }
  await speaker.start();
  watcher.onChange((u) => {
    speaker.applyModel(u.config);
    kernel?.setModel(u.config);
  });

  const control = new ControlServer(opts.controlSocket, (req: ControlRequest) => {
    switch (req.cmd) {
      case 'status':
        return { ...speaker.status(), debug: processDebug() };
      case 'routes':
        return speaker.routes(req.prefix);
      case 'refresh':
        if (!speaker.refresh(req.peer)) throw new Error(`peer ${req.peer} is not established or does not support route refresh`);
        return { refreshed: req.peer };
      case 'reset':
        return { reset: resetPeers(speaker, req.peer) };
    }
  });
  await control.listen();
  log.info({ controlSocket: opts.controlSocket }, 'control socket ready');

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    watcher.stop();
    await speaker.stop({ graceful: opts.gracefulRestart, message: 'calico-bgpd shutting down' });
    // Kernel routes stay (BIRD's `persist`): forwarding goes on while we are away.
    await kernel?.close();
    await control.close();
    await ds.stop();
  };
  // SIGHUP: re-apply the current model (peers re-checked, every route
  // re-exported, kernel re-synced); the datastore itself is watched live.
  const reload = (): void => {
    const now = watcher.current();
    if (now === undefined) return;
    speaker.applyModel(now.config);
    kernel?.setModel(now.config);
    log.info({ peers: now.config.ipv4.peers.length + now.config.ipv6.peers.length }, 'SIGHUP: configuration re-applied');
  };
  return { stop, reload };
}

export function registerSpeaker(program: Command): void {
  program
    .command('speaker')
    .description('run the native BGP speaker for this node (or a standalone route reflector)')
    .option('--role <role>', 'node (announce blocks, program routes) or reflector', 'node')
    .option('--node <name>', 'this node\'s name in the datastore (env NODENAME)')
    .option('--datastore-file <path...>', 'YAML file(s) or directory for the file datastore (env CALICO_DATASTORE_FILE)')
    .option('--datastore-type <type>', 'etcdv3, kubernetes or file (env DATASTORE_TYPE)')
    .option('--control-socket <path>', 'where status/routes connect', DEFAULT_CONTROL_SOCKET)
    .option('--listen-port <port>', 'override the BGP listen port from the datastore')
    .option('--listen-address <address>', 'override the listen address (default: bind mode from the datastore)')
    .option('--no-graceful-restart', 'do not advertise graceful restart; send Cease on shutdown')
    .option('--hold-time <seconds>', 'hold time to offer', '90')
    .option('--no-kernel', 'do not program routes into the kernel (role node)')
    .option('--max-prefixes <n>', 'most prefixes accepted from one peer')
    .option('--max-prefix-action <action>', 'past --max-prefixes: warn, or teardown (Cease, RFC 4486)', 'warn')
    .option('--import-only-pools', 'accept only routes inside an IP pool', false)
    .option('--import-reject-cidrs', 'never accept routes inside the reject CIDRs (service ranges)', false)
    .action(async (opts: SpeakerCommandOptions) => {
      const log = logger('speaker');
      // A signal while the speaker still waits for the datastore ends the wait cleanly.
      const starting = new AbortController();
      const stopStarting = (): void => starting.abort();
      process.once('SIGTERM', stopStarting);
      process.once('SIGINT', stopStarting);
      let handle: { stop: () => Promise<void>; reload: () => void };
      try {
        handle = await runSpeaker({ ...opts, startSignal: starting.signal });
      } catch (e) {
        log.fatal({ err: (e as Error).message }, 'speaker could not start');
        process.stderr.write(`calico-bgpd speaker: ${(e as Error).message}\n`);
        process.exit(1);
      }
      process.off('SIGTERM', stopStarting);
      process.off('SIGINT', stopStarting);
      if (starting.signal.aborted) {
        log.info('stopped before the datastore was ready');
        process.exit(0);
      }
      const shutdown = (signal: string): void => {
        log.info({ signal }, 'shutting down');
        handle.stop().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      process.on('SIGINT', () => shutdown('SIGINT'));
      process.on('SIGHUP', () => handle.reload());
    });
}
