/**
 * A simulated node's side of the reflectors' own dials. Calico nodes listen
 * on port 179 and both sides of a session dial (RFC 4271 section 6.8 then
 * keeps one connection), so a reflector that restarts dials its clients as
 * they dial it. A node answers such a dial as a BGP speaker does:
 *
 * - it sends its OPEN at once (it is in OpenSent);
 * - when the reflector's OPEN arrives and the node's own session to that
 *   reflector is Established, that is a collision the node settles at once:
 *   its BGP identifier (127.72.x.y) is higher than any reflector's
 *   (127.70.0.j), so the connection it initiated stays and this one gets
 *   Cease / Connection Collision Resolution (6/7);
 * - otherwise it holds this connection (no KEEPALIVE, so it never becomes
 *   the session) until its own session comes up, and then closes it with
 *   the same Cease. The reflector meanwhile settles the collision by the
 *   same rule when the node's OPEN reaches it on the node's connection.
 *
 * A node that has left the cluster rejects dials with Cease / Connection
 * Rejected (6/5). Either way the reflector's dial ends in a Cease, never in
 * a refused connection or an error: BIRD counts those as errors and then
 * rejects the node's own connections while it waits (`error wait time`).
 */
import type { Socket } from 'node:net';
import { AS_TRANS, Afi, CapCode, DEFAULT_CONTEXT, Framer, MAX_MESSAGE_LENGTH, MsgType, Safi, encodeMessage, type AfiCode, type Capability } from '../../src/bgp/packet/index.js';

export interface AnswerContext {
  /** Index of the reflector at `address`, or -1 for anyone else. */
  reflectorOf(address: string): number;
  /** Node c has left the cluster (a node not started yet has not). */
  left(c: number): boolean;
  /** Node c's own session to reflector j is Established. */
  established(c: number, j: number): boolean;
  /** Node c's BGP identifier, AS, family (default IPv4 unicast) and extra capabilities (as on its own sessions). */
  identity(c: number): { bgpId: string; asn: number; afi?: AfiCode; holdTime: number; capabilities: readonly Capability[] };
}

const CEASE = 6;
const CONNECTION_REJECTED = 5;
const COLLISION_RESOLUTION = 7;

export class DialAnswerer {
  /** Held dials per (node, reflector) slot. */
  private readonly held = new Map<number, Set<Socket>>();
  private readonly open = new Set<Socket>();
  /** Dials answered, and how each ended (for the run's progress lines). */
  readonly counts = { answered: 0, collisions: 0, rejected: 0 };

  constructor(
    private readonly ctx: AnswerContext,
    private readonly r: number,
  ) {}

  /** A reflector's connection to node c's port 179. */
  answer(c: number, sock: Socket): void {
    this.open.add(sock);
    const forget = (): void => {
      this.open.delete(sock);
      for (const set of this.held.values()) set.delete(sock);
      sock.destroy();
    };
    sock.on('error', forget);
    sock.on('close', forget);
    const j = this.ctx.reflectorOf(normalise(sock.remoteAddress ?? ''));
    if (j < 0 || this.ctx.left(c)) {
      this.counts.rejected++;
      return this.cease(sock, CONNECTION_REJECTED);
    }
    this.counts.answered++;
    sock.setNoDelay(true);
    sock.write(this.openMessage(c));
    const framer = new Framer(MAX_MESSAGE_LENGTH);
    sock.on('data', (chunk: Buffer) => {
      let msgs: Buffer[];
      try {
        msgs = framer.push(chunk);
      } catch {
        return forget();
      }
      for (const m of msgs) {
        if (m[18] === MsgType.NOTIFICATION) return forget();
        if (m[18] !== MsgType.OPEN) continue;
        if (this.ctx.established(c, j)) {
          this.counts.collisions++;
          return this.cease(sock, COLLISION_RESOLUTION);
        }
        const slot = c * this.r + j;
        let set = this.held.get(slot);
        if (set === undefined) this.held.set(slot, (set = new Set()));
        set.add(sock);
      }
    });
  }

  /** Node c's own session to reflector j is Established: the held dials from j lose the collision. */
  sessionUp(c: number, j: number): void {
    const slot = c * this.r + j;
    const set = this.held.get(slot);
    if (set === undefined) return;
    this.held.delete(slot);
    for (const sock of set) {
      this.counts.collisions++;
      this.cease(sock, COLLISION_RESOLUTION);
    }
  }

  /** Node c left: its held dials are rejected. */
  nodeLeft(c: number): void {
    for (let j = 0; j < this.r; j++) {
      const set = this.held.get(c * this.r + j);
      this.held.delete(c * this.r + j);
      for (const sock of set ?? []) this.cease(sock, CONNECTION_REJECTED);
    }
  }

  close(): void {
    for (const sock of this.open) sock.destroy();
    this.open.clear();
    this.held.clear();
  }

  private openMessage(c: number): Buffer {
    const { bgpId, asn, afi, holdTime, capabilities } = this.ctx.identity(c);
    const caps: Capability[] = [{ code: CapCode.MULTIPROTOCOL, afi: afi ?? Afi.IPV4, safi: Safi.UNICAST }, { code: CapCode.FOUR_OCTET_AS, asn }, ...capabilities];
    return encodeMessage({ type: 'OPEN', version: 4, myAs: asn > 0xffff ? AS_TRANS : asn, holdTime, bgpId, capabilities: caps }, DEFAULT_CONTEXT);
  }

  /** Sends a Cease with `subcode`, flushes it, and closes (destroyed after 2 s if the reflector never closes its side). */
  private cease(sock: Socket, subcode: number): void {
    if (sock.destroyed) return;
    sock.end(encodeMessage({ type: 'NOTIFICATION', code: CEASE, subcode, data: Buffer.alloc(0) }, DEFAULT_CONTEXT));
    setTimeout(() => sock.destroy(), 2000).unref();
  }
}

function normalise(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
