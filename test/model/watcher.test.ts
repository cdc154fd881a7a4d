import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildFromIndex, buildNodeBgpConfig, hashToIPv4 } from '../../src/model/build.js';
import { KeyIndex } from '../../src/model/key-index.js';
import { deepEqual, ModelWatcher } from '../../src/model/watcher.js';
import { setLogLevel } from '../../src/log.js';
import { MemoryDatastore } from '../support/memory-datastore.js';

setLogLevel('silent');

const H = '/calico/bgp/v1/host/';
const base: Array<[string, string]> = [
  [`${H}a/ip_addr_v4`, '192.0.2.1'],
  [`${H}a/ip_addr_v6`, '2001:db8::1'],
  [`${H}b/ip_addr_v4`, '192.0.2.2'],
  [`${H}b/ip_addr_v6`, '2001:db8::2'],
  [`${H}c/ip_addr_v4`, '192.0.2.3'],
  ['/calico/v1/ipam/v4/pool/10.0.0.0-16', '{"cidr":"10.0.0.0/16","ipip":"tunl0","ipip_mode":"always"}'],
];

test('the watcher waits for in-sync, then emits only when the model changes', () => {
  const ds = new MemoryDatastore();
  for (const [k, v] of base) ds.keys.set(k, v);
  const w = new ModelWatcher(ds, 'a');
  const seen: number[] = [];
  w.onChange((u) => seen.push(u.config.ipv4.peers.length));
  w.start();
  assert.equal(w.current(), undefined, 'nothing before in-sync');
  ds.setStatus('in-sync');
  assert.deepEqual(seen, [2]);
  ds.apply([{ key: '/calico/staticroutes-unrelated/x', value: '1' }]);
  ds.apply([{ key: `${H}b/loglevel`, value: 'debug' }]);
  assert.deepEqual(seen, [2], 'changes that do not touch this node: no event');
  ds.apply([{ key: `${H}d/ip_addr_v4`, value: '192.0.2.4' }]);
  assert.deepEqual(seen, [2, 3]);
  ds.apply([{ key: `${H}d/ip_addr_v4`, value: null }]);
  assert.deepEqual(seen, [2, 3, 2]);
  assert.equal(w.stats.builds, 5);
  w.stop();
  ds.apply([{ key: `${H}e/ip_addr_v4`, value: '192.0.2.5' }]);
  assert.deepEqual(seen, [2, 3, 2], 'stopped');
});

test('router id: node IPv4, CALICO_ROUTER_ID literal, or the hash Calico uses', () => {
  const keys = new Map(base);
  assert.equal(buildNodeBgpConfig(keys, 'a').config.routerId, '192.0.2.1');
  assert.equal(buildNodeBgpConfig(keys, 'a', { routerId: '10.10.10.10' }).config.routerId, '10.10.10.10');
  assert.equal(buildNodeBgpConfig(keys, 'a', { routerId: 'hash' }).config.routerId, hashToIPv4('a'));
  assert.equal(hashToIPv4('kube-master'), '25.79.212.8');
});

// Keys a random change sequence draws from: hosts, peers, pools, blocks, routes, globals.
const keyArb = fc.constantFrom(
  `${H}a/ip_addr_v4`,
  `${H}b/ip_addr_v4`,
  `${H}c/ip_addr_v4`,
  `${H}b/ip_addr_v6`,
  `${H}c/as_num`,
  `${H}b/rr_cluster_id`,
  `${H}a/rr_cluster_id`,
  `${H}c/listen_port`,
  `${H}a/peer_v4/198.51.100.1`,
  '/calico/bgp/v1/global/peer_v4/192.0.2.2',
  '/calico/bgp/v1/global/as_num',
  '/calico/bgp/v1/global/node_mesh',
  '/calico/bgp/v1/global/node_mesh_password',
  '/calico/ipam/v2/host/a/ipv4/block/10.0.1.0-26',
  '/calico/staticroutes/10.96.0.0-12',
);
const valueArb = fc.oneof(
  fc.constantFrom('192.0.2.9', '192.0.2.1', '2001:db8::9', '', '65001', '224.0.0.1', 'bad', '{"enabled":false}'),
  fc.constantFrom(
    '{"ip":"198.51.100.1","as_num":"65001","source_addr":"UseNodeIP","restart_time":"90"}',
    '{"ip":"198.51.100.1","as_num":"64512","rr_cluster_id":""}',
    '{"ip":"192.0.2.2","as_num":"64512","keep_next_hop":true}',
    '{"state":"pending"}',
    '10.96.0.0/12',
    '{',
  ),
  fc.constant(null),
);

test('an index kept current by change batches builds the same model as a full rebuild', () => {
  fc.assert(
    fc.property(fc.array(fc.array(fc.record({ key: keyArb, value: valueArb }), { minLength: 1, maxLength: 3 }), { maxLength: 12 }), (batches) => {
      const keys = new Map(base);
      const idx = KeyIndex.from(keys, 'a');
      let prev = buildFromIndex(idx).config;
      for (const batch of batches) {
        for (const c of batch) {
          if (c.value === null) keys.delete(c.key);
          else keys.set(c.key, c.value);
        }
        idx.apply(batch);
        const inc = buildFromIndex(idx);
        const full = buildNodeBgpConfig(keys, 'a');
        assert.deepEqual(inc.config, full.config);
        assert.deepEqual(inc.problems, full.problems);
        assert.equal(deepEqual(prev, inc.config), JSON.stringify(prev) === JSON.stringify(inc.config));
        prev = inc.config;
      }
    }),
    { numRuns: 200 },
  );
});

test('arbitrary values under every key prefix never make the model throw', () => {
  const prefix = fc.constantFrom(
    `${H}a/`,
    `${H}b/`,
    '/calico/bgp/v1/global/',
    `${H}a/peer_v4/`,
    `${H}a/peer_v6/`,
    '/calico/bgp/v1/global/peer_v4/',
    '/calico/v1/ipam/v4/pool/',
    '/calico/v1/ipam/v6/pool/',
    '/calico/ipam/v2/host/a/ipv4/block/',
    '/calico/ipam/v2/host/a/ipv6/block/',
    '/calico/staticroutes/',
    '/calico/rejectcidrsv6/',
  );
  const leaf = fc.oneof(
    fc.constantFrom('ip_addr_v4', 'ip_addr_v6', 'as_num', 'rr_cluster_id', 'listen_port', 'node_mesh', 'loglevel', 'prefix_advertisements/ip_v4', 'node_mesh_restart_time', '10.0.0.0-8', 'x'),
    fc.string({ maxLength: 10 }),
  );
  const value = fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.json({ maxDepth: 2 }),
    fc.constantFrom('{"ip":"192.0.2.9","as_num":"1","port":"x"}', '[{"cidr":"10.0.0.0/8","communities":[1,"a:b"]}]', 'null', '{"state":7}'),
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(prefix, leaf, value), { maxLength: 10 }), fc.constantFrom(undefined, 'hash', '1.2.3.4', 'junk'), (entries, routerId) => {
      const keys = new Map(base);
      for (const [p, l, v] of entries) keys.set(p + l, v);
      const { config } = buildNodeBgpConfig(keys, 'a', routerId === undefined ? {} : { routerId });
      return typeof config.asNumber === 'number' && JSON.parse(JSON.stringify(config)) !== null;
    }),
    { numRuns: 300 },
  );
});
