/**
 * Network namespaces for tests and benchmarks, in two shapes:
 *
 * - `Lab`: a "switch" namespace with a bridge, and hosts joined to it by veth
 *   pairs, numbered from the documentation ranges (`<lan>.<octet>/24`, and
 *   `<lan6>::<octet>/64` when the lab has an IPv6 LAN). Hosts run real
 *   daemons through `ip netns exec`, so every host has a kernel of its own to
 *   check. Nothing is added to the root namespace: the veth pairs are created
 *   inside the switch namespace and one end is moved into the host.
 * - `TestNs`: one namespace on its own for the kernel FIB tests, with a veth
 *   pair (`veth0` 192.0.2.1/24 + 2001:db8:1::1/64, `veth1`) and a stand-in
 *   `tunl0`.
 *
 * Names carry a prefix and the creating process's PID (`cbgpd<pid>-<n>-…`,
 * `cbcl-<pid>-<n>-…`, `cbfib-<pid>-<n>`). Cleanup is guaranteed three ways:
 * `destroy()`, a synchronous exit hook (a `Lab` also hooks SIGTERM and
 * SIGINT: killed by the test runner's timeout or ^C, it cleans up, then dies
 * of the same signal) for a process that dies in between, and a sweep at
 * creation of namespaces and lab directories with the same prefix left by
 * earlier processes that are no longer alive.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** `ip <args>`; stdout, or throws with ip's stderr. */
export function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `<prefix><pid>-…` made by a process that is no longer alive. */
function ownerGone(prefix: string, name: string): boolean {
  const m = new RegExp(`^${prefix}(\\d+)-`).exec(name);
  return m !== null && !alive(Number(m[1]));
}

/** Deletes `<prefix><pid>-*` namespaces whose creating process is gone. */
export function sweepStaleNamespaces(prefix: string): void {
  let list = '';
  try {
    list = ip(['netns', 'list']);
  } catch {
    return;
  }
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (ownerGone(prefix, name)) deleteNamespace(name);
  }
}

/**
 * Deletes `<tmpdir>/<prefix><pid>-*` lab directories whose creating process
 * is gone: a process killed outright (SIGKILL, or SIGPIPE when its output
 * is cut short) never runs its exit hook.
 */
export function sweepStaleDirs(prefix: string): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of entries) if (ownerGone(prefix, name)) rmSync(join(tmpdir(), name), { recursive: true, force: true });
}

/** True when this process may create namespaces (root, `ip netns` works). */
export function netnsAvailable(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    ip(['netns', 'list']);
    return true;
  } catch {
    return false;
  }
}

/** `ip netns add` with `lo` up. */
function addNamespace(ns: string): void {
  ip(['netns', 'add', ns]);
  ip(['-n', ns, 'link', 'set', 'lo', 'up']);
}

function deleteNamespace(ns: string): void {
  try {
    ip(['netns', 'del', ns]);
  } catch {
    // already gone, or raced with another sweeper
  }
}

// ---------------------------------------------------------------------------
// Lab: hosts on one bridged LAN
// ---------------------------------------------------------------------------

export interface LabOptions {
  /** Start of every namespace name, before the PID (default `cbgpd`). */
  prefix?: string;
  /** The first three octets of the IPv4 LAN, a /24 (default `192.0.2`). */
  lan?: string;
  /** The first four groups of an IPv6 LAN, a /64 (`2001:db8:0:1`); none by default. */
  lan6?: string;
}

export interface LabHost {
  /** Short name given by the test (`n1`). */
  name: string;
  /** Namespace name. */
  ns: string;
  /** The host's IPv4 address on the lab LAN (without the /24). */
  address: string;
  /** The host's IPv6 address on the lab LAN (without the /64), when the lab has one. */
  address6?: string;
  /** Interface name inside the host. */
  ifname: string;
}

/** A process in a host's namespace, with the last 64 KB of its output. */
export interface LabProcess {
  child: ChildProcess;
  output: () => string;
}

/** A route as `ip -json route show` prints it (the fields the tests compare). */
export interface KernelRoute {
  dst: string;
  type?: string;
  gateway?: string;
  dev?: string;
  nexthops?: { gateway?: string; dev?: string }[];
}

let labCounter = 0;

export class Lab {
  /** A temp dir for the test's files (configs, sockets), removed by `destroy()`. */
  readonly dir: string;
  readonly hosts = new Map<string, LabHost>();
  readonly switchNs: string;
  private readonly namespaces: string[] = [];
  private readonly procs: LabProcess[] = [];
  private destroyed = false;
  private readonly exitHook = (): void => this.destroySync();
  private readonly signalHook = (sig: NodeJS.Signals): void => {
    this.destroySync();
    process.kill(process.pid, sig);
  };

  private constructor(
    readonly id: string,
    readonly lan: string,
    readonly lan6: string | undefined,
  ) {
    this.switchNs = `${id}-sw`;
    this.dir = mkdtempSync(join(tmpdir(), `${id}-`));
  }

  static create(opts: LabOptions = {}): Lab {
    const prefix = opts.prefix ?? 'cbgpd';
    sweepStaleNamespaces(prefix);
    sweepStaleDirs(prefix);
    const lab = new Lab(`${prefix}${process.pid}-${labCounter++}`, opts.lan ?? '192.0.2', opts.lan6);
    process.on('exit', lab.exitHook);
    process.once('SIGTERM', lab.signalHook);
    process.once('SIGINT', lab.signalHook);
    try {
      lab.addNamespace(lab.switchNs);
      ip(['-n', lab.switchNs, 'link', 'add', 'br0', 'type', 'bridge']);
      ip(['-n', lab.switchNs, 'link', 'set', 'br0', 'up']);
    } catch (err) {
      lab.destroySync();
      throw err;
    }
    return lab;
  }

  private addNamespace(ns: string): void {
    this.namespaces.push(ns);
    addNamespace(ns);
  }

  /** Adds a host on `eth0` with address `<lan>.<octet>/24` (and `<lan6>::<octet>/64`). */
  addHost(name: string, octet: number): LabHost {
    const ns = `${this.id}-${name}`;
    this.addNamespace(ns);
    const port = `p${this.hosts.size}`;
    ip(['-n', this.switchNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    ip(['-n', this.switchNs, 'link', 'set', port, 'master', 'br0', 'up']);
    const host: LabHost = { name, ns, address: `${this.lan}.${octet}`, ifname: 'eth0' };
    ip(['-n', ns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
    if (this.lan6 !== undefined) {
      host.address6 = `${this.lan6}::${octet.toString(16)}`;
      // nodad: usable at once, not after a second of duplicate detection.
      ip(['-n', ns, '-6', 'addr', 'add', `${host.address6}/64`, 'dev', 'eth0', 'nodad']);
    }
    ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    this.hosts.set(name, host);
    return host;
  }

  host(name: string): LabHost {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no lab host ${name}`);
    return h;
  }

  /** A host's namespace name. */
  ns(name: string): string {
    return this.host(name).ns;
  }

  /** Starts a long-running command in a host's namespace (killed by `destroy()`). `ip netns exec` execs it: the PID is the command's. */
  spawn(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): LabProcess {
    const child = spawn('ip', ['netns', 'exec', this.ns(name), cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    const keep = (b: Buffer): void => {
      out = (out + b.toString('utf8')).slice(-65536);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const p = { child, output: () => out };
    this.procs.push(p);
    return p;
  }

  /** Runs a command in a host's namespace to completion (bounded); stdout, or throws with stderr. */
  exec(name: string, cmd: string, args: string[], timeoutMs = 10_000): string {
    const r = spawnSync('ip', ['netns', 'exec', this.ns(name), cmd, ...args], { encoding: 'utf8', timeout: timeoutMs });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} in ${name}: exit ${r.status} ${r.stderr ?? ''}`);
    return r.stdout;
  }

  /** Routes of a host's main table (of protocol `proto` when given, one family), sorted by destination. */
  routes(name: string, proto?: string, family: 4 | 6 = 4): KernelRoute[] {
    const args = ['-n', this.ns(name), `-${family}`, '-json', 'route', 'show', ...(proto !== undefined ? ['proto', proto] : [])];
    const all = JSON.parse(ip(args) || '[]') as (KernelRoute & Record<string, unknown>)[];
    return all
      .map((r) => {
        const out: KernelRoute = { dst: r.dst };
        if (r.type !== undefined && r.type !== 'unicast') out.type = r.type;
        if (r.gateway !== undefined) out.gateway = r.gateway;
        if (r.dev !== undefined && r.type !== 'blackhole') out.dev = r.dev;
        if (r.nexthops !== undefined) out.nexthops = r.nexthops.map((h) => ({ gateway: h.gateway, dev: h.dev }));
        return out;
      })
      .sort((a, b) => (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0));
  }

  /** Writes a file atomically (a watched file datastore never sees half a file). */
  writeAtomic(path: string, text: string): void {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  }

  /** Kills every process (SIGKILL, waited for, bounded), deletes the namespaces and the temp dir. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    await Promise.all(
      this.procs
        .filter((p) => p.child.exitCode === null && p.child.signalCode === null)
        .map(
          (p) =>
            new Promise<void>((resolve) => {
              const t = setTimeout(resolve, 3000);
              p.child.once('exit', () => {
                clearTimeout(t);
                resolve();
              });
              p.child.kill('SIGKILL');
            }),
        ),
    );
    this.destroySync();
  }

  private destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.off('exit', this.exitHook);
    process.off('SIGTERM', this.signalHook);
    process.off('SIGINT', this.signalHook);
    for (const p of this.procs) {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        try {
          p.child.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    for (const ns of [...this.namespaces].reverse()) deleteNamespace(ns);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// TestNs: one namespace for the kernel FIB tests
// ---------------------------------------------------------------------------

const FIB_PREFIX = 'cbfib-';
let fibCounter = 0;
const liveFib = new Set<string>();
let fibHooked = false;

function deleteFib(name: string): void {
  deleteNamespace(name);
  liveFib.delete(name);
}

/** A route as `ip -json route show` gives it, reduced to what the FIB tests compare. */
export interface ShownRoute {
  dst: string;
  type?: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  metric?: number;
  flags: string[];
  nexthops?: { gateway?: string; dev?: string; flags: string[] }[];
}

/**
 * `cbfib-<pid>-<n>`: lo, a veth pair (`veth0` 192.0.2.1/24 +
 * 2001:db8:1::1/64, `veth1`) and `tunl0`. Only an exit hook, no signal hook:
 * the kernel benchmark's own SIGINT handler cleans up and then exits, which
 * runs it.
 *
 * `tunl0` is a veth here: this machine's kernel has no ipip module. For the
 * FIB a tunnel is only an interface index plus the onlink flag, which any
 * interface type carries the same way.
 */
export class TestNs {
  readonly path: string;
  private constructor(readonly name: string) {
    this.path = `/run/netns/${name}`;
  }

  /** Creates the namespace with lo, veth0/veth1 and tunl0/tunl0p up. */
  static create(): TestNs {
    if (!fibHooked) {
      fibHooked = true;
      process.on('exit', () => [...liveFib].forEach(deleteFib));
      sweepStaleNamespaces(FIB_PREFIX);
    }
    const ns = new TestNs(`${FIB_PREFIX}${process.pid}-${fibCounter++}`);
    ip(['netns', 'add', ns.name]);
    liveFib.add(ns.name);
    try {
      const n = ['-n', ns.name];
      ip([...n, 'link', 'set', 'lo', 'up']);
      ip([...n, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1']);
      ip([...n, 'link', 'add', 'tunl0', 'type', 'veth', 'peer', 'name', 'tunl0p']);
      for (const dev of ['veth0', 'veth1', 'tunl0', 'tunl0p']) ip([...n, 'link', 'set', dev, 'up']);
      ip([...n, 'addr', 'add', '192.0.2.1/24', 'dev', 'veth0']);
      ip([...n, '-6', 'addr', 'add', '2001:db8:1::1/64', 'dev', 'veth0', 'nodad']);
    } catch (e) {
      ns.destroy();
      throw e;
    }
    return ns;
  }

  /** `ip -n NS <args>`. */
  ip(args: string[]): string {
    return ip(['-n', this.name, ...args]);
  }

  /** Routes of the main table, one family, as `ip -json` shows them (kernel and link-local routes left out). */
  routes(family: 4 | 6, opts: { proto?: string } = {}): ShownRoute[] {
    const args = [`-${family}`, '-json', 'route', 'show', 'table', 'main'];
    const all = JSON.parse(this.ip(args) || '[]') as (ShownRoute & Record<string, unknown>)[];
    return all
      .filter((r) => r.protocol !== 'kernel' && !(family === 6 && String(r.dst).startsWith('fe80:')))
      .filter((r) => opts.proto === undefined || r.protocol === opts.proto)
      .map((r) => {
        const out: ShownRoute = { dst: r.dst, flags: r.flags ?? [] };
        if (r.type !== undefined) out.type = r.type;
        if (r.gateway !== undefined) out.gateway = r.gateway;
        if (r.dev !== undefined && r.type !== 'blackhole') out.dev = r.dev;
        if (r.protocol !== undefined) out.protocol = r.protocol;
        if (r.metric !== undefined) out.metric = r.metric;
        if (r.nexthops !== undefined) out.nexthops = r.nexthops.map((h) => ({ gateway: h.gateway, dev: h.dev, flags: h.flags ?? [] }));
        return out;
      })
      .sort((a, b) => (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : (a.metric ?? 0) - (b.metric ?? 0)));
  }

  /** Count of routes of one protocol (`ip route show proto P`), both families. */
  count(proto: string): number {
    let n = 0;
    for (const f of ['-4', '-6']) n += this.ip([f, 'route', 'show', 'proto', proto]).split('\n').filter((l) => /^\S/.test(l)).length;
    return n;
  }

  destroy(): void {
    deleteFib(this.name);
  }
}
