/**
 * The reflectors under test in `npm run sim`, all configured from the same
 * file datastore (sim-topology.ts), one process per reflector node:
 *
 *   calico  node dist/src/cli.js speaker --role reflector --node rr-<j>
 *   bird2   BIRD 2, config rendered by our `confd --flavor bird2 --node rr-<j>`
 *   bird1   BIRD 1.6, config rendered by our `confd --flavor bird1 --node rr-<j>`
 *           (bird.cfg; with --ipv6 also bird6 on bird6.cfg, as calico-node
 *           runs both: the reflector node is then two processes)
 *
 * BIRD is started as calico-node starts it, with -R (graceful-restart
 * recovery: wait for the peers' End-of-RIBs before the first export). Every
 * process has its own dir (config, control socket, log). A restart is
 * SIGKILL and a new process on the same config: the sessions drop without a
 * NOTIFICATION, as when a reflector node dies, so the nodes keep its routes
 * as stale (RFC 4724).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { alive, run, runAll, start, stop } from '../../bench/support/lab.js';
import { DAEMON_NODE_FLAGS } from '../../src/runtime-flags.js';
import { BIRD1, BIRD6 } from '../support/bird.js';
import { sample } from './proc-stats.js';
import { reflectorName } from './sim-topology.js';

export type SimRrId = 'calico' | 'bird2' | 'bird1';
export const SIM_RR_IDS: readonly SimRrId[] = ['calico', 'bird2', 'bird1'];

const BIRD2 = join(process.env.BIRD2_PREFIX ?? '/var/cache/calico-bgpd-test/bird2', 'usr/sbin/bird');
const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export const SIM_RR_LABELS: Readonly<Record<SimRrId, string>> = { calico: 'calico-bgpd', bird2: 'BIRD 2', bird1: 'BIRD 1.6' };

/** Why an implementation cannot run here, or undefined. */
export function simRrMissing(id: SimRrId, ipv6 = false): string | undefined {
  if (id === 'calico') return existsSync(CLI) ? undefined : `${CLI} not built`;
  if (id === 'bird1' && ipv6 && !existsSync(BIRD6)) return `${BIRD6} not installed (BIRD 1.6 needs bird6 for IPv6)`;
  const bin = id === 'bird2' ? BIRD2 : BIRD1;
  return existsSync(bin) ? undefined : `${bin} not installed${id === 'bird2' ? ' (scripts/install-bird2.sh)' : ''}`;
}

export async function simRrVersion(id: SimRrId): Promise<string> {
  if (id === 'calico') return `node ${process.versions.node}`;
  return /BIRD version (\S+)/.exec(await runAll(id === 'bird2' ? BIRD2 : BIRD1, ['--version']))?.[1] ?? '?';
}

/** One daemon of a reflector node (BIRD 1.6 with IPv6 runs two: bird and bird6). */
interface Daemon {
  cmd: string;
  args: readonly string[];
  log: string;
  proc?: ChildProcess;
  /** Peak RSS of this daemon's processes so far. */
  hwmKb: number;
}

/**
 * One reflector node: its daemons (restartable) and the CPU and peak RSS of
 * all their processes so far (sampled while they run: a killed process's
 * /proc is gone). The node's peak RSS is the sum of its daemons' peaks.
 */
export class SimReflector {
  private cpuDone = 0;

  private constructor(
    readonly id: SimRrId,
    readonly j: number,
    private readonly dir: string,
    private readonly daemons: readonly Daemon[],
  ) {}

  /**
   * A daemon whose log is `<name>.log` in the reflector's dir, or with
   * SIM_LOG_DIR set, `<id>-rr-<j>.log` there (`<id>-rr-<j>-bird6.log` for
   * bird6), kept after the run (the temp dir goes).
   */
  private static daemon(id: SimRrId, j: number, dir: string, cmd: string, args: readonly string[], name: string): Daemon {
    const keep = process.env.SIM_LOG_DIR;
    const suffix = name === 'bird6' ? '-bird6' : '';
    const log = keep !== undefined && keep !== '' ? join(keep, `${id}-${reflectorName(j)}${suffix}.log`) : join(dir, `${name}.log`);
    return { cmd, args, log, hwmKb: 0 };
  }

  /** Writes reflector j's config from the datastore file (BIRD: through confd). */
  static async prepare(id: SimRrId, j: number, datastore: string, parent: string, ipv6 = false): Promise<SimReflector> {
    const dir = join(parent, `${id}-${reflectorName(j)}`);
    mkdirSync(dir, { recursive: true });
    if (id === 'calico') {
      const args = [...DAEMON_NODE_FLAGS, ...(process.env.SIM_NODE_ARGS ?? '').split(' ').filter((a) => a !== ''), CLI, 'speaker', '--role', 'reflector', '--node', reflectorName(j), '--datastore-file', datastore, '--control-socket', join(dir, 'ctl')];
      return new SimReflector(id, j, dir, [SimReflector.daemon(id, j, dir, process.execPath, args, 'daemon')]);
    }
    await run(process.execPath, [CLI, 'confd', '--onetime', '--sync-only', '--flavor', id, '--node', reflectorName(j), '--datastore-file', datastore, '--dest-dir', dir], 120_000);
    const bird = (name: string, bin: string): Daemon =>
      SimReflector.daemon(id, j, dir, bin, ['-f', '-R', '-c', join(dir, `${name}.cfg`), '-s', join(dir, `${name}.ctl`), '-P', join(dir, `${name}.pid`)], name);
    if (id === 'bird2') return new SimReflector(id, j, dir, [bird('bird', BIRD2)]);
    return new SimReflector(id, j, dir, ipv6 ? [bird('bird', BIRD1), bird('bird6', BIRD6)] : [bird('bird', BIRD1)]);
  }

  /** The error if a current process has exited on its own. */
  dead(): Error | undefined {
    for (const d of this.daemons) {
      const p = d.proc;
      if (p === undefined || alive(p)) continue;
      return new Error(`${SIM_RR_LABELS[this.id]} ${reflectorName(this.j)} (${d.cmd}) exited (${p.exitCode ?? p.signalCode}); log: ${logTail(d.log)}`);
    }
    return undefined;
  }

  launch(): void {
    for (const d of this.daemons) {
      writeFileSync(d.log, `--- start ${new Date().toISOString()}\n`, { flag: 'a' });
      d.proc = start(d.cmd, [...d.args], d.log, { cwd: this.dir, env: { ...process.env, BGP_LOGSEVERITYSCREEN: process.env.SIM_LOG_LEVEL ?? 'warning' } });
    }
  }

  /** Samples CPU and peak RSS; call it often enough that the peak of a process about to be killed is caught. */
  poll(): { cpuS: number; hwmKb: number } {
    let cpu = 0;
    for (const d of this.daemons) {
      const p = d.proc;
      if (p?.pid === undefined || !alive(p)) continue;
      try {
        const s = sample(p.pid);
        // A process killed but not yet reaped has no memory lines (NaN).
        if (Number.isFinite(s.cpuS)) cpu += s.cpuS;
        if (Number.isFinite(s.hwmKb)) d.hwmKb = Math.max(d.hwmKb, s.hwmKb);
      } catch {
        // exited between the check and the read
      }
    }
    return { cpuS: this.cpuDone + cpu, hwmKb: this.daemons.reduce((sum, d) => sum + d.hwmKb, 0) };
  }

  /** SIGKILL to every daemon (after a last sample), waiting for the exits: the reflector node dies. */
  async kill(): Promise<void> {
    this.cpuDone = this.poll().cpuS;
    await Promise.all(
      this.daemons.map(async (d) => {
        const p = d.proc;
        d.proc = undefined;
        if (p === undefined || !alive(p)) return;
        const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
        p.kill('SIGKILL');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      }),
    );
  }

  /** Stops every daemon (SIGTERM, then SIGKILL), after a last sample. */
  async stop(): Promise<void> {
    this.cpuDone = this.poll().cpuS;
    await Promise.all(
      this.daemons.map(async (d) => {
        const p = d.proc;
        d.proc = undefined;
        if (p !== undefined) await stop(p);
      }),
    );
  }
}

function logTail(log: string, lines = 5): string {
  try {
    return readFileSync(log, 'utf8').trim().split('\n').slice(-lines).join(' | ');
  } catch {
    return '(no log)';
  }
}
