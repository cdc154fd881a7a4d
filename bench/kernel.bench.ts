/**
 * Kernel route programming: N IPv4 routes installed, then removed, in a
 * private network namespace, by our KernelFib and by BIRD 1.6's kernel
 * protocol, on the same machine in the same run.
 *
 *   sudo npm run bench:kernel
 *   node dist/bench/kernel.bench.js [--routes 100000] [--runs 1] [--peers ours,bird] [--timeout 300] [--poll 20] [--settle 3]
 *   BENCH_JSON=1 node dist/bench/kernel.bench.js      # adds one JSON line at the end
 *
 * Routes: /32s from 198.18.0.0/15 (RFC 2544's range for benchmarking; the
 * documentation ranges are too small for 100,000 prefixes), all via
 * 192.0.2.2 on a veth in the namespace. Each side gets a fresh namespace.
 *
 * - ours: `KernelFib.sync(routes)` then `sync([])`, in this process (the
 *   socket is opened inside the namespace). The time runs until the last
 *   batch is acknowledged by the kernel: at that point every route is in
 *   the table; the count is then checked with `ip route show proto 201`.
 * - BIRD: a private `bird -f` in the namespace with its own control socket,
 *   a `static` protocol holding the N routes (disabled at start) exported
 *   by a `kernel` protocol. After BIRD is up, `birdc enable` starts the
 *   clock, which runs until BIRD's routes in the kernel reach N; `birdc
 *   disable` starts the removal clock, which runs until they reach 0.
 *   Config parsing is not timed. Each poll is one route dump over a netlink
 *   socket in the namespace, counting the messages whose rtmsg says table
 *   main and protocol bird (12) without decoding them (about 5x quicker
 *   than `ip route show proto bird | wc -l` at 100,000 routes), then --poll
 *   ms of sleep. The poll limits the resolution: BIRD's times are upper
 *   bounds by up to one poll, whose time at N routes is printed so the
 *   reader can discount it.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { release } from 'node:os';
import { endianness } from 'node:os';
import { KernelFib, RTPROT_CALICO_BGPD, type KernelRoute } from '../src/bgp/fib/kernel.js';
import { NLMSG_HDRLEN, RTM_NEWROUTE, RT_TABLE_MAIN, align4, encodeRouteDump } from '../src/bgp/fib/netlink-codec.js';
import { NetlinkSocket, loadNetlinkAddon, type NetlinkAddon } from '../src/bgp/fib/netlink-socket.js';
import { TestNs, netnsAvailable } from '../test/bgp/fib/netns.js';
import { alive, cleanup, run, runAll, sleep, start, stop, tempDir } from './support/lab.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : dflt;
}

const N = Number(arg('--routes', '100000'));
const RUNS = Number(arg('--runs', '1'));
const PEERS = arg('--peers', 'ours,bird').split(',');
const TIMEOUT_MS = Number(arg('--timeout', '300')) * 1000;
const POLL_MS = Number(arg('--poll', '20'));
const SETTLE_MS = Number(arg('--settle', '3')) * 1000;
const GATEWAY = '192.0.2.2';

/** The i-th /32 of 198.18.0.0/15. */
function dst(i: number): string {
  const a = 198 * 2 ** 24 + 18 * 2 ** 16 + i;
  return `${Math.floor(a / 2 ** 24)}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** `ip -n NS route show proto P | wc -l`, through a shell as an operator would type it. */
function countRoutes(ns: TestNs, proto: string): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile('sh', ['-c', `ip -n ${ns.name} route show proto ${proto} | wc -l`], { timeout: 60_000 }, (err, stdout) => {
      if (err) reject(err);
      else resolve(Number(String(stdout).trim()));
    });
  });
}

const RTPROT_BIRD = 12;
const LE = endianness() === 'LE';

/** IPv4 routes of protocol `proto` in the main table: one route dump, counted from each message's rtmsg octets (no decoding). */
async function dumpCount(sock: NetlinkSocket, proto: number): Promise<number> {
  const seq = sock.nextSeq();
  const raw = await sock.exchangeRaw(encodeRouteDump(4, seq), seq);
  let n = 0;
  for (let off = 0; off + NLMSG_HDRLEN + 8 <= raw.length; ) {
    const len = LE ? raw.readUInt32LE(off) : raw.readUInt32BE(off);
    const type = LE ? raw.readUInt16LE(off + 4) : raw.readUInt16BE(off + 4);
    if (len < NLMSG_HDRLEN) break;
    if (type === RTM_NEWROUTE && raw[off + NLMSG_HDRLEN + 4] === RT_TABLE_MAIN && raw[off + NLMSG_HDRLEN + 5] === proto) n++;
    off += align4(len);
  }
  return n;
}

/** Polls `count` until it is `want`; returns the time it was first seen, and the mean poll duration. */
async function waitCount(count: () => Promise<number>, want: number, what: string, check?: () => void): Promise<{ at: number; pollMs: number }> {
  const deadline = performance.now() + TIMEOUT_MS;
  let polls = 0;
  let spent = 0;
  let last = -1;
  for (;;) {
    check?.();
    const t = performance.now();
    last = await count();
    const now = performance.now();
    polls++;
    spent += now - t;
    if (last === want) return { at: now, pollMs: spent / polls };
    if (now > deadline) throw new Error(`${what}: ${last} of ${want} routes after ${TIMEOUT_MS / 1000} s`);
    await sleep(POLL_MS);
  }
}

interface Result {
  installS: number;
  removeS: number;
  note: string;
}

// ---------------------------------------------------------------------------
// Ours

async function benchOurs(): Promise<Result> {
  const ns = TestNs.create();
  try {
    const routes: KernelRoute[] = [];
    for (let i = 0; i < N; i++) routes.push({ prefix: `${dst(i)}/32`, nextHops: [{ gateway: GATEWAY }] });
    const fib = await KernelFib.open({ netns: ns.path });
    try {
      const t0 = performance.now();
      const a = await fib.sync(routes);
      const t1 = performance.now();
      const { workMs, waitMs, batches } = fib.lastSyncTimings;
      if (a.installed !== N) throw new Error(`ours: installed ${a.installed} of ${N} (${a.failed[0]?.code} ${a.failed[0]?.message})`);
      const seen = await countRoutes(ns, String(RTPROT_CALICO_BGPD));
      if (seen !== N) throw new Error(`ours: the kernel shows ${seen} of ${N} routes`);
      const t2 = performance.now();
      const b = await fib.sync([]);
      const t3 = performance.now();
      if (b.removed !== N) throw new Error(`ours: removed ${b.removed} of ${N}`);
      const left = await countRoutes(ns, String(RTPROT_CALICO_BGPD));
      if (left !== 0) throw new Error(`ours: ${left} routes left in the kernel`);
      return { installS: (t1 - t0) / 1000, removeS: (t3 - t2) / 1000, note: `install: ${batches} batches of up to ${fib.batchSize}; ${(workMs / 1000).toFixed(3)} s of JS work, ${(waitMs / 1000).toFixed(3)} s waiting for the kernel` };
    } finally {
      await fib.close();
    }
  } finally {
    ns.destroy();
  }
}

// ---------------------------------------------------------------------------
// BIRD 1.6

async function benchBird(addon: NetlinkAddon): Promise<Result> {
  const ns = TestNs.create();
  const dir = tempDir('cbfib-bird-');
  try {
    const conf = join(dir, 'bird.conf');
    const sock = join(dir, 'bird.ctl');
    const log = join(dir, 'bird.log');
    const lines = [
      'router id 192.0.2.1;',
      'protocol device { scan time 10; }',
      '# No learn, no persist: only what we export, removed when withdrawn.',
      'protocol kernel { scan time 600; import none; export all; }',
      'protocol static bench {',
      '  disabled;',
    ];
    for (let i = 0; i < N; i++) lines.push(`  route ${dst(i)}/32 via ${GATEWAY};`);
    lines.push('}', '');
    writeFileSync(conf, lines.join('\n'));
    const proc = start('ip', ['netns', 'exec', ns.name, 'bird', '-f', '-c', conf, '-s', sock], log);
    const birdc = (cmd: string) => run('birdc', ['-s', sock, cmd], 30_000);
    const up = performance.now() + 60_000;
    for (;;) {
      if (!alive(proc)) throw new Error(`bird exited; see ${log}`);
      try {
        if (/Daemon is up and running/.test(await birdc('show status'))) break;
      } catch {
        // not listening yet
      }
      if (performance.now() > up) throw new Error('bird did not come up in 60 s');
      await sleep(100);
    }
    await sleep(500); // the kernel protocol's first scan, the device protocol's interfaces
    const check = () => {
      if (!alive(proc)) throw new Error('bird exited during the run');
    };
    const nl = NetlinkSocket.open(addon, { netns: ns.path });
    const count = () => dumpCount(nl, RTPROT_BIRD);
    try {
      const t0 = performance.now();
      await birdc('enable bench');
      const a = await waitCount(count, N, 'bird install', check);
      const t2 = performance.now();
      await birdc('disable bench');
      const b = await waitCount(count, 0, 'bird remove', check);
      if ((await countRoutes(ns, 'bird')) !== 0) throw new Error('bird: routes left in the kernel');
      return { installS: (a.at - t0) / 1000, removeS: (b.at - t2) / 1000, note: `poll ${a.pollMs.toFixed(0)} ms at ${N} routes + ${POLL_MS} ms sleep` };
    } finally {
      await nl.close();
      await stop(proc);
    }
  } finally {
    ns.destroy();
  }
}

// ---------------------------------------------------------------------------

function rate(s: number): string {
  return `${Math.round(N / s).toLocaleString('en-US')} routes/s`;
}

async function main(): Promise<void> {
  if (!netnsAvailable()) throw new Error('needs root and ip netns');
  const addon = loadNetlinkAddon();
  if (!addon.ok) throw new Error(addon.reason); // BIRD's routes are counted over netlink too
  const birdVersion = PEERS.includes('bird') ? (await runAll('bird', ['--version'])).trim() || 'BIRD' : '';
  console.log(`kernel routes: ${N.toLocaleString('en-US')} IPv4 /32s via one gateway, installed then removed, Linux ${release()}, best of ${RUNS}`);

  const best: Record<string, Result> = {};
  for (let run = 0; run < RUNS; run++) {
    for (const who of PEERS) {
      // Deleting a namespace frees its routes later, on a kernel worker: let that finish before timing again.
      await sleep(SETTLE_MS);
      const r = who === 'ours' ? await benchOurs() : who === 'bird' ? await benchBird(addon.addon) : null;
      if (r === null) throw new Error(`unknown --peers entry '${who}'`);
      const b = best[who];
      best[who] = b === undefined ? r : { installS: Math.min(b.installS, r.installS), removeS: Math.min(b.removeS, r.removeS), note: r.installS < b.installS ? r.note : b.note };
    }
  }
  const label = (who: string) => (who === 'ours' ? 'ours (KernelFib, rtnetlink)' : `${birdVersion} kernel protocol`);
  for (const who of PEERS) {
    const r = best[who]!;
    console.log(`${label(who).padEnd(38)} install ${r.installS.toFixed(3)} s = ${rate(r.installS).padStart(18)}   remove ${r.removeS.toFixed(3)} s = ${rate(r.removeS).padStart(18)}   (${r.note})`);
  }
  if (best.ours && best.bird) {
    console.log(`ratio ours/BIRD (routes/s)                install ${(best.bird.installS / best.ours.installS).toFixed(2)}x   remove ${(best.bird.removeS / best.ours.removeS).toFixed(2)}x`);
  }
  if (process.env.BENCH_JSON === '1') {
    const out: Record<string, unknown> = { bench: 'kernel', routes: N, runs: RUNS };
    for (const [who, r] of Object.entries(best)) out[who] = { installS: r.installS, removeS: r.removeS, installPerS: N / r.installS, removePerS: N / r.removeS };
    console.log(JSON.stringify(out));
  }
}

main()
  .catch((e: Error) => {
    console.error(`bench:kernel: ${e.message}`);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
