/**
 * End to end (issue #4 part 4): three nodes in network namespaces on one
 * LAN (192.0.2.0/24), each running stock BIRD 1.6 with the `bird1` flavor
 * rendered by its own confd daemon, etcd (legacy keys) as the datastore.
 * Then the data changes in etcd and each BIRD must be *reconfigured* (same
 * PID, same "Last reboot") within one second, with sessions and kernel
 * routes following.
 *
 * IPv4 only: the bird6 files are left out of the resources (one BIRD per
 * node keeps this light on a shared two-core machine).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Etcd3 } from 'etcd3';
import { defaultRenderer } from '../../src/commands/confd.js';
import { birdCommand } from '../../src/confd/bird-control.js';
import { ConfdDaemon } from '../../src/confd/daemon.js';
import { flavorFiles } from '../../src/confd/render.js';
import { defaultResources } from '../../src/confd/resources.js';
import { EtcdDatastore } from '../../src/datastore/etcd.js';
import { EtcdServer } from '../support/etcd.js';
import { Lab, netnsAvailable, type LabProcess } from '../support/netns.js';

const skip = !netnsAvailable() || !existsSync('/usr/sbin/bird') ? 'needs root, ip netns and BIRD 1.6 (/usr/sbin/bird)' : false;

interface Node {
  name: string;
  dir: string;
  sock: string;
  ds: EtcdDatastore;
  daemon: ConfdDaemon;
  bird?: LabProcess['child'];
  birdPid?: number;
  lastReconfig?: string;
}

let etcd: EtcdServer | undefined;
let client: Etcd3 | undefined;
let lab: Lab | undefined;
let root: string | undefined;
const nodes = new Map<string, Node>();
const logLines: string[] = [];

before(async () => {
  if (skip) return;
  root = mkdtempSync(join(tmpdir(), 'bgpd-e2e-'));
  etcd = await EtcdServer.start();
  client = etcd.client();
  lab = Lab.create({ lan: '192.0.2' });
});

after(async () => {
  for (const n of nodes.values()) {
    await n.daemon.stop();
    await n.ds.stop();
  }
  await lab?.destroy();
  client?.close();
  await etcd?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

const H = '/calico/bgp/v1/host';
const G = '/calico/bgp/v1/global';
const addr = (i: number) => `192.0.2.${i}`;
const block = (i: number) => `198.51.100.${(i - 1) * 64}`;

async function put(kvs: Record<string, string>): Promise<void> {
  const c = client!;
  await c
    .if('/calico/e2e-guard', 'Version', '==', 0)
    .then(...Object.entries(kvs).map(([k, v]) => c.put(k).value(v)))
    .commit();
}

function startNode(i: number): Node {
  const name = `n${i}`;
  const dir = join(root!, name);
  const sock = join(dir, 'bird.ctl');
  const log = pino({ level: 'info', base: { node: name } }, { write: (s: string) => void logLines.push(s) });
  const ds = new EtcdDatastore({ endpoints: [etcd!.endpoint], layout: 'legacy', nodeName: name, backoff: { initialMs: 50, maxMs: 500 }, log });
  const resources = defaultResources(flavorFiles('bird1'), { flavor: 'bird1', nodeName: name, configDir: dir, birdSocket: sock }).filter(
    (r) => !r.file.startsWith('bird6'),
  );
  const daemon = new ConfdDaemon({ datastore: ds, nodeName: name, flavor: 'bird1', renderer: defaultRenderer, resources, backoff: { initialMs: 200, maxMs: 1000 }, log });
  const n: Node = { name, dir, sock, ds, daemon };
  nodes.set(name, n);
  return n;
}

interface Proto {
  name: string;
  state: string;
  info: string;
}

async function protocols(n: Node): Promise<Proto[]> {
  const r = await birdCommand(n.sock, 'show protocols', 2000);
  return r.lines
    // name proto table state since info (since is one token for today's times, info may be empty)
    .map((l) => /^(\S+)\s+BGP\s+\S+\s+(\S+)\s+\S+\s*(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[1]!, state: m[2]!, info: (m[3] ?? '').trim() }));
}

async function status(n: Node): Promise<{ lastReboot: string; lastReconfig: string }> {
  const r = await birdCommand(n.sock, 'show status', 2000);
  const get = (re: RegExp) => r.lines.map((l) => re.exec(l)?.[1]).find((x) => x !== undefined) ?? '';
  return { lastReboot: get(/Last reboot on (.*)/), lastReconfig: get(/Last reconfiguration on (.*)/) };
}

/** Polls `cond` every 25 ms (bounded); returns the elapsed ms. */
async function until(what: string, ms: number, cond: () => Promise<boolean> | boolean): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    let ok = false;
    try {
      ok = await cond();
    } catch {
      ok = false;
    }
    if (ok) return Date.now() - t0;
    if (Date.now() - t0 > ms) {
      const tail = logLines.slice(-15).join('');
      let protos = '';
      for (const n of active()) {
        const r = await birdCommand(n.sock, 'show protocols', 2000).catch((e: Error) => ({ lines: [e.message] }));
        protos += `${n.name}:\n  ${r.lines.join('\n  ')}\n`;
      }
      throw new Error(`timed out after ${ms} ms waiting for ${what}\nBIRD protocols:\n${protos}last log lines:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

const active = () => [...nodes.values()];

async function allHave(pred: (n: Node, ps: Proto[]) => boolean, nodesToCheck = active()): Promise<boolean> {
  for (const n of nodesToCheck) if (!pred(n, await protocols(n))) return false;
  return true;
}

const established = (ps: Proto[], re: RegExp, count: number) => ps.filter((p) => re.test(p.name) && p.info.includes('Established')).length === count;
const hasRoute = (name: string, prefix: string, via: string) => lab!.routes(name, 'bird').some((r) => r.dst === prefix && r.gateway === via);

/** Every BIRD is the process we started (never restarted), and it was reconfigured since the last look. */
async function samePids(): Promise<void> {
  for (const n of active()) {
    assert.ok(n.bird !== undefined);
    assert.equal(n.bird!.exitCode, null, `${n.name}: BIRD still running`);
    assert.equal(n.bird!.signalCode, null, `${n.name}: BIRD still running`);
    assert.equal(n.bird!.pid, n.birdPid);
    process.kill(n.birdPid!, 0);
    const st = await status(n);
    assert.notEqual(st.lastReconfig, '', `${n.name}: show status answers`);
    n.lastReconfig = st.lastReconfig;
  }
}

test('three BIRD 1.6 nodes follow etcd through confd: mesh, global peer, route reflector, node removal', { skip, timeout: 240_000 }, async (t) => {
  await put({
    [`${G}/as_num`]: '64512',
    '/calico/v1/ipam/v4/pool/198.51.100.0-24': JSON.stringify({ cidr: '198.51.100.0/24', ipip_mode: 'never', masquerade: false }),
    ...Object.fromEntries(
      [1, 2, 3].flatMap((i) => [
        [`${H}/n${i}/ip_addr_v4`, addr(i)],
        [`${H}/n${i}/network_v4`, '192.0.2.0/24'],
        [`/calico/ipam/v2/host/n${i}/ipv4/block/${block(i)}-26`, '{"state":"confirmed"}'],
      ]),
    ),
  });

  await t.test('mesh sessions are Established and every block is routed on the other nodes', async () => {
    for (const i of [1, 2, 3]) {
      lab!.addHost(`n${i}`, i);
      const n = startNode(i);
      await n.ds.start();
      n.daemon.start();
      await until(`${n.name} files`, 10_000, () => existsSync(join(n.dir, 'bird.cfg')) && existsSync(join(n.dir, 'bird_ipam.cfg')));
      const p = lab!.spawn(n.name, '/usr/sbin/bird', ['-f', '-c', join(n.dir, 'bird.cfg'), '-s', n.sock]).child;
      n.bird = p;
      n.birdPid = p.pid;
      await until(`${n.name} BIRD socket`, 10_000, () => existsSync(n.sock));
      n.lastReconfig = (await status(n)).lastReconfig;
    }
    await until('mesh Established', 60_000, () => allHave((_, ps) => established(ps, /^Mesh_/, 2)));
    for (const i of [1, 2, 3]) {
      for (const j of [1, 2, 3]) {
        if (i === j) continue;
        await until(`n${i} routes ${block(j)}/26 via ${addr(j)}`, 20_000, () => hasRoute(`n${i}`, `${block(j)}/26`, addr(j)));
      }
    }
  });

  await t.test('a global peer is added: every BIRD is reconfigured within a second and peers with it', async () => {
    const ext = lab!.addHost('ext', 10);
    const cfg = join(root!, 'ext.cfg');
    writeFileSync(
      cfg,
      [
        'router id 192.0.2.10;',
        'protocol device { scan time 2; }',
        'protocol static { route 203.0.113.0/24 blackhole; }',
        ...[1, 2, 3].map((i) => `protocol bgp n${i} { local as 64513; neighbor ${addr(i)} as 64512; import none; export all; connect delay time 1; }`),
        '',
      ].join('\n'),
    );
    lab!.spawn('ext', '/usr/sbin/bird', ['-f', '-c', cfg, '-s', join(root!, 'ext.ctl')]);
    void ext;
    const t0 = Date.now();
    await put({ [`${G}/peer_v4/192.0.2.10`]: JSON.stringify({ ip: '192.0.2.10', as_num: '64513' }) });
    await until('Global_192_0_2_10 configured everywhere', 5000, () => allHave((_, ps) => ps.some((p) => p.name.startsWith('Global_192_0_2_10'))));
    const ms = Date.now() - t0;
    t.diagnostic(`global peer: etcd put -> protocol present in all three BIRDs: ${ms} ms`);
    assert.ok(ms < 1000, `reconfigured in ${ms} ms`);
    await until('global sessions Established', 60_000, () => allHave((_, ps) => established(ps, /^Global_192_0_2_10/, 1)));
    for (const i of [1, 2, 3]) await until(`n${i} routes 203.0.113.0/24`, 20_000, () => hasRoute(`n${i}`, '203.0.113.0/24', '192.0.2.10'));
    await samePids();
  });

  await t.test('mesh off, n1 a route reflector: sessions move to the reflector, routes are reflected', async () => {
    const t0 = Date.now();
    await put({
      [`${G}/node_mesh`]: '{"enabled":false}',
      [`${H}/n1/rr_cluster_id`]: '224.0.0.1',
      [`${H}/n1/peer_v4/${addr(2)}`]: JSON.stringify({ ip: addr(2), as_num: '64512' }),
      [`${H}/n1/peer_v4/${addr(3)}`]: JSON.stringify({ ip: addr(3), as_num: '64512' }),
      [`${H}/n2/peer_v4/${addr(1)}`]: JSON.stringify({ ip: addr(1), as_num: '64512' }),
      [`${H}/n3/peer_v4/${addr(1)}`]: JSON.stringify({ ip: addr(1), as_num: '64512' }),
    });
    await until('no mesh, node peers configured', 5000, () =>
      allHave((n, ps) => !ps.some((p) => p.name.startsWith('Mesh_')) && ps.filter((p) => p.name.startsWith('Node_')).length === (n.name === 'n1' ? 2 : 1)),
    );
    const ms = Date.now() - t0;
    t.diagnostic(`mesh off + reflector: etcd put -> new protocols in all three BIRDs: ${ms} ms`);
    assert.ok(ms < 1000, `reconfigured in ${ms} ms`);
    await until('reflector sessions Established', 60_000, () => allHave((n, ps) => established(ps, /^Node_/, n.name === 'n1' ? 2 : 1)));
    // n2 and n3 no longer peer with each other: their routes to each other come through the reflector.
    await until('n2 routes n3\'s block (reflected)', 20_000, () => hasRoute('n2', `${block(3)}/26`, addr(3)));
    await until('n3 routes n2\'s block (reflected)', 20_000, () => hasRoute('n3', `${block(2)}/26`, addr(2)));
    await samePids();
  });

  await t.test('a node is deleted: its sessions go, and its block leaves the other kernels', async () => {
    const n3 = nodes.get('n3')!;
    await n3.daemon.stop();
    await n3.ds.stop();
    nodes.delete('n3');
    const t0 = Date.now();
    await client!.delete().prefix(`${H}/n3/`);
    await client!.delete().prefix('/calico/ipam/v2/host/n3/');
    await client!.delete().key(`${H}/n1/peer_v4/${addr(3)}`);
    await until('n1 has no session to n3', 5000, async () => !(await protocols(nodes.get('n1')!)).some((p) => p.name.includes('192_0_2_3')));
    const ms = Date.now() - t0;
    t.diagnostic(`node removal: etcd delete -> protocol gone from the reflector's BIRD: ${ms} ms`);
    assert.ok(ms < 1000, `reconfigured in ${ms} ms`);
    await until('n3\'s block gone from n2', 20_000, () => !lab!.routes('n2').some((r) => r.dst === `${block(3)}/26`));
    assert.ok(hasRoute('n2', `${block(1)}/26`, addr(1)), 'the reflector\'s own block stays');
    await samePids();
  });
});
