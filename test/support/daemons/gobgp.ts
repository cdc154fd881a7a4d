/** A real GoBGP daemon for interop tests, on loopback addresses, with a private API port; `gobgpConfig` also serves the cluster labs (test/cluster). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Cleanup, freePort, run, startProcess, tempDir, waitFor } from '../process.js';

export interface GobgpNeighbor {
  address: string;
  peerAs: number;
  /** Our end of the session when it is not the global `address` (a session of the other family); GoBGP listens there too. */
  localAddress?: string;
  /** Our side's listening port (GoBGP connects there); default 179. */
  remotePort?: number;
  passive?: boolean;
  holdTime?: number;
  families?: ('ipv4-unicast' | 'ipv6-unicast')[];
  addPath?: { receive?: boolean; sendMax?: number };
  password?: string;
  gracefulRestart?: boolean;
}

export interface GobgpOptions {
  as: number;
  routerId: string;
  /** Address GoBGP listens on and connects from (unless a neighbor names its own `localAddress`). */
  address: string;
  /** Listening port; default 179. */
  port?: number;
  neighbors: GobgpNeighbor[];
}

/** gobgpd's TOML config: one `[[neighbors]]` block per neighbor, connect retry 1 s, keepalive a third of the hold time. */
export function gobgpConfig(o: GobgpOptions): string {
  // Listen wherever one of our sessions ends, so that the peer may connect too.
  const listen = [...new Set([o.address, ...o.neighbors.map((n) => n.localAddress ?? o.address)])];
  const lines = [
    '[global.config]',
    `  as = ${o.as}`,
    `  router-id = "${o.routerId}"`,
    ...(o.port !== undefined ? [`  port = ${o.port}`] : []),
    `  local-address-list = [${listen.map((a) => `"${a}"`).join(', ')}]`,
  ];
  for (const n of o.neighbors) {
    lines.push(
      '[[neighbors]]',
      '  [neighbors.config]',
      `    neighbor-address = "${n.address}"`,
      `    peer-as = ${n.peerAs}`,
      ...(n.password !== undefined ? [`    auth-password = "${n.password}"`] : []),
      '  [neighbors.transport.config]',
      `    passive-mode = ${n.passive === true}`,
      ...(n.remotePort !== undefined ? [`    remote-port = ${n.remotePort}`] : []),
      `    local-address = "${n.localAddress ?? o.address}"`,
      '  [neighbors.timers.config]',
      '    connect-retry = 1',
      `    hold-time = ${n.holdTime ?? 9}`,
      `    keepalive-interval = ${Math.max(1, Math.floor((n.holdTime ?? 9) / 3))}`,
    );
    if (n.gracefulRestart === true) {
      lines.push('  [neighbors.graceful-restart.config]', '    enabled = true', '    restart-time = 60');
    }
    for (const fam of n.families ?? ['ipv4-unicast', 'ipv6-unicast']) {
      lines.push('  [[neighbors.afi-safis]]', '    [neighbors.afi-safis.config]', `      afi-safi-name = "${fam}"`);
      if (n.addPath !== undefined) {
        lines.push('    [neighbors.afi-safis.add-paths.config]', `      receive = ${n.addPath.receive === true}`, `      send-max = ${n.addPath.sendMax ?? 0}`);
      }
      if (n.gracefulRestart === true) lines.push('    [neighbors.afi-safis.mp-graceful-restart.config]', '      enabled = true');
    }
  }
  return lines.join('\n') + '\n';
}

export class Gobgp {
  private constructor(
    readonly apiPort: number,
    readonly logs: () => string,
  ) {}

  static async start(c: Cleanup, o: GobgpOptions): Promise<Gobgp> {
    const dir = tempDir(c, 'cbgpd-gobgp-');
    const conf = join(dir, 'gobgpd.toml');
    writeFileSync(conf, gobgpConfig(o));
    const apiPort = await freePort();
    const p = startProcess(c, 'gobgpd', ['-f', conf, '-t', 'toml', '--api-hosts', `127.0.0.1:${apiPort}`, '--pprof-disable', '-l', 'info']);
    const g = new Gobgp(apiPort, p.output);
    await waitFor('gobgpd API', () => g.cli('global').status === 0, 20_000, 200);
    return g;
  }

  cli(...args: string[]): { stdout: string; stderr: string; status: number | null } {
    return run('gobgp', ['-u', '127.0.0.1', '-p', String(this.apiPort), ...args]);
  }

  /** The BGP state GoBGP reports for a neighbor, lower case ("established", "active", ...). */
  state(neighbor: string): string {
    const m = /BGP state = (\w+)/i.exec(this.cli('neighbor', neighbor).stdout);
    return m === null ? 'unknown' : m[1]!.toLowerCase();
  }

  /** GoBGP's message statistics for a neighbor: KEEPALIVEs sent and received, and how often an Established session dropped (flops). */
  counters(neighbor: string): { keepalivesSent: number; keepalivesReceived: number; flops: number } {
    const out = this.cli('neighbor', neighbor).stdout;
    const ka = /Keepalives:\s+(\d+)\s+(\d+)/.exec(out);
    const flops = /Flops = (\d+)/.exec(out);
    return { keepalivesSent: Number(ka?.[1] ?? -1), keepalivesReceived: Number(ka?.[2] ?? -1), flops: Number(flops?.[1] ?? -1) };
  }

  /** Number of destinations in GoBGP's global RIB for a family. */
  ribCount(family: 'ipv4' | 'ipv6'): number {
    const m = /Destination:\s*(\d+)/.exec(this.cli('global', 'rib', 'summary', '-a', family).stdout);
    return m === null ? -1 : Number(m[1]);
  }
}
