/**
 * Graceful-restart recovery as calico-node's readiness check reads it from
 * BIRD's `show status` (reply 0024), on our speaker's bird.ctl, in network
 * namespaces with kernel routes: after a graceful stop (routes kept in the
 * kernel) our speaker comes back restarting and reports recovery in
 * progress while its peer is away, and stops reporting it once the peer is
 * back and has sent End-of-RIB.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { birdRequest, parseGracefulRestart, parsePeers } from '../support/bird-client.js';
import { CLI, type Lab, type LabProcess, clusterLab, netnsAvailable, until } from './lab.js';
import { LAB_MESH_CONFIG, labPool } from '../support/cluster-yaml.js';

const skip = !netnsAvailable() ? 'needs root and ip netns' : false;

let lab: Lab | undefined;
let file = '';
const procs = new Map<number, LabProcess>();
const birdSock = (i: number): string => join(lab!.dir, `n${i}-bird.ctl`);

before(() => {
  if (skip) return;
  lab = clusterLab();
  file = join(lab.dir, 'cluster.yaml');
});

after(async () => {
  await lab?.destroy();
});

function clusterYaml(): string {
  const docs = [
    LAB_MESH_CONFIG,
    labPool(),
  ];
  for (const i of [1, 2]) {
    docs.push(`apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: n${i} }
spec: { bgp: { ipv4Address: 192.0.2.${i}/24 } }`);
    docs.push(`apiVersion: crd.projectcalico.org/v1
kind: BlockAffinity
metadata: { name: n${i}-a }
spec: { node: n${i}, cidr: 198.51.100.${(i - 1) * 64}/26, state: confirmed, deleted: "false" }`);
  }
  return docs.join('\n---\n') + '\n';
}

const start = (i: number): void => {
  procs.set(i, lab!.spawn(`n${i}`, process.execPath, [CLI, 'speaker', '--node', `n${i}`, '--datastore-file', file, '--control-socket', join(lab!.dir, `n${i}.ctl`), '--hold-time', '9', '--bird-socket', birdSock(i), '--bird6-socket', '']));
};

async function stop(i: number, signal: NodeJS.Signals): Promise<void> {
  const p = procs.get(i)!;
  p.child.kill(signal);
  await until(`n${i} to exit`, 20_000, () => p.child.exitCode !== null || p.child.signalCode !== null);
}

const explain = (): string => [...procs.entries()].map(([i, p]) => `n${i}: ${p.output().slice(-1500)}`).join('\n');

/** n1's `show status` read as calico-node's GRInProgress reads it; undefined while the socket does not answer. */
async function n1Recovering(): Promise<boolean | undefined> {
  try {
    return parseGracefulRestart(await birdRequest(birdSock(1), 'show status', 5000));
  } catch {
    return undefined;
  }
}

const n1Established = async (): Promise<boolean> => parsePeers(await birdRequest(birdSock(1), 'show protocols', 5000), 4).some((p) => p.bgpState === 'Established');

test('after a graceful restart, bird.ctl reports recovery (0024) until the peer is back with End-of-RIB', { skip, timeout: 150_000 }, async () => {
  lab!.writeAtomic(file, clusterYaml());
  for (const i of [1, 2]) lab!.addHost(`n${i}`, i);
  for (const i of [1, 2]) start(i);
  await until('n1 Established with n2 and holding its block in the kernel', 60_000, async () => (await n1Established()) && lab!.routes('n1', '201', 4).some((r) => r.dst === '198.51.100.64/26'), explain);
  assert.equal(await n1Recovering(), false, 'no recovery on a first start');

  // n2 goes away; n1 stops gracefully, leaving its routes in the kernel, and comes back restarting.
  await stop(2, 'SIGKILL');
  await stop(1, 'SIGTERM');
  assert.ok(lab!.routes('n1', '201', 4).some((r) => r.dst === '198.51.100.64/26'), 'kernel routes kept across the stop');
  start(1);
  await until('n1 to report graceful-restart recovery in progress', 30_000, async () => (await n1Recovering()) === true, explain);
  const during = await birdRequest(birdSock(1), 'show status');
  assert.ok(during.some((l) => /^ {3}Waiting for 1 protocols to recover$/.test(l)), during.join('\n'));

  // n2 returns: the session comes up, End-of-RIB arrives, recovery is over.
  start(2);
  await until('n1 to report recovery over', 60_000, async () => (await n1Recovering()) === false, explain);
  assert.ok(await n1Established());
});
