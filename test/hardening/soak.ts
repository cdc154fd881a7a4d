/**
 * The soak: both speakers (file and etcd datastore) run for `minutes` under
 * repeating churn — GoBGP and BIRD flaps, `calico-bgpd reset`, file and etcd
 * edits that add and remove peers and blocks, etcd kill/restart cycles —
 * while every `sampleSeconds` RSS, heap, fds, sockets and live handles of
 * each speaker are sampled. Afterwards the churn is undone, every session
 * must come back and the fd count must return to its baseline; the samples
 * must show no growth (see trend.ts). Used by `npm run soak` and the CI test.
 */
import { fileURLToPath } from 'node:url';
import { cleanup, run, waitFor } from '../support/process.js';
import { type Sample, type Trend, DEFAULT_LIMITS, type Limits, judge, sampleTable, trendLine } from './trend.js';
import { fdCounts, sample, speakerStatus } from './proc-sample.js';
import { type SoakWorld, type SpeakerProc, churnObjects, startWorld } from './soak-setup.js';

const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export interface SoakOptions {
  minutes: number;
  sampleSeconds?: number;
  /** Seconds between churn steps. */
  stepSeconds?: number;
  limits?: Limits;
  log?: (line: string) => void;
}

export interface SoakReport {
  ok: boolean;
  failures: string[];
  steps: Record<string, number>;
  samples: Record<string, Sample[]>;
  trends: Record<string, Trend>;
  baselineFds: Record<string, number>;
  finalFds: Record<string, number>;
  /** The report as text: tables, trend lines, verdict. */
  text: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until every configured peer of a speaker is Established (`expected` of them). */
async function allEstablished(s: SpeakerProc, expected: number, timeoutMs: number): Promise<void> {
  await waitFor(
    `${s.name} speaker: ${expected} peers Established`,
    async () => {
      if (s.child.exitCode !== null || s.child.signalCode !== null) throw new Error(`${s.name} speaker exited`);
      const st = await speakerStatus(s.socket, 5000);
      return st !== undefined && st.peers.length === expected && st.peers.every((p) => p.state === 'Established');
    },
    timeoutMs,
    500,
  ).catch((e: Error) => {
    throw new Error(`${e.message}\n--- ${s.name} speaker output ---\n${s.output().slice(-3000)}`);
  });
}

/**
 * One churn step; `i` counts steps. Returns the step's name. A BIRD that is
 * gone (killed from outside the soak: the machine is shared) is started
 * again first, and that is reported as a step of its own.
 */
async function churnStep(w: SoakWorld, i: number): Promise<string> {
  if (!w.bird.cli('show', 'status').stdout.includes('Daemon is up')) {
    await w.bird.restart();
    return 'BIRD found dead (not by the soak), started again';
  }
  if (!w.etcd.running) {
    await w.etcd.launch();
    return 'etcd found dead (not by the soak), started again';
  }
  switch (i % 8) {
    case 0:
      w.gobgp.cli('neighbor', w.addr.s1, 'reset');
      return 'gobgp reset';
    case 1:
      w.writeFile(churnObjects(i, w.addr.ghost, w.ghostPort));
      return 'file: add peer + block';
    case 2:
      run(process.execPath, [cli, 'reset', '--control-socket', w.file.socket]);
      return 'calico-bgpd reset';
    case 3:
      await w.writeEtcd(churnObjects(i, w.addr.ghost, w.ghostPort));
      return 'etcd: add peer + block';
    case 4:
      w.bird.cli('disable', 'cbgpd');
      await sleep(500);
      w.bird.cli('enable', 'cbgpd');
      return 'bird disable/enable';
    case 5:
      w.writeFile([]);
      return 'file: remove peer + block';
    case 6:
      await w.writeEtcd([]);
      return 'etcd: remove peer + block';
    default:
      // Every second round: etcd killed (SIGKILL) for a few seconds, then back.
      if (i % 16 === 7) {
        await w.etcd.kill9();
        await sleep(3000);
        await w.etcd.launch();
        return 'etcd kill/restart';
      }
      run(process.execPath, [cli, 'reset', '--control-socket', w.etcdSpeaker.socket]);
      return 'calico-bgpd reset (etcd speaker)';
  }
}

function exited(s: SpeakerProc): string | undefined {
  const c = s.child;
  if (c.exitCode === null && c.signalCode === null) return undefined;
  return `${s.name} speaker exited (status ${c.exitCode}, signal ${c.signalCode})\n${s.output().slice(-3000)}`;
}

/** Runs the soak and returns its report (never throws for a failed verdict; it throws if the world cannot start). */
export async function runSoak(opts: SoakOptions): Promise<SoakReport> {
  const log = opts.log ?? (() => undefined);
  const sampleMs = (opts.sampleSeconds ?? 5) * 1000;
  const stepMs = (opts.stepSeconds ?? 3) * 1000;
  const c = cleanup();
  const failures: string[] = [];
  const steps: Record<string, number> = {};
  try {
    const w = await startWorld(c);
    const speakers = [w.file, w.etcdSpeaker];
    const peersOf = { file: 2, etcd: 1 } as Record<string, number>;
    await allEstablished(w.file, 2, 90_000);
    await allEstablished(w.etcdSpeaker, 1, 90_000);
    const baselineFds: Record<string, number> = {};
    for (const s of speakers) baselineFds[s.name] = fdCounts(s.child.pid!).fds;
    log(`soak: both speakers up (fds ${JSON.stringify(baselineFds)}); churn for ${opts.minutes} min`);

    const samples: Record<string, Sample[]> = { file: [], etcd: [] };
    const t0 = Date.now();
    const end = t0 + opts.minutes * 60_000;
    let crashed: string | undefined;
    const sampler = (async () => {
      while (Date.now() < end && crashed === undefined) {
        for (const s of speakers) {
          crashed ??= exited(s);
          if (crashed !== undefined) break;
          samples[s.name]!.push(await sample(s.child.pid!, s.socket, (Date.now() - t0) / 1000));
        }
        await sleep(sampleMs);
      }
    })();
    for (let i = 0; Date.now() < end && crashed === undefined; i++) {
      // A step that fails (a daemon killed from outside between the check and the step) is counted, not fatal.
    const name = await churnStep(w, i).catch((e: Error) => `step failed: ${e.message.split('\n')[0]!.slice(0, 80)}`);
      steps[name] = (steps[name] ?? 0) + 1;
      await sleep(stepMs);
      for (const s of speakers) crashed ??= exited(s);
    }
    await sampler;
    if (crashed !== undefined) failures.push(crashed);

    if (crashed === undefined) {
      // Undo the churn, then positive signals: all sessions back, fds back to baseline.
      if (!w.etcd.running) await w.etcd.launch();
      w.writeFile([]);
      await waitFor('etcd churn objects removed', () => w.writeEtcd([]).then(() => true), 60_000, 1000).catch((e: Error) => failures.push(e.message));
      w.bird.cli('enable', 'cbgpd');
      for (const s of speakers) await allEstablished(s, peersOf[s.name]!, 300_000).catch((e: Error) => failures.push(e.message));
    }
    const finalFds: Record<string, number> = {};
    for (const s of speakers) {
      if (exited(s) !== undefined) continue;
      const slack = 2;
      finalFds[s.name] = await waitFor(`${s.name} speaker fds back to baseline ${baselineFds[s.name]} (+${slack})`, () => {
        const n = fdCounts(s.child.pid!).fds;
        return n <= baselineFds[s.name]! + slack ? n : false;
      }, 60_000, 500).catch((e: Error) => {
        failures.push(`${e.message}: now ${fdCounts(s.child.pid!).fds}`);
        return fdCounts(s.child.pid!).fds;
      });
    }

    const trends: Record<string, Trend> = {};
    const text: string[] = [];
    for (const s of speakers) {
      const t = judge(`${s.name} speaker`, samples[s.name]!, opts.minutes, opts.limits ?? DEFAULT_LIMITS);
      trends[s.name] = t;
      failures.push(...t.failures);
      text.push(sampleTable(`${s.name} speaker (pid ${s.child.pid})`, samples[s.name]!), '');
    }
    text.push(`churn steps: ${Object.entries(steps).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    for (const s of speakers) text.push(trendLine(`${s.name} speaker`, trends[s.name]!));
    text.push(`fds at baseline ${JSON.stringify(baselineFds)}, after churn ${JSON.stringify(finalFds)}`);
    text.push(failures.length === 0 ? 'soak: PASS' : `soak: FAIL\n  ${failures.join('\n  ')}`);
    return { ok: failures.length === 0, failures, steps, samples, trends, baselineFds, finalFds, text: text.join('\n') };
  } finally {
    await c.run();
  }
}
