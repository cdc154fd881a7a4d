/**
 * `calico-bgpd confd`: BIRD mode. Watches the datastore, renders the BIRD
 * files for this node, checks them, swaps them in and reloads BIRD; with
 * `--onetime`, does that once and exits (0 = every file checked and in
 * place, 1 = a check or reload failed or the datastore was not reachable,
 * 2 = bad usage). See docs/confd.md.
 */
import { dirname, resolve as resolvePath } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import { createDatastore, datastoreConfig, type DatastoreConfig } from '../datastore/config.js';
import type { Datastore } from '../datastore/types.js';
import { logger } from '../log.js';
import { ConfdDaemon, type Renderer } from '../confd/daemon.js';
import { flavorFiles, renderFile, type Flavor } from '../confd/render.js';
import { sweepStaleStages } from '../confd/stage-sweep.js';
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
  try {
    await ds.start();
    if (opts.onetime) {
      const r = await daemon.runOnce(timeoutMs);
      if (!r.ok) log.error(`onetime run failed: ${r.reason}`);
      return r.ok ? 0 : 1;
    }
    daemon.start();
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
    }
    log.info('stopping');
    return 0;
  } catch (e) {
    log.error({ err: e }, 'confd failed');
    return 1;
  } finally {
    await daemon.stop();
    await ds.stop();
  }
}

export function registerConfd(program: Command): void {
  program
    .command('confd')
    .description('BIRD mode: render BIRD configuration from the datastore, check it, swap it in atomically and reload BIRD (confd replacement)')
    .option('--onetime', 'render once and exit (non-zero if a check or reload failed)', false)
    .option('--confdir <dir>', 'template resources from DIR/conf.d/*.toml instead of the built-in calico-node ones')
    .addOption(new Option('--flavor <flavor>', 'calico (Calico\'s BIRD fork), bird1 (stock BIRD 1.6) or bird2').choices(['calico', 'bird1', 'bird2']).default('calico'))
    .option('--noop', 'render and check, never write or reload', false)
    .option('--keep-stage-file', 'keep the staged files (in .calico-bgpd-stage-* next to the destination)', false)
    .option('--sync-only', 'write the files, but neither check nor reload', false)
    .option('--dest-dir <dir>', `built-in resources: where the files go (default ${CALICO_CONFIG_DIR})`)
    .option('--bird-socket <path>', `built-in resources: BIRD control socket (default ${CALICO_BIRD_SOCKET})`)
    .option('--bird6-socket <path>', `built-in resources: BIRD 1.x IPv6 control socket (default ${CALICO_BIRD6_SOCKET})`)
    .option('--check-cmd <cmd>', 'built-in resources: check command for bird.cfg, {{src}} = staged file ("" = none; default "bird -p -c {{src}}")')
    .option('--check6-cmd <cmd>', 'built-in resources: check command for bird6.cfg ("" = none; default "bird6 -p -c {{src}}")')
    .option('--node <name>', 'this node (env NODENAME; default: host name)')
    .option('--datastore-file <path...>', 'file backend: YAML file(s) or directories (env CALICO_DATASTORE_FILE)')
    .option('--datastore-type <type>', 'etcdv3, kubernetes or file (env DATASTORE_TYPE)')
    .option('--router-id <id>', 'router id: dotted quad or "hash" (env CALICO_ROUTER_ID)')
    .option('--timeout <seconds>', '--onetime: how long to wait for the datastore', '30')
    .option('--coalesce-ms <ms>', 'write once changes have paused this long (a burst becomes one write and one reload)', '10')
    .action(async (opts: ConfdCommandOptions) => {
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      process.exitCode = await runConfd(opts, process.env, ac.signal);
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
    });
}
