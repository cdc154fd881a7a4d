/** The parts of convertPeers, each on its own. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProblemSink, type NodeInfo } from '../../src/datastore/resources/common.js';
import { PeerNodes, nodeAsPeers, peerPath, selectorCompiler, validatePeer, type PeerInputs } from '../../src/datastore/resources/peers.js';
import type { Resource } from '../../src/datastore/types.js';

const node = (name: string, v4: string, as = '', labels: Record<string, string> = {}): NodeInfo => ({
  name,
  labels,
  podCidrs: [],
  source: `Node/${name}`,
  written: { v4, v6: '', as, rr: '' },
});
const peer = (name: string, spec: Record<string, unknown>): Resource => ({ apiVersion: 'projectcalico.org/v3', kind: 'BGPPeer', metadata: { name }, spec });
const inputs = (nodes: NodeInfo[], secrets: Record<string, string> = {}): PeerInputs => ({
  peers: [],
  nodes,
  keys: new Map([['/calico/bgp/v1/global/as_num', '64512']]),
  globalListenPort: 0,
  nodeListenPorts: new Map([['b', 1790]]),
  secret: (n, k) => secrets[`${n}/${k}`],
  problems: new ProblemSink(),
});

test('peerPath: global and node keys, port suffix only when set', () => {
  assert.equal(peerPath(4, '192.0.2.1', 0), '/calico/bgp/v1/global/peer_v4/192.0.2.1');
  assert.equal(peerPath(6, '2001:db8::1', 1790, 'a'), '/calico/bgp/v1/host/a/peer_v6/2001:db8::1-1790');
});

test('PeerNodes: owners of an address by AS and port', () => {
  const nodes = new PeerNodes(inputs([node('a', '192.0.2.1'), node('b', '192.0.2.1', '65001'), node('c', '192.0.2.3')]));
  assert.deepEqual(nodes.withIpPortAs('192.0.2.1', 0, 0), ['a']);
  assert.deepEqual(nodes.withIpPortAs('192.0.2.1', 65001, 0), ['b']);
  assert.deepEqual(nodes.withIpPortAs('192.0.2.1', 65001, 1790), ['b']);
  assert.deepEqual(nodes.withIpPortAs('192.0.2.1', 65001, 179), []);
  assert.equal(nodes.listenPortOf('b'), 1790);
  assert.ok(nodes.ips.has('192.0.2.3'));
});

test('nodeAsPeers: a node as the remote end, its AS (else global) and listen port', () => {
  const inp = inputs([node('b', '192.0.2.2')]);
  const v = validatePeer(peer('p', { peerSelector: 'all()' }), inp, selectorCompiler(inp.problems))!;
  const [c] = nodeAsPeers(new PeerNodes(inp), 'b', true, true, v);
  assert.deepEqual([c?.family, c?.value.ip, c?.value.as_num, c?.value.port], [4, '192.0.2.2', '64512', 1790]);
});

test('validatePeer: skips with a Problem, ignores a bad option with a Problem, resolves the password', () => {
  const inp = inputs([], { 's/k': 'sesame' });
  const compile = selectorCompiler(inp.problems);
  assert.equal(validatePeer(peer('both', { peerIP: '192.0.2.9', peerSelector: 'all()', asNumber: 65001 }), inp, compile), undefined);
  assert.equal(validatePeer(peer('noas', { peerIP: '192.0.2.9' }), inp, compile), undefined);
  assert.equal(validatePeer(peer('lead0', { peerIP: '010.0.2.9', asNumber: 65001 }), inp, compile), undefined);
  const ok = validatePeer(peer('ok', { peerIP: '[2001:db8::9]:1790', asNumber: '1.10', ttlSecurity: 300, password: { secretKeyRef: { name: 's', key: 'k' } } }), inp, compile);
  assert.deepEqual(ok?.peerIp, { ip: '2001:db8::9', family: 6, port: 1790 });
  assert.equal(ok?.asNumber, 65546);
  assert.equal(ok?.ttlSecurity, 0);
  assert.equal(ok?.password, 'sesame');
  assert.deepEqual(inp.problems.list.map((p) => p.resource), ['BGPPeer/both', 'BGPPeer/noas', 'BGPPeer/lead0', 'BGPPeer/ok']);
});
