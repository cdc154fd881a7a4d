/**
 * Two connections to one peer, over loopback with a hand-driven peer.
 *
 * Crossed connects (RFC 4271 section 6.8): the peer may already have sent
 * the KEEPALIVE that brings one connection up on our side when it sees the
 * other connection's OPEN and, by the BGP identifiers, keeps that one. We
 * keep a connection the identifiers favour alive beside the session, so the
 * two sides end on the same connection at once instead of both closing.
 *
 * A second connection from a peer we already have an Established session
 * with:
 *
 * - With graceful restart negotiated, the new connection either means the
 *   peer restarted (RFC 4724 section 4.2) or that its own connect crossed
 *   ours as our session came up, in which case the peer keeps the old
 *   session and closes the new connection (RFC 4271 section 6.8). We run the
 *   OPEN exchange on it beside the session and decide by the outcome: a
 *   closed probe leaves the session alone, a completed one replaces it.
 * - Without graceful restart the new connection is refused outright.
 */
import { createServer, type Socket } from 'node:net';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Capability } from '../../../src/bgp/packet/index.js';
import { MiniSpeaker } from '../../support/mini-speaker.js';
import { RawPeer } from '../../support/raw-peer.js';
import { cleanup, freePort, waitFor } from '../../support/process.js';

const c = cleanup();
after(() => c.run());

const AS = 64512;
const gr = (restartTime: number): Capability => ({ code: 64, restartState: false, notification: false, restartTime, families: [{ afi: 1, safi: 1, forwardingState: true }] });

/** Our side, passive, with or without graceful restart; and a first session from the peer, Established. */
async function established(us: string, them: string, withGr: boolean): Promise<{ speaker: MiniSpeaker; port: number; first: RawPeer; caps: Capability[] }> {
  const port = await freePort(us);
  const caps: Capability[] = [{ code: 1, afi: 1, safi: 1 }, { code: 65, asn: AS }, ...(withGr ? [gr(120)] : [])];
  const speaker = new MiniSpeaker({
    name: 'probe', address: them, port: 179, passive: true, localAs: AS, peerAs: AS, routerId: us,
    holdTime: 3, connectRetryTime: 5, capabilities: caps, // keepalives every second
  });
  await speaker.listen(c, us, port);
  speaker.start(c);
  const first = await RawPeer.connect(us, port, them);
  c.add(() => first.close());
  await first.handshake({ as: AS, id: them, caps });
  await waitFor('first session Established', () => speaker.neighbor.state === 'Established', 10_000, 20);
  first.keepAlive(1);
  return { speaker, port, first, caps };
}

/** A second connection from the peer's address, closed when the test ends. */
async function secondConnection(us: string, port: number, them: string): Promise<RawPeer> {
  const second = await RawPeer.connect(us, port, them);
  c.add(() => second.close());
  return second;
}

/** Sends the peer's OPEN on `p` without waiting for an answer. */
function sendOpen(p: RawPeer, them: string, caps: Capability[], holdTime = 30): void {
  p.send({ type: 'OPEN', version: 4, myAs: AS, holdTime, bgpId: them, capabilities: caps });
}

test('graceful restart: a crossed connect that the peer closes leaves the Established session up', { timeout: 30_000 }, async () => {
  const US = '127.0.62.1';
  const THEM = '127.0.62.2';
  const { speaker, port, first, caps } = await established(US, THEM, true);

  const second = await secondConnection(US, port, THEM);
  sendOpen(second, THEM, caps);
  // We answer on the new connection (the exchange runs beside the session) ...
  const open = await second.waitFor((m) => m.type === 'OPEN', 10_000);
  assert.ok(open !== undefined, 'we sent an OPEN on the new connection');
  // ... and the peer, which still holds the old session, closes it as a collision.
  second.send({ type: 'NOTIFICATION', code: 6, subcode: 7, data: Buffer.alloc(0) });
  second.close();

  const keepalivesBefore = first.received.filter((m) => m.type === 'KEEPALIVE').length;
  await waitFor('a KEEPALIVE on the old session after the probe closed', () => first.received.filter((m) => m.type === 'KEEPALIVE').length > keepalivesBefore + 1, 15_000, 50);
  assert.equal(speaker.neighbor.state, 'Established');
  assert.deepEqual(speaker.downs, [], 'the session never went down');
  assert.equal(speaker.established, 1);
  assert.equal(first.closed, false, 'the old connection is still open');
});

test('graceful restart: a restarted peer\'s new connection replaces the session, which goes down as a restart', { timeout: 30_000 }, async () => {
  const US = '127.0.62.3';
  const THEM = '127.0.62.4';
  const { speaker, port, first, caps } = await established(US, THEM, true);

  const second = await secondConnection(US, port, THEM);
  await second.handshake({ as: AS, id: THEM, caps });
  await waitFor('the new session Established', () => speaker.established === 2, 10_000, 20);
  assert.equal(speaker.neighbor.state, 'Established');
  assert.deepEqual(speaker.downs, [{ kind: 'connectionFailed', error: 'peer reconnected (graceful restart)' }]);
  await waitFor('the old connection closed', () => first.closed, 10_000, 20);
  // The session now lives on the new connection: we keep talking there.
  const before = second.received.length;
  second.keepAlive(1);
  await waitFor('KEEPALIVEs on the new connection', () => second.received.length > before, 10_000, 50);
});

test('without graceful restart a second connection is refused and the session stays', { timeout: 30_000 }, async () => {
  const US = '127.0.62.5';
  const THEM = '127.0.62.6';
  const { speaker, port, first, caps } = await established(US, THEM, false);

  const second = await secondConnection(US, port, THEM);
  sendOpen(second, THEM, caps);
  await waitFor('the new connection closed', () => second.closed, 10_000, 20);
  assert.equal(second.received.filter((m) => m.type === 'OPEN').length, 0, 'no OPEN on a refused connection');
  assert.equal(speaker.neighbor.state, 'Established');
  assert.deepEqual(speaker.downs, []);
  assert.equal(first.closed, false);
});

test('crossed connects: the peer keeps the connection the identifiers favour after ours came up; we follow it at once', { timeout: 30_000 }, async () => {
  // Our identifier is the higher one, so our outgoing connection is the one to keep.
  const US = '127.0.62.8';
  const THEM = '127.0.62.7';
  const caps: Capability[] = [{ code: 1, afi: 1, safi: 1 }, { code: 65, asn: AS }, gr(120)];
  const accepted: Socket[] = [];
  const server = createServer((s) => accepted.push(s));
  await new Promise<void>((resolve) => server.listen(0, THEM, resolve));
  c.add(() => void server.close());
  const theirPort = (server.address() as { port: number }).port;
  const ourPort = await freePort(US);
  const speaker = new MiniSpeaker({
    name: 'crossed', address: THEM, port: theirPort, localAddress: US, passive: false, localAs: AS, peerAs: AS, routerId: US,
    holdTime: 3, connectRetryTime: 5, capabilities: caps,
  });
  await speaker.listen(c, US, ourPort);
  speaker.start(c);

  // Our connection arrives and carries our OPEN; the peer holds its answer.
  await waitFor('our connection', () => accepted.length === 1, 10_000, 10);
  const ours = RawPeer.wrap(accepted[0]!);
  c.add(() => ours.close());
  assert.ok(await ours.waitFor((m) => m.type === 'OPEN', 10_000), 'our OPEN on our connection');

  // The peer's own connection comes up first on our side ...
  const theirs = await RawPeer.connect(US, ourPort, THEM);
  c.add(() => theirs.close());
  await theirs.handshake({ as: AS, id: THEM, caps });
  await waitFor('Established on the peer\'s connection', () => speaker.established === 1, 10_000, 10);
  assert.equal(ours.closed, false, 'our connection, favoured by the identifiers, is kept open');
  assert.equal(ours.received.filter((m) => m.type === 'NOTIFICATION').length, 0);

  // ... then the peer sees our OPEN, keeps our connection and closes its own.
  theirs.send({ type: 'NOTIFICATION', code: 6, subcode: 7, data: Buffer.alloc(0) });
  theirs.close();
  sendOpen(ours, THEM, caps, 3);
  await ours.waitFor((m) => m.type === 'KEEPALIVE', 10_000);
  ours.send({ type: 'KEEPALIVE' });
  await waitFor('Established on our connection', () => speaker.established === 2, 10_000, 10);
  assert.equal(speaker.neighbor.state, 'Established');
  assert.deepEqual(speaker.downs.map((d) => d.kind), ['notificationReceived'], 'one drop: the connection the peer closed');
  // The session lives on our connection now: it carries our KEEPALIVEs.
  const before = ours.received.length;
  ours.keepAlive(1);
  await waitFor('KEEPALIVEs on our connection', () => ours.received.length > before, 10_000, 50);
  assert.equal(ours.closed, false);
});
