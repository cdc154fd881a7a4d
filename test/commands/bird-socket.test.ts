/**
 * The speaker's BIRD-compatible socket against the real thing, on loopback:
 * our speaker (n1) and a real BIRD 1.6 (n2) in one Calico mesh with a third
 * node (n3) that nobody runs, so both daemons have the same kind of peer list
 * (each other, Established; n3, Passive). Stock `birdc` talks to our socket;
 * calicoctl's / calico-node's / bird_exporter's parsers (test/support) read
 * ours and BIRD's replies to the same peers and states; the n3 block matches
 * BIRD's line for line, times masked; errors, many clients at once, clients
 * that vanish mid-reply.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanup, freePort, run, startProcess, tempDir, waitFor } from '../support/process.js';
import { Bird } from '../support/daemons/bird.js';
import { birdRequest, endsReply, looseLine, maskLine, parseExporterProtocols, parseGracefulRestart, parsePeers, readyAfterGrace } from '../support/bird-client.js';

const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const c = cleanup();
after(() => c.run());

const N1 = '127.0.94.1';
const N2 = '127.0.94.2';
const N3 = '127.0.94.3';
const name = (a: string): string => `Mesh_${a.replace(/\./g, '_')}`;

function clusterYaml(port: number): string {
  const nodes = [N1, N2, N3].map((a, i) => `apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: n${i + 1} }
spec: { bgp: { ipv4Address: ${a}/8 } }`);
  return [
    `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: { name: default }
spec: { asNumber: 64512, nodeToNodeMeshEnabled: true, listenPort: ${port} }`,
    ...nodes,
    `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: { name: pool }
spec: { cidr: 198.51.100.0/24, blockSize: 26 }`,
    `apiVersion: crd.projectcalico.org/v1
kind: BlockAffinity
metadata: { name: n1-a }
spec: { node: n1, cidr: 198.51.100.0/26, state: confirmed, deleted: "false" }`,
  ].join('\n---\n') + '\n';
}

/** Sends raw text on a fresh connection and returns the first `replies` complete replies (greeting included). */
function rawReplies(socket: string, text: string, replies: number): Promise<string[][]> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    const out: string[][] = [];
    let current: string[] = [];
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`only ${out.length} of ${replies} replies: ${JSON.stringify(out)} ${buf}`));
    }, 10_000);
    s.setEncoding('utf8');
    s.on('error', reject);
    s.write(text);
    s.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        current.push(line);
        if (!endsReply(line)) continue;
        out.push(current);
        current = [];
        if (out.length === replies) {
          clearTimeout(timer);
          s.destroy();
          resolve(out);
        }
      }
    });
  });
}

test('birdc, calicoctl\'s and calico-node\'s parsers read our BIRD socket as they read BIRD 1.6', { timeout: 180_000 }, async (t) => {
  const dir = tempDir(c, 'cbgpd-birdsock-');
  const port = await freePort(N1);
  const cluster = join(dir, 'cluster.yaml');
  writeFileSync(cluster, clusterYaml(port));
  const ours = join(dir, 'bird.ctl');
  const ours6 = join(dir, 'bird6.ctl');
  // Calico's mesh rule: a node waits for peers whose address sorts after its own (passive).
  const bird = await Bird.start(c, {
    as: 64512, routerId: N2, address: N2, port,
    statics: [{ name: 'pods', routes: ['198.51.100.64/26'] }],
    neighbors: [
      { name: name(N1), address: N1, peerAs: 64512, remotePort: port, addPaths: true, gracefulRestart: true, export: 'filter { accept; }', description: 'Connection to BGP peer' },
      { name: name(N3), address: N3, peerAs: 64512, remotePort: port, addPaths: true, gracefulRestart: true, passive: true, export: 'filter { accept; }', description: 'Connection to BGP peer' },
    ],
  });
  const speaker = startProcess(c, process.execPath, [
    cli, 'speaker', '--node', 'n1', '--datastore-file', cluster, '--listen-address', N1, '--control-socket', join(dir, 'bgpd.ctl'),
    '--hold-time', '9', '--no-kernel', '--bird-socket', ours, '--bird6-socket', ours6,
  ]);
  const explain = (e: Error): never => {
    throw new Error(`${e.message}\nspeaker: ${speaker.output().slice(-3000)}\nbird: ${bird.logs().slice(-1500)}`);
  };
  await waitFor('our socket', () => existsSync(ours), 30_000, 100).catch(explain);
  await waitFor('Established on both sides, routes both ways', async () => {
    const a = parsePeers(await birdRequest(ours, 'show protocols'), 4);
    const b = parsePeers(await birdRequest(bird.socket, 'show protocols'), 4);
    const routes = (await birdRequest(ours, 'show protocols all')).join('\n');
    const theirs = (await birdRequest(bird.socket, `show protocols all ${name(N1)}`)).join('\n');
    const counted = /Routes: +1 imported, 1 exported, 1 preferred/;
    return a.some((p) => p.bgpState === 'Established') && b.some((p) => p.bgpState === 'Established') && counted.test(routes) && counted.test(theirs);
  }, 60_000, 300).catch(explain);

  // Stock birdc, one command per run, as operators and calico-node's liveness probe use it.
  const protocols = run('birdc', ['-s', ours, 'show', 'protocols']);
  assert.equal(protocols.status, 0, protocols.stderr);
  assert.match(protocols.stdout, new RegExp(`^${name(N2)} BGP      master   up     \\d\\d:\\d\\d:\\d\\d    Established   $`, 'm'));
  assert.match(protocols.stdout, new RegExp(`^${name(N3)} BGP      master   start  \\d\\d:\\d\\d:\\d\\d    Passive       $`, 'm'));
  t.diagnostic(`birdc show protocols, ours:\n${protocols.stdout}BIRD's:\n${run('birdc', ['-s', bird.socket, 'show', 'protocols']).stdout}`);
  const status = run('birdc', ['-s', ours, 'show', 'status']);
  assert.equal(status.status, 0, status.stderr);
  // calico-node -bird-live: the output of `birdcl show status` must start with "BIRD".
  assert.match(status.stdout, /^BIRD 1\.6\.8 ready\.\nBIRD 1\.6\.8\nRouter ID is 127\.0\.94\.1\n/);
  assert.match(status.stdout, /Daemon is up and running/);
  const all = run('birdc', ['-s', ours, 'show', 'protocols', 'all', name(N2)]);
  assert.match(all.stdout, /Neighbor ID: +127\.0\.94\.2\n/);
  assert.match(all.stdout, /Hold timer: +9\/9\n/);
  assert.match(all.stdout, /Keepalive timer: +3\/3\n/);
  // birdc -r sends `restrict` first and expects BIRD's 0016 before the command.
  const restricted = run('birdc', ['-r', '-s', ours, 'show', 'protocols', name(N3)]);
  assert.equal(restricted.status, 0, restricted.stderr);
  assert.match(restricted.stdout, new RegExp(`^${name(N3)} BGP`, 'm'));
  const count = run('birdc', ['-s', ours, 'show', 'route', 'count']);
  assert.match(count.stdout, /^2 of 2 routes for 2 networks$/m);

  // calicoctl node status / calico-node -bird-ready: the same peers and states from both daemons.
  const oursPeers = parsePeers(await birdRequest(ours, 'show protocols'), 4);
  const birdPeers = parsePeers(await birdRequest(bird.socket, 'show protocols'), 4);
  const shape = (peers: typeof oursPeers, other: string) => peers.map((p) => [p.peerIp === other ? 'the other daemon' : p.peerIp, p.peerType, p.state, p.bgpState, p.info]);
  assert.deepEqual(shape(oursPeers, N2), shape(birdPeers, N1));
  assert.deepEqual(shape(oursPeers, N2), [
    ['the other daemon', 'node-to-node mesh', 'up', 'Established', ''],
    [N3, 'node-to-node mesh', 'start', 'Passive', ''],
  ]);
  assert.ok(readyAfterGrace(oursPeers));
  assert.equal(parseGracefulRestart(await birdRequest(ours, 'show status')), false);
  assert.equal(parseGracefulRestart(await birdRequest(bird.socket, 'show status')), false);

  // The same peer (n3) on both: BIRD's lines exactly, times masked.
  // This BIRD exports through an unnamed filter where Calico's config names it calico_export_to_bgp_peers.
  const filterName = { calico_export_to_bgp_peers: '(unnamed)' };
  const n3Ours = (await birdRequest(ours, `show protocols all ${name(N3)}`)).map((l) => maskLine(l, filterName));
  const n3Bird = (await birdRequest(bird.socket, `show protocols all ${name(N3)}`)).map((l) => maskLine(l, {}));
  assert.deepEqual(n3Ours, n3Bird);

  // The Established session, each daemon's view of the other: the same lines and labels; the values that name the other side masked.
  const upOurs = (await birdRequest(ours, `show protocols all ${name(N2)}`)).map((l) => maskLine(l, { ...filterName, [name(N2)]: 'PEER', [N2]: 'PEER_IP', [N1]: 'SELF_IP' }));
  const upBird = (await birdRequest(bird.socket, `show protocols all ${name(N1)}`)).map((l) => maskLine(l, { [name(N1)]: 'PEER', [N1]: 'PEER_IP', [N2]: 'SELF_IP' }));
  const label = (l: string): string => l.replace(/:.*$/, ':');
  assert.deepEqual(upOurs.map(label), upBird.map(label));
  // Timer lines count down in BIRD; ours print the negotiated time. Route change
  // statistics count updates BIRD considered and rejected (its own routes
  // offered back to their source), which we do not count (docs/bird-socket.md).
  // Capabilities are each daemon's view of the other's OPEN, so they may differ; the session they make may not.
  assert.deepEqual(upOurs.filter((l) => !/Neighbor caps/.test(l)).map(looseLine), upBird.filter((l) => !/Neighbor caps/.test(l)).map(looseLine));

  // bird_exporter reads the same protocols and counts from ours.
  const exported = parseExporterProtocols(await birdRequest(ours, 'show protocols all'));
  assert.deepEqual(exported.map((p) => [p.name, p.up, p.imported, p.exported, p.preferred]), [
    [name(N2), true, 1, 1, 1],
    [name(N3), false, 0, 0, 0],
  ]);

  // IPv6 peers answer on bird6.ctl: none here, an empty table.
  const six = await birdRequest(ours6, 'show protocols');
  assert.deepEqual(parsePeers(six, 6), []);
  assert.equal(six.at(-1), '0000 ');

  // What we do not implement: BIRD's error replies, and the connection goes on.
  const [greeting, unknown, denied, next] = await rawReplies(ours, 'foo bar\nconfigure\nshow protocols\n', 4);
  assert.deepEqual(greeting, ['0001 BIRD 1.6.8 ready.']);
  assert.deepEqual(unknown, ['9001 syntax error']);
  assert.deepEqual(denied, ['8007 Access denied']);
  assert.equal(parsePeers(next!, 4).length, 2);
  const [, tooLong, after] = await rawReplies(ours, `${'x'.repeat(10_000)}\nshow status\n`, 3);
  assert.deepEqual(tooLong, ['9000 Command too long']);
  assert.equal(after!.at(-1), '0013 Daemon is up and running');

  // Clients that vanish mid-reply, then many at once: every reply complete, the speaker unharmed.
  for (let i = 0; i < 20; i++) {
    const s = connect(ours);
    s.on('error', () => undefined);
    s.write('show protocols all\n', () => s.destroy());
  }
  const many = await Promise.all(Array.from({ length: 30 }, () => birdRequest(ours, 'show protocols all')));
  for (const reply of many) {
    assert.equal(reply.at(-1), '0000 ');
    assert.equal(parseExporterProtocols(reply).length, 2);
  }
  assert.equal(speaker.child.exitCode, null, 'the speaker is still running');
});
