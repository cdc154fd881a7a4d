/**
 * What the interop tests against real daemons on loopback (BIRD, FRR,
 * ExaBGP) share: our speaker as one side of an IPv4 and an IPv6 session, the
 * blocks it announces, the wait for both sessions, and reading its table.
 */
import { afterEach } from 'node:test';
import type { Logger } from '../../src/log.js';
import type { Peer } from '../../src/model/types.js';
import { Speaker } from '../../src/bgp/speaker/speaker.js';
import { block, family, nodeModel, peer, pool } from './model.js';
import { cleanup, run, waitFor, type Cleanup } from './process.js';

/** Our IPv6 address and the daemon's: only ::1 is on lo without touching the host's interfaces. */
export const V6 = '::1';

/** One clean-up list for the whole file, run after each test (processes, temp dirs, speakers). */
export function cleanupAfterEach(): Cleanup {
  const c = cleanup();
  afterEach(() => c.run());
  return c;
}

/** `count` /26 blocks from 10.<octet>.0.0 and `count6` /122 blocks from fd00:<octet>::. */
export function blocks(octet: number, count: number, count6: number): { v4: string[]; v6: string[] } {
  const v4 = Array.from({ length: count }, (_, i) => {
    const a = ((10 << 24) | (octet << 16)) + i * 64;
    return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/26`;
  });
  const v6 = Array.from({ length: count6 }, (_, i) => `fd00:${octet}::${(i * 64).toString(16)}/122`);
  return { v4, v6 };
}

type PeerFields = Partial<Peer> & Pick<Peer, 'name' | 'address'>;

export interface InteropSpeakerOptions {
  /** Our IPv4 address: router id, the IPv4 session's source. The IPv6 session runs from ::1. */
  us: string;
  asNumber: number;
  /** Pools 10.<octet>.0.0/14 and fd00:<octet>::/48 hold `blocks`. */
  octet: number;
  blocks: { v4: string[]; v6: string[] };
  /** The two peers (their source addresses are filled in). */
  peer4: PeerFields;
  peer6: PeerFields;
  listenPort: number;
  holdTime: number;
  log: Logger;
}

/**
 * Our speaker, node `us`, with one IPv4 and one IPv6 peer. NodeIP bind mode:
 * one listener on `us` and one on ::1, on the same port. Stopped by `c`.
 */
export async function startInteropSpeaker(c: Cleanup, o: InteropSpeakerOptions): Promise<Speaker> {
  const speaker = new Speaker(
    nodeModel({
      nodeName: 'us', routerId: o.us, asNumber: o.asNumber, bindMode: 'NodeIP',
      ipv4: family({ address: o.us, pools: [pool(`10.${o.octet}.0.0/14`)], blocks: o.blocks.v4.map((x) => block(x)), peers: [peer({ ...o.peer4, sourceAddress: o.us })] }),
      ipv6: family({ address: V6, pools: [pool(`fd00:${o.octet}::/48`)], blocks: o.blocks.v6.map((x) => block(x)), peers: [peer({ ...o.peer6, sourceAddress: V6 })] }),
    }),
    { role: 'node', listenPort: o.listenPort, log: o.log, batchMs: 5, session: { connectRetryTime: 1, holdTime: o.holdTime } },
  );
  await speaker.start();
  c.add(() => speaker.stop());
  return speaker;
}

/** Our state of a peer ("Established", ...), or "missing". */
export const ourState = (s: Speaker, name: string): string => s.status().peers.find((p) => p.name === name)?.state ?? 'missing';

/** Our routes (for `prefix`, or all) learned from one peer. */
export const from = (s: Speaker, peerName: string, prefix?: string) => s.routes(prefix).routes.filter((r) => r.from === peerName);

/**
 * Waits (30 s) until our `peers` and the daemon (`theirs`) are Established;
 * on timeout, the error has our view and the daemon's (`explain`).
 */
export async function bothEstablished(speaker: Speaker, peers: string[], theirs: () => boolean, explain: () => string): Promise<void> {
  await waitFor('IPv4 and IPv6 sessions Established on both sides', () => peers.every((p) => ourState(speaker, p) === 'Established') && theirs(), 30_000, 200).catch((e: Error) => {
    throw new Error(`${e.message}; ours ${JSON.stringify(speaker.status().peers.map((p) => [p.name, p.state, p.info]))}; ${explain()}`);
  });
}

/** An address and port as `ss` prints them ("127.0.0.1:179", "[::1]:179"). */
function endpoint(text: string): { address: string; port: number } {
  const at = text.lastIndexOf(':');
  return { address: text.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(text.slice(at + 1)) };
}

/**
 * TCP sockets (both ends, any state but LISTEN and TIME-WAIT) of the
 * connections between our speaker and a peer: those with one end at the
 * peer's BGP port, or at our listening port with the peer's address on the
 * other end. One live connection is two sockets.
 */
export function sessionSockets(speaker: Speaker, peer: { address: string; port: number }): number {
  const ours = speaker.listenPortBound;
  let n = 0;
  for (const line of run('ss', ['-Htna']).stdout.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5 || cols[0] === 'LISTEN' || cols[0] === 'TIME-WAIT') continue;
    const [a, b] = [endpoint(cols[3]!), endpoint(cols[4]!)];
    const atPeerPort = (e: typeof a): boolean => e.address === peer.address && e.port === peer.port;
    const ourListener = (e: typeof a, other: typeof a): boolean => e.port === ours && other.address === peer.address;
    if (atPeerPort(a) || atPeerPort(b) || ourListener(a, b) || ourListener(b, a)) n++;
  }
  return n;
}

/**
 * When each of our sessions came up, and again once every extra connection
 * of a collision is gone (each peer down to the two sockets of one
 * connection) and `established()`: a session that flapped shows a later time.
 */
export async function sinceAcross(speaker: Speaker, established: () => Promise<void>): Promise<{ before: string[]; after: string[] }> {
  const before = speaker.status().peers.map((p) => p.since);
  const counts = (): number[] => speaker.status().peers.map((p) => sessionSockets(speaker, p));
  await waitFor('one connection left per session', () => counts().every((n) => n === 2), 30_000, 200).catch((e: Error) => {
    throw new Error(`${e.message}: sockets per peer ${JSON.stringify(counts())}`);
  });
  await established();
  return { before, after: speaker.status().peers.map((p) => p.since) };
}
