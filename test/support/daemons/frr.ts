/**
 * A real FRR bgpd for session interop tests: standalone (no zebra, no
 * watchfrr, no kernel routes), on loopback addresses, with a private config,
 * pid file and vty socket directory in a temp dir. Queried with vtysh.
 */
import { accessSync, constants, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Cleanup, run, startProcess, tempDir, waitFor } from '../process.js';

export const FRR_BGPD = process.env.FRR_BGPD_BIN ?? '/usr/lib/frr/bgpd';
export const VTYSH = process.env.VTYSH_BIN ?? 'vtysh';

/** Null when FRR's bgpd can be run here, else why not (the caller skips). */
export function frrAvailable(): string | null {
  try {
    accessSync(FRR_BGPD, constants.X_OK);
  } catch {
    return `${FRR_BGPD} not installed`;
  }
  return run(VTYSH, ['--help']).status === 0 ? null : `${VTYSH} not installed`;
}

export interface FrrNeighbor {
  address: string;
  peerAs: number;
  /** Our side's listening port (bgpd connects there); default 179. */
  remotePort?: number;
  passive?: boolean;
  holdTime?: number;
  /** TCP-MD5 key (`neighbor X password`). */
  password?: string;
  /** GTSM (`neighbor X ttl-security hops N`). */
  ttlSecurityHops?: number;
  /** Address to connect from (`update-source`); default: the daemon's address. */
  localAddress?: string;
  /**
   * Rewrite the next hop of the routes this neighbor sends (an inbound
   * route-map): over ::1 both ends share the address, and bgpd denies a
   * route whose next hop is its own ("martian or self next-hop").
   */
  inboundNextHop?: string;
}

export interface FrrOptions {
  as: number;
  routerId: string;
  /** Address bgpd listens on and connects from. */
  address: string;
  port: number;
  neighbors: FrrNeighbor[];
  /** More addresses to listen on (`-l` again), e.g. ::1 for an IPv6 neighbor. */
  moreAddresses?: string[];
  /** Prefixes to originate (`network X` in their family; no zebra, so no import check). */
  networks?: string[];
  /** `debug bgp neighbor-events` at log level debug: bgpd logs each connection attempt (see `connectAttempts`). */
  debugEvents?: boolean;
}

const routeMapName = (n: FrrNeighbor): string => `NH-IN-${n.address.replace(/[.:]/g, '_')}`;

/** bgpd's config: each neighbor in the family of its address, short connect retry, loopback next hops allowed. */
export function frrConfig(o: Omit<FrrOptions, 'port' | 'moreAddresses'>): string {
  const lines = [
    'frr defaults traditional',
    'hostname calico-bgpd-test',
    ...(o.debugEvents === true ? ['debug bgp neighbor-events'] : []),
    `router bgp ${o.as}`,
    ` bgp router-id ${o.routerId}`,
    ' no bgp ebgp-requires-policy',
    ' no bgp default ipv4-unicast',
    ' no bgp network import-check',
    // Every test address is on loopback, which FRR calls martian as a next hop.
    ' bgp allow-martian-nexthop',
    ' bgp log-neighbor-changes',
  ];
  for (const n of o.neighbors) {
    const hold = n.holdTime ?? 9;
    const a = n.address;
    lines.push(
      ` neighbor ${a} remote-as ${n.peerAs}`,
      ...(n.remotePort !== undefined ? [` neighbor ${a} port ${n.remotePort}`] : []),
      ` neighbor ${a} update-source ${n.localAddress ?? o.address}`,
      // Without zebra bgpd knows no interfaces, so no peer looks connected.
      ` neighbor ${a} disable-connected-check`,
      ` neighbor ${a} timers ${Math.max(1, Math.floor(hold / 3))} ${hold}`,
      ` neighbor ${a} timers connect 1`,
      ...(n.passive === true ? [` neighbor ${a} passive`] : []),
      ...(n.password !== undefined ? [` neighbor ${a} password ${n.password}`] : []),
      ...(n.ttlSecurityHops !== undefined ? [` neighbor ${a} ttl-security hops ${n.ttlSecurityHops}`] : []),
    );
  }
  // Each neighbor carries the family of its address, as Calico's peers do.
  for (const [af, v6] of [['ipv4', false], ['ipv6', true]] as const) {
    const nbrs = o.neighbors.filter((n) => n.address.includes(':') === v6);
    const nets = (o.networks ?? []).filter((x) => x.includes(':') === v6);
    if (nbrs.length === 0 && nets.length === 0) continue;
    lines.push(` address-family ${af} unicast`);
    for (const x of nets) lines.push(`  network ${x}`);
    for (const n of nbrs) {
      lines.push(`  neighbor ${n.address} activate`);
      if (n.inboundNextHop !== undefined) lines.push(`  neighbor ${n.address} route-map ${routeMapName(n)} in`);
    }
    lines.push(' exit-address-family');
  }
  lines.push('!');
  for (const n of o.neighbors) {
    if (n.inboundNextHop === undefined) continue;
    const set = n.inboundNextHop.includes(':') ? `set ipv6 next-hop global ${n.inboundNextHop}` : `set ip next-hop ${n.inboundNextHop}`;
    lines.push(`route-map ${routeMapName(n)} permit 10`, ` ${set}`, '!');
  }
  return lines.join('\n') + '\n';
}

export class Frr {
  private constructor(
    readonly vtyDir: string,
    readonly logs: () => string,
  ) {}

  static async start(c: Cleanup, o: FrrOptions): Promise<Frr> {
    const dir = tempDir(c, 'cbgpd-frr-');
    const conf = join(dir, 'bgpd.conf');
    writeFileSync(conf, frrConfig(o));
    const p = startProcess(c, FRR_BGPD, [
      '-f', conf,
      '-i', join(dir, 'bgpd.pid'),
      '-z', join(dir, 'zserv.api'),
      '--vty_socket', dir,
      '-P', '0',
      '-p', String(o.port),
      '-l', o.address,
      ...(o.moreAddresses ?? []).flatMap((a) => ['-l', a]),
      '-Z', '-S', '-n',
      '--log', 'stdout',
      '--log-level', o.debugEvents === true ? 'debug' : 'informational',
    ]);
    const f = new Frr(dir, p.output);
    await waitFor('bgpd vty', () => f.vtysh('show bgp summary json').status === 0, 20_000, 100).catch((e: Error) => {
      throw new Error(`${e.message}\n${p.output().slice(-1500)}`);
    });
    return f;
  }

  /** Runs one vtysh command against this bgpd only. */
  vtysh(command: string): { stdout: string; stderr: string; status: number | null } {
    return run(VTYSH, ['--vty_socket', this.vtyDir, '-d', 'bgpd', '-c', command]);
  }

  /** Outgoing connections bgpd started to a neighbor, from its log (needs `debugEvents`): each SYN it sent, answered or not. */
  connectAttempts(neighbor: string): number {
    return this.logs().split('\n').filter((l) => l.includes(`[Event] Connect start to ${neighbor} `)).length;
  }

  /** `show bgp neighbors X json` for one neighbor, or undefined. */
  neighborJson(neighbor: string): Record<string, unknown> | undefined {
    try {
      return (JSON.parse(this.vtysh(`show bgp neighbors ${neighbor} json`).stdout) as Record<string, Record<string, unknown>>)[neighbor];
    } catch {
      return undefined;
    }
  }

  /** Prefixes bgpd accepted from a neighbor in its family, -1 if unreadable. */
  prefixesReceived(neighbor: string): number {
    const af = neighbor.includes(':') ? 'ipv6Unicast' : 'ipv4Unicast';
    const n = this.neighborJson(neighbor) as { addressFamilyInfo?: Record<string, { acceptedPrefixCounter?: number }> } | undefined;
    return n?.addressFamilyInfo?.[af]?.acceptedPrefixCounter ?? -1;
  }

  /** The BGP state bgpd reports for a neighbor, lower case ("established", "active", ...). */
  state(neighbor: string): string {
    try {
      const j = JSON.parse(this.vtysh(`show bgp neighbors ${neighbor} json`).stdout) as Record<string, { bgpState?: string }>;
      return j[neighbor]?.bgpState?.toLowerCase() ?? 'unknown';
    } catch {
      return 'unknown';
    }
  }
}
