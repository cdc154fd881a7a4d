/**
 * Cluster labs for issue #6 section 6: one "switch" namespace with a bridge
 * and one namespace per node (`cbcl-<pid>-<n>-<node>`), each joined to the
 * bridge by a veth pair and numbered `192.0.2.<octet>/24`. Nodes run real
 * daemons (our speaker with kernel programming on, BIRD, GoBGP) through
 * `ip netns exec`, so every node has a kernel of its own to check.
 *
 * Cleanup, even on failure: `destroy()` (from `after()`) kills every process
 * and deletes every namespace and the temp dir; an exit/signal hook does the
 * same synchronously if the test process dies first; and namespaces left by
 * an earlier test process that is gone are swept at creation.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PREFIX = 'cbcl-';

/** The CLI under test (dist/src/cli.js). */
export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

function ip(args: string[]): string {
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

/** Deletes `cbcl-<pid>-*` namespaces whose creating process is gone. */
function sweep(): void {
  let list = '';
  try {
    list = ip(['netns', 'list']);
  } catch {
    return;
  }
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    if (m && !alive(Number(m[1]))) {
      try {
        ip(['netns', 'del', name]);
      } catch {
        // raced with another sweeper
      }
    }
  }
}

/** Root, `ip netns` works. */
export function netnsAvailable(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    ip(['netns', 'list']);
    return true;
  } catch {
    return false;
  }
}

/** A route as `ip -json route show` prints it (the fields the tests compare). */
export interface KernelRoute {
  dst: string;
  type?: string;
  gateway?: string;
  dev?: string;
  nexthops?: { gateway?: string; dev?: string }[];
}

/** A process in a node's namespace, with the last 64 KB of its output. */
export interface LabProcess {
  child: ChildProcess;
  output: () => string;
}

let counter = 0;

export class ClusterLab {
  readonly dir: string;
  private readonly namespaces: string[] = [];
  private readonly nodes = new Map<string, string>();
  private readonly procs: LabProcess[] = [];
  private destroyed = false;
  private readonly exitHook = (): void => this.destroySync();
  private readonly signalHook = (sig: NodeJS.Signals): void => {
    this.destroySync();
    process.kill(process.pid, sig);
  };
  private readonly sw: string;

  private constructor(private readonly id: string) {
    this.sw = `${id}-sw`;
    this.dir = mkdtempSync(join(tmpdir(), 'cbcl-'));
  }

  static create(): ClusterLab {
    sweep();
    const lab = new ClusterLab(`${PREFIX}${process.pid}-${counter++}`);
    process.on('exit', lab.exitHook);
    process.once('SIGTERM', lab.signalHook);
    process.once('SIGINT', lab.signalHook);
    try {
      lab.addNamespace(lab.sw);
      ip(['-n', lab.sw, 'link', 'add', 'br0', 'type', 'bridge']);
      ip(['-n', lab.sw, 'link', 'set', 'br0', 'up']);
    } catch (e) {
      lab.destroySync();
      throw e;
    }
    return lab;
  }

  private addNamespace(ns: string): void {
    ip(['netns', 'add', ns]);
    this.namespaces.push(ns);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  }

  /** Adds node `name` at 192.0.2.<octet>/24 on `eth0`; returns its address. */
  addNode(name: string, octet: number): string {
    const ns = `${this.id}-${name}`;
    this.addNamespace(ns);
    const port = `p${octet}`;
    ip(['-n', this.sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    ip(['-n', this.sw, 'link', 'set', port, 'master', 'br0', 'up']);
    const address = `192.0.2.${octet}`;
    ip(['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
    ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    this.nodes.set(name, ns);
    return address;
  }

  ns(name: string): string {
    const ns = this.nodes.get(name);
    if (ns === undefined) throw new Error(`no lab node ${name}`);
    return ns;
  }

  /** Starts a long-running command in a node's namespace (killed by `destroy()`). */
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

  /** Runs a command in a node's namespace to completion (bounded); stdout, or throws with stderr. */
  exec(name: string, cmd: string, args: string[], timeoutMs = 10_000): string {
    const r = spawnSync('ip', ['netns', 'exec', this.ns(name), cmd, ...args], { encoding: 'utf8', timeout: timeoutMs });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} in ${name}: exit ${r.status} ${r.stderr ?? ''}`);
    return r.stdout;
  }

  /** IPv4 routes of `proto` in a node's main table, sorted by destination. */
  routes(name: string, proto: string): KernelRoute[] {
    const all = JSON.parse(ip(['-n', this.ns(name), '-4', '-json', 'route', 'show', 'proto', proto]) || '[]') as (KernelRoute & Record<string, unknown>)[];
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

  /** Writes a file atomically (the file datastore watches it: readers never see half a file). */
  writeAtomic(path: string, text: string): void {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  }

  /** Kills every process (SIGKILL, waited for, bounded), deletes namespaces and the temp dir. Idempotent. */
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
    for (const ns of [...this.namespaces].reverse()) {
      try {
        ip(['netns', 'del', ns]);
      } catch {
        // already gone
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Polls `check` every `intervalMs` until it holds or `timeoutMs` passes; the failure message comes from `explain`. */
export async function until(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>, explain: () => string = () => '', intervalMs = 250): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    let ok = false;
    try {
      ok = await check();
    } catch {
      ok = false;
    }
    if (ok) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${explain()}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** `calico-bgpd status --json` / `routes --json` through a control socket (the socket path works from any namespace). */
export function control<T>(sock: string, args: string[]): T | undefined {
  const r = spawnSync(process.execPath, [CLI, ...args, '--json', '--control-socket', sock], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? (JSON.parse(r.stdout) as T) : undefined;
}

export interface PeerStatus {
  name: string;
  address: string;
  state: string;
  info: string;
}

export interface RouteEntry {
  prefix: string;
  best: boolean;
  nextHops: string[];
  from: string;
  installed: boolean;
}
