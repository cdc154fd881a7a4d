/**
 * `calico-bgpd speaker`: its options and signal handling. The speaker itself
 * (src/commands/speaker.ts and everything it needs) loads only when this
 * command runs, so other commands do not pay for it.
 */
import type { Command } from 'commander';
import { logger } from '../log.js';
import { UsageError } from '../usage-error.js';
import { DEFAULT_CONTROL_SOCKET } from '../control/server.js';
import { DEFAULT_BIRD6_SOCKET, DEFAULT_BIRD_SOCKET } from '../control/bird/server.js';
import type { SpeakerCommandOptions } from './speaker.js';

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
    .option('--bird-socket <path>', 'BIRD-compatible control socket for IPv4 peers ("" = off)', DEFAULT_BIRD_SOCKET)
    .option('--bird6-socket <path>', 'BIRD-compatible control socket for IPv6 peers ("" = off)', DEFAULT_BIRD6_SOCKET)
    .option('--metrics-port <port>', 'serve /metrics, /readiness and /liveness on this TCP port (env CALICO_BGPD_METRICS_PORT; off by default)')
    .option('--metrics-address <address>', 'address for the metrics endpoint (env CALICO_BGPD_METRICS_ADDRESS; default 0.0.0.0)')
    .action(async (opts: SpeakerCommandOptions) => {
      const log = logger('speaker');
      // A signal while the speaker still waits for the datastore ends the wait cleanly.
      const starting = new AbortController();
      const stopStarting = (): void => starting.abort();
      process.once('SIGTERM', stopStarting);
      process.once('SIGINT', stopStarting);
      let handle: { stop: () => Promise<void>; reload: () => void };
      try {
        const { runSpeaker } = await import('./speaker.js');
        handle = await runSpeaker({ ...opts, startSignal: starting.signal });
      } catch (e) {
        log.fatal({ err: (e as Error).message }, 'speaker could not start');
        process.stderr.write(`calico-bgpd speaker: ${(e as Error).message}\n`);
        process.exit(e instanceof UsageError ? 2 : 1);
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
