/**
 * The renderings are configs real BIRDs accept: every conformance case and a
 * few synthetic models that reach every template branch (passwords, TTL
 * security, route-reflector clients, next-hop modes, ports, communities,
 * reachable-by routes, bind mode, ignored interfaces, every pool mode, log
 * levels) are rendered per flavor into a temp dir and parsed with
 * `bird -p -c` / `bird6 -p -c` (stock BIRD 1.6) and BIRD 2's `bird -p -c`.
 *
 * Stock BIRD rejects Calico's fork-only `krt_tunnel`, so the `calico` flavor
 * is checked by proving it differs from `bird1` only by those statements.
 * Also here: the render API contract the confd write path relies on.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileDatastore } from '../../src/datastore/file.js';
import { buildNodeBgpConfig } from '../../src/model/build.js';
import type { NodeBgpConfig, Peer } from '../../src/model/types.js';
import { FLAVORS, flavorFiles, modelParts, renderAll, renderFile, RenderError, templatesDirectory, type Flavor } from '../../src/confd/render.js';
import { directives, diffDirectives } from '../../src/confd/bird-directives.js';
import { setLogLevel } from '../../src/log.js';
import { bird1Binaries, bird2Binary, birdCheck } from '../support/bird.js';
import { CONFORMANCE_ROOT, conformanceAvailable, conformanceSkip } from '../support/conformance.js';

const ROOT = CONFORMANCE_ROOT;

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Writes a flavor's files to a new temp dir (BIRD resolves the includes next to the main file). */
function writeRendered(files: Map<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'bgpd-bird-check-'));
  dirs.push(dir);
  for (const [name, text] of files) writeFileSync(join(dir, name), text);
  return dir;
}

const bird1 = bird1Binaries();
const bird2 = bird2Binary();

/** Parses the main files of a flavor's rendering with the matching BIRD; returns the complaints. */
function check(flavor: Flavor, model: NodeBgpConfig): string[] {
  const dir = writeRendered(renderAll(flavor, model));
  const binaries = flavor === 'bird2' ? { bird: bird2!, bird6: '' } : bird1!;
  const runs = flavorFiles(flavor)
    .filter((f) => f.main)
    .map((f): [string, string] => [binaries[f.daemon], f.name]);
  const out: string[] = [];
  for (const [bin, file] of runs) {
    const r = birdCheck(bin, join(dir, file));
    if (!r.ok) out.push(`${bin} -p -c ${file}: ${r.output}\n${readFileSync(join(dir, file), 'utf8')}`);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Models: the conformance cases and synthetic ones
// ---------------------------------------------------------------------------

/** The model of every conformance case (and step 2), through the file backend. */
async function caseModels(): Promise<Array<[string, NodeBgpConfig]>> {
  if (!conformanceAvailable) return [];
  const out: Array<[string, NodeBgpConfig]> = [];
  const rows = readFileSync(join(ROOT, 'cases.tsv'), 'utf8').split('\n').slice(1).filter((l) => l.trim() !== '');
  for (const row of rows) {
    const [name, envText] = row.split('\t') as [string, string | undefined];
    const env = Object.fromEntries((envText ?? '').trim().split(/\s+/).map((kv) => kv.split('=') as [string, string]));
    const node = env.NODENAME ?? 'kube-master';
    const dir = join(ROOT, 'cases', name);
    const paths = [join(ROOT, 'common/nodes.yaml'), join(ROOT, 'common/ipam.yaml'), join(dir, 'input.yaml')];
    if (existsSync(join(dir, 'kubectl-input.yaml'))) paths.push(join(dir, 'kubectl-input.yaml'));
    const steps: Array<[string, string[]]> = [[name, paths]];
    if (existsSync(join(dir, 'step2/input.yaml'))) steps.push([`${name} step2`, [...paths, join(dir, 'step2/input.yaml')]]);
    for (const [label, p] of steps) {
      const ds = new FileDatastore({ paths: p, nodeName: node, watch: false });
      await ds.start();
      const { config } = buildNodeBgpConfig(ds.snapshot(), node, env.CALICO_ROUTER_ID ? { routerId: env.CALICO_ROUTER_ID } : {});
      await ds.stop();
      out.push([label, config]);
    }
  }
  return out;
}

const peer = (over: Partial<Peer> & Pick<Peer, 'name' | 'address' | 'family'>): Peer => ({
  type: 'global',
  port: null,
  asNumber: 64512,
  sourceAddress: null,
  passive: false,
  routeReflectorClient: false,
  routeReflectorClusterId: null,
  password: null,
  nextHop: 'auto',
  gracefulRestartTime: null,
  ttlSecurity: 0,
  calicoNode: false,
  numAllowLocalAs: 0,
  reachableBy: null,
  sourceKey: `/calico/bgp/v1/global/peer_v${over.family}/${over.address}`,
  ...over,
});

/** A node that uses every feature the templates know, in both families. */
function kitchenSink(): NodeBgpConfig {
  return {
    nodeName: 'node-a',
    routerId: '192.0.2.1',
    routerIdSource: 'node-ipv4',
    asNumber: 64512,
    listenPort: 1790,
    bindMode: 'NodeIP',
    logLevel: 'debug',
    meshEnabled: true,
    routeReflectorClusterId: '192.0.2.250',
    ignoredInterfaces: ['eth9', 'vxlan.calico', 'cali*'],
    ipv4: {
      address: '192.0.2.1',
      network: '192.0.2.0/24',
      peers: [
        peer({ name: 'Mesh_192_0_2_2', type: 'mesh', family: 4, address: '192.0.2.2', port: 1790, sourceAddress: '192.0.2.1', passive: true, password: 'mesh secret', gracefulRestartTime: 120, calicoNode: true }),
        peer({ name: 'Global_198_51_100_1_port_1179', family: 4, address: '198.51.100.1', port: 1179, asNumber: 65001, password: 's3cr#t', nextHop: 'keep', ttlSecurity: 2, numAllowLocalAs: 1, reachableBy: '192.0.2.254' }),
        peer({ name: 'Global_192_0_2_3', family: 4, address: '192.0.2.3', routeReflectorClient: true, routeReflectorClusterId: '192.0.2.250', sourceAddress: '192.0.2.1', calicoNode: true }),
        peer({ name: 'Node_203_0_113_9', type: 'node', family: 4, address: '203.0.113.9', asNumber: 4200000000, nextHop: 'self', gracefulRestartTime: 300, sourceKey: '/calico/bgp/v1/host/node-a/peer_v4/203.0.113.9' }),
      ],
      skipped: [{ sourceKey: '/calico/bgp/v1/host/node-a/ip_addr_v4', address: '192.0.2.1', reason: 'self' }],
      pools: [
        { cidr: '10.64.0.0/16', family: 4, ipipMode: 'always', ipipInterface: 'tunl0', vxlanMode: 'never', natOutgoing: true, disabled: false, disableBGPExport: false },
        { cidr: '10.65.0.0/16', family: 4, ipipMode: 'cross-subnet', ipipInterface: 'tunl0', vxlanMode: 'never', natOutgoing: true, disabled: false, disableBGPExport: false },
        { cidr: '10.66.0.0/16', family: 4, ipipMode: 'never', ipipInterface: '', vxlanMode: 'always', natOutgoing: false, disabled: false, disableBGPExport: false },
        { cidr: '10.67.0.0/16', family: 4, ipipMode: 'never', ipipInterface: '', vxlanMode: 'never', natOutgoing: false, disabled: false, disableBGPExport: true },
      ],
      blocks: [
        { cidr: '10.64.1.0/26', family: 4, state: 'confirmed', confirmed: true },
        { cidr: '10.64.2.0/26', family: 4, state: 'pending', confirmed: false },
        { cidr: '10.64.3.7/32', family: 4, state: '', confirmed: true },
      ],
      staticRoutes: ['10.96.0.0/12', '10.96.0.10/32'],
      rejectCidrs: ['10.96.0.0/12'],
      communities: [{ cidr: '10.64.0.0/16', communities: ['64512:100', '65535:65281'], largeCommunities: ['64512:1:2'] }],
    },
    ipv6: {
      address: '2001:db8::1',
      network: '2001:db8::/64',
      peers: [
        peer({ name: 'Mesh_2001_db8__2', type: 'mesh', family: 6, address: '2001:db8::2', sourceAddress: '2001:db8::1', calicoNode: true }),
        peer({ name: 'Node_2001_db8_ff__1_port_50', type: 'node', family: 6, address: '2001:db8:ff::1', port: 50, asNumber: 65002, password: 'v6 secret', nextHop: 'keep', ttlSecurity: 1, reachableBy: '2001:db8::fe', sourceKey: '/calico/bgp/v1/host/node-a/peer_v6/2001:db8:ff::1-50' }),
      ],
      skipped: [],
      pools: [{ cidr: 'fd00:10::/48', family: 6, ipipMode: 'never', ipipInterface: '', vxlanMode: 'never', natOutgoing: false, disabled: false, disableBGPExport: false }],
      blocks: [
        { cidr: 'fd00:10:0:1::/122', family: 6, state: 'confirmed', confirmed: true },
        { cidr: 'fd00:10:0:2::5/128', family: 6, state: '', confirmed: true },
      ],
      staticRoutes: ['fd00:96::/112'],
      rejectCidrs: ['fd00:96::/112'],
      communities: [{ cidr: 'fd00:10::/48', communities: ['64512:200'], largeCommunities: [] }],
    },
  };
}

/** Variants of the kitchen sink that flip the switches the first one cannot hold at once. */
function synthetic(): Array<[string, NodeBgpConfig]> {
  const k = kitchenSink();
  const meshOn: NodeBgpConfig = { ...k, routeReflectorClusterId: null, bindMode: 'None', logLevel: 'info', listenPort: null };
  const meshOff: NodeBgpConfig = { ...k, routeReflectorClusterId: null, meshEnabled: false, logLevel: 'none', ignoredInterfaces: [] };
  const v6Only: NodeBgpConfig = {
    ...k,
    routerIdSource: 'env',
    routerId: '10.10.10.10',
    bindMode: 'None',
    ipv4: { ...k.ipv4, address: null, network: null, peers: [], skipped: [] },
  };
  const empty: NodeBgpConfig = {
    ...k,
    routeReflectorClusterId: null,
    listenPort: null,
    bindMode: 'None',
    ignoredInterfaces: [],
    ipv4: { address: '192.0.2.1', network: null, peers: [], skipped: [], pools: [], blocks: [], staticRoutes: [], rejectCidrs: [], communities: [] },
    ipv6: { address: null, network: null, peers: [], skipped: [], pools: [], blocks: [], staticRoutes: [], rejectCidrs: [], communities: [] },
  };
  return [
    ['every feature, route reflector, bind to node IP', k],
    ['mesh on, default port, info logging', meshOn],
    ['mesh off, no logging', meshOff],
    ['IPv6 only with CALICO_ROUTER_ID', v6Only],
    ['nothing configured', empty],
  ];
}

setLogLevel('silent');
const cases = await caseModels();

// ---------------------------------------------------------------------------
// bird -p -c
// ---------------------------------------------------------------------------

test('the BIRD checks include every conformance case', { skip: conformanceSkip }, () => {
  assert.ok(cases.length >= 11, `only ${cases.length} conformance models`);
});

test('stock BIRD 1.6 (bird -p -c, bird6 -p -c) accepts the bird1 rendering of every conformance case and synthetic model', { skip: bird1 ? false : 'BIRD 1.6 is not installed' }, async () => {
  const failures = [...cases, ...synthetic()].flatMap(([label, m]) => check('bird1', m).map((f) => `${label}: ${f}`));
  if (failures.length > 0) assert.fail(failures.join('\n\n'));
});

test('BIRD 2 (bird -p -c) accepts the bird2 rendering of every conformance case and synthetic model', { skip: bird2 ? false : 'no BIRD 2 binary (apt-get download bird2 failed; set BIRD2_BIN)' }, async () => {
  const failures = [...cases, ...synthetic()].flatMap(([label, m]) => check('bird2', m).map((f) => `${label}: ${f}`));
  if (failures.length > 0) assert.fail(failures.join('\n\n'));
});

test('the calico flavor differs from the stock BIRD 1.6 one only by the fork-only krt_tunnel statements', async () => {
  let tunnels = 0;
  for (const [label, m] of [...cases, ...synthetic()]) {
    const calico = renderAll('calico', m);
    const stock = renderAll('bird1', m);
    assert.deepEqual([...calico.keys()], [...stock.keys()]);
    for (const [name, text] of calico) {
      const all = directives(text);
      const withoutFork = all.filter((s) => !s.includes('krt_tunnel'));
      tunnels += all.length - withoutFork.length;
      const diff = diffDirectives(directives(stock.get(name)!), withoutFork);
      assert.deepEqual(diff, [], `${label} ${name}`);
      assert.ok(!stock.get(name)!.split('\n').some((l) => /^\s*[^#\s].*krt_tunnel/.test(l)), `${label} ${name}: no krt_tunnel for stock BIRD`);
    }
  }
  assert.ok(tunnels > 0, 'some cases do use krt_tunnel');
});

test('the bird2 rendering has the same peers, with the same options, as the BIRD 1.6 one', async () => {
  const peersOf = (text: string): Map<string, string[]> => {
    const out = new Map<string, string[]>();
    const st = directives(text);
    for (let i = 0; i < st.length; i++) {
      const m = /^protocol bgp (\S+) from bgp_template(?:_v[46])? \{$/.exec(st[i]!);
      if (!m) continue;
      const body: string[] = [];
      let depth = 1;
      for (i++; depth > 0; i++) {
        const s = st[i]!;
        if (s.endsWith('{')) depth++;
        if (s === '}' || s === '};') depth--;
        // BIRD 2 puts next hop into the channel block: compare the option, not the nesting.
        if (depth > 0 && !/^ipv[46] \{$/.test(s) && s !== '}' && s !== '};' && s !== ';') body.push(s);
      }
      i--;
      out.set(m[1]!, body.sort());
    }
    return out;
  };
  for (const [label, m] of [...cases, ...synthetic()]) {
    const one = renderAll('bird1', m);
    const v1 = new Map([...peersOf(one.get('bird.cfg')!), ...peersOf(one.get('bird6.cfg')!)]);
    const v2 = peersOf(renderAll('bird2', m).get('bird.cfg')!);
    assert.deepEqual(v2, v1, label);
  }
});

// ---------------------------------------------------------------------------
// The render API
// ---------------------------------------------------------------------------

test('each flavor lists its files in a stable order, with the model parts they depend on', () => {
  assert.deepEqual([...FLAVORS], ['calico', 'bird1', 'bird2']);
  const six = ['bird.cfg', 'bird_aggr.cfg', 'bird_ipam.cfg', 'bird6.cfg', 'bird6_aggr.cfg', 'bird6_ipam.cfg'];
  assert.deepEqual(flavorFiles('calico').map((f) => f.name), six);
  assert.deepEqual(flavorFiles('bird1').map((f) => f.name), six);
  assert.deepEqual(flavorFiles('bird2').map((f) => f.name), ['bird.cfg']);
  assert.deepEqual(flavorFiles('calico').filter((f) => f.main).map((f) => `${f.daemon} -c ${f.name}`), ['bird -c bird.cfg', 'bird6 -c bird6.cfg']);
  assert.deepEqual(flavorFiles('bird2').map((f) => `${f.daemon} -c ${f.name}`), ['bird -c bird.cfg']);
  for (const flavor of FLAVORS) {
    for (const f of flavorFiles(flavor)) {
      assert.ok(existsSync(join(templatesDirectory(), f.template)), f.template);
      assert.ok(f.dependsOn.length > 0);
    }
  }
  assert.equal(flavorFiles('bird1'), flavorFiles('bird1'), 'the same frozen list every time');
});

test('renderAll is renderFile of every file, and rendering is deterministic', () => {
  const m = kitchenSink();
  for (const flavor of FLAVORS) {
    const all = renderAll(flavor, m);
    for (const [name, text] of all) assert.equal(renderFile(name, flavor, m), text);
    assert.deepEqual(renderAll(flavor, structuredClone(m)), all);
  }
});

test('a file changes only when a model part it depends on changes', () => {
  const a = kitchenSink();
  const mutations: Array<[string, NodeBgpConfig]> = [
    ['a new block', { ...a, ipv4: { ...a.ipv4, blocks: [...a.ipv4.blocks, { cidr: '10.64.9.0/26', family: 4, state: 'confirmed', confirmed: true }] } }],
    ['a new peer', { ...a, ipv6: { ...a.ipv6, peers: [...a.ipv6.peers, peer({ name: 'Global_2001_db8__9', family: 6, address: '2001:db8::9' })] } }],
    ['a pool now VXLAN', { ...a, ipv4: { ...a.ipv4, pools: a.ipv4.pools.map((p) => ({ ...p, vxlanMode: 'always' as const })) } }],
    ['another log level', { ...a, logLevel: 'info' }],
    ['another service range', { ...a, ipv6: { ...a.ipv6, staticRoutes: ['fd00:97::/112'] } }],
  ];
  for (const [what, b] of mutations) {
    const pa = modelParts(a);
    const pb = modelParts(b);
    const changed = (Object.keys(pa) as Array<keyof typeof pa>).filter((k) => pa[k] !== pb[k]);
    assert.ok(changed.length > 0, what);
    for (const flavor of FLAVORS) {
      for (const f of flavorFiles(flavor)) {
        const differs = renderFile(f.name, flavor, a) !== renderFile(f.name, flavor, b);
        if (differs) assert.ok(f.dependsOn.some((d) => changed.includes(d)), `${what}: ${flavor} ${f.name} changed, but it depends on ${f.dependsOn.join(', ')} and only ${changed.join(', ')} changed`);
      }
    }
  }
});

test('values BIRD cannot express are refused rather than written', () => {
  const m = kitchenSink();
  const bad = { ...m, ipv4: { ...m.ipv4, peers: [{ ...m.ipv4.peers[1]!, password: 'x"; import all; #' }] } };
  for (const flavor of FLAVORS) assert.throws(() => renderAll(flavor, bad), RenderError);
  assert.throws(() => renderFile('bird.cfg', 'calico', { ...m, routerId: '' }), /no router id/);
  assert.throws(() => renderFile('nope.cfg', 'calico', m), RenderError);
  assert.throws(() => flavorFiles('bird3' as Flavor), RenderError);
});
