/**
 * One network namespace per test for the kernel FIB tests: `cbfib-<pid>-<n>`,
 * with a veth pair (`veth0` 192.0.2.1/24 + 2001:db8:1::1/64, `veth1`) and a
 * stand-in `tunl0`. Deleted by `destroy()`, by an exit hook if the test dies
 * first, and by the sweep of the next run if the whole process was killed.
 *
 * `tunl0` is a veth here: this machine's kernel has no ipip module. For the
 * FIB a tunnel is only an interface index plus the onlink flag, which any
 * interface type carries the same way.
 */
import { execFileSync } from 'node:child_process';

const PREFIX = 'cbfib-';

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

/** Deletes `cbfib-<pid>-*` namespaces whose process is gone. */
export function sweep(): void {
  let list = '';
  try {
    list = ip(['netns', 'list']);
  } catch {
    return;
  }
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = /^cbfib-(\d+)-/.exec(name);
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

let counter = 0;
const live = new Set<string>();
let hooked = false;

function deleteSync(name: string): void {
  try {
    ip(['netns', 'del', name]);
  } catch {
    // already gone
  }
  live.delete(name);
}

/** A route as `ip -json route show` gives it, reduced to what the tests compare. */
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

export class TestNs {
  readonly path: string;
  private constructor(readonly name: string) {
    this.path = `/run/netns/${name}`;
  }

  /** Creates the namespace with lo, veth0/veth1 and tunl0/tunl0p up. */
  static create(): TestNs {
    if (!hooked) {
      hooked = true;
      process.on('exit', () => [...live].forEach(deleteSync));
      sweep();
    }
    const ns = new TestNs(`${PREFIX}${process.pid}-${counter++}`);
    ip(['netns', 'add', ns.name]);
    live.add(ns.name);
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
    deleteSync(this.name);
  }
}
