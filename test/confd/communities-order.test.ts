/**
 * Calico's syncer sorts each prefix's communities as strings, standard and
 * large mixed, and its template adds them in that order; ours must give the
 * same text for every flavor.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FLAVORS, renderAll } from '../../src/confd/render.js';
import { family, nodeModel } from '../support/model.js';

test('the communities of a prefix advertisement are added in Calico order: all sorted as strings', () => {
  const m = nodeModel({
    nodeName: 'n1',
    routerId: '192.0.2.1',
    ipv4: family({
      address: '192.0.2.1',
      communities: [{ cidr: '10.64.0.0/16', communities: ['65000:2', '64512:100'], largeCommunities: ['65000:100:200'] }],
    }),
  });
  for (const flavor of FLAVORS) {
    const files = renderAll(flavor, m);
    const main = files.get('bird.cfg');
    assert.ok(main !== undefined, `${flavor}: bird.cfg rendered`);
    const adds = main.split('\n').filter((l) => /bgp_(large_)?community\.add/.test(l)).map((l) => l.trim());
    assert.deepEqual(adds, [
      'bgp_community.add((64512, 100));',
      'bgp_large_community.add((65000, 100, 200));',
      'bgp_community.add((65000, 2));',
    ], flavor);
  }
});
