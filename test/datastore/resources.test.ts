import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAsNumber, parseGoDurationSeconds } from '../../src/datastore/resources/ip.js';
import { splitPeerIp } from '../../src/datastore/resources/peers.js';
import { resourcesToKeyView } from '../../src/datastore/resources/to-keys.js';
import type { Resource } from '../../src/datastore/types.js';

const v3 = (kind: string, name: string, spec: Record<string, unknown>, labels?: Record<string, string>): Resource => ({
  apiVersion: 'projectcalico.org/v3',
  kind,
  metadata: { name, ...(labels ? { labels } : {}) },
  spec,
});
const node = (name: string, v4: string, extra: Record<string, unknown> = {}, labels?: Record<string, string>): Resource =>
  v3('Node', name, { bgp: { ipv4Address: v4, ...extra } }, labels);
const peerJson = (keys: Map<string, string>, key: string): Record<string, unknown> => JSON.parse(keys.get(key)!) as Record<string, unknown>;

// Address and CIDR parsing is tested in test/net/ip.test.ts.

test('AS numbers: plain, asdot, strings and numbers; out of range rejected', () => {
  assert.equal(parseAsNumber('64512'), 64512);
  assert.equal(parseAsNumber(4294967295), 4294967295);
  assert.equal(parseAsNumber('1.10'), 65546);
  for (const bad of [4294967296, -1, 1.5, '4294967296', '65536.0', 'AS1', '', null]) assert.equal(parseAsNumber(bad), undefined, String(bad));
});

test('Go durations become seconds', () => {
  assert.equal(parseGoDurationSeconds('120s'), 120);
  assert.equal(parseGoDurationSeconds('2m30s'), 150);
  assert.equal(parseGoDurationSeconds('1h'), 3600);
  assert.equal(parseGoDurationSeconds('1.5m'), 90);
  assert.equal(parseGoDurationSeconds('500ms'), 0.5);
  for (const bad of ['', '10', '5 minutes', 's']) assert.equal(parseGoDurationSeconds(bad), undefined, bad);
});

test('peerIP splits into host and port like Go net.SplitHostPort', () => {
  assert.deepEqual(splitPeerIp('10.192.0.4:166'), { host: '10.192.0.4', port: 166 });
  assert.deepEqual(splitPeerIp('[ac13::57]:50'), { host: 'ac13::57', port: 50 });
  assert.deepEqual(splitPeerIp('ac13::57'), { host: 'ac13::57', port: 0 });
  assert.deepEqual(splitPeerIp('10.0.0.1'), { host: '10.0.0.1', port: 0 });
  assert.ok('error' in splitPeerIp('10.0.0.1:0'));
});

// ---------------------------------------------------------------------------
// Resource conversion
// ---------------------------------------------------------------------------

test('a node-specific peering that duplicates a global one is dropped', () => {
  const { keys } = resourcesToKeyView(
    [
      node('a', '192.0.2.1/24'),
      v3('BGPPeer', 'global', { peerIP: '198.51.100.1', asNumber: 65001 }),
      v3('BGPPeer', 'also-on-a', { node: 'a', peerIP: '198.51.100.1', asNumber: 65001 }),
      v3('BGPPeer', 'only-on-a', { node: 'a', peerIP: '198.51.100.2', asNumber: 65001 }),
    ],
    {},
  );
  assert.ok(keys.has('/calico/bgp/v1/global/peer_v4/198.51.100.1'));
  assert.ok(!keys.has('/calico/bgp/v1/host/a/peer_v4/198.51.100.1'));
  assert.ok(keys.has('/calico/bgp/v1/host/a/peer_v4/198.51.100.2'));
});

test('a peerIP that is a Calico node gets that node\'s listen port, and the node peers back', () => {
  const { keys } = resourcesToKeyView(
    [
      node('a', '192.0.2.1/24'),
      node('b', '192.0.2.2/24', { asNumber: 65002 }),
      v3('BGPConfiguration', 'node.b', { listenPort: 1179 }),
      v3('BGPPeer', 'a-to-b', { node: 'a', peerIP: '192.0.2.2', asNumber: 65002, password: { secretKeyRef: { name: 's', key: 'k' } } }),
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'calico-system' }, stringData: { k: 'pw' } },
    ],
    {},
  );
  const forward = peerJson(keys, '/calico/bgp/v1/host/a/peer_v4/192.0.2.2-1179');
  assert.equal(forward.port, 1179);
  assert.equal(forward.calico_node, true);
  assert.equal(forward.password, 'pw');
  assert.equal(keys.get('/calico/bgp/v1/host/b/listen_port'), '1179');
  const reverse = peerJson(keys, '/calico/bgp/v1/host/b/peer_v4/192.0.2.1');
  assert.equal(reverse.as_num, '64512');
  assert.equal(reverse.password, 'pw');
});

test('peerSelector over v4+v6 nodes gives both families; an IPv6 peerIP reverses only over IPv6', () => {
  const { keys } = resourcesToKeyView(
    [
      node('rr', '192.0.2.1/24', { ipv6Address: '2001:db8::1/64', routeReflectorClusterID: '224.0.0.1' }, { role: 'rr' }),
      node('c', '192.0.2.2/24', { ipv6Address: '2001:db8::2/64' }, { role: 'client' }),
      v3('BGPPeer', 'clients', { nodeSelector: "role == 'client'", peerSelector: "role == 'rr'", maxRestartTime: '2m', ttlSecurity: 2 }),
      v3('BGPPeer', 'v6', { node: 'c', peerIP: '2001:db8::1', asNumber: 64512 }),
    ],
    {},
  );
  const v4 = peerJson(keys, '/calico/bgp/v1/host/c/peer_v4/192.0.2.1');
  assert.deepEqual([v4.rr_cluster_id, v4.restart_time, v4.ttl_security], ['224.0.0.1', '120', 2]);
  assert.ok(keys.has('/calico/bgp/v1/host/c/peer_v6/2001:db8::1'));
  assert.ok(keys.has('/calico/bgp/v1/host/rr/peer_v4/192.0.2.2'));
  assert.ok(keys.has('/calico/bgp/v1/host/rr/peer_v6/2001:db8::2'));
});

test('BGPConfiguration: defaults are left to the consumer; node.<name> sets only node keys', () => {
  const { keys } = resourcesToKeyView(
    [
      v3('BGPConfiguration', 'default', { logSeverityScreen: 'Warning', nodeMeshMaxRestartTime: '90s', bindMode: 'NodeIP', ignoredInterfaces: ['eth9'] }),
      v3('BGPConfiguration', 'node.a', { logSeverityScreen: 'Debug', listenPort: 1790 }),
    ],
    {},
  );
  assert.equal(keys.get('/calico/bgp/v1/global/as_num'), undefined);
  assert.equal(keys.get('/calico/bgp/v1/global/node_mesh'), undefined);
  assert.equal(keys.get('/calico/bgp/v1/global/loglevel'), 'none');
  assert.equal(keys.get('/calico/bgp/v1/global/node_mesh_restart_time'), '90');
  assert.equal(keys.get('/calico/bgp/v1/global/bind_mode'), 'NodeIP');
  assert.equal(keys.get('/calico/bgp/v1/global/ignored_interfaces'), 'eth9');
  assert.equal(keys.get('/calico/bgp/v1/host/a/loglevel'), 'debug');
  assert.equal(keys.get('/calico/bgp/v1/host/a/listen_port'), '1790');
});

test('USE_POD_CIDR turns Kubernetes podCIDRs into confirmed blocks; deleted affinities are hidden', () => {
  const k8sNode: Resource = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'k1' }, spec: { podCIDRs: ['10.244.1.0/24', 'fd00:244::/64'] } };
  const gone: Resource = { apiVersion: 'crd.projectcalico.org/v1', kind: 'BlockAffinity', metadata: { name: 'x' }, spec: { node: 'k1', cidr: '10.9.0.0/26', state: 'confirmed', deleted: 'true' } };
  const { keys } = resourcesToKeyView([k8sNode, gone], { usePodCidr: true });
  assert.equal(keys.get('/calico/ipam/v2/host/k1/ipv4/block/10.244.1.0-24'), '{"state":"confirmed","deleted":false}');
  assert.ok(keys.has('/calico/ipam/v2/host/k1/ipv6/block/fd00:244::-64'));
  assert.ok(!keys.has('/calico/ipam/v2/host/k1/ipv4/block/10.9.0.0-26'));
  assert.equal(resourcesToKeyView([k8sNode], {}).keys.has('/calico/ipam/v2/host/k1/ipv4/block/10.244.1.0-24'), false);
});

test('service ranges: a node excluded from load balancers keeps only the reject ranges', () => {
  const cfg = v3('BGPConfiguration', 'default', { serviceExternalIPs: [{ cidr: '203.0.113.0/24' }], serviceLoadBalancerIPs: [{ cidr: '198.51.100.7/32' }] });
  const excluded: Resource = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'x', labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': 'true' } } };
  const a = resourcesToKeyView([cfg, excluded], { nodeName: 'x' }).keys;
  assert.ok(a.has('/calico/rejectcidrs/203.0.113.0-24'));
  assert.ok(!a.has('/calico/staticroutes/203.0.113.0-24'));
  assert.ok(!a.has('/calico/rejectcidrs/198.51.100.7-32'), 'single LB addresses are per service');
  const b = resourcesToKeyView([cfg], { nodeName: 'y' }).keys;
  assert.ok(b.has('/calico/staticroutes/203.0.113.0-24'));
});

test('externalTrafficPolicy Cluster with a single-address LoadBalancer IP is advertised from every node', () => {
  const cfg = v3('BGPConfiguration', 'default', { serviceLoadBalancerIPs: [{ cidr: '198.51.100.7/32' }] });
  const svc: Resource = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'lb', namespace: 'default' },
    spec: { type: 'LoadBalancer', clusterIP: '10.96.0.10', externalTrafficPolicy: 'Cluster' },
    status: { loadBalancer: { ingress: [{ ip: '198.51.100.7' }] } },
  };
  const { keys, problems } = resourcesToKeyView([cfg, svc], { nodeName: 'any' });
  assert.deepEqual(problems, []);
  assert.equal(keys.get('/calico/staticroutes/198.51.100.7-32'), '198.51.100.7/32');
  assert.ok(!keys.has('/calico/staticroutes/10.96.0.10-32'), 'cluster IPs are not advertised');
});

test('arbitrary junk in resources never throws: it becomes problems', async () => {
  const fc = (await import('fast-check')).default;
  const junk = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.oneof(fc.string({ maxLength: 6 }), fc.integer(), fc.object({ maxDepth: 1 })), { maxLength: 3 }),
    fc.object({ maxDepth: 2 }),
    fc.constantFrom('10.0.0.1', '10.0.0.0/8', '2001:db8::1', '[2001:db8::1]:179', 'all()', 'has(x)', '120s', 'Always', 'confirmed'),
  );
  const field = fc.constantFrom(
    'peerIP', 'asNumber', 'node', 'nodeSelector', 'peerSelector', 'password', 'sourceAddress', 'maxRestartTime', 'ttlSecurity',
    'keepOriginalNextHop', 'nextHopMode', 'reachableBy', 'bgp', 'cidr', 'ipipMode', 'vxlanMode', 'state', 'deleted', 'listenPort',
    'nodeToNodeMeshEnabled', 'serviceClusterIPs', 'serviceLoadBalancerIPs', 'prefixAdvertisements', 'communities', 'nodeMeshPassword',
    'clusterIP', 'externalIPs', 'type', 'externalTrafficPolicy', 'podCIDRs',
  );
  const resource = fc.record({
    apiVersion: fc.constantFrom('projectcalico.org/v3', 'crd.projectcalico.org/v1', 'v1'),
    kind: fc.constantFrom('BGPConfiguration', 'BGPPeer', 'Node', 'IPPool', 'BlockAffinity', 'Service', 'Endpoints', 'Secret'),
    metadata: fc.record({ name: fc.constantFrom('default', 'node.a', 'a', 'b', 'x'), labels: fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }), { maxKeys: 2 }) }),
    spec: fc.dictionary(field, junk, { maxKeys: 5 }),
  });
  fc.assert(
    fc.property(fc.array(resource, { maxLength: 8 }), (rs) => {
      const { keys, problems } = resourcesToKeyView(rs as Resource[], { nodeName: 'a', usePodCidr: true });
      return keys instanceof Map && Array.isArray(problems);
    }),
    { numRuns: 300 },
  );
});

test('memoised conversion of a changing resource set equals a fresh conversion', async () => {
  const fc = (await import('fast-check')).default;
  const nodeArb = fc.record({
    i: fc.integer({ min: 0, max: 5 }),
    ip: fc.integer({ min: 1, max: 4 }),
    rr: fc.boolean(),
    label: fc.constantFrom('a', 'b'),
    k8s: fc.boolean(),
  });
  const mk = (n: { i: number; ip: number; rr: boolean; label: string; k8s: boolean }): Resource =>
    n.k8s
      ? { apiVersion: 'v1', kind: 'Node', metadata: { name: `n${n.i}`, labels: { zone: n.label }, annotations: { 'projectcalico.org/IPv4Address': `192.0.2.${n.ip + n.i * 10}/24` } } }
      : node(`n${n.i}`, `192.0.2.${n.ip + n.i * 10}/24`, n.rr ? { routeReflectorClusterID: '224.0.0.1' } : {}, { zone: n.label, ...(n.rr ? { rr: 'y' } : {}) });
  const fixed: Resource[] = [
    v3('BGPPeer', 'to-rr', { nodeSelector: '!has(rr)', peerSelector: 'has(rr)' }),
    v3('BGPPeer', 'zone-a', { nodeSelector: "zone == 'a'", peerIP: '198.51.100.1', asNumber: 65001 }),
    v3('BGPPeer', 'to-n1', { peerIP: '192.0.2.11', asNumber: 64512 }),
    v3('IPPool', 'p', { cidr: '10.0.0.0/16', ipipMode: 'Always' }),
  ];
  fc.assert(
    fc.property(fc.array(fc.array(nodeArb, { maxLength: 6 }), { minLength: 1, maxLength: 5 }), fc.boolean(), (steps, withConfig) => {
      const byName = new Map<string, Resource>();
      const cfg = v3('BGPConfiguration', 'default', { asNumber: 65000, listenPort: 1179 });
      for (const step of steps) {
        for (const n of step) byName.set(`${n.k8s ? 'k' : 'v'}${n.i}`, mk(n));
        const rs = [...fixed, ...(withConfig ? [cfg] : []), ...byName.values()];
        const a = resourcesToKeyView(rs, { nodeName: 'n1' });
        const b = resourcesToKeyView(structuredClone(rs), { nodeName: 'n1' });
        assert.deepEqual([...a.keys].sort(), [...b.keys].sort());
        assert.deepEqual(a.problems, b.problems);
      }
    }),
    { numRuns: 150 },
  );
});
