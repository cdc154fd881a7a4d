/**
 * `calico-bgpd health --ready|--live`: asks the running daemon (speaker or
 * confd) over its control socket and exits 0 (healthy) or 1 (not, or not
 * reachable) with one line saying why, for exec probes. The meaning of each
 * check is in src/health/checks.ts and docs/speaker.md, docs/confd.md.
 */
import type { Command } from 'commander';
import { ask } from '../control/client.js';
import { DEFAULT_CONTROL_SOCKET } from '../control/server.js';
import type { HealthResult } from '../health/checks.js';

export function registerHealth(program: Command): void {
  program
    .command('health')
    .description('readiness (--ready) or liveness (--live) of the running speaker or confd: exit 0 or 1 with one line why')
    .option('--ready', 'ready: sessions up (speaker) / files current, checked and loaded (confd)', false)
    .option('--live', 'live: the daemon answers', false)
    .option('--control-socket <path>', 'the daemon\'s control socket', DEFAULT_CONTROL_SOCKET)
    .option('--timeout <seconds>', 'how long to wait for the answer', '5')
    .action(async (opts: { ready: boolean; live: boolean; controlSocket: string; timeout: string }, cmd: Command) => {
      if (opts.ready === opts.live) cmd.error('give exactly one of --ready or --live', { exitCode: 2 });
      const timeoutMs = Number(opts.timeout) * 1000;
      if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) cmd.error(`--timeout must be a positive number of seconds, not "${opts.timeout}"`, { exitCode: 2 });
      const kind = opts.ready ? 'ready' : 'live';
      try {
        const r = await ask<HealthResult>(opts.controlSocket, { cmd: 'health', kind }, timeoutMs);
        process.stdout.write(`${r.reason}\n`);
        process.exitCode = r.ok ? 0 : 1;
      } catch (e) {
        process.stdout.write(`not ${kind}: ${(e as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
