/** `calico-bgpd status` and `calico-bgpd routes`: ask the running speaker over its control socket. */
import type { Command } from 'commander';
import { ask } from '../control/client.js';
import { DEFAULT_CONTROL_SOCKET } from '../control/server.js';
import type { PeerStatus, RouteView } from '../bgp/speaker/speaker.js';

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = '+' + widths.map((w) => '-'.repeat(w + 2)).join('+') + '+';
  const fmt = (r: string[]): string => '| ' + r.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line, fmt(headers), line, ...rows.map(fmt), line].join('\n');
}

async function run<T>(socket: string, req: Parameters<typeof ask>[1], print: (r: T) => string, json: boolean): Promise<void> {
  try {
    const r = await ask<T>(socket, req);
    process.stdout.write((json ? JSON.stringify(r, null, 2) : print(r)) + '\n');
  } catch (e) {
    process.stderr.write(`calico-bgpd: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('BGP peers of the running speaker, like `calicoctl node status`')
    .option('--json', 'machine-readable output', false)
    .option('--control-socket <path>', 'the speaker\'s control socket', DEFAULT_CONTROL_SOCKET)
    .action(async (opts: { json: boolean; controlSocket: string }) => {
      await run<{ routerId: string; asNumber: number; peers: PeerStatus[] }>(
        opts.controlSocket,
        { cmd: 'status' },
        (r) =>
          `calico-bgpd: router id ${r.routerId}, AS ${r.asNumber}\n` +
          table(
            ['PEER', 'ADDRESS', 'TYPE', 'STATE', 'SINCE', 'ROUTES (RX/ACC/TX)', 'INFO'],
            r.peers.map((p) => [p.name, `${p.address}${p.port !== 179 ? `:${p.port}` : ''}`, p.type, p.state, p.since.replace('T', ' ').slice(0, 19), `${p.routesReceived}/${p.routesAccepted}/${p.routesAdvertised}`, p.info]),
          ),
        opts.json,
      );
    });
  program
    .command('routes')
    .description('routes of the running speaker: * best path, + equal-cost (ECMP) path, where each came from')
    .option('--json', 'machine-readable output', false)
    .option('--prefix <cidr>', 'only this prefix')
    .option('--control-socket <path>', 'the speaker\'s control socket', DEFAULT_CONTROL_SOCKET)
    .action(async (opts: { json: boolean; prefix?: string; controlSocket: string }) => {
      await run<{ routes: RouteView[] }>(
        opts.controlSocket,
        opts.prefix !== undefined ? { cmd: 'routes', prefix: opts.prefix } : { cmd: 'routes' },
        (r) =>
          table(
            ['', 'PREFIX', 'NEXT HOPS', 'FROM', 'AS PATH', 'LOCAL PREF', 'COMMUNITIES', 'KERNEL'],
            r.routes.map((x) => [x.best ? '*' : x.multipath ? '+' : ' ', x.prefix, x.nextHops.join(',') || '-', x.from, x.asPath.join(' ') || '-', String(x.localPref), x.communities.join(' ') || '-', x.installed ? 'yes' : 'no']),
          ),
        opts.json,
      );
    });
  program
    .command('refresh')
    .description('ask a peer to send its routes again (ROUTE-REFRESH, RFC 2918); the session stays up')
    .argument('<peer>', 'peer name as `status` shows it, e.g. Mesh_192_0_2_2')
    .option('--control-socket <path>', 'the speaker\'s control socket', DEFAULT_CONTROL_SOCKET)
    .action(async (peer: string, opts: { controlSocket: string }) => {
      await run<{ refreshed: string }>(opts.controlSocket, { cmd: 'refresh', peer }, (r) => `route refresh sent to ${r.refreshed}`, false);
    });
  program
    .command('reset')
    .description('drop and re-establish one session, or every session without a peer name (Cease, Administrative Reset)')
    .argument('[peer]', 'peer name as `status` shows it; all peers when absent')
    .option('--control-socket <path>', 'the speaker\'s control socket', DEFAULT_CONTROL_SOCKET)
    .action(async (peer: string | undefined, opts: { controlSocket: string }) => {
      await run<{ reset: number }>(
        opts.controlSocket,
        peer !== undefined ? { cmd: 'reset', peer } : { cmd: 'reset' },
        (r) => `${r.reset} session${r.reset === 1 ? '' : 's'} reset`,
        false,
      );
    });
}
