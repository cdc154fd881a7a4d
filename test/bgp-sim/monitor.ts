/**
 * The monitor peer of the route-reflector benchmark: one more iBGP session
 * (an RR client that advertises nothing) that decodes every UPDATE the
 * reflector sends with our codec and keeps a bitmap of the testers' /24s it
 * currently holds. It notes the moment the count first reaches the
 * expected N x M; withdrawals clear bits, so a route flapping away and back
 * is not counted twice.
 */
import { Afi, DEFAULT_CONTEXT, decodeMessage, type DecodedUpdate, type PrefixList } from '../../src/bgp/packet/index.js';
import { MONITOR_ADDRESS, PREFIX_BASE, Session } from './testers.js';

export class Monitor {
  private readonly held: Uint8Array;
  /** Routes currently held (each expected prefix at most once). */
  count = 0;
  /** Announced prefixes outside the testers' space (should stay 0). */
  foreign = 0;
  /** process.hrtime.bigint() when `count` first reached `expected`. */
  doneAt: bigint | undefined;
  private session: Session | undefined;
  private waiter: (() => void) | undefined;

  private constructor(readonly expected: number) {
    this.held = new Uint8Array(expected);
  }

  static async start(opts: { expected: number; host: string; port: number; establishTimeoutMs: number }): Promise<Monitor> {
    const mon = new Monitor(opts.expected);
    mon.session = await Session.establish(
      { host: opts.host, port: opts.port, localAddress: MONITOR_ADDRESS, bgpId: MONITOR_ADDRESS, establishTimeoutMs: opts.establishTimeoutMs },
      (m) => mon.onUpdate(m),
    );
    mon.session.onFailure(() => mon.waiter?.());
    return mon;
  }

  get error(): Error | undefined {
    return this.session?.error;
  }

  private index(list: PrefixList, i: number): number {
    if (list.lens[i] !== 24) return -1;
    const k = (list.words[i]! - PREFIX_BASE) / 256;
    return k >= 0 && k < this.expected ? k : -1;
  }

  private onUpdate(msg: Buffer): void {
    const u = decodeMessage(msg, DEFAULT_CONTEXT).message as DecodedUpdate;
    for (const list of [u.withdrawn, u.attributes.mpUnreach?.withdrawn]) {
      if (list === undefined || list.afi !== Afi.IPV4) continue;
      for (let i = 0; i < list.count; i++) {
        const k = this.index(list, i);
        if (k >= 0 && this.held[k] === 1) {
          this.held[k] = 0;
          this.count--;
        }
      }
    }
    for (const list of [u.nlri, u.attributes.mpReach?.nlri]) {
      if (list === undefined || list.afi !== Afi.IPV4) continue;
      for (let i = 0; i < list.count; i++) {
        const k = this.index(list, i);
        if (k < 0) this.foreign++;
        else if (this.held[k] === 0) {
          this.held[k] = 1;
          this.count++;
        }
      }
    }
    if (this.doneAt === undefined && this.count === this.expected) {
      this.doneAt = process.hrtime.bigint();
      this.waiter?.();
    }
  }

  /**
   * Resolves when all expected routes are held, rejects when the session
   * fails, `deadline` (Date.now() ms) passes, or `check()` returns an error
   * (called every 250 ms: the reflector process died, a tester failed).
   */
  wait(deadline: number, check: () => Error | undefined): Promise<bigint> {
    return new Promise<bigint>((resolve, reject) => {
      const finish = (): void => {
        clearInterval(tick);
        this.waiter = undefined;
        if (this.doneAt !== undefined) resolve(this.doneAt);
        else reject(this.session?.error ?? new Error('monitor stopped'));
      };
      const tick = setInterval(() => {
        const err = check() ?? (Date.now() > deadline ? new Error(`timeout: the monitor holds ${this.count} of ${this.expected} routes`) : undefined);
        if (err !== undefined) {
          clearInterval(tick);
          this.waiter = undefined;
          reject(err);
        }
      }, 250);
      this.waiter = finish;
      if (this.doneAt !== undefined || this.session?.error !== undefined) finish();
    });
  }

  close(): void {
    this.waiter = undefined;
    this.session?.close();
  }
}
