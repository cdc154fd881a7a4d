/**
 * One run of the Calico cluster simulation against one reflector
 * implementation: R reflector processes, N simulated nodes, and the phases
 * of test/bgp-sim/README.md, each timed, each followed by a full check of
 * every node's routes. With `ipv6` every node also announces its blocks
 * over IPv6 sessions (a second fleet, sim-families.ts), and every check
 * covers both families.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../bench/support/lab.js';
import { Fleet } from './sim-fleet.js';
import { Fleets } from './sim-fleets.js';
import { IPV4, IPV6 } from './sim-families.js';
import { SimReflector, type SimRrId } from './sim-reflectors.js';
import { clusterDatastore } from './sim-topology.js';

export interface SimOptions {
  n: number;
  /** Nodes listen on port 179 and answer the reflectors' dials (sim-answer.ts). */
  listen: boolean;
  k: number;
  r: number;
  /** Dual stack: every node also announces K IPv6 /122 blocks over IPv6 sessions. */
  ipv6: boolean;
  /** Events of each kind (add, remove, leave, join) in the churn phase. */
  events: number;
  /** Bound on each phase's wait, in ms. */
  timeoutMs: number;
  /** OPEN exchanges in flight at once. */
  parallel: number;
  seed: number;
  /** Progress lines (phase names and times) go here. */
  progress: (line: string) => void;
}

export interface ChurnTimes {
  add: number[];
  remove: number[];
  leave: number[];
  join: number[];
}

export interface SimResult {
  rr: SimRrId;
  n: number;
  k: number;
  r: number;
  /** The families the nodes announced blocks in: [4] or [4, 6]. */
  families: number[];
  /** Routes held by all nodes together at convergence, per family (IPv4, then IPv6). */
  routesHeld: number[];
  /** Reflectors launched -> every session Established, s. */
  establishS?: number;
  /** First UPDATE -> every node holds (N - 1) x K blocks, s. */
  convergeS?: number;
  /** Reflector CPU (all R processes) during convergence, s. */
  convergeCpuS?: number;
  churnMs: ChurnTimes;
  /** Per reflector: kill -> every node has its End-of-RIB again and agrees, s. */
  restartS: number[];
  /** Per reflector restart: node sessions re-established to it (N expected; with --ipv6, in the family with fewest). */
  restartReconnected: number[];
  /** The reflectors' dials the nodes answered (with --listen). */
  dials?: { answered: number; collisions: number; rejected: number };
  /** Routes the nodes lost while a reflector restarted (0 with graceful restart and R >= 1). */
  restartLost: number;
  /** How the first of those was lost. */
  restartLoss?: string;
  /** Reflector CPU s (all processes, whole run), peak RSS (largest process), what the nodes received. */
  cpuS: number;
  peakKb: number;
  bytesSent: number;
  updatesSent: number;
  harnessCpuS: number;
  badNextHop: number;
  foreign: number;
  missing: number;
  extra: number;
  /** Most routes, after any phase, that a node held from fewer than all R reflectors. */
  partial: number;
  error?: string;
}

/** A small seeded generator, so runs pick the same nodes. */
function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

async function timed(fn: () => Promise<void>): Promise<number> {
  const t = now();
  await fn();
  return now() - t;
}

/** Runs every phase; failures end the run but still report what was measured. */
export async function runSimulation(id: SimRrId, o: SimOptions): Promise<SimResult> {
  const res: SimResult = { rr: id, n: o.n, k: o.k, r: o.r, families: o.ipv6 ? [4, 6] : [4], routesHeld: [], churnMs: { add: [], remove: [], leave: [], join: [] }, restartS: [], restartReconnected: [], restartLost: 0, cpuS: 0, peakKb: 0, bytesSent: 0, updatesSent: 0, harnessCpuS: 0, badNextHop: 0, foreign: 0, missing: 0, extra: 0, partial: 0 };
  const dir = tempDir(`sim-${id}-`);
  const ds = join(dir, 'cluster.yaml');
  writeFileSync(ds, clusterDatastore({ n: o.n, r: o.r, ipv6: o.ipv6 }));
  const rrs = await Promise.all(Array.from({ length: o.r }, (_, j) => SimReflector.prepare(id, j, ds, dir, o.ipv6)));
  const fleets = (o.ipv6 ? [IPV4, IPV6] : [IPV4]).map(
    (family) => new Fleet({ family, n: o.n, k: o.k, spare: o.events + 1, reflectors: rrs.map(() => ({ port: 179 })), establishTimeoutMs: Math.min(o.timeoutMs, 120_000), reconnectTimeoutMs: o.timeoutMs, parallel: Math.max(1, Math.floor(o.parallel / (o.ipv6 ? 2 : 1))), restartTime: 120 }),
  );
  const fleet = new Fleets(fleets);
  const dead = (): Error | undefined => rrs.map((x) => x.dead()).find((e) => e !== undefined);
  const poller = setInterval(() => rrs.forEach((x) => x.poll()), 500);
  const cpu = (): number => rrs.reduce((s, x) => s + x.poll().cpuS, 0);
  const cpu0 = process.cpuUsage();
  /**
   * After a phase: wait (bounded) until every node has every route from every
   * reflector, not just from one, then scan everything.
   */
  const check = async (phase: string): Promise<void> => {
    await fleet.until((f) => f.redundantlyAgreed, o.timeoutMs, `every route from every reflector after ${phase}`, dead);
    const v = fleet.verify();
    res.missing = v.missing;
    res.extra = v.extra;
    res.partial = Math.max(res.partial, v.partial);
    if (v.firstPartial !== undefined) o.progress(`after ${phase}: ${v.partial} routes held from fewer than all reflectors (${v.firstPartial})`);
    if (v.missing + v.extra > 0) throw new Error(`after ${phase}: ${v.missing} routes missing, ${v.extra} too many (${v.firstProblem})`);
    if (fleet.badNextHop > 0 || fleet.foreign > 0) throw new Error(`after ${phase}: ${fleet.badNextHop} wrong next hops, ${fleet.foreign} foreign prefixes`);
  };
  const agree: Agree = (what, extra = () => true) => fleet.until((f) => f.agreed && extra(f), o.timeoutMs, what, dead);
  try {
    if (o.listen) await fleet.listen();
    res.establishS =
      (await timed(async () => {
        rrs.forEach((x) => x.launch());
        const watch = failOn(dead);
        try {
          await Promise.race([fleet.connectAll(), watch.promise]);
        } finally {
          watch.cancel();
        }
      })) / 1000;
    o.progress(`established ${o.n * o.r * fleets.length} sessions in ${res.establishS.toFixed(2)} s${dialCounts(fleet)}`);

    const cpuBefore = cpu();
    res.convergeS = (await timed(async () => {
      const sending = fleet.announceAll();
      sending.catch(() => {});
      await agree('full convergence');
      await sending;
    })) / 1000;
    res.convergeCpuS = cpu() - cpuBefore;
    res.routesHeld = fleets.map((f) => f.totalHeld);
    await check('convergence');
    o.progress(`converged (${fleets.map((f) => `${f.expected} ${f.opts.family.name}`).join(' + ')} routes) in ${res.convergeS.toFixed(2)} s`);

    await churn(fleet, o, res.churnMs, agree);
    await check('churn');
    o.progress(`churn: ${o.events} events of each kind`);

    for (let j = 0; j < o.r; j++) {
      await restart(fleet, rrs[j]!, res, agree);
      await check(`restart of reflector ${j + 1}`);
      o.progress(`reflector ${j + 1} restarted, refreshed in ${res.restartS[j]!.toFixed(2)} s${dialCounts(fleet)}`);
    }
  } catch (err) {
    res.error = (err as Error).message.split('\n').slice(0, 3).join(' | ');
  } finally {
    clearInterval(poller);
    res.cpuS = cpu();
    res.peakKb = Math.max(...rrs.map((x) => x.poll().hwmKb));
    const used = process.cpuUsage(cpu0);
    res.harnessCpuS = (used.user + used.system) / 1e6;
    res.bytesSent = fleet.bytesIn;
    res.updatesSent = fleet.updatesIn;
    res.badNextHop = fleet.badNextHop;
    if (fleet.dials !== undefined) res.dials = { ...fleet.dials };
    res.foreign = fleet.foreign;
    fleet.close();
    await Promise.all(rrs.map((x) => x.stop()));
  }
  return res;
}

type Agree = (what: string, extra?: (f: Fleet) => boolean) => Promise<void>;

/** Phase 3: rounds of add, remove, leave and join, one event at a time, each timed until every node agrees. */
async function churn(fleet: Fleets, o: SimOptions, times: ChurnTimes, agree: Agree): Promise<void> {
  const pick = rng(o.seed);
  for (let e = 0; e < o.events; e++) {
    const c = pick(o.n);
    let b = -1;
    times.add.push(await timed(async () => {
      b = await fleet.addBlock(c);
      await agree(`block ${b} added by node ${c}`);
    }));
    times.remove.push(await timed(async () => {
      await fleet.removeBlock(c, b);
      await agree(`block ${b} removed by node ${c}`);
    }));
    const gone = pick(o.n);
    times.leave.push(await timed(async () => {
      fleet.leave(gone);
      await agree(`node ${gone} leaving`);
    }));
    times.join.push(await timed(async () => {
      await fleet.join(gone);
      await agree(`node ${gone} joining`);
    }));
  }
}

/** Phase 4 for one reflector: SIGKILL, a new process, and the nodes refreshed from it (End-of-RIB) and agreeing. */
async function restart(fleet: Fleets, rr: SimReflector, res: SimResult, agree: Agree): Promise<void> {
  fleet.expectRestart(rr.j);
  fleet.clearReestablished();
  res.restartS.push((await timed(async () => {
    await rr.kill();
    rr.launch();
    await agree(`reflector ${rr.j + 1} restart`, (f) => f.reconnecting === 0 && f.eorPending === 0);
  })) / 1000);
  fleet.restartDone(rr.j);
  res.restartReconnected.push(fleet.reestablishedCount);
  res.restartLost = Math.max(res.restartLost, fleet.lost);
  if (fleet.firstLoss !== undefined) res.restartLoss ??= fleet.firstLoss;
}

/** A promise that rejects once `dead()` reports an error (checked every 250 ms), for racing against long waits. */
function failOn(dead: () => Error | undefined): { promise: Promise<never>; cancel: () => void } {
  let t: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    t = setInterval(() => {
      const err = dead();
      if (err !== undefined) {
        clearInterval(t);
        reject(err);
      }
    }, 250);
  });
  promise.catch(() => {});
  return { promise, cancel: () => clearInterval(t) };
}

/** The reflectors' dials the nodes answered so far, for progress lines. */
function dialCounts(fleet: Fleets): string {
  const d = fleet.dials;
  return d === undefined ? '' : ` (reflector dials so far: ${d.answered} answered, ${d.collisions} closed by collision resolution, ${d.rejected} rejected)`;
}
