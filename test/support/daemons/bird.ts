/**
 * A real BIRD for session interop tests, on loopback addresses, with a
 * private config, control socket and log in a temp dir: BIRD 1.6 (`bird`
 * for IPv4, `bird6` for IPv6, as calico-node runs them) or BIRD 2 (one
 * daemon, a channel per family). `birdConfig` also writes the configs of
 * the BIRD nodes in the cluster labs (test/cluster), which run in namespaces.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { BIRD1, BIRD6, bird2Binary } from '../bird.js';
import { type Cleanup, run, startProcess, tempDir, waitFor } from '../process.js';

/** Which BIRD: 1.6 for IPv4 (`bird`), 1.6 for IPv6 (`bird6`), or 2. */
export type BirdFlavor = 'bird1' | 'bird6' | 'bird2';

export interface BirdNeighbor {
  /** Protocol name (`birdc show protocols <name>`). */
  name: string;
  address: string;
  peerAs: number;
  /** Our side's listening port (BIRD connects there); default 179. */
  remotePort?: number;
  passive?: boolean;
  holdTime?: number;
  /** TCP-MD5 key. */
  password?: string;
  /** GTSM (`ttl security on`). */
  ttlSecurity?: boolean;
  /** `add paths on` (send and receive), as Calico configures its peers. */
  addPaths?: boolean;
  /** `graceful restart on` (default: BIRD's own default, `aware`). */
  gracefulRestart?: boolean;
  /** Export filter text, `none` by default (`all`, `where source = RTS_STATIC`, ...). */
  export?: string;
  /** `debug { events }`: BIRD logs each connection attempt (see `connectAttempts`). */
  debugEvents?: boolean;
  /** BIRD 2 only: this protocol's own listening address and port (default: the daemon's). */
  localAddress?: string;
  localPort?: number;
}

/** A `protocol static` whose routes are blackholes, optionally tagged with a community. */
export interface BirdStatic {
  name: string;
  routes: string[];
  community?: [number, number];
}

export interface BirdOptions {
  /** Default `bird1`. */
  flavor?: BirdFlavor;
  as: number;
  routerId: string;
  /** Address BIRD listens on and connects from. */
  address: string;
  port: number;
  neighbors: BirdNeighbor[];
  statics?: BirdStatic[];
  /** A log file for warnings and worse; default: everything to stderr. */
  logFile?: string;
  /** `protocol device` scan time in seconds (default 10). */
  scanTime?: number;
  /**
   * BIRD 1.6 only: a `protocol kernel` that writes the BGP routes BIRD
   * chose into its namespace's kernel (protocol `bird`), for tests that
   * check what a BIRD node would forward by; off by default.
   */
  kernelExport?: boolean;
  /**
   * BIRD 1.6 only: an interface (`eth0`) whose connected prefixes BIRD
   * imports (`protocol direct`). BIRD 1.6 runs iBGP sessions multihop, with
   * recursive next hops: a next hop on the LAN resolves only through such a
   * prefix, as on a calico-node. Not needed on loopback addresses or for eBGP.
   */
  directInterface?: string;
}

/** The BIRD binary and its birdc for a flavor, or null when not installed. */
export function birdBinaries(flavor: BirdFlavor): { bird: string; birdc: string } | null {
  if (flavor === 'bird1') return { bird: BIRD1, birdc: 'birdc' };
  if (flavor === 'bird6') return { bird: BIRD6, birdc: 'birdc6' };
  const b = bird2Binary();
  return b === null ? null : { bird: b, birdc: join(dirname(b), 'birdc') };
}

/** BIRD's config: statics, then one `protocol bgp` per neighbor with short retry timers. */
export function birdConfig(o: BirdOptions): string {
  const v2 = o.flavor === 'bird2';
  const lines = [o.logFile !== undefined ? `log "${o.logFile}" { warning, error, fatal, bug };` : 'log stderr all;', `router id ${o.routerId};`];
  if (!v2) lines.push(`listen bgp address ${o.address} port ${o.port};`);
  lines.push(`protocol device { scan time ${o.scanTime ?? 10}; }`);
  if (v2 && (o.kernelExport === true || o.directInterface !== undefined)) throw new Error('kernelExport and directInterface are for BIRD 1.6 (BIRD 2 wants channels)');
  if (o.kernelExport === true) lines.push(`protocol kernel { export where source = RTS_BGP; scan time ${o.scanTime ?? 10}; }`);
  if (o.directInterface !== undefined) lines.push(`protocol direct { interface "${o.directInterface}"; }`);
  for (const s of o.statics ?? []) {
    const filter = s.community !== undefined ? `filter { bgp_community.add((${s.community[0]},${s.community[1]})); accept; }` : 'all';
    const v6 = s.routes[0]?.includes(':') === true;
    lines.push(`protocol static ${s.name} {`, v2 ? `  ${v6 ? 'ipv6' : 'ipv4'} { import ${filter}; };` : `  import ${filter};`);
    for (const r of s.routes) lines.push(`  route ${r} blackhole;`);
    lines.push('}');
  }
  for (const n of o.neighbors) {
    const hold = n.holdTime ?? 9;
    const filters = [`import all;`, `export ${n.export ?? 'none'};`, ...(n.addPaths === true ? ['add paths on;'] : [])];
    const local = n.localAddress ?? o.address;
    lines.push(
      `protocol bgp ${n.name} {`,
      v2 ? `  local ${local} port ${n.localPort ?? o.port} as ${o.as}; strict bind on;` : `  local ${local} as ${o.as};`,
      `  source address ${local};`,
      `  neighbor ${n.address}${n.remotePort !== undefined ? ` port ${n.remotePort}` : ''} as ${n.peerAs};`,
      // Loopback peers are not on a directly connected LAN as BIRD sees it.
      ...(n.peerAs !== o.as ? ['  multihop 1;'] : []),
      `  hold time ${hold}; keepalive time ${Math.max(1, Math.floor(hold / 3))};`,
      '  connect retry time 1; connect delay time 1; error wait time 1, 2;',
      `  passive ${n.passive === true ? 'on' : 'off'};`,
      ...(n.password !== undefined ? [`  password "${n.password}";`] : []),
      ...(n.ttlSecurity === true ? ['  ttl security on;'] : []),
      ...(n.gracefulRestart === true ? ['  graceful restart on; graceful restart time 60;'] : []),
      ...(n.debugEvents === true ? ['  debug { events };'] : []),
      ...(v2 ? [`  ${n.address.includes(':') ? 'ipv6' : 'ipv4'} { ${filters.join(' ')} };`] : filters.map((f) => `  ${f}`)),
      '}',
    );
  }
  return lines.join('\n') + '\n';
}

export class Bird {
  private child: ChildProcess;
  private output: () => string;
  /** Output of the daemons this object ran before a restart. */
  private earlier = '';

  private constructor(
    private readonly c: Cleanup,
    private readonly conf: string,
    readonly socket: string,
    private readonly bins: { bird: string; birdc: string },
    proc: { child: ChildProcess; output: () => string },
  ) {
    this.child = proc.child;
    this.output = proc.output;
  }

  static async start(c: Cleanup, o: BirdOptions): Promise<Bird> {
    const bins = birdBinaries(o.flavor ?? 'bird1');
    if (bins === null) throw new Error(`${o.flavor} is not installed`);
    const dir = tempDir(c, 'cbgpd-bird-');
    const conf = join(dir, 'bird.conf');
    const socket = join(dir, 'bird.ctl');
    writeFileSync(conf, birdConfig(o));
    const b = new Bird(c, conf, socket, bins, startProcess(c, bins.bird, ['-f', '-c', conf, '-s', socket]));
    await b.up();
    return b;
  }

  private async up(): Promise<void> {
    await waitFor('BIRD control socket', () => this.cli('show', 'status').stdout.includes('Daemon is up'), 20_000, 100).catch((e: Error) => {
      throw new Error(`${e.message}\n${this.logs().slice(-1500)}`);
    });
  }

  /** Everything BIRD wrote (stderr log), across restarts. */
  logs(): string {
    return this.earlier + this.output();
  }

  /**
   * Stops BIRD without a NOTIFICATION to its peers (SIGKILL, or BIRD 2's
   * `graceful restart` command when `graceful`) and starts it again with
   * `-R` (graceful restart recovery: the Restart State bit in its OPEN) on
   * `next`'s config, or the same config.
   */
  async restart(next?: BirdOptions, graceful = false): Promise<void> {
    const exited = new Promise<void>((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) resolve();
      else this.child.once('exit', () => resolve());
    });
    if (graceful) this.cli('graceful', 'restart');
    else this.child.kill('SIGKILL');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await exited;
    if (next !== undefined) writeFileSync(this.conf, birdConfig(next));
    this.earlier += this.output();
    const p = startProcess(this.c, this.bins.bird, ['-f', '-R', '-c', this.conf, '-s', this.socket]);
    this.child = p.child;
    this.output = p.output;
    await this.up();
  }

  cli(...args: string[]): { stdout: string; stderr: string; status: number | null } {
    return run(this.bins.birdc, ['-s', this.socket, ...args]);
  }

  /** The BGP state BIRD reports for a protocol, lower case ("established", "active", "connect", ...). */
  state(protocol: string): string {
    const m = /BGP state:\s+(\w+)/.exec(this.cli('show', 'protocols', 'all', protocol).stdout);
    return m === null ? 'unknown' : m[1]!.toLowerCase();
  }

  /** BIRD's last error for a protocol ("Hold timer expired", ...), or ''. */
  lastError(protocol: string): string {
    return /Last error:\s+(.*)/.exec(this.cli('show', 'protocols', 'all', protocol).stdout)?.[1]?.trim() ?? '';
  }

  /**
   * Outgoing connections BIRD started for a protocol, from its log (needs
   * `debugEvents` and the default stderr log): each SYN it sent, answered or not.
   */
  connectAttempts(protocol: string): number {
    return this.logs().split('\n').filter((l) => l.includes(`${protocol}: Connecting to `)).length;
  }

  /** Routes in BIRD's table learned from a protocol (`show route protocol P count`), -1 if unreadable. */
  routeCount(protocol: string): number {
    const m = /(\d+) of \d+ routes/.exec(this.cli('show', 'route', 'protocol', protocol, 'count').stdout);
    return m === null ? -1 : Number(m[1]);
  }

  /** Import updates BIRD counted as received from a protocol's peer (`Route change stats`). */
  importUpdatesReceived(protocol: string): number {
    const m = /Import updates:\s+(\d+)/.exec(this.cli('show', 'protocols', 'all', protocol).stdout);
    return m === null ? -1 : Number(m[1]);
  }
}
