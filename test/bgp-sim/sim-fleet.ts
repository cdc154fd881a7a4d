/**
 * The simulated Calico nodes of `npm run sim`: N nodes in one process, each
 * with a session to every one of the R reflectors, announcing its blocks and
 * keeping, per block, which reflectors currently give it that block.
 *
 * State is flat typed arrays, one byte per (node, block): bit j = "held from
 * reflector j", bit 4 + j = "stale from reflector j" (kept across a
 * reflector restart, RFC 4724, until that reflector's End-of-RIB). A node
 * holds a block while any reflector gives it; it ignores its own blocks
 * reflected back (as a speaker does by ORIGINATOR_ID). Counters are updated
 * as bytes arrive, so "every node agrees" is one integer comparison:
 *
 *   expected = (connected nodes - 1) x (live blocks)
 *
 * because every live block belongs to a connected node and must be held by
 * every other connected node. Next hops are checked on arrival against the
 * owner's address.
 *
 * A fleet plays one address family (sim-families.ts): its sessions run
 * between the nodes' and reflectors' addresses of that family and carry
 * only that family, as a Calico node's do. A dual-stack run has two.
 */
import { createServer, type Server } from 'node:net';
import { CapCode, type Capability } from '../../src/bgp/packet/index.js';
import { chunkMessages } from '../../bench/support/bgp-sender.js';
import { Session } from './testers.js';
import { DialAnswerer } from './sim-answer.js';
import type { SimFamily } from './sim-families.js';
import { SIM_AS, nodeAddress } from './sim-topology.js';

const PRESENT = 0x0f;
const MAX_REFLECTORS = 4;
/**
 * A node drops an OPEN exchange that got no answer in this long and dials
 * again (its ConnectRetry). Long enough that a busy or restarting BIRD on a
 * loaded machine answers first. With 15 s, one full CI run in four had
 * BIRD 2 close a node's established session in the 200-node test; a second
 * dial racing BIRD's late answer to the first is the suspected cause, not
 * a confirmed one.
 */
const ATTEMPT_TIMEOUT_MS = 60_000;

export interface FleetOptions {
  family: SimFamily;
  n: number;
  /** Blocks per node at the start. */
  k: number;
  /** Blocks kept aside for the churn phase. */
  spare: number;
  /** The reflectors' ports (their addresses are the family's). */
  reflectors: readonly { port: number }[];
  establishTimeoutMs: number;
  /** Bound on reconnecting to a restarted reflector (BIRD may reject connections for minutes). */
  reconnectTimeoutMs: number;
  /** OPEN exchanges in flight at once. */
  parallel: number;
  /** Graceful-restart time the nodes advertise, in seconds. */
  restartTime: number;
}

/** A condition the fleet re-checks after every message and every 250 ms. */
interface Waiter {
  done: () => boolean;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class Fleet {
  readonly r: number;
  readonly blocks: number;
  /** Owner node of each block, -1 for unused spare blocks. */
  readonly owner: Int32Array;
  /** 1 while the block is announced by its (connected) owner. */
  readonly live: Uint8Array;
  private readonly state: Uint8Array[];
  readonly held: Int32Array;
  private readonly connected: Uint8Array;
  /** 1 from a node's leave() to its join(). */
  private readonly hasLeft: Uint8Array;
  private readonly sessions: (Session | undefined)[];
  /** Stale entries per (node, reflector). */
  private readonly stale: Int32Array;
  private connectedCount = 0;
  liveCount = 0;
  totalHeld = 0;
  /** (node, block) entries held from every reflector. */
  redundant = 0;
  private readonly allReflectors: number;
  /** Sessions re-established after a reflector restart whose End-of-RIB has not come yet. */
  eorPending = 0;
  /** Sessions lost to a reflector that are not back yet. */
  reconnecting = 0;
  /** (node, reflector) slots re-established to a restarting reflector (cleared by the caller per restart). */
  readonly reestablished = new Set<number>();
  badNextHop = 0;
  foreign = 0;
  /** Announcements of blocks that are not live (a late UPDATE after a withdrawal is normal only in flight). */
  notLive = 0;
  bytesIn = 0;
  updatesIn = 0;
  /** The lowest `totalHeld` since it was last set (routes lost during a reflector restart). */
  lowWater = 0;
  /** How the first route was lost while a reflector restarted, if one was. */
  firstLoss: string | undefined;

  private noteLoss(what: string): void {
    this.firstLoss ??= what;
  }
  private nextSpare: number;
  private waiter: Waiter | undefined;
  private failure: Error | undefined;
  private closing = false;

  private readonly fam: SimFamily;

  constructor(readonly opts: FleetOptions) {
    this.fam = opts.family;
    if (opts.reflectors.length < 1 || opts.reflectors.length > MAX_REFLECTORS) throw new RangeError(`1 to ${MAX_REFLECTORS} reflectors`);
    this.r = opts.reflectors.length;
    this.allReflectors = (1 << this.r) - 1;
    this.blocks = opts.n * opts.k + opts.spare;
    this.owner = new Int32Array(this.blocks).fill(-1);
    for (let b = 0; b < opts.n * opts.k; b++) this.owner[b] = Math.floor(b / opts.k);
    this.live = new Uint8Array(this.blocks);
    this.state = Array.from({ length: opts.n }, () => new Uint8Array(this.blocks));
    this.held = new Int32Array(opts.n);
    this.connected = new Uint8Array(opts.n);
    this.hasLeft = new Uint8Array(opts.n);
    this.sessions = new Array<Session | undefined>(opts.n * this.r);
    this.stale = new Int32Array(opts.n * this.r);
    this.nextSpare = opts.n * opts.k;
  }

  get expected(): number {
    return Math.max(0, this.connectedCount - 1) * this.liveCount;
  }

  get agreed(): boolean {
    return this.totalHeld === this.expected;
  }

  /** Every node holds every route it should from every reflector. */
  get redundantlyAgreed(): boolean {
    return this.totalHeld === this.expected && this.redundant === this.expected;
  }

  /** The first session failure that was not a reflector going away. */
  get error(): Error | undefined {
    return this.failure;
  }

  // -------------------------------------------------------------------------
  // Receiving
  // -------------------------------------------------------------------------

  private onUpdate(c: number, j: number, msg: Buffer): void {
    if (this.connected[c] === 0) return;
    this.bytesIn += msg.length;
    this.updatesIn++;
    if (this.fam.isEndOfRib(msg)) this.onEndOfRib(c, j);
    else this.fam.scan(msg, this.visitor(c, j));
    this.check();
  }

  private visitor(c: number, j: number) {
    const st = this.state[c]!;
    const bit = 1 << j;
    const staleBit = 16 << j;
    const slot = c * this.r + j;
    return {
      withdraw: (addr: number, len: number): void => {
        const b = this.fam.blockOf(addr, len);
        if (b < 0 || b >= this.blocks) return;
        const before = st[b]!;
        if ((before & staleBit) !== 0) this.stale[slot]!--;
        const after = before & ~(bit | staleBit);
        this.set(c, st, b, before, after);
        if ((before & PRESENT) !== 0 && (after & PRESENT) === 0) {
          if (this.restarting.size > 0) this.noteLoss(`${this.fam.nodeAddress(c)} got a withdrawal of ${this.fam.blockText(b)} from reflector ${j + 1}`);
        }
      },
      announce: (addr: number, len: number, nextHop: number): void => {
        const b = this.fam.blockOf(addr, len);
        if (b < 0 || b >= this.blocks || this.owner[b]! < 0) {
          this.foreign++;
          return;
        }
        const own = this.owner[b]!;
        if (own === c) return;
        if (nextHop !== this.fam.nextHopKey(own)) this.badNextHop++;
        if (this.live[b] === 0) this.notLive++;
        const before = st[b]!;
        if ((before & staleBit) !== 0) this.stale[slot]!--;
        this.set(c, st, b, before, (before | bit) & ~staleBit);
      },
    };
  }

  /** Every change of a node's byte for a block goes through here, to keep the counters. */
  private set(c: number, st: Uint8Array, b: number, before: number, after: number): void {
    st[b] = after;
    const was = before & PRESENT;
    const now = after & PRESENT;
    if (was === now) return;
    if (was === 0) {
      this.held[c]!++;
      this.totalHeld++;
    } else if (now === 0) {
      this.held[c]!--;
      this.totalHeld--;
      if (this.totalHeld < this.lowWater) this.lowWater = this.totalHeld;
    }
    if (was === this.allReflectors) this.redundant--;
    else if (now === this.allReflectors) this.redundant++;
  }

  /** End-of-RIB from reflector j: what is still stale from it is gone (RFC 4724 section 4.2). */
  private onEndOfRib(c: number, j: number): void {
    const slot = c * this.r + j;
    if (this.stale[slot]! > 0) {
      const st = this.state[c]!;
      const bit = 1 << j;
      const staleBit = 16 << j;
      for (let b = 0; b < this.blocks; b++) {
        const before = st[b]!;
        if ((before & staleBit) === 0) continue;
        const after = before & ~(bit | staleBit);
        this.set(c, st, b, before, after);
        if ((after & PRESENT) === 0) {
          this.noteLoss(`${this.fam.nodeAddress(c)} dropped stale ${this.fam.blockText(b)} at reflector ${j + 1}'s End-of-RIB`);
        }
      }
      this.stale[slot] = 0;
    }
    if (this.awaitingEor.has(slot)) {
      this.awaitingEor.delete(slot);
      this.eorPending--;
    }
  }

  private readonly awaitingEor = new Set<number>();

  private check(): void {
    const w = this.waiter;
    if (w !== undefined && w.done()) {
      this.waiter = undefined;
      w.resolve();
    }
  }

  /**
   * Resolves when `done()` holds (checked after every message and every
   * 250 ms); rejects after `timeoutMs` or when `fatal()` returns an error.
   */
  until(done: () => boolean, timeoutMs: number, what: string, fatal: () => Error | undefined = () => undefined): Promise<void> {
    if (this.waiter !== undefined) throw new Error('one wait at a time');
    return new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      const finish = (err?: Error): void => {
        clearInterval(tick);
        this.waiter = undefined;
        if (err) reject(err);
        else resolve();
      };
      const tick = setInterval(() => {
        if (done()) return finish();
        const err = this.failure ?? fatal() ?? (Date.now() > deadline ? new Error(`timeout after ${timeoutMs} ms waiting for ${what}: ${this.describe()}; ${this.problems()}`) : undefined);
        if (err !== undefined) finish(err);
      }, 250);
      this.waiter = { done, resolve: () => finish(), reject: finish };
      this.check();
    });
  }

  /** A full scan's findings, for error messages. */
  problems(): string {
    const v = this.verify();
    return `${v.missing} missing (${v.firstProblem ?? '-'}), ${v.extra} too many, ${v.partial} from fewer than all reflectors (${v.firstPartial ?? '-'})`;
  }

  describe(): string {
    return `${this.fam.name}: ${this.totalHeld} of ${this.expected} routes held (${this.redundant} from every reflector), ${this.reconnecting} sessions reconnecting, ${this.eorPending} End-of-RIBs pending`;
  }

  // -------------------------------------------------------------------------
  // Sessions
  // -------------------------------------------------------------------------

  private capabilities(): Capability[] {
    return [{ code: CapCode.GRACEFUL_RESTART, restartState: false, notification: false, restartTime: this.opts.restartTime, families: [{ afi: this.fam.afi, safi: 1, forwardingState: true }] }];
  }

  private async open(c: number, j: number, timeoutMs = this.opts.establishTimeoutMs): Promise<Session> {
    const rr = this.opts.reflectors[j]!;
    const s = await Session.establish(
      { host: this.fam.reflectorAddress(j), port: rr.port, localAddress: this.fam.nodeAddress(c), bgpId: nodeAddress(c), asn: SIM_AS, afi: this.fam.afi, holdTime: 90, establishTimeoutMs: timeoutMs, attemptTimeoutMs: ATTEMPT_TIMEOUT_MS, extraCapabilities: this.capabilities() },
      (m) => this.onUpdate(c, j, m),
    );
    this.sessions[c * this.r + j] = s;
    s.onFailure((err) => this.lost(c, j, s, err));
    this.answerer?.sessionUp(c, j);
    return s;
  }

  /** A session went down under us: a reflector restarting. Keep its routes as stale until it is back. */
  private lost(c: number, j: number, s: Session, err: Error): void {
    const slot = c * this.r + j;
    if (this.closing || this.sessions[slot] !== s) return;
    this.sessions[slot] = undefined;
    if (this.connected[c] === 0) return;
    if (!this.restarting.has(j)) {
      this.failure ??= new Error(`${this.fam.nodeAddress(c)} lost its session to reflector ${j + 1}: ${err.message}`);
      return;
    }
    const st = this.state[c]!;
    const bit = 1 << j;
    const staleBit = 16 << j;
    let n = 0;
    for (let b = 0; b < this.blocks; b++) {
      if ((st[b]! & bit) !== 0 && (st[b]! & staleBit) === 0) {
        st[b] = st[b]! | staleBit;
        n++;
      }
    }
    this.stale[slot] = this.stale[slot]! + n;
    this.reconnecting++;
    void this.rejoin(c, j);
  }

  private readonly restarting = new Set<number>();

  /** Reconnects node c to reflector j (retrying while it starts) and sends its blocks again. */
  private async rejoin(c: number, j: number): Promise<void> {
    try {
      const s = await this.open(c, j, this.opts.reconnectTimeoutMs);
      this.reconnecting--;
      this.reestablished.add(c * this.r + j);
      await s.write(this.announcement(c), this.opts.establishTimeoutMs);
    } catch (err) {
      this.failure ??= err as Error;
    }
  }

  /**
   * Marks reflector j as restarting: its sessions may drop, and the nodes
   * reconnect and keep its routes as stale. From now on every connected
   * node waits for an End-of-RIB from it (`eorPending`), set here rather
   * than on reconnection because the End-of-RIB can arrive in the same
   * segment as the KEEPALIVE that completes the OPEN exchange.
   */
  expectRestart(j: number): void {
    this.restarting.add(j);
    for (let c = 0; c < this.opts.n; c++) {
      if (this.connected[c] === 0) continue;
      this.awaitingEor.add(c * this.r + j);
      this.eorPending++;
    }
  }

  restartDone(j: number): void {
    this.restarting.delete(j);
  }

  /** Node c's live blocks as UPDATEs, then End-of-RIB. */
  private announcement(c: number): Buffer[] {
    const mine: number[] = [];
    for (let b = 0; b < this.blocks; b++) if (this.owner[b] === c && this.live[b] === 1) mine.push(b);
    const msgs = mine.length === 0 ? [] : this.announce(c, mine);
    msgs.push(this.fam.endOfRib());
    return chunkMessages(msgs);
  }

  private announce(c: number, blocks: readonly number[]): Buffer[] {
    return this.fam.announce(c, blocks);
  }

  /** Brings node c's sessions up (all reflectors); marks it connected. */
  private async connectNode(c: number): Promise<void> {
    // Connected from the start: a reflector may send its table on the first
    // session before the second is up, and none of it may be ignored.
    this.connected[c] = 1;
    this.connectedCount++;
    const results = await Promise.allSettled(Array.from({ length: this.r }, (_, j) => this.open(c, j)));
    const bad = results.find((x) => x.status === 'rejected');
    if (bad !== undefined) throw (bad as PromiseRejectedResult).reason;
  }

  /** Establishes every node's sessions, about `parallel` OPEN exchanges in flight at any time (a pool, not batches). */
  async connectAll(): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < this.opts.n && this.failure === undefined) await this.connectNode(next++);
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.floor(this.opts.parallel / this.r)) }, worker));
  }

  private async sendAll(c: number, chunks: readonly Buffer[]): Promise<void> {
    await Promise.all(Array.from({ length: this.r }, (_, j) => this.sessionOf(c, j).write(chunks, this.opts.establishTimeoutMs)));
  }

  private sessionOf(c: number, j: number): Session {
    const s = this.sessions[c * this.r + j];
    if (s === undefined) throw new Error(`${this.fam.nodeAddress(c)} has no session to reflector ${j + 1}`);
    return s;
  }

  /** Every node announces its initial blocks and End-of-RIB to every reflector at once. */
  async announceAll(): Promise<void> {
    for (let b = 0; b < this.opts.n * this.opts.k; b++) this.live[b] = 1;
    this.liveCount += this.opts.n * this.opts.k;
    await Promise.all(Array.from({ length: this.opts.n }, (_, c) => this.sendAll(c, this.announcement(c))));
  }

  // -------------------------------------------------------------------------
  // Churn events: each changes the expectation, then sends
  // -------------------------------------------------------------------------

  /** Node c announces one more block; returns it. */
  async addBlock(c: number): Promise<number> {
    if (this.nextSpare >= this.blocks) throw new Error('out of spare blocks');
    const b = this.nextSpare++;
    this.owner[b] = c;
    this.live[b] = 1;
    this.liveCount++;
    await this.sendAll(c, chunkMessages(this.announce(c, [b])));
    return b;
  }

  /** Node c withdraws block b. */
  async removeBlock(c: number, b: number): Promise<void> {
    if (this.owner[b] !== c || this.live[b] !== 1) throw new Error(`block ${b} is not announced by node ${c}`);
    this.live[b] = 0;
    this.liveCount--;
    await this.sendAll(c, [this.fam.withdraw([b])]);
  }

  /** Node c leaves: Cease to every reflector; its routes and what it held are gone. */
  leave(c: number): void {
    if (this.connected[c] === 0) throw new Error(`node ${c} is not connected`);
    this.connected[c] = 0;
    this.connectedCount--;
    this.hasLeft[c] = 1;
    this.answerer?.nodeLeft(c);
    for (let b = 0; b < this.blocks; b++) if (this.owner[b] === c && this.live[b] === 1) this.liveCount--;
    for (let j = 0; j < this.r; j++) {
      const slot = c * this.r + j;
      const s = this.sessions[slot];
      this.sessions[slot] = undefined;
      s?.shutdown();
      this.stale[slot] = 0;
    }
    const st = this.state[c]!;
    for (let b = 0; b < this.blocks; b++) if (st[b] !== 0) this.set(c, st, b, st[b]!, 0);
  }

  /** Node c comes back: new sessions, its blocks and End-of-RIB. */
  async join(c: number): Promise<void> {
    if (this.connected[c] === 1) throw new Error(`node ${c} is connected`);
    this.hasLeft[c] = 0;
    await this.connectNode(c);
    for (let b = 0; b < this.blocks; b++) if (this.owner[b] === c && this.live[b] === 1) this.liveCount++;
    await this.sendAll(c, this.announcement(c));
  }

  // -------------------------------------------------------------------------
  // Verification
  // -------------------------------------------------------------------------

  /**
   * A full scan: for every connected node, blocks it should hold and does
   * not, and blocks it holds that it should not. O(N x blocks), once per phase.
   */
  verify(): { missing: number; extra: number; partial: number; firstProblem?: string; firstPartial?: string } {
    let missing = 0;
    let extra = 0;
    let partial = 0;
    const all = (1 << this.r) - 1;
    let firstProblem: string | undefined;
    let firstPartial: string | undefined;
    for (let c = 0; c < this.opts.n; c++) {
      if (this.connected[c] === 0) continue;
      const st = this.state[c]!;
      for (let b = 0; b < this.blocks; b++) {
        const own = this.owner[b]!;
        const want = this.live[b] === 1 && own !== c;
        const has = (st[b]! & PRESENT) !== 0;
        if (want && has && (st[b]! & PRESENT) !== all) {
          partial++;
          firstPartial ??= `${this.fam.nodeAddress(c)} holds ${this.fam.blockText(b)} only from reflector(s) mask ${st[b]! & PRESENT}`;
        }
        if (want === has) continue;
        if (want) missing++;
        else extra++;
        firstProblem ??= `${this.fam.nodeAddress(c)} ${want ? 'lacks' : 'still holds'} ${this.fam.blockText(b)}`;
      }
    }
    return { missing, extra, partial, firstProblem, firstPartial };
  }

  private readonly listeners: Server[] = [];
  private answerer: DialAnswerer | undefined;

  /** What the nodes' listeners answer the reflectors' dials with (sim-answer.ts). */
  get dials(): DialAnswerer['counts'] | undefined {
    return this.answerer?.counts;
  }

  /**
   * Listens on port 179 of every node's address, as a calico-node's BIRD
   * does, and answers the reflectors' dials as a BGP speaker would
   * (sim-answer.ts: an OPEN, then RFC 4271 collision resolution in favour
   * of the node's own connection). Without a listener every dial a
   * reflector makes is refused, and BIRD counts each refusal as an error
   * and rejects the node's incoming connections during its error wait
   * (5-30 s with Calico's config).
   */
  async listen(): Promise<void> {
    const answerer = new DialAnswerer(
      {
        reflectorOf: (address) => this.opts.reflectors.findIndex((_, j) => this.fam.reflectorAddress(j) === address),
        left: (c) => this.hasLeft[c] === 1,
        established: (c, j) => this.sessions[c * this.r + j] !== undefined,
        identity: (c) => ({ bgpId: nodeAddress(c), asn: SIM_AS, afi: this.fam.afi, holdTime: 90, capabilities: this.capabilities() }),
      },
      this.r,
    );
    this.answerer = answerer;
    for (let c = 0; c < this.opts.n; c++) {
      const srv = createServer((sock) => answerer.answer(c, sock));
      this.listeners.push(srv);
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen({ host: this.fam.nodeAddress(c), port: 179, backlog: 8 }, () => {
          srv.off('error', reject);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.closing = true;
    this.waiter?.reject(new Error('the fleet was closed'));
    for (const s of this.sessions) s?.close();
    for (const srv of this.listeners) srv.close();
    this.answerer?.close();
  }
}
