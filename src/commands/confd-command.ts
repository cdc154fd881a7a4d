/**
 * `calico-bgpd confd`: its options and signals. The renderer (Handlebars),
 * the daemon and the datastore load only when this command runs.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { DEFAULT_CONTROL_SOCKET } from '../control/server.js';
import { CALICO_BIRD6_SOCKET, CALICO_BIRD_SOCKET, CALICO_CONFIG_DIR } from '../confd/resources.js';
import type { ConfdCommandOptions } from './confd.js';

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
    .option('--control-socket <path>', `where \`calico-bgpd health\` asks (default ${DEFAULT_CONTROL_SOCKET})`)
    .option('--metrics-port <port>', 'serve /metrics, /readiness and /liveness on this TCP port (env CALICO_BGPD_METRICS_PORT; off by default)')
    .option('--metrics-address <address>', 'address for the metrics endpoint (env CALICO_BGPD_METRICS_ADDRESS; default 0.0.0.0)')
    .option('--coalesce-ms <ms>', 'write once changes have paused this long (a burst becomes one write and one reload)', '10')
    .action(async (opts: ConfdCommandOptions) => {
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      const { runConfd } = await import('./confd.js');
      process.exitCode = await runConfd(opts, process.env, ac.signal);
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
    });
}
