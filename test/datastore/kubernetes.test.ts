/**
 * The Kubernetes backend against the local list/watch server in
 * test/k8s-api-server, through the production transport (client-node
 * KubeConfig built from K8S_API_ENDPOINT / K8S_TOKEN).
 *
 * The server enforces the shipped RBAC (deploy/kubernetes/rbac): any
 * request it refuses fails the test.
 *
 * The conversion is a stand-in here (Node annotation -> ip_addr_v4, Secret
 * -> one key) so these tests are about list/watch/sync behaviour only.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { KubernetesDatastore, type KubernetesDatastoreOptions } from '../../src/datastore/kubernetes.js';
import { resourcesToKeyView } from '../../src/datastore/resources/to-keys.js';
import { kubeConfigFromEnv } from '../../src/datastore/kubernetes-http.js';
import type { KeyViewConverter } from '../../src/datastore/diff.js';
import type { KeyChange, SyncStatus } from '../../src/datastore/types.js';
import { FakeApiServer, type K8sObject, type FakeApiServerOptions } from '../k8s-api-server/server.js';
import { shippedRbac } from '../k8s-api-server/rbac.js';
import { waitFor } from '../support/etcd.js';

const NODES = 'api/v1/nodes';
const SERVICES = 'api/v1/services';
const SECRETS = 'api/v1/secrets';
const PEERS = 'apis/crd.projectcalico.org/v1/bgppeers';

const stubConvert: KeyViewConverter = (resources) => {
  const keys = new Map<string, string>();
  const problems: unknown[] = [];
  for (const r of resources) {
    if (r.kind === 'Node') {
      const ip = r.metadata.annotations?.['projectcalico.org/IPv4Address'];
      if (ip) keys.set(`/calico/bgp/v1/host/${r.metadata.name}/ip_addr_v4`, ip.split('/')[0]!);
    } else if (r.kind === 'Secret') {
      keys.set(`/test/secret/${r.metadata.name}`, Buffer.from(r.data?.password ?? '', 'base64').toString());
    } else if (r.kind === 'BGPPeer') {
      if (typeof r.spec?.peerIP !== 'string') problems.push({ resource: `BGPPeer/${r.metadata.name}`, message: 'no peerIP' });
      else keys.set(`/calico/bgp/v1/global/peer_v4/${r.spec.peerIP}`, JSON.stringify({ ip: r.spec.peerIP }));
    }
  }
  return { keys, problems };
};

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** Whether some URL was requested again after `from` requests: the client met a failure and retried. */
function retriedSince(server: FakeApiServer, from: number): boolean {
  const seen = new Set<string>();
  for (const r of server.requests.slice(from)) {
    if (seen.has(r)) return true;
    seen.add(r);
  }
  return false;
}

function node(name: string, ip: string, extra: Partial<K8sObject> = {}): K8sObject {
  return { metadata: { name, annotations: { 'projectcalico.org/IPv4Address': `${ip}/24` } }, spec: {}, ...extra };
}

async function setup(serverOpts: FakeApiServerOptions = {}, extra: Partial<KubernetesDatastoreOptions> = {}, token?: string) {
  // The shipped RBAC, enforced: a request it does not allow fails the test.
  const server = new FakeApiServer({ rbac: shippedRbac('calico-system'), ...serverOpts });
  const url = await server.start();
  cleanups.push(async () => {
    await server.stop();
    assert.deepEqual(server.denials, [], 'requests the shipped RBAC refused');
  });
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
  const ds = new KubernetesDatastore({
    convert: stubConvert,
    kubeConfig: kubeConfigFromEnv({ K8S_API_ENDPOINT: url, K8S_TOKEN: token ?? serverOpts.token }),
    secretsNamespaces: ['calico-system'],
    backoff: { initialMs: 10, maxMs: 100 },
    coalesceMs: 1,
    log,
    ...extra,
  });
  cleanups.push(() => ds.stop());
  const batches: KeyChange[][] = [];
  const statuses: SyncStatus[] = [];
  ds.subscribe({ changes: (b) => batches.push(b), status: (s) => statuses.push(s) });
  const lw = (name: string) => ds.listWatches().find((l) => l.spec.name === name)!;
  const warnings = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === 40);
  return { server, ds, batches, statuses, lw, lines, warnings };
}

const ipKey = (n: string) => `/calico/bgp/v1/host/${n}/ip_addr_v4`;

test('paged initial list of every collection, then watch events arrive as key diffs', async () => {
  const { server, ds, batches, statuses } = await setup({ splitChunks: true }, { pageSize: 2 });
  for (let i = 1; i <= 5; i++) server.put(NODES, node(`n${i}`, `192.0.2.${i}`));
  await ds.start();
  await waitFor(() => ds.status() === 'in-sync', 'in-sync');
  assert.deepEqual(statuses, ['in-sync']);
  assert.equal(ds.snapshot().size, 5);
  assert.ok(server.requests.some((r) => r.startsWith('/api/v1/nodes?limit=2&continue=')), 'LIST is paged');
  assert.ok(server.requests.some((r) => r.startsWith('/api/v1/namespaces/calico-system/secrets?')), 'secrets from the Calico namespace');
  assert.equal(batches.length, 1, 'the initial view is published once');

  batches.length = 0;
  server.put(NODES, node('n6', '192.0.2.6'));
  server.put(NODES, node('n1', '192.0.2.11'));
  server.delete(NODES, 'n2');
  await waitFor(() => !ds.snapshot().has(ipKey('n2')) && ds.snapshot().has(ipKey('n6')), 'events');
  const net = new Map<string, string | null>();
  for (const c of batches.flat()) net.set(c.key, c.value);
  assert.deepEqual(
    [...net].sort(),
    [
      [ipKey('n1'), '192.0.2.11'],
      [ipKey('n2'), null],
      [ipKey('n6'), '192.0.2.6'],
    ].sort(),
  );

  // A status-only update (heartbeat) converts nothing.
  const before = ds.stats.conversions;
  server.put(NODES, node('n3', '192.0.2.3', { status: { conditions: [{ type: 'Ready', lastHeartbeatTime: 'now' }] } }));
  server.put(NODES, node('n3', '192.0.2.3', { status: { conditions: [{ type: 'Ready', lastHeartbeatTime: 'later' }] } }));
  server.put(NODES, node('n4', '192.0.2.44'));
  await waitFor(() => ds.snapshot().get(ipKey('n4')) === '192.0.2.44', 'n4');
  assert.ok(ds.stats.conversions - before <= 2);
});

test('in-sync only once every collection has listed', async () => {
  const { server, ds, statuses } = await setup();
  server.setAvailable(false);
  await ds.start();
  await waitFor(() => retriedSince(server, 0), 'a list failed and was retried');
  assert.equal(ds.status(), 'connecting');
  assert.equal(ds.snapshot().size, 0);
  server.put(NODES, node('n1', '192.0.2.1'));
  server.setAvailable(true);
  await waitFor(() => ds.status() === 'in-sync', 'in-sync');
  assert.equal(ds.snapshot().get(ipKey('n1')), '192.0.2.1');
  assert.deepEqual(statuses, ['in-sync']);
});

test('connection drop and outage: resyncing until relisted, changes made meanwhile are diffed in', async () => {
  const { server, ds, batches, statuses } = await setup();
  server.put(NODES, node('n1', '192.0.2.1'));
  server.put(NODES, node('n2', '192.0.2.2'));
  await ds.start();
  await waitFor(() => ds.status() === 'in-sync', 'in-sync');

  server.setAvailable(false);
  await waitFor(() => ds.status() === 'resyncing', 'resyncing');
  server.put(NODES, node('n1', '192.0.2.100'));
  server.delete(NODES, 'n2');
  const outageFrom = server.requests.length;
  await waitFor(() => retriedSince(server, outageFrom), 'a failed list retried during the outage');
  assert.equal(ds.status(), 'resyncing');
  assert.equal(ds.snapshot().get(ipKey('n1')), '192.0.2.1', 'last complete view kept while resyncing');

  batches.length = 0;
  server.setAvailable(true);
  await waitFor(() => ds.status() === 'in-sync', 'in-sync again');
  assert.deepEqual(batches.flat(), [
    { key: ipKey('n1'), value: '192.0.2.100' },
    { key: ipKey('n2'), value: null },
  ]);
  assert.deepEqual(statuses, ['in-sync', 'resyncing', 'in-sync']);

  // A plain drop (no outage) recovers the same way.
  const lists = () => ds.listWatches().map((l) => l.stats.lists);
  const before = lists();
  server.dropConnections();
  await waitFor(() => lists().every((n, i) => n > before[i]!) && ds.status() === 'in-sync', 'second resync');
  assert.equal(statuses[3], 'resyncing');
  assert.equal(statuses.at(-1), 'in-sync');
});

for (const goneAs of ['event', 'http'] as const) {
  test(`410 Gone (${goneAs === 'event' ? 'ERROR event' : 'HTTP status'}) on re-watch leads to a relist that catches up`, async () => {
    const { server, ds, lw, statuses } = await setup({ goneAs });
    server.put(NODES, node('n1', '192.0.2.1'));
    await ds.start();
    await waitFor(() => ds.status() === 'in-sync' && server.openWatches === 8, 'in-sync and watching');
    // Same tick: the streams end, a change lands, history is compacted. The
    // re-watch from the old RV can only get 410.
    server.endWatches();
    server.put(NODES, node('n1', '192.0.2.9'));
    server.compact();
    await waitFor(
      () => ds.snapshot().get(ipKey('n1')) === '192.0.2.9' && ds.listWatches().every((l) => l.stats.lists === 2) && ds.status() === 'in-sync',
      'relisted',
    );
    assert.ok(lw('nodes').stats.gone >= 1);
    assert.equal(lw('nodes').stats.lists, 2);
    // Each collection meets its 410 on its own jittered schedule, so the
    // status may flip more than once; it must pass through resyncing and end in sync.
    assert.deepEqual(statuses.slice(0, 2), ['in-sync', 'resyncing']);
    assert.equal(statuses.at(-1), 'in-sync');
  });
}

test('a clean end of the watch stream re-watches from the last RV without relisting', async () => {
  const { server, ds, lw, statuses } = await setup();
  await ds.start();
  await waitFor(() => ds.status() === 'in-sync' && server.openWatches === 8, 'watching');
  server.endWatches();
  server.put(NODES, node('n1', '192.0.2.1'));
  await waitFor(() => ds.snapshot().has(ipKey('n1')), 'event after re-watch');
  assert.equal(lw('nodes').stats.lists, 1);
  assert.ok(lw('nodes').stats.watches >= 2);
  assert.deepEqual(statuses, ['in-sync']);
});

test('BOOKMARKs keep the resourceVersion fresh so a re-watch after compaction needs no relist', async () => {
  const { server, ds, lw } = await setup();
  server.put(NODES, node('n1', '192.0.2.1'));
  await ds.start();
  await waitFor(() => ds.status() === 'in-sync' && server.openWatches === 8, 'watching');
  // Other collections move the global RV on; nodes sees only the bookmark.
  for (let i = 0; i < 3; i++) server.put(SERVICES, { metadata: { name: `s${i}`, namespace: 'default' }, spec: {} });
  server.bookmark();
  await waitFor(() => lw('nodes').resourceVersion === String(server.resourceVersion), 'bookmark RV');
  server.endWatches();
  server.compact();
  server.put(NODES, node('n2', '192.0.2.2'));
  await waitFor(() => ds.snapshot().has(ipKey('n2')), 'event after re-watch');
  assert.equal(lw('nodes').stats.gone, 0);
  assert.equal(lw('nodes').stats.lists, 1);
});

test('a corrupt watch line forces a relist; an object without a name is skipped and logged once', async () => {
  const { server, ds, lw, warnings } = await setup();
  server.put(NODES, node('n1', '192.0.2.1'));
  server.put(PEERS, { metadata: { name: 'p1' }, spec: {} });
  await ds.start();
  await waitFor(() => ds.status() === 'in-sync' && server.openWatches === 8, 'watching');
  assert.equal(warnings().filter((w) => JSON.stringify(w.problem ?? '').includes('BGPPeer/p1')).length, 1);

  server.sendRaw(NODES, '{"type": "MODIFIED", "object": {\n');
  server.put(NODES, node('n1', '192.0.2.5'));
  await waitFor(() => ds.snapshot().get(ipKey('n1')) === '192.0.2.5' && lw('nodes').stats.lists === 2, 'relist');

  server.sendRaw(PEERS, JSON.stringify({ type: 'ADDED', object: { metadata: {}, spec: { peerIP: '192.0.2.77' } } }) + '\n');
  server.sendRaw(PEERS, JSON.stringify({ type: 'ADDED', object: { metadata: {}, spec: { peerIP: '192.0.2.78' } } }) + '\n');
  server.put(PEERS, { metadata: { name: 'p2' }, spec: { peerIP: '192.0.2.80' } });
  await waitFor(() => ds.snapshot().has('/calico/bgp/v1/global/peer_v4/192.0.2.80'), 'p2');
  assert.equal(warnings().filter((w) => w.collection === 'bgppeers').length, 1);
  // The unchanged conversion problem (p1) was not logged again.
  assert.equal(warnings().filter((w) => JSON.stringify(w.problem ?? '').includes('BGPPeer/p1')).length, 1);
  assert.equal(ds.status(), 'in-sync');
});

test('Secret rotation reaches the view live, and secret data is never logged', async () => {
  const { server, ds, lines } = await setup();
  const secret = (pw: string) => ({ metadata: { name: 'bgp-pw', namespace: 'calico-system' }, data: { password: Buffer.from(pw).toString('base64') } });
  server.put(SECRETS, secret('first-Pw-1'));
  server.put(SECRETS, { metadata: { name: 'elsewhere', namespace: 'default' }, data: {} });
  await ds.start();
  await waitFor(() => ds.status() === 'in-sync', 'in-sync');
  assert.equal(ds.snapshot().get('/test/secret/bgp-pw'), 'first-Pw-1');
  assert.equal(ds.snapshot().has('/test/secret/elsewhere'), false, 'only the Calico namespace is read');
  server.put(SECRETS, secret('second-Pw-2'));
  await waitFor(() => ds.snapshot().get('/test/secret/bgp-pw') === 'second-Pw-2', 'rotation');
  const all = lines.join('\n');
  for (const s of ['first-Pw-1', 'second-Pw-2', Buffer.from('first-Pw-1').toString('base64')]) assert.ok(!all.includes(s));
});

test('bearer token from K8S_TOKEN is sent; a wrong one keeps us out of sync and is not logged', async () => {
  const good = await setup({ token: 'tok-good-123' });
  await good.ds.start();
  await waitFor(() => good.ds.status() === 'in-sync', 'in-sync with token');

  const bad = await setup({ token: 'tok-good-123' }, {}, 'tok-wrong-456');
  await bad.ds.start();
  await waitFor(() => bad.warnings().some((w) => String(w.err).includes('Unauthorized')), '401 warning');
  assert.equal(bad.ds.status(), 'connecting');
  assert.ok(!bad.lines.join('\n').includes('tok-wrong-456'));
});

test('a forbidden optional collection (Secrets without RBAC) counts as empty and is polled again', async () => {
  const { server, ds, lw, warnings } = await setup({}, { absentRetryMs: 50 });
  server.deny(SECRETS);
  server.put(SECRETS, { metadata: { name: 'bgp-pw', namespace: 'calico-system' }, data: { password: Buffer.from('x').toString('base64') } });
  server.put(NODES, node('n1', '192.0.2.1'));
  await ds.start();
  await waitFor(() => ds.status() === 'in-sync', 'in-sync despite 403');
  assert.equal(ds.snapshot().has('/test/secret/bgp-pw'), false);
  assert.equal(warnings().filter((w) => w.collection === 'secrets/calico-system').length, 1);
  server.allow(SECRETS);
  await waitFor(() => ds.snapshot().has('/test/secret/bgp-pw'), 'secrets once allowed');
  assert.equal(lw('secrets/calico-system').watchState, 'watching');
});

test('Calico resources end to end: Nodes, BGPConfiguration, BGPPeer with Secret password rotation, IPPool, BlockAffinity, podCIDRs', async () => {
  const { server, ds, lines } = await setup(
    {},
    {
      convert: resourcesToKeyView,
      nodeName: 'n1',
      usePodCidr: true,
    },
  );
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  server.put('apis/crd.projectcalico.org/v1/bgpconfigurations', { metadata: { name: 'default' }, spec: { asNumber: 64513, nodeToNodeMeshEnabled: false } });
  server.put(NODES, {
    metadata: {
      name: 'n1',
      labels: { rack: 'r1' },
      annotations: { 'projectcalico.org/IPv4Address': '192.0.2.1/24', 'projectcalico.org/ASNumber': '64600', 'projectcalico.org/RouteReflectorClusterID': '1.0.0.1' },
    },
    spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'] },
  });
  server.put(NODES, { metadata: { name: 'n2', annotations: { 'projectcalico.org/IPv4Address': '192.0.2.2/24' } }, spec: { podCIDRs: ['10.244.2.0/24'] } });
  server.put(SECRETS, { metadata: { name: 'bgp-secrets', namespace: 'calico-system' }, data: { tor: b64('pw-one') } });
  server.put(PEERS, { metadata: { name: 'tor' }, spec: { peerIP: '198.51.100.1', asNumber: 65000, password: { secretKeyRef: { name: 'bgp-secrets', key: 'tor' } } } });
  server.put('apis/crd.projectcalico.org/v1/ippools', { metadata: { name: 'pool4' }, spec: { cidr: '10.65.0.0/16', ipipMode: 'Always', natOutgoing: true } });
  server.put('apis/crd.projectcalico.org/v1/blockaffinities', { metadata: { name: 'n2-10-65-0-0-26' }, spec: { node: 'n2', cidr: '10.65.0.0/26', state: 'confirmed' } });
  await ds.start();
  await waitFor(() => ds.status() === 'in-sync', 'in-sync');
  const snap = ds.snapshot();
  assert.equal(snap.get('/calico/bgp/v1/global/as_num'), '64513');
  assert.equal(snap.get('/calico/bgp/v1/host/n1/ip_addr_v4'), '192.0.2.1');
  assert.equal(snap.get('/calico/bgp/v1/host/n1/as_num'), '64600');
  assert.equal(snap.get('/calico/bgp/v1/host/n1/rr_cluster_id'), '1.0.0.1');
  assert.ok(snap.has('/calico/ipam/v2/host/n1/ipv4/block/10.244.1.0-24'), 'podCIDR block with USE_POD_CIDR');
  assert.ok(snap.has('/calico/ipam/v2/host/n2/ipv4/block/10.65.0.0-26'), 'BlockAffinity');
  assert.ok([...snap.keys()].some((k) => k.startsWith('/calico/v1/ipam/v4/pool/10.65.0.0-16')), 'IPPool');
  const peerKey = () => [...ds.snapshot().keys()].find((k) => k.includes('peer_v4/198.51.100.1'));
  assert.ok(peerKey(), 'BGPPeer');
  const password = () => (JSON.parse(ds.snapshot().get(peerKey()!)!) as { password: string | null }).password;
  assert.equal(password(), 'pw-one');

  server.put(SECRETS, { metadata: { name: 'bgp-secrets', namespace: 'calico-system' }, data: { tor: b64('pw-two') } });
  await waitFor(() => password() === 'pw-two', 'password rotation');
  server.put(NODES, { metadata: { name: 'n2', annotations: { 'projectcalico.org/IPv4Address': '192.0.2.22/24' } }, spec: { podCIDRs: ['10.244.2.0/24'] } });
  await waitFor(() => ds.snapshot().get('/calico/bgp/v1/host/n2/ip_addr_v4') === '192.0.2.22', 'node update');
  const all = lines.join('\n');
  for (const s of ['pw-one', 'pw-two', b64('pw-one'), b64('pw-two')]) assert.ok(!all.includes(s), 'passwords never logged');
});

test('service IP advertisement follows Services and Endpoints live', async () => {
  const { server, ds } = await setup({}, { convert: resourcesToKeyView, nodeName: 'n1' });
  server.put('apis/crd.projectcalico.org/v1/bgpconfigurations', { metadata: { name: 'default' }, spec: { serviceClusterIPs: [{ cidr: '10.96.0.0/12' }] } });
  server.put(NODES, node('n1', '192.0.2.1'));
  server.put(SERVICES, { metadata: { name: 'web', namespace: 'default' }, spec: { type: 'NodePort', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], externalTrafficPolicy: 'Local', ports: [{ port: 80 }] } });
  const endpoints = (nodeName: string) => ({
    metadata: { name: 'web', namespace: 'default' },
    subsets: [{ addresses: [{ ip: '10.65.0.5', nodeName }], ports: [{ port: 80 }] }],
  });
  server.put('api/v1/endpoints', endpoints('n1'));
  await ds.start();
  await waitFor(() => ds.status() === 'in-sync', 'in-sync');
  const routes = () => [...ds.snapshot().keys()].filter((k) => k.startsWith('/calico/staticroutes/'));
  assert.ok(routes().some((k) => k.startsWith('/calico/staticroutes/10.96.0.0')), 'cluster IP range');
  await waitFor(() => routes().some((k) => k.startsWith('/calico/staticroutes/10.96.0.10')), 'local service /32');
  server.put('api/v1/endpoints', endpoints('n2'));
  await waitFor(() => !routes().some((k) => k.startsWith('/calico/staticroutes/10.96.0.10')), '/32 withdrawn when the endpoint moves away');
  assert.ok(routes().some((k) => k.startsWith('/calico/staticroutes/10.96.0.0')));
});

test('a converter that throws keeps the last good view and the watcher alive', async () => {
  let explode = false;
  const flaky: KeyViewConverter = (rs, o) => {
    if (explode) throw new Error('conversion bug');
    return stubConvert(rs, o);
  };
  const { server, ds, lines } = await setup({}, { convert: flaky });
  server.put(NODES, node('n1', '192.0.2.1'));
  await ds.start();
  await waitFor(() => ds.status() === 'in-sync', 'in-sync');
  explode = true;
  server.put(NODES, node('n2', '192.0.2.2'));
  await waitFor(() => lines.some((l) => l.includes('resource conversion failed')), 'error logged');
  assert.equal(ds.snapshot().get(ipKey('n1')), '192.0.2.1');
  explode = false;
  server.put(NODES, node('n3', '192.0.2.3'));
  await waitFor(() => ds.snapshot().has(ipKey('n2')) && ds.snapshot().has(ipKey('n3')), 'recovered');
});
