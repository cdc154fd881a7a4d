/**
 * Issue #6 section 6: our speaker as a standalone route reflector
 * (`speaker --role reflector`, peers from the datastore as Calico's RR setup
 * derives them) serving two clients that are not ours, each in its own
 * namespace: stock BIRD 1.6 and GoBGP. Each client's route must reach the
 * other with the originator's next hop and the reflection attributes
 * (RFC 4456: ORIGINATOR_ID = the originating client's router id,
 * CLUSTER_LIST = [our cluster id]).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { gobgpConfig } from '../support/daemons/gobgp.js';
import { onPath } from '../support/process.js';
import { CLI, type Lab, type LabProcess, type PeerStatus, type RouteEntry, clusterLab, control, netnsAvailable, until } from './lab.js';

const BIRD = '/usr/sbin/bird';
const skip = !netnsAvailable() || !existsSync(BIRD) || !onPath('gobgpd') || !onPath('gobgp') ? 'needs root, ip netns, BIRD 1.6 and GoBGP' : false;

const AS = 64512;
const CLUSTER_ID = '224.0.0.1';
const RR = '192.0.2.1';
const BIRD_ADDR = '192.0.2.2';
const GOBGP_ADDR = '192.0.2.3';
const BIRD_ROUTE = '198.51.100.64/27';
const GOBGP_ROUTE = '198.51.100.128/27';
const API = '127.0.0.1:50051'; // GoBGP's API, on the namespace's own loopback

const clusterYaml = `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: { name: default }
spec: { asNumber: ${AS}, nodeToNodeMeshEnabled: false }
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: { name: pool }
spec: { cidr: 198.51.100.0/24, blockSize: 27, ipipMode: Never, vxlanMode: Never }
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: rr, labels: { route-reflector: 'true' } }
spec: { bgp: { ipv4Address: ${RR}/24, routeReflectorClusterID: ${CLUSTER_ID} } }
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: bird }
spec: { bgp: { ipv4Address: ${BIRD_ADDR}/24 } }
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: gobgp }
spec: { bgp: { ipv4Address: ${GOBGP_ADDR}/24 } }
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: peer-with-route-reflectors }
spec: { nodeSelector: all(), peerSelector: route-reflector == 'true' }
`;

let lab: Lab | undefined;
const procs = new Map<string, LabProcess>();
const sock = (): string => join(lab!.dir, 'rr.ctl');
const birdSock = (): string => join(lab!.dir, 'bird.ctl');

before(() => {
  if (skip) return;
  lab = clusterLab();
});

after(async () => {
  await lab?.destroy();
});

const birdc = (...args: string[]): string => spawnSync('birdc', ['-s', birdSock(), ...args], { encoding: 'utf8', timeout: 5000 }).stdout ?? '';
const gobgp = (...args: string[]): string => lab!.exec('gobgp', 'gobgp', ['-u', API.split(':')[0]!, '-p', API.split(':')[1]!, ...args]);

function explain(): string {
  const peers = (control<{ peers: PeerStatus[] }>(sock(), ['status'])?.peers ?? []).map((p) => `${p.name}:${p.state}(${p.info})`).join(' ');
  let gb = '';
  try {
    gb = gobgp('neighbor');
  } catch (e) {
    gb = (e as Error).message;
  }
  const logs = [...procs.entries()].map(([k, p]) => `${k}: ${p.output().slice(-800)}`).join('\n');
  return `reflector peers: ${peers}\nBIRD:\n${birdc('show', 'protocols')}\nGoBGP:\n${gb}\n${logs}`;
}

interface GobgpPath {
  best?: boolean;
  attrs: { type: number; nexthop?: string; value?: unknown }[];
}

test('our reflector serves a BIRD 1.6 client and a GoBGP client: each learns the other\'s route with ORIGINATOR_ID and CLUSTER_LIST', { skip, timeout: 120_000 }, async (t) => {
  const file = join(lab!.dir, 'cluster.yaml');
  lab!.writeAtomic(file, clusterYaml);
  lab!.addHost('rr', 1);
  lab!.addHost('bird', 2);
  lab!.addHost('gobgp', 3);

  procs.set('reflector', lab!.spawn('rr', process.execPath, [CLI, 'speaker', '--role', 'reflector', '--node', 'rr', '--datastore-file', file, '--control-socket', sock(), '--hold-time', '9']));

  const birdCfg = join(lab!.dir, 'bird.cfg');
  writeFileSync(
    birdCfg,
    [
      `router id ${BIRD_ADDR};`,
      `listen bgp address ${BIRD_ADDR};`,
      'protocol device { scan time 10; }',
      'protocol direct { interface "eth0"; }',
      `protocol static { route ${BIRD_ROUTE} blackhole; }`,
      'protocol kernel { export where source = RTS_BGP; scan time 10; }',
      `protocol bgp reflector { local ${BIRD_ADDR} as ${AS}; neighbor ${RR} as ${AS}; import all; export where source = RTS_STATIC; hold time 9; connect retry time 1; connect delay time 1; error wait time 1, 2; }`,
      '',
    ].join('\n'),
  );
  procs.set('bird', lab!.spawn('bird', BIRD, ['-f', '-c', birdCfg, '-s', birdSock()]));
  await until('BIRD up', 10_000, () => birdc('show', 'status').includes('Daemon is up'), explain);

  const gobgpCfg = join(lab!.dir, 'gobgpd.toml');
  writeFileSync(gobgpCfg, gobgpConfig({ as: AS, routerId: GOBGP_ADDR, address: GOBGP_ADDR, neighbors: [{ address: RR, peerAs: AS, holdTime: 9, families: ['ipv4-unicast'] }] }));
  procs.set('gobgpd', lab!.spawn('gobgp', 'gobgpd', ['-f', gobgpCfg, '-t', 'toml', '--api-hosts', API, '--pprof-disable', '-l', 'info']));
  await until('GoBGP API', 20_000, () => gobgp('global').includes(GOBGP_ADDR), explain);
  gobgp('global', 'rib', 'add', GOBGP_ROUTE, 'nexthop', GOBGP_ADDR, '-a', 'ipv4');

  await t.test('both clients are Established with the reflector', async () => {
    const ms = await until(
      'reflector sessions Established',
      60_000,
      () => {
        const ps = control<{ peers: PeerStatus[] }>(sock(), ['status'])?.peers ?? [];
        return ['Node_192_0_2_2', 'Node_192_0_2_3'].every((n) => ps.some((p) => p.name === n && p.state === 'Established'));
      },
      explain,
    );
    t.diagnostic(`reflector Established with both clients in ${ms} ms`);
    await until('BIRD sees Established', 10_000, () => /^reflector\s+BGP\s.*Established/m.test(birdc('show', 'protocols')), explain);
    await until('GoBGP sees Established', 10_000, () => /BGP state = established/i.test(gobgp('neighbor', RR)), explain);
  });

  await t.test('the reflector holds both clients\' routes and installs nothing (role reflector)', async () => {
    await until('reflector has both routes', 20_000, () => (control<{ routes: RouteEntry[] }>(sock(), ['routes'])?.routes ?? []).length === 2, explain);
    const table = control<{ routes: RouteEntry[] }>(sock(), ['routes'])!.routes.map((r) => ({ prefix: r.prefix, from: r.from, nextHops: r.nextHops, best: r.best }));
    assert.deepEqual(
      table.sort((a, b) => (a.prefix < b.prefix ? -1 : 1)), // text order: .128 before .64
      [
        { prefix: GOBGP_ROUTE, from: 'Node_192_0_2_3', nextHops: [GOBGP_ADDR], best: true },
        { prefix: BIRD_ROUTE, from: 'Node_192_0_2_2', nextHops: [BIRD_ADDR], best: true },
      ],
    );
    assert.deepEqual(lab!.routes('rr', '201'), [], 'a standalone reflector programs no kernel routes');
  });

  await t.test('GoBGP learns BIRD\'s route via BIRD, with ORIGINATOR_ID and CLUSTER_LIST', async () => {
    let paths: GobgpPath[] = [];
    await until(
      `GoBGP has ${BIRD_ROUTE}`,
      20_000,
      () => {
        const rib = JSON.parse(gobgp('global', 'rib', '-a', 'ipv4', '-j')) as Record<string, GobgpPath[]>;
        paths = rib[BIRD_ROUTE] ?? [];
        return paths.length > 0;
      },
      explain,
    );
    assert.equal(paths.length, 1);
    const attr = (type: number) => paths[0]!.attrs.find((a) => a.type === type);
    assert.equal(attr(3)?.nexthop, BIRD_ADDR, 'NEXT_HOP is the originating client');
    assert.equal(attr(9)?.value, BIRD_ADDR, 'ORIGINATOR_ID is BIRD\'s router id');
    assert.deepEqual(attr(10)?.value, [CLUSTER_ID], 'CLUSTER_LIST holds our cluster id');
  });

  await t.test('BIRD learns GoBGP\'s route via GoBGP, with ORIGINATOR_ID and CLUSTER_LIST, and installs it', async () => {
    await until(`BIRD has ${GOBGP_ROUTE}`, 20_000, () => birdc('show', 'route', GOBGP_ROUTE).includes(`via ${GOBGP_ADDR}`), explain);
    const all = birdc('show', 'route', 'all', GOBGP_ROUTE);
    assert.match(all, new RegExp(`BGP\\.next_hop: ${GOBGP_ADDR.replace(/\./g, '\\.')}\\s`));
    assert.match(all, new RegExp(`BGP\\.originator_id: ${GOBGP_ADDR.replace(/\./g, '\\.')}\\s`));
    assert.match(all, new RegExp(`BGP\\.cluster_list: ${CLUSTER_ID.replace(/\./g, '\\.')}\\s`));
    await until('BIRD\'s kernel holds the route via GoBGP', 15_000, () =>
      lab!.routes('bird', 'bird').some((r) => r.dst === GOBGP_ROUTE && r.gateway === GOBGP_ADDR), explain);
  });

  await t.test('a route withdrawn at GoBGP leaves BIRD\'s table and kernel', async () => {
    gobgp('global', 'rib', 'del', GOBGP_ROUTE, '-a', 'ipv4');
    await until(`${GOBGP_ROUTE} gone from BIRD`, 15_000, () => !birdc('show', 'route', GOBGP_ROUTE).includes(GOBGP_ROUTE) && !lab!.routes('bird', 'bird').some((r) => r.dst === GOBGP_ROUTE), explain);
  });
});
