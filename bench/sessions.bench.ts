/**
 * `npm run bench:sessions` (issue #5 section 6): 1,000 concurrent
 * Established sessions against one calico-bgpd speaker process, and the same
 * 1,000 sessions against BIRD 2 and GoBGP in the same run.
 *
 * For each daemon: start it with 1,000 passive iBGP neighbors (hold time
 * 9 s), wait until it is up, note its RSS, start the swarm
 * (support/session-swarm.ts: one Node process, one session per 127.1.x.y
 * source address, KEEPALIVE every 3 s), and measure
 *
 *   - time until the daemon's own CLI reports all sessions Established
 *     (polled; also the swarm's own, finer, view of the same moment),
 *   - CPU seconds the daemon spent getting there,
 *   - RSS after establishment minus RSS before the swarm connected, per
 *     session,
 *   - CPU% over a steady-state window (utime + stime from /proc/PID/stat),
 *     with nobody polling it,
 *
 * then print one table with ratios (ours / BIRD 2, ours / GoBGP) and a
 * verdict per issue target: all Established within 10 s, steady CPU below
 * BIRD's x 2, memory per session below 50 KB.
 *
 *   node dist/bench/sessions.bench.js [--count 1000] [--daemons ours,bird2,gobgp]
 *        [--steady 30] [--settle 5] [--timeout 60] [--concurrency 8] [--poll 500] [--json]
 *
 * Everything runs on loopback; every process is stopped by pid and every
 * temp dir removed on exit, error and Ctrl-C; every wait is bounded.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { alive, cleanup, runAll, sleep, start, stop, tempDir } from './support/lab.js';
import { DAEMON_KINDS, HOLD_TIME, SWARM_AS, type Daemon, type DaemonKind } from './support/session-daemons.js';
import type { SwarmReport } from './support/session-swarm.js';

const SWARM = fileURLToPath(new URL('./support/session-swarm.js', import.meta.url));

interface Options {
  count: number;
  daemons: string[];
  steadyS: number;
  settleS: number;
  timeoutS: number;
  concurrency: number;
  pollMs: number;
  json: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { count: 1000, daemons: ['ours', 'bird2', 'gobgp'], steadyS: 30, settleS: 5, timeoutS: 60, concurrency: 8, pollMs: 500, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const num = () => {
      const n = Number(next());
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${a} needs a positive number`);
      return n;
    };
    switch (a) {
      case '--count':
        o.count = Math.floor(num());
        if (o.count > 62_500) throw new Error('--count: at most 62,500 (127.1.0.0/16 addresses)');
        break;
      case '--daemons':
        o.daemons = next().split(',');
        break;
      case '--steady':
        o.steadyS = num();
        break;
      case '--settle':
        o.settleS = num();
        break;
      case '--timeout':
        o.timeoutS = num();
        break;
      case '--concurrency':
        o.concurrency = Math.floor(num());
        break;
      case '--poll':
        o.pollMs = num();
        break;
      case '--json':
        o.json = true;
        break;
      default:
        throw new Error(`unknown option ${a}`);
    }
  }
  return o;
}

// ---------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------

let clkTck = 100;

/** utime + stime of `pid` in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name is in parentheses and may contain spaces: fields after it.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / clkTck;
}

/** Resident set size of `pid` in KiB. */
function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

// ---------------------------------------------------------------------------
// The swarm, as a child process
// ---------------------------------------------------------------------------

class SwarmProc {
  private constructor(
    private readonly proc: ChildProcess,
    private readonly out: string,
  ) {}

  static start(d: Daemon, o: Options, dir: string): SwarmProc {
    const out = join(dir, 'swarm.out');
    const lifetime = String(Math.ceil(o.timeoutS + o.settleS + o.steadyS + 60));
    const args = [SWARM, '--host', d.host, '--port', String(d.port), '--as', String(SWARM_AS), '--count', String(o.count), '--hold', String(HOLD_TIME), '--concurrency', String(o.concurrency), '--lifetime', lifetime];
    const proc = start('/bin/sh', ['-c', 'ulimit -n 65536 2>/dev/null; exec "$0" "$@"', process.execPath, ...args], out);
    return new SwarmProc(proc, out);
  }

  /** The swarm's latest report line, if any. */
  report(): SwarmReport | undefined {
    let text: string;
    try {
      text = readFileSync(this.out, 'utf8');
    } catch {
      return undefined;
    }
    const lines = text.trimEnd().split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      try {
        const r = JSON.parse(lines[i]!) as SwarmReport;
        if (typeof r.established === 'number') return r;
      } catch {
        /* a partly written line or a stack trace: try the one before */
      }
    }
    return undefined;
  }

  get pid(): number {
    return this.proc.pid ?? 0;
  }

  get running(): boolean {
    return alive(this.proc);
  }

  tail(): string {
    try {
      return readFileSync(this.out, 'utf8').trim().split('\n').slice(-3).join('\n');
    } catch {
      return '(no output)';
    }
  }

  async stop(): Promise<void> {
    await stop(this.proc);
  }
}

// ---------------------------------------------------------------------------
// One daemon
// ---------------------------------------------------------------------------

interface Result {
  id: DaemonKind['id'];
  label: string;
  version: string;
  /** From the swarm's first connect until the daemon's CLI showed all Established (poll resolution). */
  establishS: number | null;
  /** The same moment seen by the swarm (KEEPALIVE received on every session). */
  swarmEstablishS: number | null;
  /** Gap between the last two polls: the daemon got there within this window before establishS. */
  pollResS: number;
  /** Daemon CPU seconds from swarm start until all Established. */
  setupCpuS: number | null;
  /** RSS of the same daemon started with no neighbors at all. */
  rssEmptyKb: number;
  rssBeforeKb: number;
  rssAfterKb: number;
  perSessionKb: number | null;
  /** (RSS after - RSS empty) / count: configuration and session together. */
  perPeerTotalKb: number | null;
  steadyCpuPct: number | null;
  /** Established at the end of the steady window (daemon CLI). */
  endEstablished: number;
  swarm: SwarmReport | undefined;
  error?: string;
}

async function measure(kind: DaemonKind, o: Options): Promise<Result> {
  const r: Result = {
    id: kind.id,
    label: kind.label,
    version: await kind.version(),
    establishS: null,
    swarmEstablishS: null,
    pollResS: 0,
    setupCpuS: null,
    rssEmptyKb: 0,
    rssBeforeKb: 0,
    rssAfterKb: 0,
    perSessionKb: null,
    perPeerTotalKb: null,
    steadyCpuPct: null,
    endEstablished: 0,
    swarm: undefined,
  };
  const log = (msg: string) => process.stderr.write(`[${kind.label}] ${msg}\n`);
  let d: Daemon | undefined;
  let swarm: SwarmProc | undefined;
  try {
    // The daemon with nothing configured, for what a configured neighbor costs.
    const empty = await kind.start(0);
    try {
      await sleep(2000);
      r.rssEmptyKb = rssKb(empty.pid);
    } finally {
      await empty.stop();
    }
    log(`starting with ${o.count} passive neighbors`);
    d = await kind.start(o.count);
    const pid = d.pid;
    await sleep(2000);
    r.rssBeforeKb = rssKb(pid);
    const cpu0 = cpuSeconds(pid);
    log(`up (pid ${pid}, RSS ${(r.rssBeforeKb / 1024).toFixed(1)} MiB); starting the swarm`);
    const dir = tempDir(`bench-sessions-swarm-${kind.id}-`);
    const spawnedAt = Date.now();
    swarm = SwarmProc.start(d, o, dir);

    // Until all are Established, as the daemon's CLI says (bounded).
    const deadline = spawnedAt + o.timeoutS * 1000;
    let lastPoll = spawnedAt;
    let seen = 0;
    for (;;) {
      await sleep(o.pollMs);
      if (!swarm.running) throw new Error(`swarm exited: ${swarm.tail()}`);
      const t = Date.now();
      try {
        seen = await d.established();
      } catch (err) {
        log(`poll failed: ${(err as Error).message}`);
      }
      if (seen === o.count) {
        r.setupCpuS = cpuSeconds(pid) - cpu0;
        // The swarm reports every 250 ms: give its line a moment to catch up.
        let s = swarm.report();
        for (let i = 0; i < 20 && s?.allEstablishedAt == null; i++) {
          await sleep(100);
          s = swarm.report();
        }
        const t0 = s?.startedAt ?? spawnedAt;
        r.establishS = (t - t0) / 1000;
        r.pollResS = (t - lastPoll) / 1000;
        if (s?.allEstablishedAt != null) r.swarmEstablishS = (s.allEstablishedAt - t0) / 1000;
        break;
      }
      lastPoll = t;
      if (t >= deadline) throw new Error(`only ${seen}/${o.count} Established after ${o.timeoutS} s; swarm: ${JSON.stringify(swarm.report())}`);
    }
    log(`all ${o.count} Established after ${r.establishS!.toFixed(2)} s; settling ${o.settleS} s, then ${o.steadyS} s of steady state`);

    // Steady state: nobody asks the daemon anything.
    await sleep(o.settleS * 1000);
    const c0 = cpuSeconds(pid);
    const w0 = process.hrtime.bigint();
    await sleep(o.steadyS * 1000);
    const c1 = cpuSeconds(pid);
    const wall = Number(process.hrtime.bigint() - w0) / 1e9;
    r.steadyCpuPct = ((c1 - c0) / wall) * 100;
    r.rssAfterKb = rssKb(pid);
    r.perSessionKb = (r.rssAfterKb - r.rssBeforeKb) / o.count;
    r.perPeerTotalKb = (r.rssAfterKb - r.rssEmptyKb) / o.count;
    r.endEstablished = await d.established();
    r.swarm = swarm.report();
    log(`steady CPU ${r.steadyCpuPct.toFixed(2)}%, RSS ${(r.rssAfterKb / 1024).toFixed(1)} MiB, ${r.endEstablished} Established, swarm drops ${r.swarm?.drops ?? '?'}`);
  } catch (err) {
    r.error = (err as Error).message.split('\n')[0]!.slice(0, 300);
    log(`FAILED: ${(err as Error).message}${d !== undefined ? `\n  daemon log: ${d.logTail()}` : ''}`);
    r.swarm = swarm?.report();
  } finally {
    await swarm?.stop();
    await d?.stop();
  }
  return r;
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

const fmt = (v: number | null, digits: number) => (v === null ? '-' : v.toFixed(digits));
const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? '-' : `${(a / b).toFixed(2)}x`);

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n');
}

function report(results: Result[], o: Options): void {
  const byId = new Map(results.map((r) => [r.id, r]));
  const ours = byId.get('ours');
  const bird = byId.get('bird2');
  const gobgp = byId.get('gobgp');
  const rows: string[][] = [['daemon', 'version', 'Established s', 'swarm s', 'setup CPU s', 'RSS empty MiB', 'RSS before MiB', 'RSS after MiB', 'KB/session', 'KB/peer all', 'steady CPU %', 'up at end', 'drops']];
  for (const r of results) {
    rows.push(
      r.error !== undefined
        ? [r.label, r.version, 'FAILED', '', '', '', '', '', '', '', '', '', '']
        : [
            r.label,
            r.version,
            fmt(r.establishS, 2),
            fmt(r.swarmEstablishS, 2),
            fmt(r.setupCpuS, 2),
            (r.rssEmptyKb / 1024).toFixed(1),
            (r.rssBeforeKb / 1024).toFixed(1),
            (r.rssAfterKb / 1024).toFixed(1),
            fmt(r.perSessionKb, 1),
            fmt(r.perPeerTotalKb, 1),
            fmt(r.steadyCpuPct, 2),
            `${r.endEstablished}/${o.count}`,
            String(r.swarm?.drops ?? '?'),
          ],
    );
  }
  for (const [name, other] of [['ours / BIRD 2', bird], ['ours / GoBGP', gobgp]] as const) {
    if (ours === undefined || other === undefined || ours.error !== undefined || other.error !== undefined) continue;
    rows.push([
      name,
      '',
      ratio(ours.establishS, other.establishS),
      ratio(ours.swarmEstablishS, other.swarmEstablishS),
      ratio(ours.setupCpuS, other.setupCpuS),
      ratio(ours.rssEmptyKb, other.rssEmptyKb),
      ratio(ours.rssBeforeKb, other.rssBeforeKb),
      ratio(ours.rssAfterKb, other.rssAfterKb),
      ratio(ours.perSessionKb, other.perSessionKb),
      ratio(ours.perPeerTotalKb, other.perPeerTotalKb),
      ratio(ours.steadyCpuPct, other.steadyCpuPct),
      '',
      '',
    ]);
  }
  process.stdout.write(`\n${o.count} sessions, hold ${HOLD_TIME} s, iBGP AS ${SWARM_AS}, swarm setup concurrency ${o.concurrency}, steady window ${o.steadyS} s after ${o.settleS} s settle\n\n`);
  process.stdout.write(table(rows) + '\n\n');
  for (const r of results) {
    if (r.error !== undefined) process.stdout.write(`${r.label} FAILED: ${r.error}\n`);
    const s = r.swarm;
    if (s !== undefined && (s.setupFailures > 0 || s.slowConnects > 0 || s.drops > 0)) {
      process.stdout.write(`${r.label}: swarm saw ${s.setupFailures} failed setups (retried), ${s.slowConnects} slow connects (SYN retransmit), ${s.drops} drops; last: ${s.lastErrors.join(' | ')}\n`);
    }
  }

  if (ours === undefined || ours.error !== undefined) {
    process.stdout.write('targets: not judged (calico-bgpd did not complete)\n');
    if (ours !== undefined) process.exitCode = 1;
    return;
  }
  const verdict = (ok: boolean | null) => (ok === null ? 'n/a ' : ok ? 'PASS' : 'FAIL');
  const line = (what: string, ok: boolean | null, detail: string) => process.stdout.write(`  ${what.padEnd(40)}${verdict(ok)}  ${detail}\n`);
  const stable = ours.endEstablished === o.count && (ours.swarm?.drops ?? 1) === 0;
  process.stdout.write('targets (issue #5 section 6):\n');
  line(`all ${o.count} Established within 10 s`, ours.establishS !== null ? ours.establishS <= 10 : null, `${fmt(ours.establishS, 2)} s by CLI poll, ${fmt(ours.swarmEstablishS, 2)} s seen by the swarm`);
  const birdOk = bird !== undefined && bird.error === undefined && bird.steadyCpuPct !== null && ours.steadyCpuPct !== null;
  line('steady CPU below BIRD 2 x 2', birdOk ? ours.steadyCpuPct! < 2 * bird!.steadyCpuPct! : null, `${fmt(ours.steadyCpuPct, 2)}% vs ${birdOk ? `2 x ${fmt(bird!.steadyCpuPct, 2)}%` : 'no BIRD 2 figure'}`);
  // Judged on the larger of the two figures: a V8 heap already grown by
  // start-up garbage can absorb the sessions and hide them from the RSS delta.
  const memKb = ours.perSessionKb === null || ours.perPeerTotalKb === null ? null : Math.max(ours.perSessionKb, ours.perPeerTotalKb);
  line('memory per session below 50 KB', memKb !== null ? memKb < 50 : null, `${fmt(ours.perSessionKb, 1)} KB RSS delta, ${fmt(ours.perPeerTotalKb, 1)} KB with the neighbor's configuration`);
  line('no session lost in the steady window', stable, `${ours.endEstablished}/${o.count} up at the end, ${ours.swarm?.drops ?? '?'} drops`);
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  clkTck = Number((await runAll('getconf', ['CLK_TCK'])).trim()) || 100;
  const results: Result[] = [];
  for (const id of o.daemons) {
    const kind = DAEMON_KINDS.find((k) => k.id === id);
    if (kind === undefined) throw new Error(`unknown daemon "${id}" (ours, bird2, gobgp)`);
    const missing = kind.missing();
    if (missing !== undefined) {
      process.stderr.write(`[${kind.label}] skipped: ${missing}\n`);
      continue;
    }
    results.push(await measure(kind, o));
  }
  report(results, o);
  if (o.json) process.stdout.write(JSON.stringify({ options: o, results }) + '\n');
}

try {
  await main();
} catch (err) {
  process.stderr.write(`bench:sessions: ${(err as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
