/**
 * Multi-host labs in network namespaces: a "switch" namespace with a bridge,
 * and hosts joined to it by veth pairs, numbered from the documentation
 * ranges. Everything lives in namespaces this process created; nothing is
 * added to the root namespace (the veth pairs are created inside the switch
 * namespace and one end is moved into the host).
 *
 * Cleanup is guaranteed three ways: `destroy()` (call it from `after()`),
 * a synchronous `process.on('exit')` hook for crashes in between, and a
 * sweep at creation of namespaces left by earlier test processes that are
 * no longer alive (names carry the creator's PID).
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

const PREFIX = 'cbgpd';

function ip(args: string[], input?: string): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], ...(input !== undefined ? { input } : {}) });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes lab namespaces whose creating process is gone. */
export function sweepStaleNamespaces(): void {
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

/** True when this process may create namespaces (root, `ip` present). */
export function netnsAvailable(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    ip(['netns', 'list']);
    return true;
  } catch {
    return false;
  }
}

export interface LabHost {
  /** Short name given by the test (`n1`). */
  name: string;
  /** Namespace name. */
  ns: string;
  /** The host's address on the lab LAN (IPv4) and its /24. */
  address: string;
  /** Interface name inside the host. */
  ifname: string;
}

let labCounter = 0;

export class Lab {
  readonly hosts = new Map<string, LabHost>();
  private readonly namespaces: string[] = [];
  private readonly procs: ChildProcess[] = [];
  private readonly exitHook = () => this.destroySync();
  /** Killed by the test runner (timeout) or ^C: clean up, then die of the same signal. */
  private readonly signalHook = (sig: NodeJS.Signals) => {
    this.destroySync();
    process.kill(process.pid, sig);
  };
  readonly switchNs: string;
  private destroyed = false;

  /** `lan`: the first three octets of the /24 (default `192.0.2`). */
  private constructor(
    readonly id: string,
    readonly lan: string,
  ) {
    this.switchNs = `${id}-sw`;
  }

  static create(lan = '192.0.2'): Lab {
    sweepStaleNamespaces();
    const lab = new Lab(`${PREFIX}${process.pid}-${labCounter++}`, lan);
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
    ip(['netns', 'add', ns]);
    this.namespaces.push(ns);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  }

  /** Adds a host with address `<lan>.<octet>/24` on `eth0`. */
  addHost(name: string, octet: number): LabHost {
    const ns = `${this.id}-${name}`;
    this.addNamespace(ns);
    const port = `p${this.hosts.size}`;
    ip(['-n', this.switchNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    ip(['-n', this.switchNs, 'link', 'set', port, 'master', 'br0', 'up']);
    const address = `${this.lan}.${octet}`;
    ip(['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
    ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    const host = { name, ns, address, ifname: 'eth0' };
    this.hosts.set(name, host);
    return host;
  }

  host(name: string): LabHost {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no lab host ${name}`);
    return h;
  }

  /** Runs a command in a host's namespace and returns its stdout. */
  exec(name: string, cmd: string, args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', this.host(name).ns, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /**
   * Starts a long-running process in a host's namespace; killed by
   * `destroy()`. `ip netns exec` execs the command, so the PID is the command's.
   */
  spawn(name: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', this.host(name).ns, cmd, ...args], { stdio: 'ignore', ...opts });
    this.procs.push(p);
    return p;
  }

  /** IPv4 routes of a host's main table, one line each (`ip -4 route`). */
  routes(name: string): string[] {
    return this.exec(name, 'ip', ['-4', 'route', 'show']).split('\n').filter((l) => l !== '');
  }

  /** Kills every process, waits for them, deletes the namespaces. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    const waits = this.procs
      .filter((p) => p.exitCode === null && p.signalCode === null)
      .map((p) => new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 3000);
        p.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        p.kill('SIGKILL');
      }));
    await Promise.all(waits);
    this.destroySync();
  }

  private destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.off('exit', this.exitHook);
    process.off('SIGTERM', this.signalHook);
    process.off('SIGINT', this.signalHook);
    for (const p of this.procs) {
      if (p.exitCode === null && p.signalCode === null) {
        try {
          p.kill('SIGKILL');
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
  }
}
