/**
 * The speaker's pair of BIRD-compatible sockets, with a stand-in for the
 * speaker's read-only views: an empty path turns one off, a socket another
 * daemon answers on is left alone (with a warning), a stale file is
 * replaced, and graceful-restart recovery shows as 0024 until convergence.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { openBirdSockets } from '../../src/control/bird/sockets.js';
import { type SpeakerViews, speakerBirdView } from '../../src/control/bird/speaker-view.js';
import type { LocRib } from '../../src/bgp/rib/loc-rib.js';
import type { NodeBgpConfig, Peer } from '../../src/model/types.js';
import { cleanup, tempDir } from '../support/process.js';
import { birdRequest, parseGracefulRestart, parsePeers } from '../support/bird-client.js';

const c = cleanup();
after(() => c.run());

const peer = (name: string, address: string): Peer => ({
  name, type: 'mesh', family: address.includes(':') ? 6 : 4, address, port: null, asNumber: 64512, sourceAddress: null, passive: false,
  routeReflectorClient: false, routeReflectorClusterId: null, password: null, nextHop: 'auto', gracefulRestartTime: null, ttlSecurity: 0,
  calicoNode: true, numAllowLocalAs: 0, reachableBy: null, sourceKey: '',
} as unknown as Peer);

/** A speaker with one IPv6 and `count` IPv4 peers, all trying to connect. */
function fakeSpeaker(count = 1): SpeakerViews {
  const v4s = Array.from({ length: count }, (_, i) => peer(`Mesh_192_0_${2 + (i >> 8)}_${(i + 2) & 255}`, `192.0.${2 + (i >> 8)}.${(i + 2) & 255}`));
  const v6 = peer('Mesh_2001_db8__2', '2001:db8::2');
  const status = (p: Peer) => ({
    name: p.name, address: p.address, port: 179, asNumber: 64512, type: 'mesh' as const, state: 'Connect', since: new Date().toISOString(),
    info: '', routesReceived: 0, routesAccepted: 0, routesAdvertised: 0,
  });
  return {
    status: () => ({ routerId: '192.0.2.1', peers: [...v4s.map(status), status(v6)] }),
    sessions: () => new Map(),
    currentModel: { routerId: '192.0.2.1', asNumber: 64512, ipv4: { peers: v4s }, ipv6: { peers: [v6] } } as unknown as NodeBgpConfig,
    locRib: { destinations: function* () {} } as unknown as LocRib,
  };
}

const v4Address = '192.0.2.2';

const quietLog = (warnings: string[]) =>
  pino({ level: 'warn' }, { write: (s: string) => warnings.push((JSON.parse(s) as { msg: string }).msg) });

test('each family answers on its own socket, and an empty path turns one off', async () => {
  const dir = tempDir(c, 'cbgpd-birdsocks-');
  const s = await openBirdSockets(fakeSpeaker(), { bird: join(dir, 'bird.ctl'), bird6: '', restarting: false, log: quietLog([]) });
  try {
    assert.ok(!existsSync(join(dir, 'bird6.ctl')));
    assert.deepEqual(parsePeers(await birdRequest(join(dir, 'bird.ctl'), 'show protocols'), 4).map((p) => [p.peerIp, p.bgpState]), [[v4Address, 'Connect']]);
  } finally {
    await s.close();
  }
  assert.ok(!existsSync(join(dir, 'bird.ctl')), 'the socket file goes away on close');
  const s6 = await openBirdSockets(fakeSpeaker(), { bird: '', bird6: join(dir, 'bird6.ctl'), restarting: false, log: quietLog([]) });
  try {
    assert.deepEqual(parsePeers(await birdRequest(join(dir, 'bird6.ctl'), 'show protocols'), 6).map((p) => [p.peerIp, p.bgpState]), [['2001:db8::2', 'Connect']]);
  } finally {
    await s6.close();
  }
});

test('a socket another daemon answers on is left to it; a stale file is replaced', async () => {
  const dir = tempDir(c, 'cbgpd-birdsocks-');
  const busy = join(dir, 'bird.ctl');
  const other = createServer((sock) => {
    // Our liveness probe connects and hangs up at once.
    sock.on('error', () => undefined);
    sock.end('0001 someone else\n');
  });
  await new Promise<void>((resolve) => other.listen(busy, () => resolve()));
  const stale = join(dir, 'bird6.ctl');
  writeFileSync(stale, '');
  const warnings: string[] = [];
  const s = await openBirdSockets(fakeSpeaker(), { bird: busy, bird6: stale, restarting: false, log: quietLog(warnings) });
  try {
    assert.deepEqual(warnings, ['BIRD-compatible socket for IPv4 peers not opened']);
    const theirs = await new Promise<string>((resolve, reject) => {
      const k = connect(busy);
      k.setEncoding('utf8');
      k.on('data', (d: string) => {
        k.destroy();
        resolve(d);
      });
      k.on('error', reject);
    });
    assert.equal(theirs, '0001 someone else\n');
    assert.equal((await birdRequest(stale, 'show status')).at(-1), '0013 Daemon is up and running');
  } finally {
    await s.close();
    await new Promise<void>((resolve) => other.close(() => resolve()));
  }
});

test('a restarting speaker reports graceful-restart recovery (0024) until it has converged', async () => {
  const dir = tempDir(c, 'cbgpd-birdsocks-');
  const path = join(dir, 'bird.ctl');
  const s = await openBirdSockets(fakeSpeaker(), { bird: path, bird6: '', restarting: true, log: quietLog([]) });
  try {
    const during = await birdRequest(path, 'show status');
    assert.equal(parseGracefulRestart(during), true);
    assert.ok(during.includes('   Waiting for 1 protocols to recover'), during.join('\n'));
    s.converged();
    assert.equal(parseGracefulRestart(await birdRequest(path, 'show status')), false);
  } finally {
    await s.close();
  }
});

test('clients that read part of a large reply and hang up cost the others nothing', { timeout: 60_000 }, async () => {
  const dir = tempDir(c, 'cbgpd-birdsocks-');
  const path = join(dir, 'bird.ctl');
  // 3,000 protocols: `show protocols all` is megabytes, far more than a socket buffer holds.
  const s = await openBirdSockets(fakeSpeaker(3000), { bird: path, bird6: '', restarting: false, log: quietLog([]) });
  try {
    const quitters = Array.from({ length: 10 }, () => new Promise<number>((resolve) => {
      const k = connect(path);
      let got = 0;
      k.on('error', () => resolve(got));
      k.on('close', () => resolve(got));
      k.on('data', (d: Buffer) => {
        got += d.length;
        if (got === d.length) k.write('show protocols all\n');
        else k.destroy();
      });
    }));
    const read = await Promise.all(quitters);
    assert.ok(read.every((n) => n > 0), 'each quitter read the greeting and part of its reply');
    const full = await birdRequest(path, 'show protocols all', 30_000);
    assert.equal(full.at(-1), '0000 ');
    assert.equal(full.filter((l) => l.startsWith('1002-')).length, 3000);
  } finally {
    await s.close();
  }
});

test('a peer the model could not configure is left out, as Calico\'s BIRD config leaves it out', async () => {
  const speaker = fakeSpeaker(2);
  const bad = speaker.currentModel.ipv4.peers[1]!;
  (bad as { invalid?: string }).invalid = 'password contains a line break';
  const view = await speakerBirdView(speaker, 4, { bootedAt: new Date(), reconfiguredAt: new Date(), gracefulRestart: () => null });
  assert.deepEqual(view.protocols.map((p) => p.name), [speaker.currentModel.ipv4.peers[0]!.name]);
});

test('a client that sends many commands and reads slowly gets every reply, in order', { timeout: 60_000 }, async () => {
  const dir = tempDir(c, 'cbgpd-birdsocks-');
  const path = join(dir, 'bird.ctl');
  // 500 protocols: each `show protocols all` reply is far more than a socket buffer.
  const s = await openBirdSockets(fakeSpeaker(500), { bird: path, bird6: '', restarting: false, log: quietLog([]) });
  try {
    const commands = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 'show protocols all' : 'show status'));
    const ends = await new Promise<string[]>((resolve, reject) => {
      const k = connect(path);
      const got: string[] = [];
      let buf = '';
      k.setEncoding('utf8');
      k.on('error', reject);
      k.write(commands.map((x) => `${x}\n`).join(''));
      // Read in bursts with pauses, as a slow client would.
      k.on('data', (d: string) => {
        buf += d;
        k.pause();
        setTimeout(() => k.resume(), 1);
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (/^\d{4} /.test(line) && !line.startsWith('0001')) got.push(line);
          if (got.length === commands.length) {
            k.destroy();
            resolve(got);
            return;
          }
        }
      });
    });
    assert.deepEqual(ends, commands.map((x) => (x === 'show status' ? '0013 Daemon is up and running' : '0000 ')));
  } finally {
    await s.close();
  }
});
