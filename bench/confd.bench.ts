/**
 * confd benchmark (issue #4 part 5): the BIRD renderer driven by an
 * in-memory datastore (so the figures are ours, not etcd's), bird1 flavor,
 * real files in a temp directory.
 *
 * For clusters of 100, 1,000 and 5,000 nodes in two topologies
 * - `mesh`: full node-to-node mesh, the measured node peers with every other;
 * - `rr`: mesh off, 3 route reflectors; the measured node is an ordinary
 *   client (3 node-specific peers), as almost every node of such a cluster;
 * each in a fresh child process, it measures:
 * - render: the model of the node -> the text of all six files (pure), and
 *   first write: datastore in sync -> all files on disk (write path, sync-only);
 * - change -> file written (p50/p99): one relevant change (mesh: another
 *   node's address; rr: this node's peer's AS; both: one of this node's
 *   blocks), from `apply()` to the rename of the file, with the daemon's
 *   coalescing window (10 ms) included, write path with a check command
 *   (`true`, so the figure is not BIRD's parse time) and a stub reload;
 * - a 1,000-key burst in 100 ms (500 new nodes + 500 of this node's
 *   blocks, 10 batches of 100 keys, 10 ms apart): writes per file, reloads;
 * - irrelevant changes (another node's block, another node's subnet): CPU
 *   time per change (the model watcher's incremental update included) and
 *   the number of renders (must be 0).
 *
 * Usage: node dist/bench/confd.bench.js [--sizes 100,1000,5000] [--json]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultRenderer } from '../src/commands/confd.js';
import { ConfdDaemon, type BatchEvent } from '../src/confd/daemon.js';
import { flavorFiles, renderAll } from '../src/confd/render.js';
import { defaultResources } from '../src/confd/resources.js';
import type { KeyChange } from '../src/datastore/types.js';
import { setLogLevel } from '../src/log.js';
import { buildNodeBgpConfig } from '../src/model/build.js';
import { MemoryDatastore } from '../test/support/memory-datastore.js';

type Topology = 'mesh' | 'rr';

interface Result {
  nodes: number;
  topology: Topology;
  peers: number;
  bytes: number;
  renderMs: number;
  firstWriteMs: number;
  peerChange: { p50: number; p99: number; n: number; renderMsP50: number; writeMsP50: number } | null;
  blockChange: { p50: number; p99: number; n: number };
  burst: { writes: Record<string, number>; reloads: number; batches: number; ms: number };
  irrelevant: { cpuUsPerChange: number; renders: number; changes: number };
}

// ---------------------------------------------------------------------------
// Datastore and cluster
// ---------------------------------------------------------------------------

const H = '/calico/bgp/v1/host/';
const RR_COUNT = 3;
const name = (i: number): string => `node-${String(i).padStart(5, '0')}`;
const ipOf = (i: number): string => `10.${Math.floor(i / 250) % 250}.${(i % 250) + 1}.1`;
const blockOf = (i: number, k = 0): string => `172.${16 + Math.floor(i / 4096)}.${Math.floor((i % 4096) / 16)}.${(i % 16) * 16 + k}-32`;
/** The measured node: an ordinary node (not a reflector). */
const ME = 10;

function cluster(ds: MemoryDatastore, n: number, topology: Topology): void {
  const k = ds.keys;
  k.set('/calico/bgp/v1/global/as_num', '64512');
  k.set('/calico/v1/ipam/v4/pool/172.16.0.0-12', JSON.stringify({ cidr: '172.16.0.0/12', ipip: 'tunl0', ipip_mode: 'always', masquerade: true }));
  if (topology === 'rr') k.set('/calico/bgp/v1/global/node_mesh', '{"enabled":false}');
  for (let i = 0; i < n; i++) {
    k.set(`${H}${name(i)}/ip_addr_v4`, ipOf(i));
    k.set(`${H}${name(i)}/network_v4`, `${ipOf(i)}/24`);
    k.set(`/calico/ipam/v2/host/${name(i)}/ipv4/block/${blockOf(i)}`, '{"state":"confirmed"}');
    if (topology === 'rr') {
      if (i < RR_COUNT) k.set(`${H}${name(i)}/rr_cluster_id`, '224.0.0.1');
      else for (let r = 0; r < RR_COUNT; r++) k.set(`${H}${name(i)}/peer_v4/${ipOf(r)}`, JSON.stringify({ ip: ipOf(r), as_num: '64512' }));
    }
  }
}

// ---------------------------------------------------------------------------
// One configuration
// ---------------------------------------------------------------------------

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};
const r1 = (x: number): number => Math.round(x * 10) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runOne(n: number, topology: Topology): Promise<Result> {
  setLogLevel('silent');
  const dir = mkdtempSync(join(tmpdir(), 'bgpd-confd-bench-'));
  const ds = new MemoryDatastore();
  cluster(ds, n, topology);
  const me = name(ME);

  // Pure render.
  const model = buildNodeBgpConfig(ds.keys, me).config;
  renderAll('bird1', model); // compile the templates once
  const t0 = performance.now();
  const files = renderAll('bird1', model);
  const renderMs = performance.now() - t0;
  const bytes = [...files.values()].reduce((a, s) => a + s.length, 0);

  const resources = defaultResources(flavorFiles('bird1'), { flavor: 'bird1', nodeName: me, configDir: dir, birdSocket: '/nonexistent/bird.ctl', bird6Socket: '/nonexistent/bird6.ctl', birdCheck: 'true', bird6Check: 'true' });
  let reloads = 0;
  let renders = 0;
  const events: Array<{ at: number; e: BatchEvent }> = [];
  const renderer = {
    files: defaultRenderer.files,
    render: (f: string, fl: 'calico' | 'bird1' | 'bird2', m: typeof model) => {
      renders++;
      return defaultRenderer.render(f, fl, m);
    },
  };
  const daemon = new ConfdDaemon({
    datastore: ds,
    nodeName: me,
    flavor: 'bird1',
    renderer,
    resources,
    write: {
      runCommand: async () => ({ code: 0, output: '' }),
      birdConfigure: async () => {
        reloads++;
        return { ok: true, message: 'Reconfigured', notRunning: false };
      },
    },
    onBatch: (e) => events.push({ at: performance.now(), e }),
  });
  try {
    daemon.start();
    const tSync = performance.now();
    ds.setStatus('in-sync');
    while (events.length === 0) await sleep(1);
    const firstWriteMs = events[0]!.at - tSync;
    const peers = model.ipv4.peers.length;

    /** Applies `batch` and waits for the batch that writes `file`; returns the latency in ms. */
    const parts: Array<{ render: number; write: number }> = [];
    const timed = async (batch: KeyChange[], file: string): Promise<number> => {
      const before = events.length;
      const t = performance.now();
      ds.apply(batch);
      for (let spin = 0; spin < 5000; spin++) {
        const hit = events.slice(before).find((x) => x.e.result.written.some((r) => r.file === file));
        if (hit) {
          parts.push({ render: hit.e.renderMs, write: hit.e.writeMs });
          return hit.at - t;
        }
        await sleep(1);
      }
      throw new Error(`no write of ${file} after a change`);
    };
    const samples = n >= 5000 ? 40 : 100;

    let peerChange: Result['peerChange'] = null;
    const xs: number[] = [];
    if (topology === 'mesh') {
      const other = `${H}${name(n - 1)}/ip_addr_v4`;
      for (let s = 0; s < samples; s++) {
        xs.push(await timed([{ key: other, value: s % 2 === 0 ? '10.250.250.250' : ipOf(n - 1) }], 'bird.cfg'));
        await sleep(5);
      }
    } else {
      const key = `${H}${me}/peer_v4/${ipOf(0)}`;
      for (let s = 0; s < samples; s++) {
        xs.push(await timed([{ key, value: JSON.stringify({ ip: ipOf(0), as_num: s % 2 === 0 ? '64513' : '64512' }) }], 'bird.cfg'));
        await sleep(5);
      }
    }
    peerChange = {
      p50: r1(pct(xs, 50)), p99: r1(pct(xs, 99)), n: xs.length,
      renderMsP50: r1(pct(parts.map((x) => x.render), 50)), writeMsP50: r1(pct(parts.map((x) => x.write), 50)),
    };
    const bx: number[] = [];
    const blockKey = `/calico/ipam/v2/host/${me}/ipv4/block/${blockOf(ME, 4)}`;
    for (let s = 0; s < samples; s++) {
      bx.push(await timed([{ key: blockKey, value: s % 2 === 0 ? '{"state":"confirmed"}' : null }], 'bird_aggr.cfg'));
      await sleep(5);
    }
    const blockChange = { p50: r1(pct(bx, 50)), p99: r1(pct(bx, 99)), n: bx.length };

    // Burst: 1,000 keys in 100 ms, as a watch delivers them: 50 batches of 20 keys, 2 ms apart.
    await sleep(50);
    const e0 = events.length;
    const reloads0 = reloads;
    const tb = performance.now();
    for (let b = 0; b < 50; b++) {
      const batch: KeyChange[] = [];
      for (let j = 0; j < 10; j++) {
        const i = n + b * 10 + j;
        batch.push({ key: `${H}${name(i)}/ip_addr_v4`, value: ipOf(i) });
        batch.push({ key: `/calico/ipam/v2/host/${me}/ipv4/block/10.${200 + (b % 50)}.${j}.0-26`, value: '{"state":"confirmed"}' });
      }
      ds.apply(batch);
      await sleep(2);
    }
    const burstMs = performance.now() - tb;
    for (let spin = 0; spin < 500; spin++) await sleep(2); // let it settle (1 s)
    const writes: Record<string, number> = {};
    for (const x of events.slice(e0)) for (const r of x.e.result.written) writes[r.file] = (writes[r.file] ?? 0) + 1;
    const burst = { writes, reloads: reloads - reloads0, batches: events.length - e0, ms: r1(burstMs) };

    // Irrelevant changes.
    await sleep(50);
    const renders0 = renders;
    const changes = 200;
    const cpu0 = process.cpuUsage();
    for (let s = 0; s < changes; s++) {
      const other = name(n - 2 - (s % 20));
      if (s % 2 === 0) ds.apply([{ key: `/calico/ipam/v2/host/${other}/ipv4/block/10.99.${s % 250}.0-26`, value: s % 4 === 0 ? '{"state":"confirmed"}' : null }]);
      else ds.apply([{ key: `${H}${other}/network_v4`, value: `10.${s % 250}.0.0/16` }]);
      await sleep(1);
    }
    await sleep(100);
    const cpu = process.cpuUsage(cpu0);
    const irrelevant = { cpuUsPerChange: Math.round((cpu.user + cpu.system) / changes), renders: renders - renders0, changes };

    return { nodes: n, topology, peers, bytes, renderMs: r1(renderMs), firstWriteMs: r1(firstWriteMs), peerChange, blockChange, burst, irrelevant };
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (arg('--one') !== undefined) {
  const [n, topo] = arg('--one')!.split(':');
  const res = await runOne(Number(n), topo as Topology);
  process.stdout.write(JSON.stringify(res) + '\n');
} else {
  const sizes = (arg('--sizes') ?? '100,1000,5000').split(',').map(Number);
  const json = process.argv.includes('--json');
  const results: Result[] = [];
  const self = fileURLToPath(import.meta.url);
  for (const n of sizes) {
    for (const topo of ['mesh', 'rr'] as const) {
      const p = spawnSync(process.execPath, [self, '--one', `${n}:${topo}`], { encoding: 'utf8', timeout: 600_000, maxBuffer: 1 << 20 });
      if (p.status !== 0) {
        process.stderr.write(`confd bench ${n} ${topo} failed:\n${p.stderr}\n`);
        process.exitCode = 1;
        continue;
      }
      results.push(JSON.parse(p.stdout.trim().split('\n').pop()!) as Result);
      if (!json) process.stderr.write(`done: ${n} nodes, ${topo}\n`);
    }
  }
  if (json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  else {
    const rows = [['nodes', 'topology', 'peers', 'bytes', 'render ms', 'first write ms', 'peer chg p50/p99 ms', '(render/write p50)', 'block chg p50/p99 ms', 'burst (ms): writes', 'reloads', 'irrelevant renders', 'cpu µs/chg']];
    for (const r of results) {
      rows.push([
        String(r.nodes), r.topology, String(r.peers), String(r.bytes), String(r.renderMs), String(r.firstWriteMs),
        r.peerChange ? `${r.peerChange.p50}/${r.peerChange.p99}` : '-', r.peerChange ? `${r.peerChange.renderMsP50}/${r.peerChange.writeMsP50}` : '-',
        `${r.blockChange.p50}/${r.blockChange.p99}`,
        `(${Math.round(r.burst.ms)}) ` + (Object.entries(r.burst.writes).map(([f, c]) => `${f}:${c}`).join(' ') || '0'), String(r.burst.reloads),
        `${r.irrelevant.renders}/${r.irrelevant.changes}`, String(r.irrelevant.cpuUsPerChange),
      ]);
    }
    const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i]!)).join('  '));
    const mesh1k = results.find((r) => r.nodes === 1000 && r.topology === 'mesh');
    const at5k = results.filter((r) => r.nodes === 5000);
    console.log('');
    console.log('targets:');
    if (mesh1k) console.log(`  1,000-node full-mesh render < 100 ms: ${mesh1k.renderMs} ms ${mesh1k.renderMs < 100 ? 'OK' : 'MISSED'}`);
    for (const r of at5k) {
      const p99 = Math.max(r.peerChange?.p99 ?? 0, r.blockChange.p99);
      console.log(`  change -> write p99 < 50 ms at 5,000 nodes (${r.topology}): ${p99} ms ${p99 < 50 ? 'OK' : 'MISSED'}`);
    }
    console.log(`  one reload per burst: ${results.map((r) => r.burst.reloads).join(', ')} ${results.every((r) => r.burst.reloads === 1) ? 'OK' : 'MISSED'}`);
    console.log(`  zero renders for irrelevant changes: ${results.every((r) => r.irrelevant.renders === 0) ? 'OK' : 'MISSED'}`);
  }
}
