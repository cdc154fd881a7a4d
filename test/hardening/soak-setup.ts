/**
 * The soak's world on loopback: a file-datastore speaker peering with GoBGP
 * and BIRD 1.6, and an etcd-datastore speaker (real etcd, v3 layout)
 * peering with the same GoBGP. Everything is registered on a Cleanup.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { stringify } from 'yaml';
import { type Cleanup, freePort, startProcess, tempDir } from '../support/process.js';
import { Gobgp } from '../support/daemons/gobgp.js';
import { Bird } from '../support/daemons/bird.js';
import { EtcdServer } from '../support/etcd.js';

const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export const CLUSTER_AS = 64512;
export const GOBGP_AS = 65010;
export const BIRD_AS = 65020;

/** A running speaker process and how to reach it. */
export interface SpeakerProc {
  name: string;
  child: ChildProcess;
  socket: string;
  output: () => string;
}

export interface SoakWorld {
  dir: string;
  addr: { s1: string; s2: string; gobgp: string; bird: string; ghost: string };
  file: SpeakerProc;
  etcdSpeaker: SpeakerProc;
  gobgp: Gobgp;
  bird: Bird;
  etcd: EtcdServer;
  /** First port of the ghost peers (they never answer; the speaker keeps retrying). */
  ghostPort: number;
  /** Rewrites the file datastore (by rename, as the docs ask) with `extra` churn objects. */
  writeFile(extra: Resource[]): void;
  /** Replaces the etcd churn objects: puts `extra`, deletes the previous ones not in it. */
  writeEtcd(extra: Resource[]): Promise<void>;
}

/** One projectcalico.org/v3 object as the file datastore and etcd hold it. */
export interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: Record<string, unknown>;
}

const PLURAL: Record<string, string> = { BGPConfiguration: 'bgpconfigurations', BGPPeer: 'bgppeers', Node: 'nodes', IPPool: 'ippools', BlockAffinity: 'blockaffinities' };

function v3(kind: string, name: string, spec: Record<string, unknown>): Resource {
  return { apiVersion: kind === 'BlockAffinity' ? 'crd.projectcalico.org/v1' : 'projectcalico.org/v3', kind, metadata: { name }, spec };
}

/** The base objects of one speaker's datastore: its node, pool, first block, and the daemons as global peers. */
function baseObjects(nodeAddr: string, listenPort: number, peers: { name: string; ip: string; port: number; as: number }[]): Resource[] {
  return [
    v3('BGPConfiguration', 'default', { asNumber: CLUSTER_AS, nodeToNodeMeshEnabled: false, listenPort }),
    v3('Node', 'n1', { bgp: { ipv4Address: `${nodeAddr}/8` } }),
    v3('IPPool', 'pool', { cidr: '198.51.100.0/24', blockSize: 28 }),
    v3('BlockAffinity', 'n1-base', { node: 'n1', cidr: '198.51.100.0/28', state: 'confirmed', deleted: 'false' }),
    ...peers.map((p) => v3('BGPPeer', p.name, { peerIP: `${p.ip}:${p.port}`, asNumber: p.as })),
  ];
}

/** A churn block affinity (index 1..14 of the pool) and a peer that never answers. */
export function churnObjects(i: number, ghost: string, ghostPort: number): Resource[] {
  const block = 1 + (i % 14);
  return [
    v3('BlockAffinity', `n1-churn-${block}`, { node: 'n1', cidr: `198.51.100.${block * 16}/28`, state: 'confirmed', deleted: 'false' }),
    v3('BGPPeer', `ghost-${i % 3}`, { peerIP: `${ghost}:${ghostPort + (i % 3)}`, asNumber: 65099 }),
  ];
}

function startSpeaker(c: Cleanup, name: string, args: string[], env: Record<string, string> = {}): SpeakerProc {
  const socket = args[args.indexOf('--control-socket') + 1]!;
  const p = startProcess(c, process.execPath, [cli, 'speaker', '--node', 'n1', '--hold-time', '9', '--no-kernel', '--bird-socket', '', '--bird6-socket', '', ...args], { env: { ...process.env, ...env } });
  return { name, child: p.child, socket, output: p.output };
}

/** Loopback addresses of this run: 127.<pid-derived>.x, so parallel runs do not meet. */
function addresses(): SoakWorld['addr'] {
  const b = `127.${180 + (process.pid % 60)}.${(process.pid >> 6) % 250}`;
  return { s1: `${b}.1`, s2: `${b}.2`, gobgp: `${b}.10`, bird: `${b}.11`, ghost: `${b}.99` };
}

/** Starts etcd, GoBGP, BIRD and both speakers. */
export async function startWorld(c: Cleanup): Promise<SoakWorld> {
  const dir = tempDir(c, 'cbgpd-soak-');
  const addr = addresses();
  const [p1, p2, pg, pb] = [await freePort(addr.s1), await freePort(addr.s2), await freePort(addr.gobgp), await freePort(addr.bird)];
  const ghostPort = 20000 + (process.pid % 20000);

  const fileBase = baseObjects(addr.s1, p1, [
    { name: 'gobgp', ip: addr.gobgp, port: pg, as: GOBGP_AS },
    { name: 'bird', ip: addr.bird, port: pb, as: BIRD_AS },
  ]);
  const cluster = join(dir, 'cluster.yaml');
  const writeFile = (extra: Resource[]): void => {
    const tmp = `${cluster}.tmp`;
    writeFileSync(tmp, [...fileBase, ...extra].map((r) => stringify(r)).join('---\n'));
    renameSync(tmp, cluster);
  };
  writeFile([]);

  const etcd = await EtcdServer.start();
  c.add(() => etcd.stop());
  const etcdBase = baseObjects(addr.s2, p2, [{ name: 'gobgp', ip: addr.gobgp, port: pg, as: GOBGP_AS }]);
  const keyOf = (r: Resource): string => `/calico/resources/v3/projectcalico.org/${PLURAL[r.kind]}/${r.metadata.name}`;
  let etcdExtra: string[] = [];
  const put = async (objs: Resource[]): Promise<void> => {
    const client = etcd.client();
    try {
      for (const r of objs) await client.put(keyOf(r)).value(JSON.stringify(r));
    } finally {
      client.close();
    }
  };
  const writeEtcd = async (extra: Resource[]): Promise<void> => {
    const keys = extra.map(keyOf);
    const client = etcd.client();
    try {
      for (const k of etcdExtra) if (!keys.includes(k)) await client.delete().key(k);
    } finally {
      client.close();
    }
    await put(extra);
    etcdExtra = keys;
  };
  await put(etcdBase);

  const gobgp = await Gobgp.start(c, {
    as: GOBGP_AS,
    routerId: addr.gobgp,
    address: addr.gobgp,
    port: pg,
    neighbors: [
      { address: addr.s1, peerAs: CLUSTER_AS, remotePort: p1, families: ['ipv4-unicast'] },
      { address: addr.s2, peerAs: CLUSTER_AS, remotePort: p2, families: ['ipv4-unicast'] },
    ],
  });
  const bird = await Bird.start(c, {
    as: BIRD_AS,
    routerId: addr.bird,
    address: addr.bird,
    port: pb,
    neighbors: [{ name: 'cbgpd', address: addr.s1, peerAs: CLUSTER_AS, remotePort: p1, export: 'all' }],
    statics: [{ name: 'st', routes: Array.from({ length: 20 }, (_, i) => `192.0.2.${i * 8}/29`) }],
  });
  const file = startSpeaker(c, 'file', ['--datastore-file', cluster, '--listen-address', addr.s1, '--control-socket', join(dir, 's1.ctl')]);
  const etcdSpeaker = startSpeaker(c, 'etcd', ['--listen-address', addr.s2, '--control-socket', join(dir, 's2.ctl')], {
    DATASTORE_TYPE: 'etcdv3',
    ETCD_ENDPOINTS: etcd.endpoint,
    CALICO_ETCD_LAYOUT: 'v3',
  });
  return { dir, addr, file, etcdSpeaker, gobgp, bird, etcd, ghostPort, writeFile, writeEtcd };
}

