/**
 * Cluster labs for issue #6 section 6: one namespace per node
 * (`cbcl-<pid>-<n>-<node>`) on one bridged LAN (see `Lab` in
 * test/support/netns.ts), nodes running real daemons (our speaker with
 * kernel programming on, BIRD, GoBGP), so every node has a kernel of its own
 * to check; and what the cluster tests ask our speaker.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Lab } from '../support/netns.js';

export { netnsAvailable, Lab, type KernelRoute, type LabProcess } from '../support/netns.js';

/** The CLI under test (dist/src/cli.js). */
export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

/** A lab of `cbcl-` namespaces on 192.0.2.0/24 (and `<lan6>::/64` when given), with a temp dir. */
export function clusterLab(lan6?: string): Lab {
  return Lab.create({ prefix: 'cbcl-', lan6 });
}

/** A peer's name in our speaker's status: `prefix` (`Mesh`, `Node`) and the peer's address, `.` and `:` as `_` (`Node_2001_db8_0_1__2`). */
export const peerName = (prefix: string, address: string): string => `${prefix}_${address.replace(/[.:]/g, '_')}`;

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
  multipath: boolean;
  nextHops: string[];
  from: string;
  originatorId?: string;
  clusterList?: string[];
  installed: boolean;
}
