/**
 * `calico-bgpd confd`: BIRD mode. Watches the datastore, renders the BIRD
 * files for this node, checks them, swaps them in and reloads BIRD; with
 * `--onetime`, does that once and exits (0 = every file checked and in
 * place, 1 = a check or reload failed or the datastore was not reachable,
 * 2 = bad usage). See docs/confd.md.
 */
import { dirname, resolve as resolvePath } from 'node:path';
import { createDatastore, datastoreConfig, type DatastoreConfig } from '../datastore/config.js';
import type { Datastore } from '../datastore/types.js';
import { logger } from '../log.js';
import { ConfdDaemon, type Renderer } from '../confd/daemon.js';
import { flavorFiles, renderFile, type Flavor } from '../confd/render.js';
import { sweepStaleStages } from '../confd/stage-sweep.js';
import { exampleClusterProblem } from '../datastore/misconfig.js';
import { formatProblem } from '../datastore/resources/problem.js';
import { nodeInKeyView } from '../model/build.js';
import { ControlServer, DEFAULT_CONTROL_SOCKET } from '../control/server.js';
import { metricsListen, type MetricsListen } from '../metrics/listen.js';
import type { MetricsServer } from '../metrics/server.js';
import type { HealthKind, HealthResult } from '../health/checks.js';
import { CALICO_BIRD6_SOCKET, CALICO_BIRD_SOCKET, CALICO_CONFIG_DIR, defaultResources, loadConfDir, type TemplateResource } from '../confd/resources.js';

export interface ConfdCommandOptions {
  onetime?: boolean;
  confdir?: string;
  flavor?: string;
  noop?: boolean;
  keepStageFile?: boolean;
  syncOnly?: boolean;
  destDir?: string;
  birdSocket?: string;
  bird6Socket?: string;
  checkCmd?: string;
  check6Cmd?: string;
  node?: string;
  datastoreFile?: string[];
  datastoreType?: string;
  routerId?: string;
  timeout?: string;
  coalesceMs?: string;
  controlSocket?: string;
  metricsPort?: string;
  metricsAddress?: string;
}

/** The template engine of src/confd/render.ts behind the daemon's interface. */
export const defaultRenderer: Renderer = {
  files: (flavor) => flavorFiles(flavor),
  render: (name, flavor, model) => renderFile(name, flavor, model),
};

function parseFlavor(s: string | undefined): Flavor {
  const f = s ?? 'calico';
  if (f !== 'calico' && f !== 'bird1' && f !== 'bird2') throw new Error(`--flavor must be calico, bird1 or bird2, not "${f}"`);
  return f;
}

/** Resolves the resources: `--confdir` TOML files, else calico-node's defaults. */
export function resolveResources(opts: ConfdCommandOptions, flavor: Flavor, nodeName: string, renderer: Renderer = defaultRenderer): TemplateResource[] {
  const files = renderer.files(flavor);
  if (opts.confdir !== undefined) return loadConfDir(opts.confdir, files, nodeName);
  return defaultResources(files, {
    flavor,
    nodeName,
    // Absolute: check commands run from / so that includes resolve next to the main file.
    configDir: resolvePath(opts.destDir ?? CALICO_CONFIG_DIR),
    birdSocket: opts.birdSocket ?? CALICO_BIRD_SOCKET,
    bird6Socket: opts.bird6Socket ?? CALICO_BIRD6_SOCKET,
    ...(opts.checkCmd !== undefined ? { birdCheck: opts.checkCmd === '' ? null : opts.checkCmd } : {}),
    ...(opts.check6Cmd !== undefined ? { bird6Check: opts.check6Cmd === '' ? null : opts.check6Cmd } : {}),
  });
}

/**
 * Runs the command until `signal` aborts (daemon) or once (`--onetime`).
 * Returns the exit code.
 */
export async function runConfd(
  opts: ConfdCommandOptions,
  env: NodeJS.ProcessEnv,
  signal?: AbortSignal,
  deps: { renderer?: Renderer; createDatastore?: (c: DatastoreConfig, o: { watch?: boolean }) => Datastore | Promise<Datastore> } = {},
): Promise<number> {
  const log = logger('confd');
  let config: DatastoreConfig;
  let flavor: Flavor;
  let resources: TemplateResource[];
  let metricsAt: MetricsListen | null;
  const renderer = deps.renderer ?? defaultRenderer;
  try {
    flavor = parseFlavor(opts.flavor);
    config = datastoreConfig(env, {
      ...(opts.datastoreType !== undefined ? { datastoreType: opts.datastoreType } : {}),
      ...(opts.datastoreFile !== undefined && opts.datastoreFile.length > 0 ? { datastoreFile: opts.datastoreFile } : {}),
      ...(opts.node !== undefined ? { nodeName: opts.node } : {}),
      ...(opts.routerId !== undefined ? { routerId: opts.routerId } : {}),
    });
    resources = resolveResources(opts, flavor, config.nodeName, renderer);
    metricsAt = opts.onetime ? null : metricsListen(opts, env);
  } catch (e) {
    process.stderr.write(`calico-bgpd confd: ${(e as Error).message}\n`);
    return 2;
  }
  const timeoutMs = opts.timeout !== undefined ? Number(opts.timeout) * 1000 : 30_000;
  const quietMs = opts.coalesceMs !== undefined ? Number(opts.coalesceMs) : 10;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || !Number.isInteger(quietMs) || quietMs < 0) {
    process.stderr.write('calico-bgpd confd: --timeout and --coalesce-ms must be positive numbers\n');
    return 2;
  }
  // Stages of an earlier run that was killed mid-batch (kept when asked to keep stages).
  if (!opts.keepStageFile && !opts.noop) sweepStaleStages(resources.map((r) => dirname(r.dest)), log);
  const ds = await (deps.createDatastore ?? createDatastore)(config, { watch: !opts.onetime });
  const daemon = new ConfdDaemon({
    datastore: ds,
    nodeName: config.nodeName,
    modelEnv: config.routerId !== undefined ? { routerId: config.routerId } : {},
    flavor,
    renderer,
    resources,
    noop: opts.noop ?? false,
    syncOnly: opts.syncOnly ?? false,
    keepStageFile: opts.keepStageFile ?? false,
    quietMs,
    log,
  });
  const example = exampleClusterProblem(config);
  if (example !== null) log.warn(formatProblem(example));
  try {
    await ds.start();
    if (ds.status() === 'in-sync' && !nodeInKeyView(ds.snapshot(), config.nodeName)) {
      log.warn({ node: config.nodeName }, `this node (${config.nodeName}) is not in the datastore: set NODENAME or --node; BIRD gets no peers`);
    }
    if (opts.onetime) {
      const r = await daemon.runOnce(timeoutMs);
      if (!r.ok) log.error(`onetime run failed: ${r.reason}`);
      return r.ok ? 0 : 1;
    }
    daemon.start();
    const endpoints = await startConfdEndpoints(daemon, ds, opts.controlSocket ?? DEFAULT_CONTROL_SOCKET, metricsAt, log);
    // The daemon's and the backends' timers do not hold the process open; with the
    // datastore unreachable nothing else might. This does, until the signal.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    try {
      await new Promise<void>((resolve) => {
        if (signal?.aborted) return resolve();
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      clearInterval(keepAlive);
      await endpoints.close();
    }
    log.info('stopping');
    return 0;
  } catch (e) {
    log.error({ err: e }, 'confd failed');
    process.stderr.write(`calico-bgpd confd: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await daemon.stop();
    await ds.stop();
  }
}

/**
 * confd's control socket (answers `health`) and metrics endpoint. The
 * control socket is the speaker's default path too: one of the two runs in
 * a calico-node pod. A socket another live daemon answers on is left alone
 * (warning): confd renders all the same.
 */
async function startConfdEndpoints(daemon: ConfdDaemon, ds: Datastore, socketPath: string, metricsAt: MetricsListen | null, log: ReturnType<typeof logger>): Promise<{ close: () => Promise<void> }> {
  const health = (kind: HealthKind): HealthResult =>
    kind === 'ready' ? daemon.readiness() : daemon.currentState === 'stopped' ? { ok: false, reason: 'not live: confd is stopped' } : { ok: true, reason: `live: confd running (${daemon.currentState})` };
  let control: ControlServer | null = new ControlServer(socketPath, (req) => {
    if (req.cmd === 'health') return health(req.kind);
    throw new Error(`confd answers only "health" (${req.cmd} is a speaker command)`);
  });
  try {
    await control.listenUnlessTaken();
  } catch (e) {
    log.warn({ controlSocket: socketPath, err: (e as Error).message }, 'control socket not available; `calico-bgpd health` cannot reach this confd (give --control-socket)');
    control = null;
  }
  // prom-client and the metrics load only when a metrics port is given.
  let detach = (): void => undefined;
  let metrics: MetricsServer | null = null;
  if (metricsAt !== null) {
    detach = (await import('../metrics/confd-metrics.js')).attachConfdMetrics(daemon, ds);
    metrics = new (await import('../metrics/server.js')).MetricsServer(metricsAt, health);
    await metrics.start();
    log.info({ address: metricsAt.address, port: metrics.port }, 'metrics endpoint ready (/metrics, /readiness, /liveness)');
  }
  return {
    close: async () => {
      detach();
      await metrics?.close();
      await control?.close();
    },
  };
}
