/**
 * Issue #6 section 6: five nodes in network namespaces, every one running our
 * speaker with kernel programming on, all reading one YAML file datastore
 * that the test rewrites to change the cluster. Dual stack: each node has an
 * IPv4 and an IPv6 address on the LAN, an IPv4 and an IPv6 block, and a
 * session per family with each of its peers; every check below holds for
 * both families, read back with `ip -4` and `ip -6`.
 *
 * 1. Full mesh: every kernel holds a blackhole for its own blocks and every
 *    other node's blocks via that node's address of the family (protocol 201).
 * 2. n3's speaker restarts (SIGTERM, graceful restart): the other kernels
 *    keep its block, n3's kernel keeps its routes, and the restarted speaker
 *    replaces them without deleting any (`ip monitor route` in n3).
 * 3. Mesh off, n1 and n2 route reflectors (one cluster id, Calico's
 *    `peerSelector: route-reflector == 'true'` BGPPeer): the clients learn
 *    each block twice, once per reflector. Reflection keeps the next hop (iBGP),
 *    so both paths name the originating node and the kernel holds one route
 *    with that single next hop (no multipath entry): the two paths merge.
 * 4. A LoadBalancer service with externalTrafficPolicy Local and endpoints
 *    on n3 and n4 (both families): n3 and n4 originate its address, both
 *    reflectors send each client both paths (ADD-PATH), and every other
 *    kernel holds one route with two next hops (ECMP); with n4's endpoint
 *    gone the route narrows to n3; with the service gone it leaves.
 * 5. n5 is deleted from the datastore: its blocks leave every kernel.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CLI, type Lab, type KernelRoute, type LabProcess, type PeerStatus, type RouteEntry, clusterLab, control, netnsAvailable, peerName, until } from './lab.js';

const skip = !netnsAvailable() ? 'needs root and ip netns' : false;

const AS = 64512;
const CLUSTER_ID = '224.0.0.1';
const addr = (i: number): string => `192.0.2.${i}`;
const block = (i: number): string => `198.51.100.${(i - 1) * 32}/27`;
const LAN6 = '2001:db8:0:1';
const addr6 = (i: number): string => `${LAN6}::${i.toString(16)}`;
/** /122 blocks (Calico's IPv6 default) from 2001:db8:1::/64, as `ip` prints them. */
const block6 = (i: number): string => (i === 1 ? '2001:db8:1::/122' : `2001:db8:1::${((i - 1) * 64).toString(16)}/122`);
const meshName = (i: number): string => `Mesh_192_0_2_${i}`;
const nodeName = (i: number): string => `Node_192_0_2_${i}`;
/** Node i's peer names in both families for `prefix` (`Mesh`, `Node`) with nodes `ids`. */
const peerNames = (prefix: string, ids: number[]): string[] => ids.flatMap((j) => [peerName(prefix, addr(j)), peerName(prefix, addr6(j))]);

/**
 * The load-balancer address of the service of step 4, per family, as `ip`
 * prints a host route. Each lies in an IP pool (outside every block), as
 * addresses Calico's LoadBalancer IPAM hands out do: a reflector that is
 * itself a Calico node passes on only its own service routes and routes
 * inside pools (Calico's export filter), so an address outside the pools
 * would stop at the reflectors, with BIRD as with us.
 */
const LB = { 4: '198.51.100.241', 6: '2001:db8:1::ff41' } as const;
/** Pod addresses of the service's endpoint on node i (inside the node's blocks). */
const podIp = (i: number, family: 4 | 6): string => (family === 4 ? `198.51.100.${(i - 1) * 32 + 1}` : `2001:db8:1::${((i - 1) * 64 + 1).toString(16)}`);

/** A LoadBalancer service per family, externalTrafficPolicy Local, with an endpoint on each of `nodes`. */
function serviceDocs(nodes: number[]): string[] {
  return ([4, 6] as const).flatMap((f) => [
    `apiVersion: v1
kind: Service
metadata: { name: lb${f}, namespace: default }
spec: { type: LoadBalancer, clusterIP: '${f === 4 ? '198.51.100.250' : '2001:db8:3::250'}', externalTrafficPolicy: Local }
status: { loadBalancer: { ingress: [ { ip: '${LB[f]}' } ] } }`,
    `apiVersion: v1
kind: Endpoints
metadata: { name: lb${f}, namespace: default }
subsets: [ { addresses: [ ${nodes.map((i) => `{ ip: '${podIp(i, f)}', nodeName: n${i} }`).join(', ')} ] } ]`,
  ]);
}

/**
 * The cluster as Calico resources: nodes `ids`, full mesh or n1/n2 as
 * reflectors, and (when `serviceOn` is given) step 4's service with
 * endpoints on those nodes.
 */
function clusterYaml(ids: number[], reflectors: boolean, serviceOn?: number[]): string {
  const lbRanges = serviceOn === undefined ? '' : `, serviceLoadBalancerIPs: [ { cidr: ${LB[4]}/32 }, { cidr: '${LB[6]}/128' } ]`;
  const docs = [
    `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: { name: default }
spec: { asNumber: ${AS}, nodeToNodeMeshEnabled: ${!reflectors}${lbRanges} }`,
    `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: { name: pool }
spec: { cidr: 198.51.100.0/24, blockSize: 27, ipipMode: Never, vxlanMode: Never }`,
    `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: { name: pool6 }
spec: { cidr: '2001:db8:1::/64', blockSize: 122, ipipMode: Never, vxlanMode: Never }`,
  ];
  for (const i of ids) {
    const rr = reflectors && i <= 2;
    docs.push(
      `apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: n${i}${rr ? ", labels: { route-reflector: 'true' }" : ''} }
spec: { bgp: { ipv4Address: ${addr(i)}/24, ipv6Address: '${addr6(i)}/64'${rr ? `, routeReflectorClusterID: ${CLUSTER_ID}` : ''} } }`,
      `apiVersion: crd.projectcalico.org/v1
kind: BlockAffinity
metadata: { name: n${i}-block }
spec: { node: n${i}, cidr: ${block(i)}, state: confirmed, deleted: "false" }`,
      `apiVersion: crd.projectcalico.org/v1
kind: BlockAffinity
metadata: { name: n${i}-block6 }
spec: { node: n${i}, cidr: '${block6(i)}', state: confirmed, deleted: "false" }`,
    );
  }
  if (reflectors) {
    docs.push(`apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: peer-with-route-reflectors }
spec: { nodeSelector: all(), peerSelector: route-reflector == 'true' }`);
  }
  if (serviceOn !== undefined) docs.push(...serviceDocs(serviceOn));
  return docs.join('\n---\n') + '\n';
}

/**
 * What node `i`'s kernel must hold (protocol 201, one family) when nodes
 * `ids` are in the cluster and step 4's service has endpoints on `serviceOn`:
 * a node with an endpoint holds a blackhole for the address (Calico's static
 * route), every other node a route via the endpoint nodes (ECMP for several).
 */
function expectedRoutes(i: number, ids: number[], family: 4 | 6 = 4, serviceOn: number[] = []): KernelRoute[] {
  const [blk, via] = family === 4 ? [block, addr] : [block6, addr6];
  const routes = ids.map((j): KernelRoute => (j === i ? { dst: blk(j), type: 'blackhole' } : { dst: blk(j), gateway: via(j), dev: 'eth0' }));
  if (serviceOn.includes(i)) routes.push({ dst: LB[family], type: 'blackhole' });
  else if (serviceOn.length === 1) routes.push({ dst: LB[family], gateway: via(serviceOn[0]!), dev: 'eth0' });
  else if (serviceOn.length > 1) routes.push({ dst: LB[family], nexthops: serviceOn.map((j) => ({ gateway: via(j), dev: 'eth0' })) });
  return routes.sort((a, b) => (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0));
}

let lab: Lab | undefined;
let file = '';
const speakers = new Map<number, LabProcess>();
const sock = (i: number): string => join(lab!.dir, `n${i}.ctl`);

before(() => {
  if (skip) return;
  lab = clusterLab(LAN6);
  file = join(lab.dir, 'cluster.yaml');
});

after(async () => {
  await lab?.destroy();
});

const status = (i: number): PeerStatus[] | undefined => control<{ peers: PeerStatus[] }>(sock(i), ['status'])?.peers;
const allRoutes = (i: number): RouteEntry[] | undefined => control<{ routes: RouteEntry[] }>(sock(i), ['routes'])?.routes;
const routesOf = (i: number, prefix: string): RouteEntry[] | undefined => control<{ routes: RouteEntry[] }>(sock(i), ['routes', '--prefix', prefix])?.routes;

/** Diagnostics for a timeout: each live node's kernel routes, peers and last log lines. */
function explain(ids: number[]): () => string {
  return () =>
    ids
      .map((i) => {
        let kernel = '';
        try {
          kernel = `${JSON.stringify(lab!.routes(`n${i}`, '201'))} ${JSON.stringify(lab!.routes(`n${i}`, '201', 6))}`;
        } catch (e) {
          kernel = (e as Error).message;
        }
        const peers = (status(i) ?? []).map((p) => `${p.name}:${p.state}${p.info ? `(${p.info})` : ''}`).join(' ');
        return `n${i} kernel ${kernel}\n  peers ${peers}\n  log: ${speakers.get(i)?.output().slice(-1200) ?? ''}`;
      })
      .join('\n');
}

/** Node i's kernel routes of protocol 201 in one family, ECMP next hops in address order. */
function kernelRoutes(i: number, f: 4 | 6): KernelRoute[] {
  return lab!.routes(`n${i}`, '201', f).map((r) => (r.nexthops === undefined ? r : { ...r, nexthops: [...r.nexthops].sort((a, b) => ((a.gateway ?? '') < (b.gateway ?? '') ? -1 : 1)) }));
}

/** Every node's kernel holds exactly the routes of `ids` (and of step 4's service on `serviceOn`), in both families. */
function kernelIsExactly(ids: number[], serviceOn: number[] = []): boolean {
  return ids.every((i) => ([4, 6] as const).every((f) => JSON.stringify(kernelRoutes(i, f)) === JSON.stringify(expectedRoutes(i, ids, f, serviceOn))));
}

function peersEstablished(i: number, names: string[]): boolean {
  const ps = status(i);
  if (ps === undefined) return false;
  return ps.length === names.length && names.every((n) => ps.some((p) => p.name === n && p.state === 'Established'));
}

test('five dual-stack speakers in namespaces: full mesh, two route reflectors, node deletion, checked in every kernel', { skip, timeout: 180_000 }, async (t) => {
  const all = [1, 2, 3, 4, 5];
  lab!.writeAtomic(file, clusterYaml(all, false));
  for (const i of all) {
    lab!.addHost(`n${i}`, i);
    speakers.set(i, lab!.spawn(`n${i}`, process.execPath, [CLI, 'speaker', '--node', `n${i}`, '--datastore-file', file, '--control-socket', sock(i), '--hold-time', '9']));
  }

  await t.test('full mesh: every kernel holds every other node\'s IPv4 and IPv6 blocks via that node', async () => {
    const ms = await until('full mesh Established', 60_000, () => all.every((i) => peersEstablished(i, peerNames('Mesh', all.filter((j) => j !== i)))), explain(all));
    t.diagnostic(`mesh of five, two families, Established in ${ms} ms`);
    await until('every kernel holds exactly the mesh routes', 20_000, () => kernelIsExactly(all), explain(all));
    const r = routesOf(3, block(4));
    assert.deepEqual(
      r?.map((x) => ({ from: x.from, nextHops: x.nextHops, best: x.best, installed: x.installed })),
      [{ from: meshName(4), nextHops: [addr(4)], best: true, installed: true }],
    );
    const r6 = routesOf(3, block6(4));
    assert.deepEqual(
      r6?.map((x) => ({ from: x.from, nextHops: x.nextHops, best: x.best, installed: x.installed })),
      [{ from: peerName('Mesh', addr6(4)), nextHops: [addr6(4)], best: true, installed: true }],
    );
  });

  await t.test('a speaker restarted with graceful restart: no kernel loses a route, the restarted one deletes none', async () => {
    const monitor = lab!.spawn('n3', 'ip', ['monitor', 'route']);
    const old = speakers.get(3)!;
    old.child.kill('SIGTERM');
    await until('n3 speaker exits', 15_000, () => old.child.exitCode !== null || old.child.signalCode !== null, explain([3]));
    assert.equal(old.child.exitCode, 0, 'clean exit on SIGTERM');
    // Peers keep n3's routes as stale; n3 keeps what it installed (persist).
    await until(
      'peers notice n3 is gone',
      15_000,
      () => [1, 2, 4, 5].every((i) => peerNames('Mesh', [3]).every((n) => status(i)?.some((p) => p.name === n && p.state !== 'Established') === true)),
      explain(all),
    );
    assert.ok(kernelIsExactly(all), 'every kernel still holds every route while n3 is away');
    speakers.set(3, lab!.spawn('n3', process.execPath, [CLI, 'speaker', '--node', 'n3', '--datastore-file', file, '--control-socket', sock(3), '--hold-time', '9']));
    await until('n3 back in the mesh', 60_000, () => all.every((i) => peersEstablished(i, peerNames('Mesh', all.filter((j) => j !== i)))), explain(all));
    await until('n3 has re-learned every block', 20_000, () => (allRoutes(3) ?? []).filter((r) => r.best && r.installed).length === 2 * all.length, explain([3]));
    // The stale purge runs once every peer sent End-of-RIB; it logs when done.
    await until('n3 finished its stale route purge', 30_000, () => /stale kernel routes from a previous run/.test(speakers.get(3)!.output()), explain([3]));
    assert.ok(kernelIsExactly(all));
    const deleted = monitor.output().split('\n').filter((l) => l.startsWith('Deleted'));
    assert.deepEqual(deleted, [], 'n3 deleted none of its routes across the restart');
    assert.doesNotMatch(speakers.get(3)!.output(), /removed stale kernel routes/);
    monitor.child.kill('SIGKILL');
  });

  await t.test('two route reflectors: clients learn each block once per reflector, the kernel holds one route via the originating node', async () => {
    const t0 = Date.now();
    lab!.writeAtomic(file, clusterYaml(all, true));
    const rrPeers = (i: number): string[] => peerNames('Node', all.filter((j) => j !== i));
    await until(
      'reflector sessions Established',
      60_000,
      () => all.every((i) => peersEstablished(i, i <= 2 ? rrPeers(i) : peerNames('Node', [1, 2]))),
      explain(all),
    );
    await until('every kernel holds exactly the routes again', 20_000, () => kernelIsExactly(all), explain(all));
    t.diagnostic(`mesh -> reflectors, converged in every kernel in ${Date.now() - t0} ms`);

    // A client learns every other node's blocks from both reflectors (over the session of the
    // block's family), with the originator's next hop.
    const families = [
      { blk: block, via: addr, reflectors: [nodeName(1), nodeName(2)] },
      { blk: block6, via: addr6, reflectors: [peerName('Node', addr6(1)), peerName('Node', addr6(2))] },
    ];
    for (const i of [3, 4, 5]) {
      const others = all.filter((x) => x !== i);
      let table: RouteEntry[] = [];
      await until(
        `n${i} has two paths for each other block`,
        10_000,
        () => {
          table = allRoutes(i) ?? [];
          return families.every(({ blk }) => others.every((j) => table.filter((r) => r.prefix === blk(j)).length === 2));
        },
        explain([i]),
      );
      for (const { blk, via, reflectors } of families) {
        for (const j of others) {
          const paths = table.filter((r) => r.prefix === blk(j));
          assert.deepEqual(paths.map((p) => p.from).sort(), reflectors, `n${i} ${blk(j)}: one path per reflector`);
          for (const p of paths) assert.deepEqual(p.nextHops, [via(j)], `n${i} ${blk(j)} from ${p.from}: next hop stays n${j}`);
          assert.ok(paths.some((p) => p.best && p.installed), `n${i} ${blk(j)}: a best path, installed`);
        }
      }
    }
    // The merged result in the kernel: one gateway, no multipath list (both paths name the same next hop).
    for (const i of [3, 4, 5]) {
      for (const r of [...lab!.routes(`n${i}`, '201'), ...lab!.routes(`n${i}`, '201', 6)]) assert.equal(r.nexthops, undefined, `n${i} ${r.dst}: single next hop`);
    }
    // A reflector learns a client's block once: the other reflector's copy carries its own cluster id.
    for (const i of [1, 2]) {
      const table = allRoutes(i) ?? [];
      for (const j of [3, 4, 5]) {
        assert.deepEqual(table.filter((r) => r.prefix === block(j)).map((p) => p.from), [nodeName(j)], `reflector n${i}, ${block(j)}`);
        assert.deepEqual(table.filter((r) => r.prefix === block6(j)).map((p) => p.from), [peerName('Node', addr6(j))], `reflector n${i}, ${block6(j)}`);
      }
    }
  });

  await t.test('a Local service on n3 and n4: both reflectors send both paths, every other kernel holds one ECMP route', async () => {
    const t0 = Date.now();
    lab!.writeAtomic(file, clusterYaml(all, true, [3, 4]));
    await until('every kernel holds the service route (ECMP where two nodes originate it)', 20_000, () => kernelIsExactly(all, [3, 4]), explain(all));
    t.diagnostic(`service on two nodes -> ECMP in three kernels in ${Date.now() - t0} ms`);

    // n5, a client: four paths (each reflector sends both originators' paths), all in the multipath set.
    for (const f of [4, 6] as const) {
      const [via, reflectors] = f === 4 ? [addr, [nodeName(1), nodeName(2)]] : [addr6, [peerName('Node', addr6(1)), peerName('Node', addr6(2))]];
      const paths = routesOf(5, `${LB[f]}/${f === 4 ? 32 : 128}`) ?? [];
      const seen = paths.map((p) => `${p.from} ${p.nextHops.join(',')} ${p.originatorId ?? '-'} ${(p.clusterList ?? []).join(',')}`).sort();
      const want = reflectors.flatMap((r) => [3, 4].map((j) => `${r} ${via(j)} ${addr(j)} ${CLUSTER_ID}`)).sort();
      assert.deepEqual(seen, want, `n5 ${LB[f]}: one path per reflector and originator, with ORIGINATOR_ID and CLUSTER_LIST`);
      assert.equal(paths.filter((p) => p.best).length, 1, `n5 ${LB[f]}: one best path`);
      assert.ok(paths.every((p) => p.multipath && p.installed), `n5 ${LB[f]}: every path equal-cost and installed`);
    }

    // n4's endpoint goes: n4 withdraws, the route narrows to n3 everywhere (n4 now forwards via n3 too).
    lab!.writeAtomic(file, clusterYaml(all, true, [3]));
    await until('every kernel holds the service route via n3 only', 20_000, () => kernelIsExactly(all, [3]), explain(all));
    // The service goes: its route leaves every kernel.
    lab!.writeAtomic(file, clusterYaml(all, true));
    await until('the service route gone from every kernel', 20_000, () => kernelIsExactly(all), explain(all));
  });

  await t.test('a node deleted from the datastore: its IPv4 and IPv6 blocks leave every kernel', async () => {
    const left = [1, 2, 3, 4];
    const t0 = Date.now();
    lab!.writeAtomic(file, clusterYaml(left, true));
    await until('n5 gone from every kernel', 30_000, () => kernelIsExactly(left), explain(left));
    t.diagnostic(`node deletion -> blocks gone from four kernels in ${Date.now() - t0} ms`);
    await until(
      'sessions to n5 removed',
      10_000,
      () => left.every((i) => !(status(i) ?? [{ name: nodeName(5) }]).some((p) => peerNames('Node', [5]).includes(p.name))),
      explain(left),
    );
    for (const i of left) assert.ok(speakers.get(i)!.child.exitCode === null, `n${i} still running`);
  });
});
