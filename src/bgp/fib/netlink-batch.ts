/**
 * The netlink batch pipeline of the kernel FIB: requests for many routes
 * written into one send buffer, sent batch after batch with up to
 * IN_FLIGHT batches at the kernel, and every reply recorded against the
 * installed-routes state the facade (kernel.ts) owns. The reply rules
 * (only a batch's last request asks for an ACK; silence means done unless
 * the exchange failed) are described in kernel.ts.
 */
import { NetlinkRawError, type NetlinkSocket } from './netlink-socket.js';
import {
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  RTM_DELROUTE,
  RT_SCOPE_NOWHERE,
  NetlinkDecodeError,
  RouteTemplate,
  errnoName,
  scanAcks,
  setRequestFlags,
  type Family,
  type PrefixWords,
} from './netlink-codec.js';
import type { KernelRoute, RouteFailure } from './kernel-routes.js';
import type { Via } from './next-hops.js';

/** Receive-buffer octets we budget per reply (an skb's true size, with room to spare). */
const REPLY_BUDGET = 2048;
/**
 * Requests per send at most. Past a few thousand a bigger batch saves
 * little kernel time, and the first and last batches, during which only
 * one side (we or the kernel) works, grow.
 */
const MAX_BATCH = 4096;
/** Octets per send at most (the socket's send buffer may allow less). */
const MAX_BATCH_BYTES = 1 << 20;
/** Batches handed to the addon before we wait for the oldest: the kernel works on one while we encode the next. */
const IN_FLIGHT = 2;
/** An install of a prefix not known as ours: refused (EEXIST) if another protocol holds it at our metric. */
export const INSTALL_EXCL = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
/** An install over a route of ours. */
export const INSTALL_REPLACE = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE;
const REMOVE = NLM_F_REQUEST;

/** Requests per send by default: a reply to each must fit in the socket's receive buffer. */
export function defaultBatchSize(rcvbuf: number): number {
  return Math.min(MAX_BATCH, Math.max(16, Math.floor(rcvbuf / REPLY_BUDGET)));
}

/**
 * A prefix of ours. One per installed route, kept while it stays
 * installed, so the diff of a route that did not change is one map lookup
 * and a mark, and recording a new route's ACK is a field write.
 */
export interface Slot {
  /** Canonical text (the caller's own string when it was canonical). */
  readonly prefix: string;
  /** The next hops the kernel has; null until the first install of the prefix is acknowledged. */
  via: Via | null;
  /** The last operation that handled the prefix: a sync removes the prefixes it did not mark, and a prefix given twice is seen. */
  op: number;
}

/** The requests of one send, and what each was for. */
class Batch {
  count = 0;
  /** The prefix of each request (a purge's removals of routes we did not install get slots outside the map). */
  readonly slots: Slot[] = [];
  /** Install: the next hops installed; remove: null. */
  readonly vias: (Via | null)[] = [];
  /** Install: its nlmsg flags (NLM_F_EXCL or NLM_F_REPLACE); remove: the metric removed. */
  readonly info: number[] = [];
  reply: Promise<Reply> | null = null;

  constructor(readonly firstSeq: number) {}
}

/** The reply octets of a batch; `lost` when the exchange failed (then silence says nothing). */
export interface Reply {
  raw: Buffer;
  lost: { code: string; message: string } | null;
}

/** A request that failed or was refused: what to report, and what to send again if it is retried. */
export interface Failure {
  op: 'install' | 'remove';
  prefix: string;
  via: Via | null;
  info: number;
  code: string;
  message: string;
}

/** One public operation's requests, from the first batch to the last reply. */
export interface Round {
  /** Operation number (an interface found missing is looked up again by the next operation, not once per route). */
  id: number;
  /** The batch being filled, and where its next request goes in the send buffer. */
  batch: Batch | null;
  at: number;
  /** Offset and flags of the batch's last request (it gets NLM_F_ACK when the batch is sent). */
  lastAt: number;
  lastFlags: number;
  /** Handed to the addon, not yet settled, oldest first. */
  sent: Batch[];
  installed: number;
  removed: number;
  /** Failures the kernel reported, or unknown outcomes. */
  failed: Failure[];
  /** Routes refused before any request (bad route, missing interface). */
  refused: Failure[];
  unchanged: number;
  /** Routes for a prefix already handled in this operation (their turn comes once the first is settled). */
  twice: KernelRoute[];
  /** Set when the pass stopped because these next hops need their interfaces looked up. */
  blocked: Via | null;
  waitMs: number;
  batches: number;
}

/** What the facade knows of the table, which settled replies update. */
export interface InstalledState {
  /** What we installed in this run, by canonical prefix; also the prefixes of requests under way (`via` null). */
  readonly installed: Map<string, Slot>;
  /** Prefixes of ours found at open (previous run) and not yet purged. */
  readonly stale: Set<string>;
  readonly metric: number;
}

/** Batches of route requests over one netlink socket. */
export class BatchPipeline {
  /** The send buffer: the addon copies a request before `exchangeRaw()` returns, so one buffer serves every batch. */
  private buf: Buffer;
  private readonly removeTemplates = new Map<number, RouteTemplate>();
  private operations = 0;

  constructor(
    private readonly sock: NetlinkSocket,
    private readonly state: InstalledState,
    private readonly route: { table: number; protocol: number },
    readonly batchSize: number,
    /** Where the caller parses the prefix of the request at hand (read by `put`). */
    private readonly net: PrefixWords,
  ) {
    // netlink_sendmsg() refuses a send longer than the send buffer less 32 octets.
    this.buf = Buffer.allocUnsafeSlow(Math.max(4096, Math.min(MAX_BATCH_BYTES, sock.sndbuf - 64)));
  }

  private removeTemplate(family: Family, metric: number): RouteTemplate {
    const key = metric * 2 + (family === 6 ? 1 : 0);
    let t = this.removeTemplates.get(key);
    if (t === undefined) {
      t = RouteTemplate.of({ family, dstLen: 0, table: this.route.table, protocol: this.route.protocol, scope: RT_SCOPE_NOWHERE, type: 0, flags: 0, priority: metric }, RTM_DELROUTE);
      this.removeTemplates.set(key, t);
    }
    return t;
  }

  /** A new operation's round. */
  begin(): Round {
    return { id: ++this.operations, batch: null, at: 0, lastAt: 0, lastFlags: 0, sent: [], installed: 0, removed: 0, failed: [], refused: [], unchanged: 0, twice: [], blocked: null, waitMs: 0, batches: 0 };
  }

  /** Queues the removal of the prefix just parsed into `this.net`, at `metric`. */
  putRemove(round: Round, slot: Slot, metric: number): boolean {
    return this.put(round, slot, this.removeTemplate(this.net.family, metric), REMOVE, null, metric);
  }

  /**
   * Writes one request (for the prefix just parsed into `this.net`) into the
   * batch being filled, sending the batch when it is full. True when the
   * caller must `await this.drain()` before the next request.
   */
  put(round: Round, slot: Slot, template: RouteTemplate, flags: number, via: Via | null, info: number): boolean {
    if (round.batch !== null && round.at + template.length > this.buf.length) this.send(round);
    let b = round.batch;
    if (b === null) {
      b = round.batch = new Batch(this.sock.nextSeq(this.batchSize));
      round.at = 0;
      if (template.length > this.buf.length) this.buf = Buffer.allocUnsafeSlow(template.length);
    }
    round.lastAt = round.at;
    round.lastFlags = flags;
    round.at = template.write(this.buf, round.at, flags, b.firstSeq + b.count, this.net);
    b.slots.push(slot);
    b.vias.push(via);
    b.info.push(info);
    if (++b.count === this.batchSize) this.send(round);
    return round.sent.length >= IN_FLIGHT;
  }

  /** Hands the batch being filled to the addon; its last request asks for the ACK that closes it. */
  private send(round: Round): void {
    const b = round.batch;
    if (b === null) return;
    round.batch = null;
    setRequestFlags(this.buf, round.lastAt, round.lastFlags | NLM_F_ACK);
    b.reply = this.sock.exchangeRaw(this.buf.subarray(0, round.at), b.firstSeq + b.count - 1).then(
      (raw): Reply => ({ raw, lost: null }),
      (e: unknown): Reply => {
        if (!(e instanceof NetlinkRawError)) throw e;
        return { raw: e.raw, lost: { code: e.code, message: e.message } };
      },
    );
    round.sent.push(b);
    round.batches++;
  }

  /** Settles sent batches, oldest first, until fewer than IN_FLIGHT are out. */
  async drain(round: Round): Promise<void> {
    while (round.sent.length >= IN_FLIGHT) await this.settleOldest(round);
  }

  /** Sends the batch being filled and settles every batch sent. */
  async finish(round: Round): Promise<void> {
    this.send(round);
    while (round.sent.length > 0) await this.settleOldest(round);
  }

  /** After a throw: requests not sent are dropped, the replies of those sent are still recorded. */
  async abandon(round: Round): Promise<void> {
    for (const slot of round.batch?.slots ?? []) if (slot.via === null) this.forget(slot);
    round.batch = null;
    while (round.sent.length > 0) await this.settleOldest(round);
  }

  private async settleOldest(round: Round): Promise<void> {
    const b = round.sent.shift()!;
    const t = performance.now();
    const reply = await b.reply!;
    round.waitMs += performance.now() - t;
    this.settle(round, b, reply);
  }

  /** Records the outcome of every request of a batch. */
  private settle(round: Round, b: Batch, reply: Reply): void {
    let { lost } = reply;
    let errors: Int32Array;
    let messages: Map<number, string>;
    try {
      ({ errors, messages } = scanAcks(reply.raw, b.firstSeq, b.count));
    } catch (e) {
      if (!(e instanceof NetlinkDecodeError)) throw e;
      errors = new Int32Array(b.count).fill(-1);
      messages = new Map();
      lost ??= { code: 'EIO', message: `unreadable reply: ${e.message}` };
    }
    const last = b.count - 1;
    for (let j = 0; j < b.count; j++) {
      const slot = b.slots[j]!;
      const via = b.vias[j]!;
      const info = b.info[j]!;
      let error = errors[j]!;
      if (error < 0) {
        if (lost === null && j < last) {
          error = 0; // no reply to a request that did not ask for one: done
        } else {
          round.failed.push({ op: via !== null ? 'install' : 'remove', prefix: slot.prefix, via, info, code: lost?.code ?? 'EIO', message: lost?.message ?? 'no reply from the kernel' });
          if (via !== null) {
            // It may be in: forget the old version (so the next sync retries) but treat the prefix as ours.
            this.forget(slot);
            this.state.stale.add(slot.prefix);
          }
          continue;
        }
      }
      if (via !== null) {
        if (error === 0) {
          slot.via = via;
          round.installed++;
        } else {
          // A refused replace leaves the old route in place: keep believing it is there.
          if (slot.via === null) this.forget(slot);
          const code = errnoName(error);
          round.failed.push({ op: 'install', prefix: slot.prefix, via, info, code, message: messages.get(j) ?? code });
        }
        continue;
      }
      const code = error === 0 ? '' : errnoName(error);
      // "No such route" on delete: the route is gone, which is what we wanted.
      if (error === 0 || code === 'ESRCH' || code === 'ENOENT') {
        if (info === this.state.metric) this.forget(slot);
        this.state.stale.delete(slot.prefix);
        round.removed++;
      } else {
        round.failed.push({ op: 'remove', prefix: slot.prefix, via: null, info, code, message: messages.get(j) ?? code });
      }
    }
  }

  /** Drops a prefix from what we installed (if `slot` is the one the map holds). */
  private forget(slot: Slot): void {
    if (this.state.installed.get(slot.prefix) === slot) this.state.installed.delete(slot.prefix);
  }
}

/** Records a route refused before any request was sent. */
export function refuse(round: Round, op: 'install' | 'remove', prefix: string, code: string, message: string): void {
  round.refused.push({ op, prefix, via: null, info: 0, code, message });
}

/** The public form of a failure. */
export function report(f: Failure): RouteFailure {
  return { prefix: f.prefix, op: f.op, code: f.code, message: f.message };
}
