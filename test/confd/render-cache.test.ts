/**
 * The render cache never shows: for random sequences of model edits (peers,
 * blocks and pools added, removed and changed, by new objects as the model
 * watcher makes them or in place), `renderFile` with its per-peer block
 * cache gives the same bytes as `renderFileUncached` (every block rendered
 * afresh, the whole text tidied at once), for every file of every flavor.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FLAVORS, flavorFiles, renderFile, renderFileUncached } from '../../src/confd/render.js';
import type { Block, Family, FamilyConfig, NodeBgpConfig, Peer, PeerType, Pool } from '../../src/model/types.js';
import { family, nodeModel, peer } from '../support/model.js';

// ---------------------------------------------------------------------------
// Models and edits
// ---------------------------------------------------------------------------

const addr = (f: Family, i: number): string => (f === 4 ? `10.0.${i >> 8}.${i & 255}` : `fd00::${i.toString(16)}`);

/** Peer fields the templates read, from small domains (odd layout and values BIRD refuses included). */
const peerFields = fc.record({
  port: fc.constantFrom(null, 179, 1790),
  asNumber: fc.constantFrom(64512, 65001, 4200000000),
  sourceAddress: fc.constantFrom(null, '10.0.0.1', 'fd00::1'),
  passive: fc.boolean(),
  routeReflectorClient: fc.boolean(),
  routeReflectorClusterId: fc.constantFrom(null, '224.0.0.1'),
  password: fc.constantFrom(null, null, null, 's3cr#t', 'bad"password'),
  nextHop: fc.constantFrom('auto' as const, 'keep' as const, 'self' as const),
  gracefulRestartTime: fc.constantFrom(null, 0, 120, Number.NaN),
  ttlSecurity: fc.constantFrom(0, 2),
  numAllowLocalAs: fc.constantFrom(0, 1),
  reachableBy: fc.constantFrom(null, null, '10.0.0.254'),
  sourceKey: fc.constantFrom('/calico/bgp/v1/host/n/ip_addr_v4', 'key with trailing blanks \t', 'key\n\n\n\nover lines', ''),
});
type PeerFields = typeof peerFields extends fc.Arbitrary<infer T> ? T : never;

const fam = fc.constantFrom<Family>(4, 6);
const index = fc.nat(40);

type Edit =
  | { op: 'addPeer'; f: Family; type: PeerType; n: number; fields: PeerFields }
  | { op: 'removePeer'; f: Family; i: number }
  | { op: 'changePeer'; f: Family; i: number; fields: Partial<PeerFields>; inPlace: boolean }
  | { op: 'addBlock'; f: Family; n: number; state: Block['state'] }
  | { op: 'removeBlock'; f: Family; i: number }
  | { op: 'addPool'; f: Family; n: number; mode: 'ipip' | 'cross-subnet' | 'vxlan' | 'none'; noExport: boolean }
  | { op: 'removePool'; f: Family; i: number }
  | { op: 'node'; mesh: boolean; reflector: boolean; v6: boolean; logLevel: string; listenPort: number | null };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('addPeer' as const), f: fam, type: fc.constantFrom<PeerType>('mesh', 'mesh', 'global', 'node'), n: fc.nat(300), fields: peerFields }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('removePeer' as const), f: fam, i: index }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('changePeer' as const), f: fam, i: index, fields: peerFields.chain((p) => fc.subarray(Object.keys(p)).map((ks) => Object.fromEntries(ks.map((k) => [k, p[k as keyof PeerFields]])))), inPlace: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('addBlock' as const), f: fam, n: fc.nat(200), state: fc.constantFrom<Block['state']>('', 'confirmed', 'pending') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('removeBlock' as const), f: fam, i: index }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('addPool' as const), f: fam, n: fc.nat(50), mode: fc.constantFrom('ipip' as const, 'cross-subnet' as const, 'vxlan' as const, 'none' as const), noExport: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('removePool' as const), f: fam, i: index }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('node' as const), mesh: fc.boolean(), reflector: fc.boolean(), v6: fc.boolean(), logLevel: fc.constantFrom('info', 'debug', 'none'), listenPort: fc.constantFrom(null, 1790) }) },
);

function start(): NodeBgpConfig {
  return nodeModel({
    nodeName: 'node-a',
    routerId: '10.0.0.1',
    ipv4: family({ address: '10.0.0.1', network: '10.0.0.0/24' }),
    ipv6: family({ address: 'fd00::1' }),
  });
}

/** Applies an edit the way the model watcher does (new objects along the changed path, the rest shared), or, for `inPlace`, by mutating the peer. */
function apply(m: NodeBgpConfig, e: Edit): NodeBgpConfig {
  if (e.op === 'node') {
    return {
      ...m,
      meshEnabled: e.mesh,
      routeReflectorClusterId: e.reflector ? '224.0.0.9' : null,
      logLevel: e.logLevel,
      listenPort: e.listenPort,
      ipv6: { ...m.ipv6, address: e.v6 ? 'fd00::1' : null },
    };
  }
  const key = e.f === 4 ? 'ipv4' : 'ipv6';
  const f: FamilyConfig = m[key];
  const at = <T>(xs: readonly T[], i: number): number => (xs.length === 0 ? -1 : i % xs.length);
  let next: FamilyConfig = f;
  switch (e.op) {
    case 'addPeer': {
      const prefix = e.type === 'mesh' ? 'Mesh' : e.type === 'global' ? 'Global' : 'Node';
      const p: Peer = peer({ ...e.fields, name: `${prefix}_${e.n}`, address: addr(e.f, e.n), type: e.type, family: e.f });
      // Calico's order: mesh, then global, then node peers.
      const rank = (t: PeerType) => ['mesh', 'global', 'node'].indexOf(t);
      const peers = [...f.peers];
      const i = peers.findIndex((q) => rank(q.type) > rank(e.type));
      peers.splice(i < 0 ? peers.length : i, 0, p);
      next = { ...f, peers };
      break;
    }
    case 'removePeer': {
      const i = at(f.peers, e.i);
      if (i >= 0) next = { ...f, peers: f.peers.filter((_, j) => j !== i) };
      break;
    }
    case 'changePeer': {
      const i = at(f.peers, e.i);
      if (i < 0) break;
      if (e.inPlace) {
        Object.assign(f.peers[i]!, e.fields);
        return m; // same model object, a changed peer inside
      }
      next = { ...f, peers: f.peers.map((p, j) => (j === i ? { ...p, ...e.fields } : p)) };
      break;
    }
    case 'addBlock': {
      const cidr = e.f === 4 ? `10.64.${e.n}.0/26` : `fd00:64:${e.n.toString(16)}::/122`;
      next = { ...f, blocks: [...f.blocks, { cidr, family: e.f, state: e.state, confirmed: e.state !== 'pending' }] };
      break;
    }
    case 'removeBlock': {
      const i = at(f.blocks, e.i);
      if (i >= 0) next = { ...f, blocks: f.blocks.filter((_, j) => j !== i) };
      break;
    }
    case 'addPool': {
      const pool: Pool = {
        cidr: e.f === 4 ? `10.${100 + e.n}.0.0/16` : `fd00:${e.n.toString(16)}::/64`,
        family: e.f,
        ipipMode: e.mode === 'ipip' ? 'always' : e.mode === 'cross-subnet' ? 'cross-subnet' : 'never',
        ipipInterface: e.mode === 'ipip' || e.mode === 'cross-subnet' ? 'tunl0' : '',
        vxlanMode: e.mode === 'vxlan' ? 'always' : 'never',
        natOutgoing: true,
        disabled: false,
        disableBGPExport: e.noExport,
      };
      next = { ...f, pools: [...f.pools, pool] };
      break;
    }
    case 'removePool': {
      const i = at(f.pools, e.i);
      if (i >= 0) next = { ...f, pools: f.pools.filter((_, j) => j !== i) };
      break;
    }
  }
  return { ...m, [key]: next };
}

/** The text, or the error a render throws. */
function outcome(render: () => string): string {
  try {
    return render();
  } catch (err) {
    return `threw ${(err as Error).name}: ${(err as Error).message}`;
  }
}

function assertSame(m: NodeBgpConfig, step: string): void {
  for (const flavor of FLAVORS) {
    for (const f of flavorFiles(flavor)) {
      const cached = outcome(() => renderFile(f.name, flavor, m));
      const fresh = outcome(() => renderFileUncached(f.name, flavor, m));
      if (cached !== fresh) assert.equal(cached, fresh, `${flavor} ${f.name} after ${step}`);
    }
  }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

test('cached rendering equals a fresh uncached rendering after any sequence of model edits', () => {
  fc.assert(
    fc.property(fc.array(edit, { minLength: 1, maxLength: 30 }), (edits) => {
      let m = start();
      assertSame(m, 'no edit');
      edits.forEach((e, i) => {
        m = apply(m, e);
        assertSame(m, `edit ${i + 1} ${JSON.stringify(e)}`);
      });
    }),
    { numRuns: 150 },
  );
});

test('a copy of the model renders like the model it was copied from', () => {
  // Same peers as new objects: found by their JSON, not by identity.
  let m = start();
  for (let i = 0; i < 50; i++) {
    const { name: _n, address: _a, type: _t, family: _f, calicoNode: _c, ...fields } = peer({ name: 'x', address: '10.0.0.9', password: i % 3 === 0 ? 'pw' : null });
    m = apply(m, { op: 'addPeer', f: i % 2 === 0 ? 4 : 6, type: i % 7 === 0 ? 'node' : 'mesh', n: i, fields: fields as PeerFields });
  }
  for (const flavor of FLAVORS) {
    for (const f of flavorFiles(flavor)) {
      const text = renderFile(f.name, flavor, m);
      assert.equal(renderFile(f.name, flavor, structuredClone(m)), text);
      assert.equal(renderFileUncached(f.name, flavor, m), text);
    }
  }
});

test('one changed peer of a large mesh changes only its block', () => {
  let m = start();
  for (let i = 0; i < 2000; i++) m = { ...m, ipv4: { ...m.ipv4, peers: [...m.ipv4.peers, peer({ name: `Mesh_${i}`, address: addr(4, i + 2), sourceKey: `/calico/bgp/v1/host/n${i}/ip_addr_v4` })] } };
  const before = renderFile('bird.cfg', 'bird1', m);
  const changed = apply(m, { op: 'changePeer', f: 4, i: 1234, fields: { asNumber: 65001 }, inPlace: false });
  const after = renderFile('bird.cfg', 'bird1', changed);
  assert.equal(after, renderFileUncached('bird.cfg', 'bird1', changed));
  assert.equal(after, before.replace(/(protocol bgp Mesh_1234 from bgp_template \{\n  neighbor \S+ )as 64512;/, '$1as 65001;'));
  assert.notEqual(after, before);
});
