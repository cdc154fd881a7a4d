/**
 * TCP-MD5 (RFC 2385) and GTSM (RFC 5082) sessions with real BIRD 1.6 and
 * FRR bgpd on loopback: Established whichever side connects, a wrong
 * password never establishes, and GTSM on both sides establishes.
 *
 * Each refusal is measured against attempts that were made (our connector's
 * calls, the daemon's logged connects, what our listener accepted), not
 * against time passing, and is followed by its twin with the setting put
 * right, which must establish: a refusal test that passes because nothing
 * ever connected cannot pass here.
 */
import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { Bird } from '../../support/daemons/bird.js';
import { Frr, frrAvailable } from '../../support/daemons/frr.js';
import { cleanup, freePort, waitFor, type Cleanup } from '../../support/process.js';
import { Neighbor, type NeighborConfig } from '../../../src/bgp/session/neighbor.js';
import { ListenerSecurity, secureConnector, socketOptionsAvailable, type TransportSecurity } from '../../../src/bgp/session/sockopt.js';
import type { DownReason } from '../../../src/bgp/fsm/fsm.js';

const built = socketOptionsAvailable();
const noAddon = built.ok ? false : `native addon unavailable: ${built.reason}`;

const OUR_AS = 64512;
const THEIR_AS = 64513;
/** Connection attempts a refused session must survive before the test calls it refused. */
const REFUSED_ATTEMPTS = 3;

let c = cleanup();
afterEach(async () => {
  await c.run();
  c = cleanup();
});

/** One of our neighbors with its own listener, both with the same MD5/GTSM settings. */
class Us {
  readonly downs: DownReason[] = [];
  readonly neighbor: Neighbor;
  /** Our outgoing connection attempts (connector calls). */
  connects = 0;
  /** Connections from the peer's address that reached our listener's accept. */
  accepted = 0;

  private constructor(
    config: NeighborConfig,
    readonly port: number,
    sec: TransportSecurity,
  ) {
    const connect = secureConnector(() => sec);
    this.neighbor = new Neighbor(config, { down: (r) => this.downs.push(r) }, undefined, (cfg) => {
      this.connects++;
      return connect(cfg);
    });
  }

  static async start(c: Cleanup, o: { us: string; them: string; theirPort: number; passive: boolean; sec: TransportSecurity; name: string }): Promise<Us> {
    const port = await freePort(o.us);
    const us = new Us(
      {
        name: o.name,
        address: o.them,
        port: o.theirPort,
        localAddress: o.us,
        passive: o.passive,
        localAs: OUR_AS,
        peerAs: THEIR_AS,
        routerId: o.us,
        holdTime: 9,
        connectRetryTime: 1,
        capabilities: [{ code: 1, afi: 1, safi: 1 }, { code: 2 }],
        idleHold: { initialSeconds: 0.2, maxSeconds: 1, stableSeconds: 60 },
      },
      port,
      o.sec,
    );
    const peer = { name: o.name, address: o.them, ...o.sec };
    const srv = createServer({ noDelay: true }, (s: Socket) => {
      if (s.remoteAddress === o.them) us.accepted++;
      if (s.remoteAddress !== o.them || security.accepted(s, peer) !== null || !us.neighbor.accept(s)) s.destroy();
    });
    const security = new ListenerSecurity(srv);
    await new Promise<void>((resolve) => srv.listen(port, o.us, resolve));
    c.add(() => new Promise<void>((resolve) => srv.close(() => resolve())));
    assert.deepEqual(security.update([peer]), []);
    return us;
  }

  run(c: Cleanup): void {
    this.neighbor.start();
    c.add(() => this.neighbor.stop('test finished'));
  }
}

/**
 * Waits until `attempts()` reaches `min`, asserting at every look that
 * neither side is Established (`theirs` null: only ours is checked).
 */
async function refusedThrough(what: string, attempts: () => number, ours: Neighbor, theirs: (() => string) | null, min = REFUSED_ATTEMPTS): Promise<void> {
  await waitFor(`${min} ${what}`, () => {
    assert.notEqual(ours.state, 'Established', `our side reached Established (${what})`);
    if (theirs !== null) assert.notEqual(theirs(), 'established', `their side reached Established (${what})`);
    return attempts() >= min;
  }, 60_000, 200).catch((e: Error) => {
    throw new Error(`${e.message}: saw ${attempts()}; ours ${ours.state}`);
  });
}

// ---------------------------------------------------------------------------

describe('TCP-MD5 and GTSM with BIRD 1.6', { skip: noAddon, timeout: 120_000 }, () => {
  const US = '127.0.32.1';
  const THEM = '127.0.32.2';

  async function setup(o: { weAre: 'active' | 'passive' | 'both'; ours: TransportSecurity; theirs: { password?: string; ttlSecurity?: boolean } }): Promise<{ bird: Bird; us: Us }> {
    const birdPort = await freePort(THEM);
    const us = await Us.start(c, { us: US, them: THEM, theirPort: birdPort, passive: o.weAre === 'passive', sec: o.ours, name: 'bird' });
    const bird = await Bird.start(c, {
      as: THEIR_AS, routerId: THEM, address: THEM, port: birdPort,
      neighbors: [{ name: 'calico', address: US, peerAs: OUR_AS, remotePort: us.port, passive: o.weAre === 'active', debugEvents: true, ...o.theirs }],
    });
    us.run(c);
    return { bird, us };
  }

  const established = async (bird: Bird, us: Us): Promise<void> =>
    void await waitFor('Established on both sides', () => us.neighbor.state === 'Established' && bird.state('calico') === 'established', 30_000, 200).catch((e: Error) => {
      throw new Error(`${e.message}; ours ${us.neighbor.state} ${JSON.stringify(us.downs.slice(-3))}; BIRD ${bird.state('calico')} ${bird.lastError('calico')}\n${bird.logs().slice(-1500)}`);
    });

  test('an MD5 session reaches Established when we connect', async () => {
    const { bird, us } = await setup({ weAre: 'active', ours: { password: 'bird-secret' }, theirs: { password: 'bird-secret' } });
    await established(bird, us);
  });

  test('an MD5 session reaches Established when BIRD connects', async () => {
    const { bird, us } = await setup({ weAre: 'passive', ours: { password: 'bird-secret' }, theirs: { password: 'bird-secret' } });
    await established(bird, us);
  });

  test('a wrong password never establishes when we connect, though we keep trying; the right one then does', async () => {
    const wrong = await setup({ weAre: 'active', ours: { password: 'ours' }, theirs: { password: 'theirs' } });
    await refusedThrough('connection attempts of ours', () => wrong.us.connects, wrong.us.neighbor, () => wrong.bird.state('calico'));
    await c.run();
    const right = await setup({ weAre: 'active', ours: { password: 'same' }, theirs: { password: 'same' } });
    await established(right.bird, right.us);
  });

  test('a wrong password never establishes when BIRD connects, and none of its connections reach us; the right one does', async () => {
    const wrong = await setup({ weAre: 'passive', ours: { password: 'ours' }, theirs: { password: 'theirs' } });
    await refusedThrough('connection attempts by BIRD', () => wrong.bird.connectAttempts('calico'), wrong.us.neighbor, () => wrong.bird.state('calico'));
    assert.equal(wrong.us.accepted, 0, 'the kernel drops unsigned or wrongly signed SYNs before accept');
    await c.run();
    const right = await setup({ weAre: 'passive', ours: { password: 'same' }, theirs: { password: 'same' } });
    await established(right.bird, right.us);
    assert.ok(right.us.accepted >= 1, 'with the right password BIRD connected to us');
  });

  test('a GTSM session reaches Established both ways', async () => {
    for (const weAre of ['active', 'passive'] as const) {
      const { bird, us } = await setup({ weAre, ours: { ttlSecurity: 1 }, theirs: { ttlSecurity: true } });
      await established(bird, us);
      await c.run();
    }
  });
});

describe('TCP-MD5 and GTSM with FRR bgpd', { skip: noAddon || (frrAvailable() ?? false), timeout: 120_000 }, () => {
  const US = '127.0.33.1';
  const THEM = '127.0.33.2';

  async function setup(o: { weAre: 'active' | 'passive' | 'both'; ours: TransportSecurity; theirs: { password?: string; ttlSecurityHops?: number } }): Promise<{ frr: Frr; us: Us }> {
    const frrPort = await freePort(THEM);
    const us = await Us.start(c, { us: US, them: THEM, theirPort: frrPort, passive: o.weAre === 'passive', sec: o.ours, name: 'frr' });
    const frr = await Frr.start(c, {
      as: THEIR_AS, routerId: THEM, address: THEM, port: frrPort, debugEvents: true,
      neighbors: [{ address: US, peerAs: OUR_AS, remotePort: us.port, passive: o.weAre === 'active', ...o.theirs }],
    });
    us.run(c);
    return { frr, us };
  }

  const established = async (frr: Frr, us: Us): Promise<void> =>
    void await waitFor('Established on both sides', () => us.neighbor.state === 'Established' && frr.state(US) === 'established', 30_000, 200).catch((e: Error) => {
      throw new Error(`${e.message}; ours ${us.neighbor.state} ${JSON.stringify(us.downs.slice(-3))}; FRR ${frr.state(US)}\n${frr.logs().slice(-1500)}`);
    });

  test('an MD5 session reaches Established when we connect', async () => {
    const { frr, us } = await setup({ weAre: 'active', ours: { password: 'frr-secret' }, theirs: { password: 'frr-secret' } });
    await established(frr, us);
  });

  test('an MD5 session reaches Established when FRR connects', async () => {
    const { frr, us } = await setup({ weAre: 'passive', ours: { password: 'frr-secret' }, theirs: { password: 'frr-secret' } });
    await established(frr, us);
  });

  test('a wrong password never establishes when we connect, though we keep trying; the right one then does', async () => {
    const wrong = await setup({ weAre: 'active', ours: { password: 'ours' }, theirs: { password: 'theirs' } });
    await refusedThrough('connection attempts of ours', () => wrong.us.connects, wrong.us.neighbor, () => wrong.frr.state(US));
    await c.run();
    const right = await setup({ weAre: 'active', ours: { password: 'same' }, theirs: { password: 'same' } });
    await established(right.frr, right.us);
  });

  test('a wrong password never establishes when FRR connects, and none of its connections reach us; the right one does', async () => {
    const wrong = await setup({ weAre: 'passive', ours: { password: 'ours' }, theirs: { password: 'theirs' } });
    await refusedThrough('connection attempts by FRR', () => wrong.frr.connectAttempts(US), wrong.us.neighbor, () => wrong.frr.state(US));
    assert.equal(wrong.us.accepted, 0, 'the kernel drops unsigned or wrongly signed SYNs before accept');
    await c.run();
    const right = await setup({ weAre: 'passive', ours: { password: 'same' }, theirs: { password: 'same' } });
    await established(right.frr, right.us);
    assert.ok(right.us.accepted >= 1, 'with the right password FRR connected to us');
  });

  test('a GTSM session reaches Established both ways', async () => {
    for (const weAre of ['active', 'passive'] as const) {
      const { frr, us } = await setup({ weAre, ours: { ttlSecurity: 1 }, theirs: { ttlSecurityHops: 1 } });
      await established(frr, us);
      await c.run();
    }
  });

  test('our GTSM keeps out a peer that sends with a TTL below 255', async () => {
    // Without ttl-security FRR sends with TTL 1 to an eBGP peer: one hop, not GTSM.
    const { frr, us } = await setup({ weAre: 'both', ours: { ttlSecurity: 1 }, theirs: {} });
    // Only our side is checked: when FRR connects, its OPEN can arrive before
    // the accepted socket gets its minimum TTL (BIRD and FRR have the same
    // window), and FRR, which takes our TTL-255 KEEPALIVE, may call the
    // session Established until its hold timer runs out.
    // Our own attempts wait out the OpenSent hold time of a connection FRR
    // opened (its OPEN never reaches us), so only the first is counted.
    await refusedThrough('connection attempt of ours', () => us.connects, us.neighbor, null, 1);
    await refusedThrough('connection attempts by FRR', () => frr.connectAttempts(US), us.neighbor, null);
    await c.run();
    // The twin: the same peer with GTSM on its side too.
    const right = await setup({ weAre: 'both', ours: { ttlSecurity: 1 }, theirs: { ttlSecurityHops: 1 } });
    await established(right.frr, right.us);
  });
});
