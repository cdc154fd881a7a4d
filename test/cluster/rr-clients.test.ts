/**
 * Issue #6 section 6: our speaker as a standalone route reflector
 * (`speaker --role reflector`, peers from the datastore as Calico's RR setup
 * derives them) serving two clients that are not ours, each in its own
 * namespace: stock BIRD 1.6 and GoBGP. Dual stack: every node has an IPv4 and
 * an IPv6 address on the LAN, so the reflector has a session per family with
 * each client (Calico's model gives one peer per family). BIRD 1.6 runs a
 * `bird` and a `bird6`, as calico-node does; GoBGP carries both sessions in
 * one daemon. Each client announces one route per family, and in each family:
 *
 * - the reflector holds both clients' routes and installs none (role reflector);
 * - each client's route reaches the other over that family's session with the
 *   originator's next hop of the family and the reflection attributes
 *   (RFC 4456: ORIGINATOR_ID = the originating client's router id,
 *   CLUSTER_LIST = [our cluster id]), and BIRD installs GoBGP's route;
 * - a route withdrawn at GoBGP leaves BIRD's table and kernel.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { type BirdFlavor, birdBinaries, birdConfig } from '../support/daemons/bird.js';
import { gobgpConfig } from '../support/daemons/gobgp.js';
import { onPath } from '../support/process.js';
import { CLI, type Lab, type LabProcess, type PeerStatus, type RouteEntry, clusterLab, control, netnsAvailable, peerName, until } from './lab.js';

type Family = 4 | 6;
const FAMILIES = [4, 6] as const;
/** BIRD 1.6 is a daemon per family. */
const FLAVOR = { 4: 'bird1', 6: 'bird6' } as const satisfies Record<Family, BirdFlavor>;
// Never null for BIRD 1.6: these are fixed paths (whether they exist is checked below).
const BIRD = { 4: birdBinaries('bird1')!, 6: birdBinaries('bird6')! };

const skip = !netnsAvailable() || !existsSync(BIRD[4].bird) || !existsSync(BIRD[6].bird) || !onPath('gobgpd') || !onPath('gobgp') ? 'needs root, ip netns, BIRD 1.6 (bird and bird6) and GoBGP' : false;

const AS = 64512;
const CLUSTER_ID = '224.0.0.1';
const LAN6 = '2001:db8:0:1';
/**
 * Per family: each node's LAN address (the lab numbers host N `192.0.2.N`
 * and `2001:db8:0:1::N`) and each client's route. The routes lie in the IP
 * pools: a reflector that is a Calico node passes on only routes inside
 * pools (Calico's export filter).
 */
const NET = {
  4: { rr: '192.0.2.1', bird: '192.0.2.2', gobgp: '192.0.2.3', birdRoute: '198.51.100.64/27', gobgpRoute: '198.51.100.128/27' },
  6: { rr: `${LAN6}::1`, bird: `${LAN6}::2`, gobgp: `${LAN6}::3`, birdRoute: '2001:db8:1::40/122', gobgpRoute: '2001:db8:1::80/122' },
} as const;
/** Router ids, the same for both families (BIRD's two daemons share one, as on a calico-node). */
const BIRD_ID = NET[4].bird;
const GOBGP_ID = NET[4].gobgp;
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
kind: IPPool
metadata: { name: pool6 }
spec: { cidr: '2001:db8:1::/64', blockSize: 122, ipipMode: Never, vxlanMode: Never }
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: rr, labels: { route-reflector: 'true' } }
spec: { bgp: { ipv4Address: ${NET[4].rr}/24, ipv6Address: '${NET[6].rr}/64', routeReflectorClusterID: ${CLUSTER_ID} } }
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: bird }
spec: { bgp: { ipv4Address: ${NET[4].bird}/24, ipv6Address: '${NET[6].bird}/64' } }
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: gobgp }
spec: { bgp: { ipv4Address: ${NET[4].gobgp}/24, ipv6Address: '${NET[6].gobgp}/64' } }
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: peer-with-route-reflectors }
spec: { nodeSelector: all(), peerSelector: route-reflector == 'true' }
`;

/** The reflector's four peers: each client once per family. */
const CLIENT_PEERS = FAMILIES.flatMap((f) => [peerName('Node', NET[f].bird), peerName('Node', NET[f].gobgp)]);

let lab: Lab | undefined;
const procs = new Map<string, LabProcess>();
const sock = (): string => join(lab!.dir, 'rr.ctl');
const birdSock = (f: Family): string => join(lab!.dir, `${FLAVOR[f]}.ctl`);

before(() => {
  if (skip) return;
  lab = clusterLab(LAN6);
});

after(async () => {
  await lab?.destroy();
});

/** birdc (IPv4) or birdc6 (IPv6) on that family's BIRD. */
const birdc = (f: Family, ...args: string[]): string => spawnSync(BIRD[f].birdc, ['-s', birdSock(f), ...args], { encoding: 'utf8', timeout: 5000 }).stdout ?? '';
const gobgp = (...args: string[]): string => lab!.exec('gobgp', 'gobgp', ['-u', API.split(':')[0]!, '-p', API.split(':')[1]!, ...args]);
const afi = (f: Family): string => `ipv${f}`;
const reflectorRoutes = (): RouteEntry[] | undefined => control<{ routes: RouteEntry[] }>(sock(), ['routes'])?.routes;
const byPrefix = <T extends { prefix: string }>(a: T, b: T): number => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0);
const escape = (s: string): string => s.replace(/[.]/g, '\\.');

function explain(): string {
  const peers = (control<{ peers: PeerStatus[] }>(sock(), ['status'])?.peers ?? []).map((p) => `${p.name}:${p.state}(${p.info})`).join(' ');
  let gb = '';
  try {
    gb = gobgp('neighbor');
  } catch (e) {
    gb = (e as Error).message;
  }
  const birds = FAMILIES.map((f) => `${FLAVOR[f]}:\n${birdc(f, 'show', 'protocols')}`).join('\n');
  const logs = [...procs.entries()].map(([k, p]) => `${k}: ${p.output().slice(-800)}`).join('\n');
  return `reflector peers: ${peers}\n${birds}\nGoBGP:\n${gb}\n${logs}`;
}

interface GobgpPath {
  best?: boolean;
  attrs: { type: number; nexthop?: string; value?: unknown }[];
}

test('our reflector serves a BIRD 1.6 client and a GoBGP client in IPv4 and IPv6: each learns the other\'s routes with ORIGINATOR_ID and CLUSTER_LIST', { skip, timeout: 120_000 }, async (t) => {
  const file = join(lab!.dir, 'cluster.yaml');
  lab!.writeAtomic(file, clusterYaml);
  lab!.addHost('rr', 1);
  lab!.addHost('bird', 2);
  lab!.addHost('gobgp', 3);

  procs.set('reflector', lab!.spawn('rr', process.execPath, [CLI, 'speaker', '--role', 'reflector', '--node', 'rr', '--datastore-file', file, '--control-socket', sock(), '--hold-time', '9', '--bird-socket', '', '--bird6-socket', '']));

  for (const f of FAMILIES) {
    const cfg = join(lab!.dir, `${FLAVOR[f]}.cfg`);
    writeFileSync(
      cfg,
      birdConfig({
        flavor: FLAVOR[f],
        as: AS,
        routerId: BIRD_ID,
        address: NET[f].bird,
        port: 179,
        neighbors: [{ name: 'reflector', address: NET[f].rr, peerAs: AS, holdTime: 9, export: 'where source = RTS_STATIC' }],
        statics: [{ name: 'announced', routes: [NET[f].birdRoute] }], // not `routes`: a keyword to BIRD
        kernelExport: true,
        directInterface: 'eth0',
      }),
    );
    procs.set(FLAVOR[f], lab!.spawn('bird', BIRD[f].bird, ['-f', '-c', cfg, '-s', birdSock(f)]));
  }
  await until('both BIRDs up', 10_000, () => FAMILIES.every((f) => birdc(f, 'show', 'status').includes('Daemon is up')), explain);

  const gobgpCfg = join(lab!.dir, 'gobgpd.toml');
  writeFileSync(
    gobgpCfg,
    gobgpConfig({
      as: AS,
      routerId: GOBGP_ID,
      address: NET[4].gobgp,
      // One neighbor per family, as the reflector has one peer per family.
      neighbors: FAMILIES.map((f) => ({ address: NET[f].rr, localAddress: NET[f].gobgp, peerAs: AS, holdTime: 9, families: [`ipv${f}-unicast` as const] })),
    }),
  );
  procs.set('gobgpd', lab!.spawn('gobgp', 'gobgpd', ['-f', gobgpCfg, '-t', 'toml', '--api-hosts', API, '--pprof-disable', '-l', 'info']));
  await until('GoBGP API', 20_000, () => gobgp('global').includes(GOBGP_ID), explain);
  for (const f of FAMILIES) gobgp('global', 'rib', 'add', NET[f].gobgpRoute, 'nexthop', NET[f].gobgp, '-a', afi(f));

  await t.test('both clients are Established with the reflector in both families', async () => {
    const ms = await until(
      'reflector sessions Established',
      60_000,
      () => {
        const ps = control<{ peers: PeerStatus[] }>(sock(), ['status'])?.peers ?? [];
        return ps.length === CLIENT_PEERS.length && CLIENT_PEERS.every((n) => ps.some((p) => p.name === n && p.state === 'Established'));
      },
      explain,
    );
    t.diagnostic(`reflector Established with both clients, both families, in ${ms} ms`);
    await until('both BIRDs see Established', 10_000, () => FAMILIES.every((f) => /^reflector\s+BGP\s.*Established/m.test(birdc(f, 'show', 'protocols'))), explain);
    await until('GoBGP sees both sessions Established', 10_000, () => FAMILIES.every((f) => /BGP state = established/i.test(gobgp('neighbor', NET[f].rr))), explain);
  });

  await t.test('the reflector holds both clients\' routes in both families and installs nothing (role reflector)', async () => {
    await until('reflector has all four routes', 20_000, () => reflectorRoutes()?.length === 4, explain);
    const table = reflectorRoutes()!.map((r) => ({ prefix: r.prefix, from: r.from, nextHops: r.nextHops, best: r.best }));
    const expected = FAMILIES.flatMap((f) => [
      { prefix: NET[f].birdRoute, from: peerName('Node', NET[f].bird), nextHops: [NET[f].bird], best: true },
      { prefix: NET[f].gobgpRoute, from: peerName('Node', NET[f].gobgp), nextHops: [NET[f].gobgp], best: true },
    ]);
    assert.deepEqual(table.sort(byPrefix), expected.sort(byPrefix));
    for (const f of FAMILIES) assert.deepEqual(lab!.routes('rr', '201', f), [], `a standalone reflector programs no IPv${f} kernel routes`);
  });

  for (const f of FAMILIES) {
    const { bird, gobgp: gobgpAddr, birdRoute, gobgpRoute } = NET[f];

    await t.test(`IPv${f}: GoBGP learns BIRD's route via BIRD, with ORIGINATOR_ID and CLUSTER_LIST`, async () => {
      let paths: GobgpPath[] = [];
      await until(
        `GoBGP has ${birdRoute}`,
        20_000,
        () => {
          const rib = JSON.parse(gobgp('global', 'rib', '-a', afi(f), '-j')) as Record<string, GobgpPath[]>;
          paths = rib[birdRoute] ?? [];
          return paths.length > 0;
        },
        explain,
      );
      assert.equal(paths.length, 1);
      const attr = (type: number) => paths[0]!.attrs.find((a) => a.type === type);
      // IPv4's next hop is the NEXT_HOP attribute (3), IPv6's is in MP_REACH_NLRI (14).
      assert.equal(attr(f === 4 ? 3 : 14)?.nexthop, bird, 'the next hop is the originating client');
      // In IPv6 the router id is no session address: only a reflector that
      // takes ORIGINATOR_ID from the router id passes this.
      assert.equal(attr(9)?.value, BIRD_ID, 'ORIGINATOR_ID is BIRD\'s router id');
      assert.deepEqual(attr(10)?.value, [CLUSTER_ID], 'CLUSTER_LIST holds our cluster id');
    });

    await t.test(`IPv${f}: BIRD learns GoBGP's route via GoBGP, with ORIGINATOR_ID and CLUSTER_LIST, and installs it`, async () => {
      await until(`${FLAVOR[f]} has ${gobgpRoute}`, 20_000, () => birdc(f, 'show', 'route', gobgpRoute).includes(`via ${gobgpAddr}`), explain);
      const all = birdc(f, 'show', 'route', 'all', gobgpRoute);
      assert.match(all, new RegExp(`BGP\\.next_hop: ${escape(gobgpAddr)}\\s`));
      assert.match(all, new RegExp(`BGP\\.originator_id: ${escape(GOBGP_ID)}\\s`));
      assert.match(all, new RegExp(`BGP\\.cluster_list: ${escape(CLUSTER_ID)}\\s`));
      await until(`${FLAVOR[f]}'s kernel holds the route via GoBGP`, 15_000, () =>
        lab!.routes('bird', 'bird', f).some((r) => r.dst === gobgpRoute && r.gateway === gobgpAddr), explain);
    });
  }

  await t.test('a route withdrawn at GoBGP leaves BIRD\'s table and kernel, in each family', async () => {
    for (const f of FAMILIES) gobgp('global', 'rib', 'del', NET[f].gobgpRoute, '-a', afi(f));
    for (const f of FAMILIES) {
      const route = NET[f].gobgpRoute;
      await until(`${route} gone from ${FLAVOR[f]}`, 15_000, () => !birdc(f, 'show', 'route', route).includes(route) && !lab!.routes('bird', 'bird', f).some((r) => r.dst === route), explain);
    }
  });
});
