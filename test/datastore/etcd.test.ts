/**
 * The etcd backend against a real etcd (Debian etcd-server), started on free
 * loopback ports with a temp data dir and removed afterwards.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { Etcd3 } from 'etcd3';
import { EtcdDatastore, type EtcdDatastoreOptions } from '../../src/datastore/etcd.js';
import type { KeyViewConverter } from '../../src/datastore/diff.js';
import { resourcesToKeyView } from '../../src/datastore/resources/to-keys.js';
import type { KeyChange, SyncStatus } from '../../src/datastore/types.js';
import { EtcdServer, waitFor } from '../support/etcd.js';

let etcd: EtcdServer;
let client: Etcd3;
const running: EtcdDatastore[] = [];

before(async () => {
  etcd = await EtcdServer.start();
  client = etcd.client();
});

after(async () => {
  client?.close();
  await etcd?.stop();
});

afterEach(async () => {
  while (running.length > 0) await running.pop()!.stop();
  if (!etcd.running) await etcd.restart();
  await client.delete().prefix('/calico/');
});

/** Captures log lines (as parsed objects and raw text). */
function captureLog() {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
  return { log, lines, warnings: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === 40) };
}

function backend(extra: Partial<EtcdDatastoreOptions> = {}) {
  const cap = captureLog();
  const ds = new EtcdDatastore({
    endpoints: [etcd.endpoint],
    layout: 'legacy',
    backoff: { initialMs: 20, maxMs: 300 },
    requestTimeoutMs: 2000,
    log: cap.log,
    ...extra,
  });
  running.push(ds);
  const batches: KeyChange[][] = [];
  const statuses: SyncStatus[] = [];
  ds.subscribe({ changes: (b) => batches.push(b), status: (s) => statuses.push(s) });
  return { ds, batches, statuses, cap };
}

async function putAll(kvs: Record<string, string>): Promise<void> {
  const entries = Object.entries(kvs);
  for (let i = 0; i < entries.length; i += 100) {
    const txn = client.if('/nonexistent-guard', 'Version', '==', 0);
    await txn.then(...entries.slice(i, i + 100).map(([k, v]) => client.put(k).value(v))).commit();
  }
}

const AS = '/calico/bgp/v1/global/as_num';
const HOST1 = '/calico/bgp/v1/host/node1/ip_addr_v4';
const BLOCK1 = '/calico/ipam/v2/host/node1/ipv4/block/10.65.0.0-26';

test('legacy layout: initial list, then puts and deletes arrive as key diffs', async () => {
  await putAll({ [AS]: '64512', [HOST1]: '192.0.2.1', [BLOCK1]: '{"state":"confirmed"}', '/calico/felix/v1/x': 'ignored' });
  const { ds, batches, statuses } = backend();
  await ds.start();
  await waitFor(() => ds.status() === 'in-sync', 'in-sync');
  assert.deepEqual(statuses, ['in-sync']);
  assert.deepEqual(
    [...ds.snapshot()].sort(),
    [
      [AS, '64512'],
      [HOST1, '192.0.2.1'],
      [BLOCK1, '{"state":"confirmed"}'],
    ].sort(),
  );

  batches.length = 0;
  await client.put(HOST1).value('192.0.2.9');
  await client.delete().key(BLOCK1);
  await waitFor(() => !ds.snapshot().has(BLOCK1), 'delete to arrive');
  assert.equal(ds.snapshot().get(HOST1), '192.0.2.9');
  assert.deepEqual(batches.flat(), [
    { key: HOST1, value: '192.0.2.9' },
    { key: BLOCK1, value: null },
  ]);
  // Rewriting the same value is no change at all.
  batches.length = 0;
  await client.put(HOST1).value('192.0.2.9');
  await client.put(AS).value('64513');
  await waitFor(() => ds.snapshot().get(AS) === '64513', 'AS change');
  assert.deepEqual(batches.flat(), [{ key: AS, value: '64513' }]);
});

test('legacy layout: a malformed value is logged once with its key, skipped, and never leaks a password', async () => {
  const badPeer = '/calico/bgp/v1/global/peer_v4/192.0.2.50';
  await putAll({
    [AS]: '64512',
    [badPeer]: '{"ip": "not-an-ip", "as_num": "64600", "password": "s3cret-pw"}',
    '/calico/bgp/v1/host/node2/ip_addr_v4': '999.1.1.1',
    '/calico/v1/ipam/v4/pool/10.65.0.0-16': '{not json',
  });
  const { ds, cap } = backend();
  await ds.start();
  await waitFor(() => ds.status() === 'in-sync', 'in-sync');
  assert.deepEqual([...ds.snapshot().keys()], [AS]);
  const warned = cap.warnings().map((w) => w.key);
  assert.deepEqual(warned.sort(), [badPeer, '/calico/bgp/v1/host/node2/ip_addr_v4', '/calico/v1/ipam/v4/pool/10.65.0.0-16'].sort());

  // Same bad value rewritten: no new warning. Fixed: it appears.
  await client.put(badPeer).value('{"ip": "not-an-ip", "as_num": "64600", "password": "s3cret-pw"}');
  await client.put('/calico/bgp/v1/host/node2/ip_addr_v4').value('192.0.2.2');
  await waitFor(() => ds.snapshot().has('/calico/bgp/v1/host/node2/ip_addr_v4'), 'fixed value');
  assert.equal(cap.warnings().length, 3);
  assert.ok(!cap.lines.join('\n').includes('s3cret-pw'), 'password must not be logged');
});

test('etcd killed and restarted mid-watch: resyncing while down, relist diff after restart', async () => {
  await putAll({ [AS]: '64512', [HOST1]: '192.0.2.1' });
  const { ds, batches, statuses } = backend();
  await ds.start();
  await waitFor(() => ds.status() === 'in-sync', 'in-sync');

  await etcd.kill9();
  await waitFor(() => ds.status() === 'resyncing', 'resyncing');
  // The last complete view stays readable while resyncing.
  assert.equal(ds.snapshot().get(AS), '64512');

  batches.length = 0;
  await etcd.restart();
  // Changes made while we are (possibly) still disconnected.
  const c2 = etcd.client();
  try {
    await c2.put(HOST1).value('192.0.2.7');
    await c2.put('/calico/bgp/v1/host/node3/ip_addr_v4').value('192.0.2.3');
    await c2.delete().key(AS);
  } finally {
    c2.close();
  }
  await waitFor(
    () => ds.status() === 'in-sync' && ds.snapshot().get(HOST1) === '192.0.2.7' && !ds.snapshot().has(AS) && ds.snapshot().size === 2,
    'resync after restart',
    20_000,
  );
  assert.deepEqual(statuses.slice(0, 3), ['in-sync', 'resyncing', 'in-sync']);
  // Whatever path the changes took (relist diff or watch), the net effect is these three.
  const net = new Map<string, string | null>();
  for (const c of batches.flat()) net.set(c.key, c.value);
  assert.deepEqual(
    [...net].sort(),
    [
      [AS, null],
      [HOST1, '192.0.2.7'],
      ['/calico/bgp/v1/host/node3/ip_addr_v4', '192.0.2.3'],
    ].sort(),
  );
});

test('compaction past our revision before the watch starts forces a relist that catches up', async () => {
  await putAll({ [AS]: '64512', [HOST1]: '192.0.2.1' });
  let first = true;
  const { ds } = backend({
    beforeWatch: async (rev) => {
      if (!first) return;
      first = false;
      await client.put(HOST1).value('192.0.2.4');
      await client.delete().key(AS);
      const compacted = await etcd.compact();
      assert.ok(compacted > rev + 1);
    },
  });
  await ds.start();
  await waitFor(() => ds.status() === 'in-sync' && ds.snapshot().get(HOST1) === '192.0.2.4', 'catch-up after compaction');
  assert.equal(ds.snapshot().has(AS), false);
  assert.equal(ds.stats.lists, 2);
});

test('10,000 keys: paged initial list and live updates', async () => {
  const kvs: Record<string, string> = {};
  for (let i = 0; i < 10_000; i++) {
    const node = `node${i}`;
    kvs[`/calico/bgp/v1/host/${node}/ip_addr_v4`] = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  }
  await putAll(kvs);
  const { ds } = backend({ pageSize: 1500 });
  const t0 = performance.now();
  await ds.start();
  await waitFor(() => ds.status() === 'in-sync', 'in-sync', 20_000);
  const ms = performance.now() - t0;
  assert.equal(ds.snapshot().size, 10_000);
  assert.equal(ds.snapshot().get('/calico/bgp/v1/host/node9999/ip_addr_v4'), '10.0.39.15');
  await client.put('/calico/bgp/v1/host/node5/ip_addr_v4').value('192.0.2.5');
  await waitFor(() => ds.snapshot().get('/calico/bgp/v1/host/node5/ip_addr_v4') === '192.0.2.5', 'update');
  // One delete of all 10,000 keys arrives as one large watch response.
  let deletions = 0;
  ds.subscribe({ changes: (b) => (deletions += b.filter((c) => c.value === null).length) });
  await client.delete().prefix('/calico/bgp/v1/host/');
  await waitFor(() => ds.snapshot().size === 0, 'bulk delete', 20_000);
  assert.equal(deletions, 10_000);
  assert.equal(ds.status(), 'in-sync');
  console.log(`# 10,000 keys listed and in sync in ${ms.toFixed(0)} ms`);
});

// A stand-in converter for the v3 layout tests: Nodes -> host ip keys.
const stubConvert: KeyViewConverter = (resources) => {
  const keys = new Map<string, string>();
  const problems: unknown[] = [];
  for (const r of resources) {
    if (r.kind !== 'Node') continue;
    const bgp = (r.spec?.bgp ?? {}) as { ipv4Address?: string };
    if (bgp.ipv4Address) keys.set(`/calico/bgp/v1/host/${r.metadata.name}/ip_addr_v4`, bgp.ipv4Address.split('/')[0]!);
    else problems.push({ resource: `Node/${r.metadata.name}`, message: 'no ipv4Address' });
  }
  return { keys, problems };
};

test('v3 layout: resources are converted, block affinity keys pass through, bad JSON is skipped', async () => {
  const nodeKey = (n: string) => `/calico/resources/v3/projectcalico.org/nodes/${n}`;
  await putAll({
    [nodeKey('n1')]: JSON.stringify({ kind: 'Node', apiVersion: 'projectcalico.org/v3', metadata: { name: 'n1' }, spec: { bgp: { ipv4Address: '192.0.2.1/24' } } }),
    [nodeKey('n2')]: '{"kind": "Node", broken',
    [nodeKey('n3')]: JSON.stringify({ metadata: { name: 'n3' }, spec: {} }),
    [BLOCK1]: '{"state":"confirmed","deleted":false}',
    '/calico/resources/v3/projectcalico.org/workloadendpoints/default/x': '{}',
  });
  const { ds, cap } = backend({ layout: 'auto', convert: stubConvert, coalesceMs: 1 });
  await ds.start();
  await waitFor(() => ds.status() === 'in-sync', 'in-sync');
  assert.deepEqual(
    [...ds.snapshot()].sort(),
    [
      ['/calico/bgp/v1/host/n1/ip_addr_v4', '192.0.2.1'],
      [BLOCK1, '{"state":"confirmed","deleted":false}'],
    ].sort(),
  );
  const warnings = cap.warnings();
  assert.equal(warnings.filter((w) => w.key === nodeKey('n2')).length, 1);
  assert.equal(warnings.filter((w) => JSON.stringify(w.problem ?? '').includes('Node/n3')).length, 1);

  await client.put(nodeKey('n2')).value(JSON.stringify({ metadata: { name: 'n2' }, spec: { bgp: { ipv4Address: '192.0.2.2/24' } } }));
  await client.delete().key(nodeKey('n1'));
  await waitFor(() => ds.snapshot().has('/calico/bgp/v1/host/n2/ip_addr_v4') && !ds.snapshot().has('/calico/bgp/v1/host/n1/ip_addr_v4'), 'v3 updates');
  // The unchanged problem (n3) is not logged again on reconversion.
  assert.equal(cap.warnings().filter((w) => JSON.stringify(w.problem ?? '').includes('Node/n3')).length, 1);
});

test('v3 layout end to end with the Calico conversion: BGPConfiguration, Node, BGPPeer, IPPool, block affinities', async () => {
  const v3 = (plural: string, name: string, kind: string, spec: Record<string, unknown>) => [
    `/calico/resources/v3/projectcalico.org/${plural}/${name}`,
    JSON.stringify({ kind, apiVersion: 'projectcalico.org/v3', metadata: { name }, spec }),
  ];
  await putAll(
    Object.fromEntries([
      v3('bgpconfigurations', 'default', 'BGPConfiguration', { asNumber: 64513, nodeToNodeMeshEnabled: true }),
      v3('nodes', 'n1', 'Node', { bgp: { ipv4Address: '192.0.2.1/24', routeReflectorClusterID: '1.0.0.1' } }),
      v3('nodes', 'n2', 'Node', { bgp: { ipv4Address: '192.0.2.2/24', asNumber: 64700 } }),
      v3('bgppeers', 'tor', 'BGPPeer', { peerIP: '198.51.100.1', asNumber: 65000 }),
      v3('ippools', 'pool4', 'IPPool', { cidr: '10.65.0.0/16', ipipMode: 'Always' }),
      [BLOCK1, '{"state":"confirmed","deleted":false}'],
    ]),
  );
  const { ds } = backend({ layout: 'v3', convert: resourcesToKeyView, nodeName: 'n1', coalesceMs: 1 });
  await ds.start();
  await waitFor(() => ds.status() === 'in-sync', 'in-sync');
  const snap = ds.snapshot();
  assert.equal(snap.get('/calico/bgp/v1/global/as_num'), '64513');
  assert.equal(snap.get('/calico/bgp/v1/host/n1/ip_addr_v4'), '192.0.2.1');
  assert.equal(snap.get('/calico/bgp/v1/host/n1/rr_cluster_id'), '1.0.0.1');
  assert.equal(snap.get('/calico/bgp/v1/host/n2/as_num'), '64700');
  assert.ok([...snap.keys()].some((k) => k.includes('peer_v4/198.51.100.1')), 'BGPPeer');
  assert.ok([...snap.keys()].some((k) => k.startsWith('/calico/v1/ipam/v4/pool/10.65.0.0-16')), 'IPPool');
  assert.equal(snap.get(BLOCK1), '{"state":"confirmed","deleted":false}');

  await client.put('/calico/resources/v3/projectcalico.org/nodes/n2').value(JSON.stringify({ kind: 'Node', apiVersion: 'projectcalico.org/v3', metadata: { name: 'n2' }, spec: { bgp: { ipv4Address: '192.0.2.22/24' } } }));
  await waitFor(() => ds.snapshot().get('/calico/bgp/v1/host/n2/ip_addr_v4') === '192.0.2.22', 'node update');
  assert.equal(ds.snapshot().has('/calico/bgp/v1/host/n2/as_num'), false);
});
