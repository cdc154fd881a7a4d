/** The parts of buildFromIndex, each on its own. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Problem } from '../../src/datastore/resources/problem.js';
import { KeyIndex } from '../../src/model/key-index.js';
import { asOr, blocksOf, communitiesOf, meshEnabledOf, peerName, poolsOf, portOf, routerIdOf } from '../../src/model/build.js';

const G = '/calico/bgp/v1/global/';
const H = '/calico/bgp/v1/host/';
const index = (entries: Record<string, string>, node = 'node-a'): KeyIndex => KeyIndex.from(new Map(Object.entries(entries)), node);

test('peerName: Calico protocol names', () => {
  assert.equal(peerName('Mesh', '192.0.2.1', null), 'Mesh_192_0_2_1');
  assert.equal(peerName('Node', '2001:db8::1', 1790), 'Node_2001_db8__1_port_1790');
});

test('asOr and portOf: fallback for empty, Problem for bad', () => {
  const problems: Problem[] = [];
  assert.equal(asOr('', 64512, 'k', problems), 64512);
  assert.equal(asOr('1.10', 64512, 'k', problems), 65546);
  assert.equal(asOr('AS1', 64512, 'k', problems), 64512);
  assert.equal(portOf('179', 'p', problems), 179);
  assert.equal(portOf('70000', 'p', problems), null);
  assert.deepEqual(problems.map((p) => p.resource), ['k', 'p']);
});

test('routerIdOf: hash, env, node address, none', () => {
  const idx = index({ [`${H}node-a/ip_addr_v4`]: '192.0.2.1' });
  const problems: Problem[] = [];
  assert.equal(routerIdOf(idx, { routerId: 'hash' }, '192.0.2.1', problems).routerIdSource, 'hash');
  assert.deepEqual(routerIdOf(idx, { routerId: '198.51.100.7' }, '192.0.2.1', problems), { routerId: '198.51.100.7', routerIdSource: 'env' });
  assert.deepEqual(routerIdOf(idx, { routerId: 'nonsense' }, '192.0.2.1', problems), { routerId: '192.0.2.1', routerIdSource: 'node-ipv4' });
  assert.deepEqual(routerIdOf(idx, {}, null, problems), { routerId: '', routerIdSource: 'none' });
  assert.deepEqual(problems.map((p) => p.resource), ['env/CALICO_ROUTER_ID', `${H}node-a/ip_addr_v4`]);
});

test('meshEnabledOf: on by default, off when said, on with a Problem when malformed', () => {
  const problems: Problem[] = [];
  assert.equal(meshEnabledOf(index({}), problems), true);
  assert.equal(meshEnabledOf(index({ [`${G}node_mesh`]: '{"enabled":false}' }), problems), false);
  assert.equal(meshEnabledOf(index({ [`${G}node_mesh`]: '{"enabled":"no"}' }), problems), true);
  assert.equal(problems.length, 1);
});

test('poolsOf, blocksOf, communitiesOf: one family, bad entries left out with a Problem', () => {
  const idx = index({
    [`${H}node-a/ip_addr_v4`]: '192.0.2.1',
    '/calico/v1/ipam/v4/pool/10.0.0.0-16': '{"cidr":"10.0.0.0/16","ipip":"tunl0","masquerade":true}',
    '/calico/v1/ipam/v4/pool/10.1.0.0-16': '{"cidr":"010.1.0.0/16"}',
    '/calico/v1/ipam/v6/pool/fd00::-64': '{"cidr":"fd00::/64"}',
    [`${G}prefix_advertisements/ip_v4`]: '[{"cidr":"10.0.0.0/16","communities":["100:1","1:2:3","x"]}]',
  });
  const problems: Problem[] = [];
  const pools = poolsOf(idx, 4, problems);
  assert.deepEqual(pools.map((p) => [p.cidr, p.ipipMode, p.natOutgoing]), [['10.0.0.0/16', 'always', true]]);
  assert.equal(poolsOf(idx, 6, problems)[0]?.cidr, 'fd00::/64');
  assert.deepEqual(blocksOf(idx, 4, problems), []);
  assert.deepEqual(communitiesOf(idx, 4, problems), [{ cidr: '10.0.0.0/16', communities: ['100:1'], largeCommunities: ['1:2:3'] }]);
  assert.deepEqual(problems.map((p) => p.message.split(';')[0]), ['cidr "010.1.0.0/16" is not an IPv4 CIDR', 'community "x" for 10.0.0.0/16 is not a:b or a:b:c']);
});
