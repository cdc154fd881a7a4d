/**
 * Part 4 of issue #3: every malformed value is reported once with its key or
 * resource name, only that entry is skipped, everything else still reaches
 * the model, and passwords never appear in problems or logs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { resourcesToKeyView } from '../../src/datastore/resources/to-keys.js';
import type { Problem } from '../../src/datastore/resources/problem.js';
import type { Resource } from '../../src/datastore/types.js';
import { buildNodeBgpConfig } from '../../src/model/build.js';
import { ModelWatcher } from '../../src/model/watcher.js';
import type { Logger } from '../../src/log.js';
import type { NodeBgpConfig } from '../../src/model/types.js';
import { MemoryDatastore } from '../support/memory-datastore.js';

const v3 = (kind: string, name: string, spec: Record<string, unknown>, labels?: Record<string, string>): Resource => ({
  apiVersion: 'projectcalico.org/v3',
  kind,
  metadata: { name, ...(labels ? { labels } : {}) },
  spec,
});

/** A small healthy cluster: three meshed nodes, a global peer, a pool and a block. */
function cluster(): Resource[] {
  return [
    v3('BGPConfiguration', 'default', { asNumber: 64512 }),
    v3('Node', 'n1', { bgp: { ipv4Address: '192.0.2.1/24' } }),
    v3('Node', 'n2', { bgp: { ipv4Address: '192.0.2.2/24' } }),
    v3('Node', 'n3', { bgp: { ipv4Address: '192.0.2.3/24' } }),
    v3('BGPPeer', 'good-peer', { peerIP: '198.51.100.1', asNumber: 65001 }),
    v3('IPPool', 'pool', { cidr: '10.10.0.0/16', ipipMode: 'Always' }),
    { apiVersion: 'crd.projectcalico.org/v1', kind: 'BlockAffinity', metadata: { name: 'b1' }, spec: { node: 'n1', cidr: '10.10.1.0/26', state: 'confirmed', deleted: 'false' } },
  ];
}

function model(resources: Resource[], node = 'n1'): { config: NodeBgpConfig; problems: Problem[] } {
  const kv = resourcesToKeyView(resources, { nodeName: node });
  const m = buildNodeBgpConfig(kv.keys, node);
  return { config: m.config, problems: [...kv.problems, ...m.problems] };
}

/** The healthy part of the model is intact. */
function assertHealthy(cfg: NodeBgpConfig): void {
  const names = cfg.ipv4.peers.map((p) => p.name);
  for (const n of ['Mesh_192_0_2_2', 'Mesh_192_0_2_3', 'Global_198_51_100_1']) assert.ok(names.includes(n), `${n} still present`);
  assert.deepEqual(cfg.ipv4.pools.map((p) => p.cidr), ['10.10.0.0/16']);
  assert.deepEqual(cfg.ipv4.blocks.map((b) => b.cidr), ['10.10.1.0/26']);
  assert.equal(cfg.asNumber, 64512);
}

function expectProblem(problems: Problem[], resource: string, fragment: RegExp): void {
  const hit = problems.filter((p) => p.resource === resource && fragment.test(p.message));
  assert.equal(hit.length, 1, `one problem for ${resource} matching ${fragment}; got ${JSON.stringify(problems)}`);
}

test('the healthy cluster has no problems', () => {
  const { config, problems } = model(cluster());
  assert.deepEqual(problems, []);
  assertHealthy(config);
});

// ---------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------

const resourceCases: Array<{ name: string; extra: Resource; resource: string; message: RegExp }> = [
  { name: 'BGPPeer with a bad IP', extra: v3('BGPPeer', 'bad', { peerIP: '198.51.100.300', asNumber: 65001 }), resource: 'BGPPeer/bad', message: /not an IP address/ },
  { name: 'BGPPeer with a bad port', extra: v3('BGPPeer', 'bad', { peerIP: '198.51.100.9:70000', asNumber: 65001 }), resource: 'BGPPeer/bad', message: /out of range/ },
  { name: 'BGPPeer with a bracketless IPv6 port', extra: v3('BGPPeer', 'bad', { peerIP: '[2001:db8::1]x', asNumber: 65001 }), resource: 'BGPPeer/bad', message: /\[address\]:port/ },
  { name: 'BGPPeer with AS out of range', extra: v3('BGPPeer', 'bad', { peerIP: '198.51.100.9', asNumber: 4294967296 }), resource: 'BGPPeer/bad', message: /not an AS number/ },
  { name: 'BGPPeer with an asdot AS out of range', extra: v3('BGPPeer', 'bad', { peerIP: '198.51.100.9', asNumber: '65536.1' }), resource: 'BGPPeer/bad', message: /not an AS number/ },
  { name: 'BGPPeer without AS', extra: v3('BGPPeer', 'bad', { peerIP: '198.51.100.9' }), resource: 'BGPPeer/bad', message: /asNumber is required/ },
  { name: 'BGPPeer with unknown selector syntax', extra: v3('BGPPeer', 'bad', { nodeSelector: 'has(', peerSelector: 'all()' }), resource: 'BGPPeer/bad', message: /nodeSelector: .*column/ },
  { name: 'BGPPeer with a single = in its selector', extra: v3('BGPPeer', 'bad', { peerSelector: "rack = 'r1'" }), resource: 'BGPPeer/bad', message: /peerSelector/ },
  { name: 'BGPPeer with both peerIP and peerSelector', extra: v3('BGPPeer', 'bad', { peerIP: '198.51.100.9', asNumber: 1, peerSelector: 'all()' }), resource: 'BGPPeer/bad', message: /mutually exclusive/ },
  { name: 'BGPPeer with neither peerIP nor peerSelector', extra: v3('BGPPeer', 'bad', { asNumber: 1 }), resource: 'BGPPeer/bad', message: /neither/ },
  { name: 'BGPPeer with a bad reachableBy', extra: v3('BGPPeer', 'bad', { peerIP: '198.51.100.9', asNumber: 1, reachableBy: 'x' }), resource: 'BGPPeer/bad', message: /reachableBy/ },
  { name: 'Node with a bad IPv4 CIDR', extra: v3('Node', 'n4', { bgp: { ipv4Address: '192.0.2.4/33' } }), resource: 'Node/n4', message: /not an IPv4 address/ },
  { name: 'Node with an IPv6 address as ipv4Address', extra: v3('Node', 'n4', { bgp: { ipv4Address: '2001:db8::4/64' } }), resource: 'Node/n4', message: /not an IPv4 address/ },
  { name: 'Node with a bad AS', extra: v3('Node', 'n4', { bgp: { ipv4Address: '192.0.2.4/24', asNumber: 'sixty' } }), resource: 'Node/n4', message: /not an AS number/ },
  { name: 'Node with a bad route-reflector cluster id', extra: v3('Node', 'n4', { bgp: { ipv4Address: '192.0.2.4/24', routeReflectorClusterID: '1.2.3' } }), resource: 'Node/n4', message: /routeReflectorClusterID/ },
  { name: 'IPPool with a bad CIDR', extra: v3('IPPool', 'bad', { cidr: '10.20.0.0/40' }), resource: 'IPPool/bad', message: /not a CIDR/ },
  { name: 'IPPool with an unknown ipipMode', extra: v3('IPPool', 'bad', { cidr: '10.20.0.0/16', ipipMode: 'Sometimes' }), resource: 'IPPool/bad', message: /ipipMode/ },
  { name: 'BlockAffinity with a bad CIDR', extra: { apiVersion: 'crd.projectcalico.org/v1', kind: 'BlockAffinity', metadata: { name: 'bad' }, spec: { node: 'n1', cidr: '10.10.2.0/99' } }, resource: 'BlockAffinity/bad', message: /not a CIDR/ },
  { name: 'BlockAffinity with an unknown state', extra: { apiVersion: 'crd.projectcalico.org/v1', kind: 'BlockAffinity', metadata: { name: 'bad' }, spec: { node: 'n1', cidr: '10.10.2.0/26', state: 'maybe' } }, resource: 'BlockAffinity/bad', message: /state/ },
  { name: 'BGPConfiguration with a bad name', extra: v3('BGPConfiguration', 'other', { asNumber: 1 }), resource: 'BGPConfiguration/other', message: /default/ },
  { name: 'node BGPConfiguration with a bad listen port', extra: v3('BGPConfiguration', 'node.n2', { listenPort: 0 }), resource: 'BGPConfiguration/node.n2', message: /listenPort/ },
  { name: 'Service with a bad cluster IP', extra: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', namespace: 'default' }, spec: { clusterIP: '10.96.0.300', externalTrafficPolicy: 'Local' } }, resource: 'Service/default/svc', message: /clusterIP/ },
];

for (const c of resourceCases) {
  test(`${c.name} is reported by name and skipped; the rest of the model stands`, () => {
    const { config, problems } = model([...cluster(), c.extra]);
    expectProblem(problems, c.resource, c.message);
    assert.equal(problems.length, 1, JSON.stringify(problems));
    assertHealthy(config);
  });
}

test('BGPConfiguration default with a bad AS and a bad service CIDR keeps the default AS and the good CIDRs', () => {
  const res = cluster().filter((r) => r.kind !== 'BGPConfiguration');
  res.push(v3('BGPConfiguration', 'default', { asNumber: -5, serviceClusterIPs: [{ cidr: '10.96.0.0/12' }, { cidr: '10.96.0.0/99' }] }));
  const { config, problems } = model(res);
  expectProblem(problems, 'BGPConfiguration/default', /asNumber/);
  expectProblem(problems, 'BGPConfiguration/default', /serviceClusterIPs/);
  assert.equal(config.asNumber, 64512);
  assert.deepEqual(config.ipv4.rejectCidrs, ['10.96.0.0/12']);
  assertHealthy(config);
});

test('a bad community is skipped and the good ones are kept', () => {
  const res = cluster().filter((r) => r.kind !== 'BGPConfiguration');
  res.push(
    v3('BGPConfiguration', 'default', {
      asNumber: 64512,
      communities: [{ name: 'ok', value: '65001:100' }, { name: 'bad', value: '70000:1' }],
      prefixAdvertisements: [{ cidr: '10.10.0.0/16', communities: ['ok', '65001:200:300', 'nope'] }],
    }),
  );
  const { config, problems } = model(res);
  expectProblem(problems, 'BGPConfiguration/default', /community .*bad/);
  expectProblem(problems, 'BGPConfiguration/default', /"nope"/);
  assert.deepEqual(config.ipv4.communities, [{ cidr: '10.10.0.0/16', communities: ['65001:100'], largeCommunities: ['65001:200:300'] }]);
});

// ---------------------------------------------------------------------------
// Keys (legacy datastores, or anything that bypasses the resource conversion)
// ---------------------------------------------------------------------------

function healthyKeys(): Map<string, string> {
  return resourcesToKeyView(cluster(), { nodeName: 'n1' }).keys;
}

const keyCases: Array<{ name: string; key: string; value: string; message: RegExp }> = [
  { name: 'bad JSON in a global peer', key: '/calico/bgp/v1/global/peer_v4/198.51.100.7', value: '{"ip": "198.51.100.7", ', message: /not valid JSON/ },
  { name: 'a bad IP in a global peer', key: '/calico/bgp/v1/global/peer_v4/198.51.100.7', value: '{"ip":"198.51.100.777","as_num":"65001"}', message: /not an IPv4 address/ },
  { name: 'an IPv6 peer under peer_v4', key: '/calico/bgp/v1/global/peer_v4/2001:db8::7', value: '{"ip":"2001:db8::7","as_num":"65001"}', message: /not an IPv4 address/ },
  { name: 'AS out of range in a node peer', key: '/calico/bgp/v1/host/n1/peer_v4/198.51.100.7', value: '{"ip":"198.51.100.7","as_num":"4294967296"}', message: /as_num/ },
  { name: 'a bad port in a peer', key: '/calico/bgp/v1/host/n1/peer_v4/198.51.100.7-0x10', value: '{"ip":"198.51.100.7","as_num":"65001","port":"x"}', message: /port/ },
  { name: 'a peer pointing at this node', key: '/calico/bgp/v1/global/peer_v4/192.0.2.1', value: '{"ip":"192.0.2.1","as_num":"64512","calico_node":true}', message: /own address/ },
  { name: 'a bad node address', key: '/calico/bgp/v1/host/n9/ip_addr_v4', value: '192.0.2.999', message: /not an IPv4 address/ },
  { name: 'bad JSON in a pool', key: '/calico/v1/ipam/v4/pool/10.30.0.0-16', value: 'nope', message: /not valid JSON/ },
  { name: 'a bad CIDR in a pool', key: '/calico/v1/ipam/v4/pool/10.30.0.0-16', value: '{"cidr":"10.30.0.0/33"}', message: /not an IPv4 CIDR/ },
  { name: 'a bad CIDR in a block key', key: '/calico/ipam/v2/host/n1/ipv4/block/10.10.9.0-45', value: '{"state":"confirmed"}', message: /not an IPv4 CIDR/ },
  { name: 'bad JSON in a block', key: '/calico/ipam/v2/host/n1/ipv4/block/10.10.9.0-26', value: '{', message: /not valid JSON/ },
  { name: 'a bad static route', key: '/calico/staticroutes/10.96.0.0-77', value: '10.96.0.0/77', message: /not an IPv4 CIDR/ },
  { name: 'bad JSON in prefix advertisements', key: '/calico/bgp/v1/global/prefix_advertisements/ip_v4', value: '[{', message: /not valid JSON/ },
  { name: 'a bad node mesh value', key: '/calico/bgp/v1/global/node_mesh', value: '{"enabled":"yes"}', message: /enabled/ },
];

for (const c of keyCases) {
  test(`${c.name} is reported by key and skipped; the rest of the model stands`, () => {
    const keys = healthyKeys();
    keys.set(c.key, c.value);
    const { config, problems } = buildNodeBgpConfig(keys, 'n1');
    expectProblem(problems, c.key, c.message);
    assert.equal(problems.length, 1, JSON.stringify(problems));
    assertHealthy(config);
  });
}

test('a bad global AS falls back to 64512 and says so', () => {
  const keys = healthyKeys();
  keys.set('/calico/bgp/v1/global/as_num', '99999999999');
  const { config, problems } = buildNodeBgpConfig(keys, 'n1');
  expectProblem(problems, '/calico/bgp/v1/global/as_num', /using 64512/);
  assertHealthy(config);
});

test('a bad CALICO_ROUTER_ID falls back to the node address', () => {
  const { config, problems } = buildNodeBgpConfig(healthyKeys(), 'n1', { routerId: '300.1.1.1' });
  expectProblem(problems, 'env/CALICO_ROUTER_ID', /not an IPv4 address/);
  assert.equal(config.routerId, '192.0.2.1');
});

// ---------------------------------------------------------------------------
// Logging
// ---------------------------------------------------------------------------

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream) as unknown as Logger, lines };
}

test('a problem is logged once however often the model is rebuilt, and passwords never appear', async () => {
  const secret = 's3cr3t-Pa55';
  const res = [
    ...cluster(),
    v3('BGPPeer', 'with-password', { peerIP: '198.51.100.2', asNumber: 65002, password: { secretKeyRef: { name: 'bgp', key: 'pw' } } }),
    v3('BGPPeer', 'missing-secret', { peerIP: '198.51.100.3', asNumber: 65003, password: { secretKeyRef: { name: 'nope', key: 'pw' } } }),
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bgp', namespace: 'kube-system' }, data: { pw: Buffer.from(secret).toString('base64') } },
  ];
  const kv = resourcesToKeyView(res, { nodeName: 'n1' });
  for (const p of kv.problems) assert.ok(!JSON.stringify(p).includes(secret));
  expectProblem(kv.problems, 'BGPPeer/missing-secret', /secret nope\/pw not found/);

  const ds = new MemoryDatastore(kv.keys, 'in-sync');
  const set = (key: string, value: string): void => ds.apply([{ key, value }]);
  const { log, lines } = capture();
  const w = new ModelWatcher(ds, 'n1', {}, log);
  w.start();
  const withPw = w.current()!.config.ipv4.peers.find((p) => p.name === 'Global_198_51_100_2')!;
  assert.equal(withPw.password, secret);
  set('/calico/bgp/v1/global/peer_v4/198.51.100.8', '{broken');
  set('/calico/bgp/v1/host/n3/ip_addr_v4', '192.0.2.33');
  set('/calico/bgp/v1/host/n3/ip_addr_v4', '192.0.2.3');
  const broken = lines.filter((l) => l.includes('198.51.100.8'));
  assert.equal(broken.length, 1, 'logged once');
  assert.ok(lines.every((l) => !l.includes(secret)), 'no password in logs');
  w.stop();
});

test('values BIRD cannot express cost only their own object: a password with a quote or line break, an interface name with a quote', () => {
  const secret = (s: string) => Buffer.from(s).toString('base64');
  const res = [
    ...cluster(),
    v3('BGPConfiguration', 'default', { asNumber: 64512, ignoredInterfaces: ['eth9', 'bad"if', 'eth8'] }),
    v3('BGPPeer', 'quote-pw', { peerIP: '198.51.100.2', asNumber: 65002, password: { secretKeyRef: { name: 'bgp', key: 'quote' } } }),
    v3('BGPPeer', 'newline-pw', { peerIP: '198.51.100.3', asNumber: 65003, password: { secretKeyRef: { name: 'bgp', key: 'nl' } } }),
    v3('BGPPeer', 'long-pw', { peerIP: '198.51.100.4', asNumber: 65004, password: { secretKeyRef: { name: 'bgp', key: 'long' } } }),
    v3('BGPPeer', 'fine-pw', { peerIP: '198.51.100.5', asNumber: 65005, password: { secretKeyRef: { name: 'bgp', key: 'fine' } } }),
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bgp', namespace: 'kube-system' }, data: { quote: secret('pa"ss'), nl: secret('pa\nss'), long: secret('x'.repeat(81)), fine: secret('s3cret') } },
  ];
  const { config, problems } = model(res);
  const byName = new Map(config.ipv4.peers.map((p) => [p.name, p]));
  assert.match(byName.get('Global_198_51_100_2')?.invalid ?? '', /double quote/);
  assert.match(byName.get('Global_198_51_100_3')?.invalid ?? '', /line break/);
  assert.match(byName.get('Global_198_51_100_4')?.invalid ?? '', /longer than 80 bytes/);
  assert.equal(byName.get('Global_198_51_100_5')?.invalid, undefined);
  assert.equal(byName.get('Global_198_51_100_1')?.invalid, undefined, 'the peer without a password is untouched');
  assert.equal(byName.get('Mesh_192_0_2_2')?.invalid, undefined, 'the mesh is untouched');
  for (const ip of ['198_51_100_2', '198_51_100_3', '198_51_100_4']) {
    assert.ok(problems.some((p) => p.resource.includes(ip.replaceAll('_', '.')) && /is not configured/.test(p.message)), `a problem names peer ${ip}`);
  }
  for (const p of problems) assert.ok(!/pa"ss|pa\nss|xxxxxxxx/.test(JSON.stringify(p)), 'no password text in problems');
  assert.deepEqual(config.ignoredInterfaces, ['eth9', 'eth8']);
  assert.ok(problems.some((p) => /ignored_interfaces/.test(p.resource) && /bad\\"if/.test(p.message)));
});

test('a node-to-node mesh password BIRD cannot express leaves every mesh peer unconfigured, with one problem', () => {
  const kv = resourcesToKeyView(cluster(), { nodeName: 'n1' });
  kv.keys.set('/calico/bgp/v1/global/node_mesh_password', 'two\nlines');
  const { config, problems } = buildNodeBgpConfig(kv.keys, 'n1');
  const mesh = config.ipv4.peers.filter((p) => p.type === 'mesh');
  assert.equal(mesh.length, 2);
  for (const p of mesh) assert.match(p.invalid ?? '', /mesh password: the password contains a line break/);
  assert.equal(problems.filter((p) => p.resource === '/calico/bgp/v1/global/node_mesh_password').length, 1);
  assert.equal(config.ipv4.peers.find((p) => p.type === 'global')?.invalid, undefined);
});

test('an IP pool whose IP-in-IP interface name BIRD cannot express is skipped with a problem', () => {
  const kv = resourcesToKeyView(cluster(), { nodeName: 'n1' });
  kv.keys.set('/calico/v1/ipam/v4/pool/10.20.0.0-16', JSON.stringify({ cidr: '10.20.0.0/16', ipip: 'tun"l0', ipip_mode: 'always' }));
  const { config, problems } = buildNodeBgpConfig(kv.keys, 'n1');
  assert.deepEqual(config.ipv4.pools.map((p) => p.cidr), ['10.10.0.0/16']);
  assert.ok(problems.some((p) => p.resource === '/calico/v1/ipam/v4/pool/10.20.0.0-16' && /pool skipped/.test(p.message)));
});
