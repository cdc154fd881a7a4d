/**
 * Issue #6 section 6, mixed cluster: four nodes in network namespaces on one
 * LAN, one YAML file datastore, full mesh, dual stack. n1 and n2 run our
 * speaker (kernel routes, protocol 201); n3 and n4 run stock BIRD 1.6
 * configured by our renderer (`confd --flavor bird1`, kernel routes with
 * protocol `bird`): as on a calico-node, a `bird` for IPv4 and a `bird6` for
 * IPv6, each started on the main file our renderer writes for it (bird.cfg,
 * bird6.cfg) and reloaded by confd through its own control socket. Every node
 * has an IPv4 and an IPv6 address on the LAN and a block of each family's
 * pool, so every pair of nodes has one session per family. In each family,
 * read back with `ip -4` and `ip -6`:
 *
 * - every mesh session is Established, on our side and in `bird`/`bird6`;
 * - every kernel holds a blackhole for its own blocks and every other node's
 *   blocks via that node's address of the family, and no route of the other
 *   daemon's protocol;
 * - blocks added to the file reach every kernel, one owned by our speaker and
 *   one by BIRD in each family.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { flavorFiles } from '../../src/confd/render.js';
import { type BirdFlavor, birdBinaries } from '../support/daemons/bird.js';
import { birdRequest, looseLine, maskLine, parsePeers, readyAfterGrace } from '../support/bird-client.js';
import { CLI, type Lab, type KernelRoute, type LabProcess, type PeerStatus, clusterLab, control, netnsAvailable, peerName, until } from './lab.js';
import { LAB_MESH_CONFIG, labPool } from '../support/cluster-yaml.js';

type Family = 4 | 6;
const FAMILIES = [4, 6] as const;
/** BIRD 1.6 is a daemon per family; calico-node names its files and sockets after it (bird.cfg, bird6.ctl). */
const DAEMON = { 4: 'bird', 6: 'bird6' } as const;
const FLAVOR = { 4: 'bird1', 6: 'bird6' } as const satisfies Record<Family, BirdFlavor>;
// Never null for BIRD 1.6: these are fixed paths (whether they exist is checked below).
const BIRD = { 4: birdBinaries(FLAVOR[4])!, 6: birdBinaries(FLAVOR[6])! };
const skip = !netnsAvailable() || !existsSync(BIRD[4].bird) || !existsSync(BIRD[6].bird) ? 'needs root, ip netns and BIRD 1.6 (bird and bird6)' : false;

const LAN6 = '2001:db8:0:1';
/** Node i's LAN address of a family: the lab numbers host N `192.0.2.N` and `2001:db8:0:1::N`. */
const addr = (f: Family, i: number): string => (f === 4 ? `192.0.2.${i}` : `${LAN6}::${i.toString(16)}`);
/** The k-th block of a family's pool (/27s of 198.51.100.0/24, /122s of 2001:db8:1::/64, Calico's IPv6 default), as `ip` prints it. */
const block = (f: Family, k: number): string => (f === 4 ? `198.51.100.${k * 32}/27` : `2001:db8:1::${k === 0 ? '' : (k * 64).toString(16)}/122`);
const ours = [1, 2];
const birds = [3, 4];
const all = [...ours, ...birds];

/** Blocks per family and node: one each to start with. */
const blocks = (f: Family): Map<number, string[]> => new Map(all.map((i): [number, string[]] => [i, [block(f, i - 1)]]));
const BLOCKS: Record<Family, Map<number, string[]>> = { 4: blocks(4), 6: blocks(6) };

function clusterYaml(): string {
  const docs = [
    LAB_MESH_CONFIG,
    labPool(27),
    `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: { name: pool6 }
spec: { cidr: '2001:db8:1::/64', blockSize: 122, ipipMode: Never, vxlanMode: Never }`,
  ];
  for (const i of all) {
    docs.push(`apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: n${i} }
spec: { bgp: { ipv4Address: ${addr(4, i)}/24, ipv6Address: '${addr(6, i)}/64' } }`);
    for (const b of FAMILIES.flatMap((f) => BLOCKS[f].get(i)!)) {
      docs.push(`apiVersion: crd.projectcalico.org/v1
kind: BlockAffinity
metadata: { name: n${i}-${b.replace(/[.:/]/g, '-')} }
spec: { node: n${i}, cidr: '${b}', state: confirmed, deleted: "false" }`);
    }
  }
  return docs.join('\n---\n') + '\n';
}

const proto = (i: number): string => (ours.includes(i) ? '201' : 'bird');

/** Node i's kernel routes of its routing daemon in one family: blackholes for its blocks, the others' blocks via their nodes. */
function expected(i: number, f: Family): KernelRoute[] {
  return all
    .flatMap((j) => BLOCKS[f].get(j)!.map((b): KernelRoute => (j === i ? { dst: b, type: 'blackhole' } : { dst: b, gateway: addr(f, j), dev: 'eth0' })))
    .sort((a, b) => (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0));
}

let lab: Lab | undefined;
let file = '';
const procs = new Map<string, LabProcess>();
const sock = (i: number): string => join(lab!.dir, `n${i}.ctl`);
const birdDir = (i: number): string => join(lab!.dir, `n${i}`);
const birdSock = (f: Family, i: number): string => join(birdDir(i), `${DAEMON[f]}.ctl`);
/** Our speaker's BIRD-compatible sockets, named as calico-node names its BIRDs' (bird.ctl, bird6.ctl). */
const ourBirdSock = (f: Family, i: number): string => join(lab!.dir, `n${i}-${DAEMON[f]}.ctl`);

before(() => {
  if (skip) return;
  lab = clusterLab(LAN6);
  file = join(lab.dir, 'cluster.yaml');
});

after(async () => {
  await lab?.destroy();
});

/** birdc (IPv4) or birdc6 (IPv6) on BIRD node i. */
const birdc = (f: Family, i: number, ...args: string[]): string => spawnSync(BIRD[f].birdc, ['-s', birdSock(f, i), ...args], { encoding: 'utf8', timeout: 5000 }).stdout ?? '';
const status = (i: number): PeerStatus[] => control<{ peers: PeerStatus[] }>(sock(i), ['status'])?.peers ?? [];
/** Node i's mesh peers in one family, by the name both our speaker and our renderer give them (`Mesh_2001_db8_0_1__3`). */
const meshPeers = (f: Family, i: number): string[] => all.filter((j) => j !== i).map((j) => peerName('Mesh', addr(f, j)));

function explain(): string {
  return all
    .map((i) => {
      const kernel = FAMILIES.map((f) => {
        try {
          return `IPv${f} ${JSON.stringify(lab!.routes(`n${i}`, proto(i), f))}`;
        } catch (e) {
          return (e as Error).message;
        }
      }).join('\n  ');
      const peers = ours.includes(i)
        ? status(i).map((p) => `${p.name}:${p.state}`).join(' ')
        : FAMILIES.map((f) => `${DAEMON[f]}:\n${birdc(f, i, 'show', 'protocols')}`).join('\n');
      const logs = [...procs.entries()].filter(([k]) => k.startsWith(`n${i}-`)).map(([k, p]) => `${k}: ${p.output().slice(-800)}`).join('\n  ');
      return `n${i} kernel ${kernel}\n  peers ${peers}\n  ${logs}`;
    })
    .join('\n');
}

const kernelsExact = (): boolean => all.every((i) => FAMILIES.every((f) => JSON.stringify(lab!.routes(`n${i}`, proto(i), f)) === JSON.stringify(expected(i, f))));

test('our speaker and BIRD 1.6 (bird + bird6) + our renderer in one dual-stack mesh: every kernel holds every IPv4 and IPv6 block', { skip, timeout: 150_000 }, async (t) => {
  lab!.writeAtomic(file, clusterYaml());
  for (const i of all) lab!.addHost(`n${i}`, i);
  for (const i of ours) {
    procs.set(`n${i}-speaker`, lab!.spawn(`n${i}`, process.execPath, [CLI, 'speaker', '--node', `n${i}`, '--datastore-file', file, '--control-socket', sock(i), '--hold-time', '9', '--bird-socket', ourBirdSock(4, i), '--bird6-socket', ourBirdSock(6, i)]));
  }
  for (const i of birds) {
    const dir = birdDir(i);
    mkdirSync(dir);
    // Default check commands: bird.cfg is checked by `bird -p`, bird6.cfg by `bird6 -p`, before either is put in place.
    procs.set(
      `n${i}-confd`,
      lab!.spawn(`n${i}`, process.execPath, [CLI, 'confd', '--flavor', 'bird1', '--node', `n${i}`, '--datastore-file', file, '--dest-dir', dir, '--bird-socket', birdSock(4, i), '--bird6-socket', birdSock(6, i)]),
    );
  }
  // BIRD reads its includes when it starts: wait for every file of the flavor, not only the main ones.
  await until('bird*.cfg and bird6*.cfg rendered on the BIRD nodes', 20_000, () => birds.every((i) => flavorFiles('bird1').every((x) => existsSync(join(birdDir(i), x.name)))), explain);
  for (const i of birds) {
    for (const f of FAMILIES) {
      procs.set(`n${i}-${DAEMON[f]}`, lab!.spawn(`n${i}`, BIRD[f].bird, ['-f', '-c', join(birdDir(i), `${DAEMON[f]}.cfg`), '-s', birdSock(f, i)]));
    }
  }
  await until('bird and bird6 up on the BIRD nodes', 10_000, () => birds.every((i) => FAMILIES.every((f) => birdc(f, i, 'show', 'status').includes('Daemon is up'))), explain);

  await t.test('the mesh is Established on every side, in both families', async () => {
    const established = (f: Family, i: number): boolean => {
      if (ours.includes(i)) {
        const ps = status(i);
        return meshPeers(f, i).every((n) => ps.some((p) => p.name === n && p.state === 'Established'));
      }
      const protocols = birdc(f, i, 'show', 'protocols');
      return meshPeers(f, i).every((n) => new RegExp(`^${n}\\s+BGP\\s.*Established`, 'm').test(protocols));
    };
    const ms = await until('four-node mesh Established in IPv4 and IPv6', 60_000, () => all.every((i) => FAMILIES.every((f) => established(f, i))), explain);
    t.diagnostic(`mixed mesh, two families, Established in ${ms} ms`);
    // Our speaker has exactly the mesh: one session per family with each other node, nothing else.
    for (const i of ours) assert.deepEqual(status(i).map((p) => p.name).sort(), FAMILIES.flatMap((f) => meshPeers(f, i)).sort(), `n${i}: its peers`);
  });

  await t.test('our bird.ctl and bird6.ctl answer as the BIRD nodes\' bird and bird6 do, for the same peers', async () => {
    // calicoctl node status / calico-node -bird-ready parse `show protocols`: every mesh peer, Established, on n1 (ours) and n3 (BIRD).
    for (const f of FAMILIES) {
      const shape = async (socket: string) => (parsePeers(await birdRequest(socket, 'show protocols'), f)).map((p) => [p.peerIp, p.peerType, p.state, p.bgpState]);
      const others = (i: number): string[] => all.filter((j) => j !== i).map((j) => addr(f, j));
      const want = (i: number) => others(i).map((a) => [a, 'node-to-node mesh', 'up', 'Established']);
      assert.deepEqual(await shape(ourBirdSock(f, 1)), want(1), `IPv${f}: ours`);
      assert.deepEqual(await shape(birdSock(f, 3)), want(3), `IPv${f}: BIRD`);
      assert.ok(readyAfterGrace(parsePeers(await birdRequest(ourBirdSock(f, 1), 'show protocols'), f)));
      // The same peer (n4, a BIRD node) seen from our n1 and from BIRD's n3: line by line, each side's own address, times and counters masked.
      const peer = peerName('Mesh', addr(f, 4));
      const view = async (socket: string, self: number) => (await birdRequest(socket, `show protocols all ${peer}`)).map((l) => looseLine(maskLine(l, { [addr(f, self)]: 'SELF' })));
      // Route counts settle a moment after Established: wait until both sides have them, then compare.
      let last: [string[], string[]] = [[], []];
      await until(`IPv${f}: the same show protocols all ${peer} from n1 and n3`, 20_000, async () => {
        last = [await view(ourBirdSock(f, 1), 1), await view(birdSock(f, 3), 3)];
        return JSON.stringify(last[0]) === JSON.stringify(last[1]);
      }, () => `ours:\n${last[0].join('\n')}\nBIRD:\n${last[1].join('\n')}`).catch(() => undefined);
      assert.deepEqual(last[0], last[1], `IPv${f}: show protocols all ${peer}`);
      // Stock birdc / birdc6 against our socket.
      const r = spawnSync(BIRD[f].birdc, ['-s', ourBirdSock(f, 1), 'show', 'protocols'], { encoding: 'utf8', timeout: 5000 });
      assert.match(r.stdout, new RegExp(`^${peer} +BGP +master +up .*Established`, 'm'));
    }
  });

  await t.test('every kernel holds every other node\'s IPv4 and IPv6 blocks via that node', async () => {
    await until('every kernel holds exactly the cluster\'s blocks', 20_000, kernelsExact, explain);
    // Our routes on BIRD nodes and BIRD's on ours really are the other daemon's (not a leftover of the wrong protocol).
    for (const i of all) {
      for (const f of FAMILIES) assert.deepEqual(lab!.routes(`n${i}`, ours.includes(i) ? 'bird' : '201', f), [], `n${i}: no IPv${f} routes of the other daemon`);
    }
  });

  await t.test('blocks added for a BIRD node and for our node reach every kernel, in each family', async () => {
    // IPv4 for n1 and n3, IPv6 for n2 and n4: every node, of both kinds, originates a new block.
    BLOCKS[4].get(1)!.push(block(4, 6));
    BLOCKS[4].get(3)!.push(block(4, 7));
    BLOCKS[6].get(2)!.push(block(6, 6));
    BLOCKS[6].get(4)!.push(block(6, 7));
    const t0 = Date.now();
    lab!.writeAtomic(file, clusterYaml());
    await until('new blocks in every kernel', 30_000, kernelsExact, explain);
    t.diagnostic(`four new blocks (two per family) in four kernels in ${Date.now() - t0} ms`);
  });
});
