/**
 * Peering-model benchmark, file backend (issue #3 part 5).
 *
 * For clusters of 100, 1,000 and 5,000 nodes, in two topologies:
 * - `mesh`: full node-to-node mesh;
 * - `rr`: mesh off, 3 route reflectors, every other node peers with them
 *   through a BGPPeer with nodeSelector/peerSelector (plus the reverse
 *   peerings Calico adds);
 * it measures, each in a fresh child process (so RSS is honest):
 * - initial load: YAML files -> key view -> first model for one node;
 * - one change -> new model: a node's address changes in its file; time
 *   from re-reading the file to the new model (file events are
 *   debounced by the watcher; that delay is configuration, not work, and is
 *   left out), and the model-only part (key change -> model);
 * - unrelated change: a change that does not touch this node's peerings
 *   must produce no model change event;
 * - RSS after the load.
 *
 * Usage: node dist/bench/model.bench.js [--sizes 100,1000,5000] [--json]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileDatastore } from '../src/datastore/file.js';
import { setLogLevel } from '../src/log.js';
import { buildFromIndex } from '../src/model/build.js';
import { KeyIndex } from '../src/model/key-index.js';
import { deepEqual, ModelWatcher } from '../src/model/watcher.js';

type Topology = 'mesh' | 'rr';

interface Result {
  nodes: number;
  topology: Topology;
  keys: number;
  peers: number;
  loadMs: number;
  changeMs: number;
  /** CPU time of the same (less sensitive to other load on the machine). */
  changeCpuMs: number;
  modelOnlyMs: number;
  unrelatedEvents: number;
  rssMb: number;
}

const NODES_PER_FILE = 100;
const RR_COUNT = 3;

const name = (i: number): string => `node-${String(i).padStart(5, '0')}`;
const ipOf = (i: number, bump = 0): string => `10.${Math.floor(i / 250) % 250}.${(i % 250) + 1}.${1 + bump}`;

function nodeDoc(i: number, topology: Topology, bump = 0): string {
  const rr = topology === 'rr' && i < RR_COUNT;
  return [
    'apiVersion: projectcalico.org/v3',
    'kind: Node',
    'metadata:',
    `  name: ${name(i)}`,
    '  labels:',
    `    rack: r${i % 40}`,
    ...(rr ? ['    routeReflector: "true"'] : []),
    'spec:',
    '  bgp:',
    `    ipv4Address: ${ipOf(i, bump)}/16`,
    ...(rr ? ['    routeReflectorClusterID: 224.0.0.1'] : []),
    '---',
    'apiVersion: crd.projectcalico.org/v1',
    'kind: BlockAffinity',
    'metadata:',
    `  name: ${name(i)}-block`,
    'spec:',
    `  node: ${name(i)}`,
    `  cidr: 172.${16 + Math.floor(i / 1024)}.${Math.floor((i % 1024) / 4)}.${(i % 4) * 64}/26`,
    '  state: confirmed',
    '  deleted: "false"',
  ].join('\n');
}

function writeCluster(dir: string, n: number, topology: Topology): void {
  const global = [
    'apiVersion: projectcalico.org/v3',
    'kind: BGPConfiguration',
    'metadata: {name: default}',
    'spec:',
    '  asNumber: 64512',
    `  nodeToNodeMeshEnabled: ${topology === 'mesh'}`,
    '---',
    'apiVersion: projectcalico.org/v3',
    'kind: IPPool',
    'metadata: {name: pods}',
    'spec: {cidr: 172.16.0.0/12, ipipMode: CrossSubnet, natOutgoing: true}',
    '---',
    'apiVersion: projectcalico.org/v3',
    'kind: BGPPeer',
    'metadata: {name: tor}',
    'spec: {peerIP: 192.0.2.1, asNumber: 64500}',
  ];
  if (topology === 'rr') {
    global.push(
      '---',
      'apiVersion: projectcalico.org/v3',
      'kind: BGPPeer',
      'metadata: {name: to-reflectors}',
      'spec:',
      '  nodeSelector: "!has(routeReflector)"',
      '  peerSelector: has(routeReflector)',
      '---',
      'apiVersion: projectcalico.org/v3',
      'kind: BGPPeer',
      'metadata: {name: reflector-mesh}',
      'spec:',
      '  nodeSelector: has(routeReflector)',
      '  peerSelector: has(routeReflector)',
    );
  }
  writeFileSync(join(dir, '00-global.yaml'), global.join('\n') + '\n');
  for (let f = 0; f * NODES_PER_FILE < n; f++) writeFileSync(join(dir, nodeFile(f)), nodesFile(f, n, topology));
}

const nodeFile = (f: number): string => `nodes-${String(f).padStart(4, '0')}.yaml`;

function nodesFile(f: number, n: number, topology: Topology, bumped: ReadonlySet<number> = new Set()): string {
  const docs: string[] = [];
  for (let i = f * NODES_PER_FILE; i < Math.min(n, (f + 1) * NODES_PER_FILE); i++) docs.push(nodeDoc(i, topology, bumped.has(i) ? 1 : 0));
  return docs.join('\n---\n') + '\n';
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function runOne(n: number, topology: Topology): Promise<Result> {
  setLogLevel('silent');
  const dir = mkdtempSync(join(tmpdir(), 'model-bench-'));
  try {
    writeCluster(dir, n, topology);
    // The node we build the model for: in the RR topology, a plain client (not a reflector).
    const self = name(topology === 'rr' ? RR_COUNT + 1 : 1);

    const t0 = performance.now();
    const ds = new FileDatastore({ paths: [dir], nodeName: self, watch: false });
    await ds.start();
    const watcher = new ModelWatcher(ds, self);
    watcher.start();
    const loadMs = performance.now() - t0;
    const first = watcher.current()!;
    const peers = first.config.ipv4.peers.length;
    const keys = ds.snapshot().size;
    global.gc?.();
    const rssMb = process.memoryUsage().rss / 2 ** 20;

    // One change that affects this node: a node it peers with changes address
    // (mesh: any other node; rr: a route reflector). Alternate between two
    // states so every round is a real change.
    const target = topology === 'rr' ? 0 : n - 1;
    const targetFile = join(dir, nodeFile(Math.floor(target / NODES_PER_FILE)));
    const rounds = n >= 5000 ? 5 : 9;
    const changeTimes: number[] = [];
    const bumped = new Set<number>();
    const changeCpu: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const before = watcher.stats.changes;
      if (r % 2 === 0) bumped.add(target);
      else bumped.delete(target);
      writeFileSync(targetFile, nodesFile(Math.floor(target / NODES_PER_FILE), n, topology, bumped));
      const s = performance.now();
      const c0 = process.cpuUsage();
      ds.reloadFiles([targetFile]);
      const c1 = process.cpuUsage(c0);
      changeTimes.push(performance.now() - s);
      changeCpu.push((c1.user + c1.system) / 1000);
      if (watcher.stats.changes !== before + 1) throw new Error('expected exactly one model change event');
    }

    // Model only: one key of the key view changes; the index takes the change,
    // the model is rebuilt and compared with the previous one (what the
    // watcher does for every backend).
    const idx = KeyIndex.from(ds.snapshot(), self);
    let prev = buildFromIndex(idx).config;
    // mesh: a meshed node's address; rr: this client's peering to a reflector.
    const targetKey = topology === 'mesh' ? `/calico/bgp/v1/host/${name(target)}/ip_addr_v4` : idx.nodePeers.keys()[0]!;
    const original = idx.nodePeers.get(targetKey)?.value ?? '';
    const valueFor = (r: number): string => {
      if (topology === 'mesh') return ipOf(target, r % 2 === 0 ? 2 : 0);
      const v = JSON.parse(original) as Record<string, unknown>;
      v.restart_time = r % 2 === 0 ? '120' : '';
      return JSON.stringify(v);
    };
    const modelTimes: number[] = [];
    for (let r = 0; r < rounds * 3; r++) {
      const s = performance.now();
      idx.apply([{ key: targetKey, value: valueFor(r) }]);
      const next = buildFromIndex(idx).config;
      if (deepEqual(prev, next)) throw new Error(`expected a model change: ${targetKey} ${valueFor(r)} ${JSON.stringify(next.ipv4.peers.slice(0, 2))}`);
      prev = next;
      modelTimes.push(performance.now() - s);
    }

    // Unrelated change: mesh -> a label on another node (selectors only);
    // rr -> another client's address (this client only peers with the reflectors).
    const other = n - 2;
    const otherFile = join(dir, nodeFile(Math.floor(other / NODES_PER_FILE)));
    const eventsBefore = watcher.stats.changes;
    if (topology === 'rr') bumped.add(other);
    let text = nodesFile(Math.floor(other / NODES_PER_FILE), n, topology, bumped);
    if (topology === 'mesh') text = text.replace(`name: ${name(other)}\n  labels:\n`, `name: ${name(other)}\n  labels:\n    extra: "yes"\n`);
    writeFileSync(otherFile, text);
    ds.reloadFiles([otherFile]);
    const unrelatedEvents = watcher.stats.changes - eventsBefore;

    watcher.stop();
    await ds.stop();
    return {
      nodes: n,
      topology,
      keys,
      peers,
      loadMs,
      changeMs: median(changeTimes),
      changeCpuMs: median(changeCpu),
      modelOnlyMs: median(modelTimes),
      unrelatedEvents,
      rssMb,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function table(results: Result[]): string {
  const rows = [['nodes', 'topology', 'keys', 'peers', 'initial load ms', 'change->model ms', '(cpu ms)', 'key->model ms', 'unrelated events', 'RSS MB']];
  for (const r of results) {
    rows.push([
      String(r.nodes),
      r.topology,
      String(r.keys),
      String(r.peers),
      r.loadMs.toFixed(0),
      r.changeMs.toFixed(1),
      r.changeCpuMs.toFixed(1),
      r.modelOnlyMs.toFixed(2),
      String(r.unrelatedEvents),
      r.rssMb.toFixed(0),
    ]);
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padStart(w[i]!)).join('  ')).join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const child = args.indexOf('--child');
  if (child >= 0) {
    const [n, topology] = args[child + 1]!.split(':') as [string, Topology];
    process.stdout.write(JSON.stringify(await runOne(Number(n), topology)) + '\n');
    return;
  }
  const sizesArg = args.indexOf('--sizes');
  const sizes = sizesArg >= 0 ? args[sizesArg + 1]!.split(',').map(Number) : [100, 1000, 5000];
  const results: Result[] = [];
  const self = fileURLToPath(import.meta.url);
  for (const n of sizes) {
    for (const topology of ['mesh', 'rr'] as const) {
      const r = spawnSync(process.execPath, ['--expose-gc', self, '--child', `${n}:${topology}`], { encoding: 'utf8' });
      if (r.status !== 0) {
        process.stderr.write(r.stderr);
        throw new Error(`benchmark child ${n}:${topology} failed`);
      }
      results.push(JSON.parse(r.stdout.trim().split('\n').pop()!) as Result);
    }
  }
  if (args.includes('--json')) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  else {
    process.stdout.write('Peering model from the file backend (median of the change rounds)\n\n');
    process.stdout.write(table(results) + '\n');
    process.stdout.write('\nchange->model: re-read one nodes file (100 nodes), convert all resources, diff the key view, rebuild the model.\n');
    process.stdout.write('key->model: one key-view change to a new model (what any backend pays after its own update).\n');
    process.stdout.write('unrelated events: model change events caused by a change that does not affect this node (must be 0).\n');
  }
}

await main();
