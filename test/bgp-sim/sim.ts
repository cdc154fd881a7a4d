/**
 * `npm run sim`: a Calico-shaped cluster of N simulated nodes around R route
 * reflectors, for each reflector implementation in turn (our speaker, BIRD 2
 * and BIRD 1.6 configured by our confd), with a table of phase times, CPU,
 * memory and traffic and ratios to BIRD 2. See test/bgp-sim/README.md.
 *
 *   node dist/test/bgp-sim/sim.js [--nodes 1000[,5000]] [--blocks 2] [--reflectors 2]
 *        [--rrs calico,bird2,bird1] [--events 20] [--timeout 600] [--parallel 100]
 *        [--seed 1] [--listen off|on|auto] [--ipv6] [--json]
 *
 * `--ipv6`: a dual-stack cluster, every node also announcing K IPv6 /122
 * blocks over IPv6 sessions between IPv6 addresses on the namespace's `lo`.
 *
 * Needs root: the process creates a network namespace (cbsim<pid>-0), runs
 * itself inside it (`ip netns exec`), and deletes it at the end, on error
 * and on Ctrl-C. Exit status 1 when any run failed or ended with a node
 * holding the wrong routes.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { cleanup } from '../../bench/support/lab.js';
import { ip, sweepStaleNamespaces } from '../support/netns.js';
import { fmt, markdownTable, openFileLimit, ratio } from './proc-stats.js';
import { SIM_RR_IDS, SIM_RR_LABELS, simRrMissing, simRrVersion, type SimRrId } from './sim-reflectors.js';
import { runSimulation, type SimResult } from './sim-run.js';
import { MAX_NODES, NODE6_NET, NODE_NET, nodeAddress6, reflectorAddress6 } from './sim-topology.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}

function int(name: string, def: string, min: number, max: number): number {
  const v = Number(arg(name, def));
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${name}: ${arg(name, def)} is not an integer in [${min}, ${max}]`);
  return v;
}

interface Options {
  sizes: number[];
  k: number;
  r: number;
  rrs: SimRrId[];
  events: number;
  timeoutS: number;
  parallel: number;
  seed: number;
  json: boolean;
  listen: 'auto' | 'on' | 'off';
  ipv6: boolean;
}

function options(): Options {
  const sizes = arg('--nodes', '1000').split(',').map((s) => Number(s.trim().replace(/_/g, '')));
  if (sizes.some((n) => !Number.isInteger(n) || n < 2 || n > MAX_NODES)) throw new Error(`--nodes: each size must be an integer in [2, ${MAX_NODES}]`);
  const rrs = arg('--rrs', SIM_RR_IDS.join(',')).split(',').map((s) => s.trim() as SimRrId);
  const unknown = rrs.find((x) => !SIM_RR_IDS.includes(x));
  if (unknown !== undefined) throw new Error(`--rrs: unknown "${unknown}" (known: ${SIM_RR_IDS.join(',')})`);
  return {
    sizes,
    k: int('--blocks', '2', 1, 64),
    r: int('--reflectors', '2', 1, 4),
    rrs,
    events: int('--events', '20', 0, 10_000),
    timeoutS: int('--timeout', '600', 1, 86_400),
    parallel: int('--parallel', '100', 1, 10_000),
    seed: int('--seed', '1', 0, 0xffffffff),
    json: process.argv.includes('--json'),
    ipv6: process.argv.includes('--ipv6'),
    listen: listenMode(arg('--listen', 'off')),
  };
}

function listenMode(v: string): 'auto' | 'on' | 'off' {
  if (v !== 'auto' && v !== 'on' && v !== 'off') throw new Error(`--listen: "${v}" is not auto, on or off`);
  return v;
}

// ---------------------------------------------------------------------------
// Outside the namespace: create it, run ourselves inside, delete it
// ---------------------------------------------------------------------------

const NS_PREFIX = 'cbsim';
const PRLIMIT = '/usr/bin/prlimit';

/**
 * The IPv6 addresses of the reflectors and of the largest size's nodes, on
 * the namespace's `lo` (one `ip -batch` run), and the nodes' range in the
 * main table, where BIRD's kernel protocol learns it to resolve their next
 * hops (as it does for IPv4). IPv6 keeps the local and main tables apart.
 */
function addIpv6Addresses(ns: string, n: number, r: number): void {
  const lines: string[] = [];
  for (let j = 0; j < r; j++) lines.push(`addr add ${reflectorAddress6(j)}/128 dev lo nodad`);
  for (let i = 0; i < n; i++) lines.push(`addr add ${nodeAddress6(i)}/128 dev lo nodad`);
  lines.push(`route add ${NODE6_NET} dev lo`);
  ipBatch(ns, lines);
}

function ipBatch(ns: string, lines: readonly string[]): void {
  const res = spawnSync('ip', ['-6', '-n', ns, '-batch', '-'], { input: `${lines.join('\n')}\n`, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`ip -batch in ${ns} failed (${res.status}): ${(res.stderr ?? '').trim().split('\n').slice(0, 3).join(' | ')}`);
}

async function outside(o: Options): Promise<number> {
  if (process.getuid?.() !== 0) throw new Error('needs root (it creates a network namespace)');
  sweepStaleNamespaces(NS_PREFIX);
  const ns = `${NS_PREFIX}${process.pid}-0`;
  ip(['netns', 'add', ns]);
  const remove = (): void => {
    try {
      ip(['netns', 'del', ns]);
    } catch {
      // already gone
    }
  };
  process.on('exit', remove);
  try {
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    // BIRD resolves iBGP next hops through routes it learns from the kernel's
    // main table, so the nodes' range goes there. While no policy rule exists
    // the kernel merges the local and main tables, and that /16 would then
    // shadow the local 127/8 (binding a node address fails); one rule that
    // looks up an empty table keeps them apart, the local table first.
    ip(['-n', ns, 'rule', 'add', 'pref', '100', 'lookup', '100']);
    ip(['-n', ns, 'route', 'add', NODE_NET, 'dev', 'lo']);
    if (o.ipv6) addIpv6Addresses(ns, Math.max(...o.sizes), o.r);
    // Listening nodes need about 3 x N x R sockets per family in this one process (see
    // inside()); root may raise its own open-file limit that far for the run.
    const want = Math.max(...o.sizes) * o.r * (o.ipv6 ? 2 : 1) * 3 + 256;
    const raise = o.listen !== 'off' && want > openFileLimit() && existsSync(PRLIMIT) ? [PRLIMIT, `--nofile=${want}:${want}`, '--'] : [];
    const child = spawn(raise[0] ?? 'ip', [...raise.slice(1), ...(raise.length > 0 ? ['ip'] : []), 'netns', 'exec', ns, process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, SIM_NETNS: ns },
    });
    const forward = (sig: NodeJS.Signals): void => {
      child.kill(sig);
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const code = await new Promise<number>((resolve) => child.once('exit', (c, s) => resolve(c ?? (s === null ? 1 : 128 + 15))));
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    return code;
  } finally {
    remove();
  }
}

// ---------------------------------------------------------------------------
// Inside: run every size and implementation, print the table
// ---------------------------------------------------------------------------

const pct = (xs: readonly number[], p: number): number | undefined => {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const p50p99 = (xs: readonly number[]): string => (xs.length === 0 ? '-' : `${fmt(pct(xs, 50), 0)} / ${fmt(pct(xs, 99), 0)}`);

/** The table of test/bgp-sim/README.md: one row per size and implementation, ratios to BIRD 2. */
export function simTable(rows: readonly SimResult[]): string {
  const head = ['reflector', 'N x K', 'est s', 'conv s', 'add ms p50/p99', 'remove ms', 'leave ms', 'join ms', 'restart s', 'CPU s', 'conv CPU s', 'peak RSS MB', 'MB sent', 'UPDATEs', 'harness CPU s', 'conv/BIRD2', 'CPU/BIRD2', 'RSS/BIRD2', 'check'];
  const body = rows.map((r) => {
    const base = rows.find((b) => b.rr === 'bird2' && b.n === r.n && b.k === r.k && b.families.length === r.families.length && b.convergeS !== undefined);
    const ok = r.error === undefined && r.missing + r.extra + r.badNextHop + r.foreign === 0;
    return [
      SIM_RR_LABELS[r.rr],
      `${r.n.toLocaleString('en-US')} x ${r.k}${r.families.includes(6) ? ' v4+v6' : ''}`,
      fmt(r.establishS, 2),
      fmt(r.convergeS, 2),
      p50p99(r.churnMs.add),
      p50p99(r.churnMs.remove),
      p50p99(r.churnMs.leave),
      p50p99(r.churnMs.join),
      r.restartS.length === 0 ? '-' : r.restartS.map((x) => x.toFixed(1)).join(', '),
      fmt(r.cpuS, 1),
      fmt(r.convergeCpuS, 1),
      fmt(r.peakKb / 1024, 1),
      fmt(r.bytesSent / 1e6, 1),
      r.updatesSent.toLocaleString('en-US'),
      fmt(r.harnessCpuS, 1),
      ratio(r.convergeS, base?.convergeS),
      ratio(r.cpuS, base?.cpuS),
      ratio(r.peakKb, base?.peakKb),
      ok ? 'ok' : 'FAILED',
    ];
  });
  const out = [markdownTable(head, body, 2)];
  const problems = rows.filter((r) => r.error !== undefined).map((r) => `  ${SIM_RR_LABELS[r.rr]} ${r.n}: ${r.error}`);
  if (problems.length > 0) out.push('', 'problems:', ...problems);
  return out.join('\n');
}

async function inside(o: Options): Promise<number> {
  const limit = openFileLimit();
  const fams = o.ipv6 ? 2 : 1;
  const need = Math.max(...o.sizes) * o.r * fams + 256;
  if (need > limit) throw new Error(`open-file limit ${limit} is too low for ${Math.max(...o.sizes)} nodes x ${o.r} reflectors x ${fams} families (raise ulimit -n to at least ${need})`);
  // Listening takes a socket per node plus the reflectors' dials held open (up to N x R), per family.
  const listens = (n: number): boolean => (o.listen === 'auto' ? n * o.r * fams * 3 + 256 <= limit : o.listen === 'on');
  const kinds: SimRrId[] = [];
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  for (const id of o.rrs) {
    const why = simRrMissing(id, o.ipv6);
    if (why !== undefined) log(`skipping ${SIM_RR_LABELS[id]}: ${why}`);
    else kinds.push(id);
  }
  log(`Calico cluster simulation: N nodes x ${o.k} /26${o.ipv6 ? ` + ${o.k} /122` : ''} blocks, ${o.r} route reflectors, ${o.events} churn events of each kind, in netns ${process.env.SIM_NETNS}`);
  for (const id of kinds) log(`  ${SIM_RR_LABELS[id].padEnd(12)} ${await simRrVersion(id)}`);
  log(`  open files ${limit}, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}, timeout ${o.timeoutS} s per phase`);
  const rows: SimResult[] = [];
  for (const n of o.sizes) {
    for (const id of kinds) {
      log(`${SIM_RR_LABELS[id]} x ${o.r}, ${n} nodes:`);
      if (!listens(n)) log(`  nodes do not listen on port 179 (--listen ${o.listen}): the reflectors' dials are refused`);
      const r = await runSimulation(id, { n, listen: listens(n), k: o.k, r: o.r, ipv6: o.ipv6, events: o.events, timeoutMs: o.timeoutS * 1000, parallel: o.parallel, seed: o.seed, progress: (l) => log(`  ${l}`) });
      if (r.error !== undefined) log(`  FAILED: ${r.error}`);
      rows.push(r);
    }
  }
  process.stdout.write(`\n${simTable(rows)}\n\nload ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end\n`);
  if (o.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
  return rows.every((r) => r.error === undefined && r.missing + r.extra + r.badNextHop + r.foreign === 0) && rows.length > 0 ? 0 : 1;
}

async function main(): Promise<void> {
  const o = options();
  process.exitCode = process.env.SIM_NETNS === undefined ? await outside(o) : await inside(o);
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`sim: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
