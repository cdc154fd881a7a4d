/**
 * Issue #6 section 6, mixed cluster: four nodes in network namespaces on one
 * LAN, one YAML file datastore, full mesh. n1 and n2 run our speaker (kernel
 * routes, protocol 201); n3 and n4 run stock BIRD 1.6 configured by our
 * renderer (`confd --flavor bird1`, kernel routes with protocol `bird`).
 * Every kernel must hold every other node's block via that node, and a block
 * added to the file must reach every kernel whichever kind of node owns it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { CLI, type Lab, type KernelRoute, type LabProcess, type PeerStatus, clusterLab, control, netnsAvailable, until } from './lab.js';

const BIRD = '/usr/sbin/bird';
const skip = !netnsAvailable() || !existsSync(BIRD) ? 'needs root, ip netns and BIRD 1.6 (/usr/sbin/bird)' : false;

const addr = (i: number): string => `192.0.2.${i}`;
const meshName = (i: number): string => `Mesh_192_0_2_${i}`;
const ours = [1, 2];
const birds = [3, 4];
const all = [...ours, ...birds];

/** Blocks per node: one each to start with. */
const blocks = new Map<number, string[]>(all.map((i) => [i, [`198.51.100.${(i - 1) * 32}/27`]]));

function clusterYaml(): string {
  const docs = [
    `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: { name: default }
spec: { asNumber: 64512, nodeToNodeMeshEnabled: true }`,
    `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: { name: pool }
spec: { cidr: 198.51.100.0/24, blockSize: 27, ipipMode: Never, vxlanMode: Never }`,
  ];
  for (const i of all) {
    docs.push(`apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: n${i} }
spec: { bgp: { ipv4Address: ${addr(i)}/24 } }`);
    for (const b of blocks.get(i)!) {
      docs.push(`apiVersion: crd.projectcalico.org/v1
kind: BlockAffinity
metadata: { name: n${i}-${b.replace(/[./]/g, '-')} }
spec: { node: n${i}, cidr: ${b}, state: confirmed, deleted: "false" }`);
    }
  }
  return docs.join('\n---\n') + '\n';
}

const proto = (i: number): string => (ours.includes(i) ? '201' : 'bird');

/** Node i's kernel routes of its routing daemon: blackholes for its blocks, the others' blocks via their nodes. */
function expected(i: number): KernelRoute[] {
  return all
    .flatMap((j) => blocks.get(j)!.map((b): KernelRoute => (j === i ? { dst: b, type: 'blackhole' } : { dst: b, gateway: addr(j), dev: 'eth0' })))
    .sort((a, b) => (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0));
}

let lab: Lab | undefined;
let file = '';
const procs = new Map<string, LabProcess>();
const sock = (i: number): string => join(lab!.dir, `n${i}.ctl`);
const birdSock = (i: number): string => join(lab!.dir, `n${i}`, 'bird.ctl');

before(() => {
  if (skip) return;
  lab = clusterLab();
  file = join(lab.dir, 'cluster.yaml');
});

after(async () => {
  await lab?.destroy();
});

function birdc(i: number, ...args: string[]): string {
  const r = spawnSync('birdc', ['-s', birdSock(i), ...args], { encoding: 'utf8', timeout: 5000 });
  return r.stdout ?? '';
}

function explain(): string {
  return all
    .map((i) => {
      let kernel = '';
      try {
        kernel = JSON.stringify(lab!.routes(`n${i}`, proto(i)));
      } catch (e) {
        kernel = (e as Error).message;
      }
      const peers = ours.includes(i)
        ? (control<{ peers: PeerStatus[] }>(sock(i), ['status'])?.peers ?? []).map((p) => `${p.name}:${p.state}`).join(' ')
        : birdc(i, 'show', 'protocols');
      const logs = [...procs.entries()].filter(([k]) => k.startsWith(`n${i}-`)).map(([k, p]) => `${k}: ${p.output().slice(-800)}`).join('\n  ');
      return `n${i} kernel ${kernel}\n  peers ${peers}\n  ${logs}`;
    })
    .join('\n');
}

const kernelsExact = (): boolean => all.every((i) => JSON.stringify(lab!.routes(`n${i}`, proto(i))) === JSON.stringify(expected(i)));

test('our speaker and BIRD 1.6 + our renderer in one mesh: every kernel holds every block', { skip, timeout: 150_000 }, async (t) => {
  lab!.writeAtomic(file, clusterYaml());
  for (const i of all) lab!.addHost(`n${i}`, i);
  for (const i of ours) {
    procs.set(`n${i}-speaker`, lab!.spawn(`n${i}`, process.execPath, [CLI, 'speaker', '--node', `n${i}`, '--datastore-file', file, '--control-socket', sock(i), '--hold-time', '9']));
  }
  for (const i of birds) {
    const dir = join(lab!.dir, `n${i}`);
    mkdirSync(dir);
    // No bird6 runs here (IPv4 only): its reload fails harmlessly, its check is skipped.
    procs.set(
      `n${i}-confd`,
      lab!.spawn(`n${i}`, process.execPath, [CLI, 'confd', '--flavor', 'bird1', '--node', `n${i}`, '--datastore-file', file, '--dest-dir', dir, '--bird-socket', birdSock(i), '--bird6-socket', join(dir, 'bird6.ctl'), '--check6-cmd', '']),
    );
    await until(`n${i} bird.cfg rendered`, 20_000, () => existsSync(join(dir, 'bird.cfg')) && existsSync(join(dir, 'bird_ipam.cfg')), explain);
    procs.set(`n${i}-bird`, lab!.spawn(`n${i}`, BIRD, ['-f', '-c', join(dir, 'bird.cfg'), '-s', birdSock(i)]));
    await until(`n${i} BIRD up`, 10_000, () => birdc(i, 'show', 'status').includes('Daemon is up'), explain);
  }

  await t.test('the mesh is Established on every side', async () => {
    const ms = await until(
      'four-node mesh Established',
      60_000,
      () =>
        ours.every((i) => {
          const ps = control<{ peers: PeerStatus[] }>(sock(i), ['status'])?.peers ?? [];
          return all.filter((j) => j !== i).every((j) => ps.some((p) => p.name === meshName(j) && p.state === 'Established'));
        }) && birds.every((i) => (birdc(i, 'show', 'protocols').match(/^Mesh_\S+\s+BGP\s.*Established/gm) ?? []).length === 3),
      explain,
    );
    t.diagnostic(`mixed mesh Established in ${ms} ms`);
  });

  await t.test('every kernel holds every other node\'s block via that node', async () => {
    await until('every kernel holds exactly the cluster\'s blocks', 20_000, kernelsExact, explain);
    // Our routes on BIRD nodes and BIRD's on ours really are the other daemon's (not a leftover of the wrong protocol).
    for (const i of all) assert.deepEqual(lab!.routes(`n${i}`, ours.includes(i) ? 'bird' : '201'), [], `n${i}: no routes of the other daemon`);
  });

  await t.test('a block added for a BIRD node and one for our node reach every kernel', async () => {
    blocks.get(1)!.push('198.51.100.192/27');
    blocks.get(3)!.push('198.51.100.224/27');
    const t0 = Date.now();
    lab!.writeAtomic(file, clusterYaml());
    await until('new blocks in every kernel', 30_000, kernelsExact, explain);
    t.diagnostic(`two new blocks in four kernels in ${Date.now() - t0} ms`);
  });
});
