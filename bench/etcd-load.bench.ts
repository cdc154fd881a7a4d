/**
 * Initial load of a 5,000-node cluster from a real etcd (issue #3 target:
 * < 1 s from start() to in-sync).
 *
 * Starts its own etcd (test/support/etcd.ts: free loopback ports, temp data
 * dir, removed at the end), writes the cluster in both layouts, then times
 * fresh EtcdDatastore instances from start() to `in-sync` (connect + paged
 * range reads + validation/conversion + publish).
 *
 *   node dist/bench/etcd-load.bench.js [--nodes N] [--runs N] [--strict]
 *
 * --strict exits 1 when a median misses the budget.
 */
import { pino } from 'pino';
import { EtcdDatastore, type EtcdLayout } from '../src/datastore/etcd.js';
import { resourcesToKeyView } from '../src/datastore/resources/to-keys.js';
import { EtcdServer } from '../test/support/etcd.js';

const BUDGET_MS = 1000;

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const NODES = arg('--nodes', 5000);
const RUNS = arg('--runs', 5);
const STRICT = process.argv.includes('--strict');

const ip4 = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const block = (i: number) => `100.${64 + ((i >> 10) & 63)}.${(i >> 2) & 255}.${(i & 3) * 64}`;

/** Legacy layout: what calico-node/confd kept in etcd per host, plus one block each. */
function legacyCluster(n: number): Array<[string, string]> {
  const out: Array<[string, string]> = [
    ['/calico/bgp/v1/global/as_num', '64512'],
    ['/calico/bgp/v1/global/node_mesh', '{"enabled": false}'],
    ['/calico/bgp/v1/global/loglevel', 'info'],
    ['/calico/v1/ipam/v4/pool/100.64.0.0-10', '{"cidr":"100.64.0.0/10","ipip":"tunl0","ipip_mode":"always","masquerade":true}'],
  ];
  for (let i = 0; i < n; i++) {
    const h = `/calico/bgp/v1/host/node-${i}`;
    out.push([`${h}/ip_addr_v4`, ip4(i)]);
    out.push([`${h}/ip_addr_v6`, '']);
    out.push([`${h}/network_v4`, `${ip4(i & ~255)}/16`]);
    out.push([`${h}/rr_cluster_id`, i < 4 ? '1.0.0.1' : '']);
    out.push([`/calico/ipam/v2/host/node-${i}/ipv4/block/${block(i)}-26`, '{"state":"confirmed","deleted":false}']);
  }
  for (let r = 0; r < 4; r++) out.push([`/calico/bgp/v1/global/peer_v4/${ip4(r)}`, JSON.stringify({ ip: ip4(r), as_num: '64512' })]);
  return out;
}

/** v3 layout: Calico v3 resources as libcalico-go stores them, block affinities as v1 model keys. */
function v3Cluster(n: number): Array<[string, string]> {
  const root = '/calico/resources/v3/projectcalico.org';
  const res = (plural: string, kind: string, name: string, body: Record<string, unknown>) =>
    [`${root}/${plural}/${name}`, JSON.stringify({ kind, apiVersion: 'projectcalico.org/v3', metadata: { name, uid: `uid-${name}`, creationTimestamp: '2024-01-01T00:00:00Z', ...((body.metadata as object) ?? {}) }, spec: body.spec })] as [string, string];
  const out: Array<[string, string]> = [
    res('bgpconfigurations', 'BGPConfiguration', 'default', { spec: { asNumber: 64512, nodeToNodeMeshEnabled: false, logSeverityScreen: 'Info' } }),
    res('ippools', 'IPPool', 'default-ipv4-ippool', { spec: { cidr: '100.64.0.0/10', ipipMode: 'Always', natOutgoing: true, blockSize: 26, nodeSelector: 'all()' } }),
    res('bgppeers', 'BGPPeer', 'rr-mesh', { spec: { nodeSelector: 'has(route-reflector)', peerSelector: 'has(route-reflector)' } }),
    res('bgppeers', 'BGPPeer', 'to-rr', { spec: { nodeSelector: '!has(route-reflector)', peerSelector: 'has(route-reflector)' } }),
    res('bgppeers', 'BGPPeer', 'tor', { spec: { peerIP: '198.51.100.1', asNumber: 65000, nodeSelector: "rack == 'r1'" } }),
  ];
  for (let i = 0; i < n; i++) {
    const name = `node-${i}`;
    const labels: Record<string, string> = { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', rack: `r${i % 40}` };
    if (i < 4) labels['route-reflector'] = 'true';
    out.push(
      res('nodes', 'Node', name, {
        metadata: { labels },
        spec: {
          bgp: { ipv4Address: `${ip4(i)}/16`, ...(i < 4 ? { routeReflectorClusterID: '1.0.0.1' } : {}) },
          orchRefs: [{ nodeName: name, orchestrator: 'k8s' }],
        },
      }),
    );
    out.push([`/calico/ipam/v2/host/${name}/ipv4/block/${block(i)}-26`, '{"state":"confirmed","deleted":false}']);
  }
  return out;
}

async function load(etcd: EtcdServer, kvs: Array<[string, string]>): Promise<void> {
  const c = etcd.client();
  try {
    await c.delete().prefix('/calico/');
    const batches: Array<Array<[string, string]>> = [];
    for (let i = 0; i < kvs.length; i += 100) batches.push(kvs.slice(i, i + 100));
    let next = 0;
    const worker = async () => {
      while (next < batches.length) {
        const b = batches[next++]!;
        await c.if('/bench-guard', 'Version', '==', 0).then(...b.map(([k, v]) => c.put(k).value(v))).commit();
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
  } finally {
    c.close();
  }
}

interface Run {
  totalMs: number;
  listMs: number;
  convertMs: number;
  viewKeys: number;
}

async function timeOnce(etcd: EtcdServer, layout: EtcdLayout): Promise<Run> {
  const ds = new EtcdDatastore({
    endpoints: [etcd.endpoint],
    layout,
    convert: resourcesToKeyView,
    nodeName: 'node-10',
    coalesceMs: 0,
    log: pino({ level: 'error' }),
  });
  const t0 = performance.now();
  const synced = new Promise<void>((resolve) => ds.subscribe({ status: (s) => s === 'in-sync' && resolve() }));
  await ds.start();
  await synced;
  const totalMs = performance.now() - t0;
  const run = { totalMs, listMs: ds.stats.lastListMs, convertMs: ds.stats.lastConvertMs, viewKeys: ds.snapshot().size };
  await ds.stop();
  return run;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const etcd = await EtcdServer.start();
  let failed = false;
  try {
    console.log(`etcd-load: ${NODES} nodes, ${RUNS} runs per layout, etcd ${etcd.endpoint}`);
    for (const [layout, kvs] of [
      ['legacy', legacyCluster(NODES)],
      ['v3', v3Cluster(NODES)],
    ] as const) {
      const bytes = kvs.reduce((n, [k, v]) => n + k.length + v.length, 0);
      await load(etcd, kvs);
      await timeOnce(etcd, layout); // warm-up (JIT, etcd page cache)
      const runs: Run[] = [];
      for (let i = 0; i < RUNS; i++) runs.push(await timeOnce(etcd, layout));
      const tot = runs.map((r) => r.totalMs);
      const med = median(tot);
      const ok = med < BUDGET_MS;
      if (!ok) failed = true;
      console.log(
        `  ${layout.padEnd(6)} ${kvs.length} etcd keys (${(bytes / 1e6).toFixed(1)} MB) -> ${runs[0]!.viewKeys} view keys: ` +
          `start->in-sync median ${med.toFixed(0)} ms (min ${Math.min(...tot).toFixed(0)}, max ${Math.max(...tot).toFixed(0)}); ` +
          `of which list+build ${median(runs.map((r) => r.listMs)).toFixed(0)} ms, resource conversion ${median(runs.map((r) => r.convertMs)).toFixed(0)} ms  [budget ${BUDGET_MS} ms: ${ok ? 'ok' : 'MISSED'}]`,
      );
    }
  } finally {
    await etcd.stop();
  }
  if (failed && STRICT) process.exit(1);
}

await main();
