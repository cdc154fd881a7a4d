/**
 * The model against Calico's own confd cases (../shared/conformance/calico-confd):
 * for every case, load common/ + the case inputs through the file backend,
 * build the model for the node and environment of cases.tsv, and check that
 * it holds exactly what the expected BIRD files configure: router id, local
 * AS, listen port, every BGP protocol (name, neighbor, port, AS, source
 * address, passive, rr client + cluster id, next hop, password, restart time,
 * TTL security), the blocks and static routes of bird_aggr.cfg and the pools
 * and reject ranges of bird_ipam.cfg.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileDatastore } from '../../src/datastore/file.js';
import { buildNodeBgpConfig } from '../../src/model/build.js';
import type { FamilyConfig, NodeBgpConfig } from '../../src/model/types.js';
import { setLogLevel } from '../../src/log.js';
import { CONFORMANCE_ROOT, conformanceAvailable, conformanceSkip } from '../support/conformance.js';

const ROOT = CONFORMANCE_ROOT;
const available = conformanceAvailable;

interface Case {
  name: string;
  env: Record<string, string>;
}

function cases(): Case[] {
  const lines = readFileSync(join(ROOT, 'cases.tsv'), 'utf8').split('\n').slice(1).filter((l) => l.trim() !== '');
  return lines.map((l) => {
    const [name, envText] = l.split('\t') as [string, string];
    const env: Record<string, string> = {};
    for (const kv of (envText ?? '').trim().split(/\s+/)) {
      const i = kv.indexOf('=');
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    return { name, env };
  });
}

/** Statements of a BIRD file with comments and layout dropped. */
function statements(text: string): string[] {
  const noComments = text
    .split('\n')
    .map((l) => {
      let inQ = false;
      for (let i = 0; i < l.length; i++) {
        if (l[i] === '"') inQ = !inQ;
        if (l[i] === '#' && !inQ) return l.slice(0, i);
      }
      return l;
    })
    .join(' ');
  return noComments
    .split(/(?<=[;{}])/)
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter((s) => s !== '');
}

interface ExpectedPeer {
  name: string;
  lines: string[];
}

function expectedPeers(stmts: string[]): ExpectedPeer[] {
  const out: ExpectedPeer[] = [];
  for (let i = 0; i < stmts.length; i++) {
    const m = /^protocol bgp (\S+) from bgp_template \{$/.exec(stmts[i]!);
    if (!m) continue;
    const lines: string[] = [];
    for (i++; stmts[i] !== '}'; i++) lines.push(stmts[i]!);
    out.push({ name: m[1]!, lines });
  }
  return out;
}

/** The statements our model says the peer block must contain (Calico's template order is not checked here). */
function modelPeerLines(fam: FamilyConfig): ExpectedPeer[] {
  return fam.peers.map((p) => {
    const lines = [`neighbor ${p.address} ${p.port !== null ? `port ${p.port} ` : ''}as ${p.asNumber};`];
    if (p.sourceAddress !== null) lines.push(`source address ${p.sourceAddress};`);
    if (p.passive) lines.push('passive on;');
    if (p.routeReflectorClient) lines.push('rr client;', `rr cluster id ${p.routeReflectorClusterId};`);
    if (p.nextHop === 'keep') lines.push('next hop keep;');
    if (p.nextHop === 'self') lines.push('next hop self;');
    if (p.password !== null) lines.push(`password "${p.password}";`);
    if (p.gracefulRestartTime !== null) lines.push(`graceful restart time ${p.gracefulRestartTime};`);
    if (p.ttlSecurity > 0) lines.push('ttl security on;', `multihop ${p.ttlSecurity};`);
    return { name: p.name, lines };
  });
}

function load(caseDir: string, node: string, step2: boolean): Promise<FileDatastore> {
  const paths = [join(ROOT, 'common/nodes.yaml'), join(ROOT, 'common/ipam.yaml'), join(caseDir, 'input.yaml')];
  if (existsSync(join(caseDir, 'kubectl-input.yaml'))) paths.push(join(caseDir, 'kubectl-input.yaml'));
  if (step2) paths.push(join(caseDir, 'step2/input.yaml'));
  const ds = new FileDatastore({ paths, nodeName: node, watch: false });
  return ds.start().then(() => ds);
}

function checkFamily(cfg: NodeBgpConfig, family: 4 | 6, expectedDir: string, label: string): void {
  const fam = family === 4 ? cfg.ipv4 : cfg.ipv6;
  const suffix = family === 4 ? '' : '6';
  const main = statements(readFileSync(join(expectedDir, `bird${suffix}.cfg`), 'utf8'));

  const rid = main.find((s) => s.startsWith('router id '));
  assert.equal(rid, `router id ${cfg.routerId};`, `${label}: router id`);
  const listen = main.find((s) => s.startsWith('listen bgp port '));
  assert.equal(listen, cfg.listenPort !== null ? `listen bgp port ${cfg.listenPort};` : undefined, `${label}: listen port`);

  const localAs = main.find((s) => s.startsWith('local as '));
  if (fam.address === null) {
    assert.equal(localAs, undefined, `${label}: family disabled, so no template`);
    assert.deepEqual(fam.peers, [], `${label}: family disabled, so no peers`);
  } else {
    assert.equal(localAs, `local as ${cfg.asNumber};`, `${label}: local AS`);
  }
  const expected = expectedPeers(main);
  const ours = modelPeerLines(fam);
  assert.deepEqual(
    ours.map((p) => p.name),
    expected.map((p) => p.name),
    `${label}: peer names and order`,
  );
  for (const e of expected) {
    const o = ours.find((p) => p.name === e.name)!;
    assert.deepEqual([...o.lines].sort(), [...e.lines].sort(), `${label}: statements of ${e.name}`);
  }

  // bird_aggr: blackhole routes for blocks (not /32 and /128) and static routes; aggregates for confirmed blocks.
  const aggr = statements(readFileSync(join(expectedDir, `bird${suffix}_aggr.cfg`), 'utf8'));
  const blackholes = aggr.filter((s) => s.startsWith('route ')).map((s) => s.split(' ')[1]);
  const hostLen = family === 4 ? '/32' : '/128';
  const ourBlackholes = [...fam.blocks.filter((b) => !b.cidr.endsWith(hostLen)).map((b) => b.cidr), ...fam.staticRoutes];
  assert.deepEqual(blackholes, ourBlackholes, `${label}: blackhole routes`);
  const aggregates = aggr.filter((s) => /^if \( net = /.test(s)).map((s) => s.split(' ')[4]);
  assert.deepEqual(aggregates, fam.blocks.filter((b) => b.confirmed).map((b) => b.cidr), `${label}: exported block aggregates`);

  // bird_ipam: the export filter accepts static routes then pools; the kernel filter rejects reject ranges
  // (and VXLAN pools, which Felix programs) and sets the IP-in-IP tunnel for the other pools.
  const ipam = statements(readFileSync(join(expectedDir, `bird${suffix}_ipam.cfg`), 'utf8'));
  const kernelAt = ipam.indexOf('filter calico_kernel_programming {');
  const guarded = (from: number, to: number, action: (next: string) => boolean): string[] => {
    const out: string[] = [];
    for (let i = from; i < to; i++) {
      const m = /^if \( net ~ (\S+) \) then \{$/.exec(ipam[i]!);
      if (m && action(ipam[i + 1]!)) out.push(m[1]!);
    }
    return out;
  };
  const exported = guarded(0, kernelAt, (n) => n === 'accept;');
  const exportedPools = fam.pools.filter((p) => !p.disableBGPExport).map((p) => p.cidr);
  assert.deepEqual(exported, [...fam.staticRoutes, ...exportedPools], `${label}: export filter accepts`);
  const kernelPools = family === 4 && fam.network !== null ? fam.pools : [];
  const rejected = guarded(kernelAt, ipam.length, (n) => n === 'reject;');
  assert.deepEqual(rejected, [...fam.rejectCidrs, ...kernelPools.filter((p) => p.vxlanMode !== 'never').map((p) => p.cidr)], `${label}: kernel rejects`);
  const tunnels = guarded(kernelAt, ipam.length, (n) => n.startsWith('krt_tunnel') || n.startsWith('if defined(bgp_next_hop)'));
  assert.deepEqual(tunnels, kernelPools.filter((p) => p.vxlanMode === 'never').map((p) => p.cidr), `${label}: kernel pools`);
  for (let i = kernelAt; i < ipam.length; i++) {
    const st = ipam[i]!;
    if (st.startsWith('if defined(bgp_next_hop) && ( bgp_next_hop ~ ')) {
      assert.ok(fam.pools.some((p) => p.ipipMode === 'cross-subnet'), `${label}: cross-subnet pool`);
      assert.ok(st.includes(`bgp_next_hop ~ ${fam.network} )`), `${label}: node subnet ${fam.network}`);
    }
    const tun = /^krt_tunnel = "(.*)";$/.exec(st);
    if (tun && !ipam[i - 1]!.startsWith('if defined')) {
      const pool = kernelPools.find((p) => p.vxlanMode === 'never')!;
      assert.equal(tun[1], pool.ipipMode === 'cross-subnet' ? '' : pool.ipipInterface, `${label}: krt_tunnel`);
    }
  }
}

const all = available ? cases() : [];

for (const c of all) {
  test(`model for conformance case ${c.name} holds what Calico's BIRD files configure`, { skip: conformanceSkip }, async () => {
    setLogLevel('silent');
    const node = c.env.NODENAME ?? 'kube-master';
    const env = c.env.CALICO_ROUTER_ID !== undefined ? { routerId: c.env.CALICO_ROUTER_ID } : {};
    const caseDir = join(ROOT, 'cases', c.name);
    const steps: Array<[boolean, string]> = [[false, join(caseDir, 'expected')]];
    if (existsSync(join(caseDir, 'step2/input.yaml'))) steps.push([true, join(caseDir, 'step2/expected')]);
    for (const [step2, expectedDir] of steps) {
      const ds = await load(caseDir, node, step2);
      try {
        const { config, problems } = buildNodeBgpConfig(ds.snapshot(), node, env);
        assert.deepEqual(problems, [], 'the key view is clean');
        const label = `${c.name}${step2 ? ' step2' : ''}`;
        checkFamily(config, 4, expectedDir, `${label} v4`);
        checkFamily(config, 6, expectedDir, `${label} v6`);
        assert.deepEqual(JSON.parse(JSON.stringify(config)), config, 'the model is plain JSON');
      } finally {
        await ds.stop();
      }
    }
  });
}

test('conformance cases are present', { skip: conformanceSkip }, () => {
  assert.ok(all.length >= 11);
});
