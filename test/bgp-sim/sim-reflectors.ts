/**
 * The reflectors under test in `npm run sim`, all configured from the same
 * file datastore (sim-topology.ts), one process per reflector node:
 *
 *   calico  node dist/src/cli.js speaker --role reflector --node rr-<j>
 *   bird2   BIRD 2, config rendered by our `confd --flavor bird2 --node rr-<j>`
 *   bird1   BIRD 1.6, config rendered by our `confd --flavor bird1 --node rr-<j>`
 *           (bird.cfg only: the cluster is IPv4, so no bird6)
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
import { sample } from './proc-stats.js';
import { reflectorName } from './sim-topology.js';

export type SimRrId = 'calico' | 'bird2' | 'bird1';
export const SIM_RR_IDS: readonly SimRrId[] = ['calico', 'bird2', 'bird1'];

const BIRD2 = join(process.env.BIRD2_PREFIX ?? '/var/cache/calico-bgpd-test/bird2', 'usr/sbin/bird');
const BIRD1 = '/usr/sbin/bird';
const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export const SIM_RR_LABELS: Readonly<Record<SimRrId, string>> = { calico: 'calico-bgpd', bird2: 'BIRD 2', bird1: 'BIRD 1.6' };

/** Why an implementation cannot run here, or undefined. */
export function simRrMissing(id: SimRrId): string | undefined {
  if (id === 'calico') return existsSync(CLI) ? undefined : `${CLI} not built`;
  const bin = id === 'bird2' ? BIRD2 : BIRD1;
  return existsSync(bin) ? undefined : `${bin} not installed${id === 'bird2' ? ' (scripts/install-bird2.sh)' : ''}`;
}

export async function simRrVersion(id: SimRrId): Promise<string> {
  if (id === 'calico') return `node ${process.versions.node}`;
  return /BIRD version (\S+)/.exec(await runAll(id === 'bird2' ? BIRD2 : BIRD1, ['--version']))?.[1] ?? '?';
}

/**
 * One reflector node: its process (restartable) and the CPU and peak RSS of
 * all its processes so far (sampled while they run: a killed process's
 * /proc is gone).
 */
export class SimReflector {
  private proc: ChildProcess | undefined;
  private cpuDone = 0;
  private hwmKb = 0;
  private readonly log: string;

  private constructor(
    readonly id: SimRrId,
    readonly j: number,
    private readonly dir: string,
    private readonly cmd: string,
    private readonly args: readonly string[],
  ) {
    // SIM_LOG_DIR keeps the daemons' logs after the run (the temp dir goes).
    const keep = process.env.SIM_LOG_DIR;
    this.log = keep !== undefined && keep !== '' ? join(keep, `${id}-${reflectorName(j)}.log`) : join(dir, 'daemon.log');
  }

  /** Writes reflector j's config from the datastore file (BIRD: through confd). */
  static async prepare(id: SimRrId, j: number, datastore: string, parent: string): Promise<SimReflector> {
    const dir = join(parent, `${id}-${reflectorName(j)}`);
    mkdirSync(dir, { recursive: true });
    if (id === 'calico') {
      const args = [...DAEMON_NODE_FLAGS, ...(process.env.SIM_NODE_ARGS ?? '').split(' ').filter((a) => a !== ''), CLI, 'speaker', '--role', 'reflector', '--node', reflectorName(j), '--datastore-file', datastore, '--control-socket', join(dir, 'ctl')];
      return new SimReflector(id, j, dir, process.execPath, args);
    }
    await run(process.execPath, [CLI, 'confd', '--onetime', '--sync-only', '--flavor', id, '--node', reflectorName(j), '--datastore-file', datastore, '--dest-dir', dir], 120_000);
    const bin = id === 'bird2' ? BIRD2 : BIRD1;
    return new SimReflector(id, j, dir, bin, ['-f', '-R', '-c', join(dir, 'bird.cfg'), '-s', join(dir, 'bird.ctl'), '-P', join(dir, 'bird.pid')]);
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** The error if the current process has exited on its own. */
  dead(): Error | undefined {
    const p = this.proc;
    if (p === undefined || alive(p)) return undefined;
    return new Error(`${SIM_RR_LABELS[this.id]} ${reflectorName(this.j)} exited (${p.exitCode ?? p.signalCode}); log: ${this.logTail()}`);
  }

  logTail(lines = 5): string {
    try {
      return readFileSync(this.log, 'utf8').trim().split('\n').slice(-lines).join(' | ');
    } catch {
      return '(no log)';
    }
  }

  launch(): void {
    writeFileSync(this.log, `--- start ${new Date().toISOString()}\n`, { flag: 'a' });
    this.proc = start(this.cmd, [...this.args], this.log, { cwd: this.dir, env: { ...process.env, BGP_LOGSEVERITYSCREEN: process.env.SIM_LOG_LEVEL ?? 'warning' } });
  }

  /** Samples CPU and peak RSS; call it often enough that the peak of a process about to be killed is caught. */
  poll(): { cpuS: number; hwmKb: number } {
    const pid = this.proc?.pid;
    let cpu = 0;
    if (pid !== undefined && this.proc !== undefined && alive(this.proc)) {
      try {
        const s = sample(pid);
        // A process killed but not yet reaped has no memory lines (NaN).
        if (Number.isFinite(s.cpuS)) cpu = s.cpuS;
        if (Number.isFinite(s.hwmKb)) this.hwmKb = Math.max(this.hwmKb, s.hwmKb);
      } catch {
        // exited between the check and the read
      }
    }
    return { cpuS: this.cpuDone + cpu, hwmKb: this.hwmKb };
  }

  /** SIGKILL (after a last sample), waiting for the exit. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (p === undefined) return;
    this.cpuDone = this.poll().cpuS;
    this.proc = undefined;
    if (!alive(p)) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGKILL');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  }

  /** Stops the process (SIGTERM, then SIGKILL), after a last sample. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (p === undefined) return;
    this.cpuDone = this.poll().cpuS;
    this.proc = undefined;
    await stop(p);
  }
}
