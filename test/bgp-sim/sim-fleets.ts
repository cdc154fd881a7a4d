/**
 * The fleets of one run, one per address family (sim-families.ts), driven
 * together: the same node connects, announces, leaves and joins in every
 * family at once, and a wait ends when every fleet meets its condition.
 * With IPv4 only this is a thin wrapper around one fleet.
 */
import type { Fleet } from './sim-fleet.js';

export interface Verdict {
  missing: number;
  extra: number;
  partial: number;
  firstProblem?: string;
  firstPartial?: string;
}

export class Fleets {
  /** Each fleet's `totalHeld` when a reflector restart began. */
  private heldBefore: number[] = [];

  constructor(readonly all: readonly Fleet[]) {}

  /**
   * Resolves when `done(f)` holds for every fleet f (each checked after each
   * of its messages and every 250 ms); rejects on the first fleet's timeout
   * or error.
   */
  async until(done: (f: Fleet) => boolean, timeoutMs: number, what: string, fatal: () => Error | undefined): Promise<void> {
    const multi = this.all.length > 1;
    await Promise.all(this.all.map((f) => f.until(() => done(f), timeoutMs, multi ? `${what} (${f.opts.family.name})` : what, fatal)));
  }

  private sum(of: (f: Fleet) => number): number {
    return this.all.reduce((s, f) => s + of(f), 0);
  }

  get expected(): number {
    return this.sum((f) => f.expected);
  }
  get bytesIn(): number {
    return this.sum((f) => f.bytesIn);
  }
  get updatesIn(): number {
    return this.sum((f) => f.updatesIn);
  }
  get badNextHop(): number {
    return this.sum((f) => f.badNextHop);
  }
  get foreign(): number {
    return this.sum((f) => f.foreign);
  }

  /** A full scan of every fleet (sim-fleet.ts `verify`), summed; the first problem found in any. */
  verify(): Verdict {
    const out: Verdict = { missing: 0, extra: 0, partial: 0 };
    for (const f of this.all) {
      const v = f.verify();
      out.missing += v.missing;
      out.extra += v.extra;
      out.partial += v.partial;
      out.firstProblem ??= v.firstProblem;
      out.firstPartial ??= v.firstPartial;
    }
    return out;
  }

  async listen(): Promise<void> {
    for (const f of this.all) await f.listen();
  }

  async connectAll(): Promise<void> {
    await Promise.all(this.all.map((f) => f.connectAll()));
  }

  async announceAll(): Promise<void> {
    await Promise.all(this.all.map((f) => f.announceAll()));
  }

  /** Node c announces one more block in every family; returns its index (the same in each). */
  async addBlock(c: number): Promise<number> {
    const bs = await Promise.all(this.all.map((f) => f.addBlock(c)));
    if (bs.some((b) => b !== bs[0])) throw new Error(`the families gave node ${c} different new blocks (${bs.join(', ')})`);
    return bs[0]!;
  }

  async removeBlock(c: number, b: number): Promise<void> {
    await Promise.all(this.all.map((f) => f.removeBlock(c, b)));
  }

  leave(c: number): void {
    for (const f of this.all) f.leave(c);
  }

  async join(c: number): Promise<void> {
    await Promise.all(this.all.map((f) => f.join(c)));
  }

  /** Reflector j is about to restart: remember what is held, to count what it costs (`lost`). */
  expectRestart(j: number): void {
    this.heldBefore = this.all.map((f) => {
      f.lowWater = f.totalHeld;
      f.expectRestart(j);
      return f.totalHeld;
    });
  }

  restartDone(j: number): void {
    for (const f of this.all) f.restartDone(j);
  }

  /** Routes lost since `expectRestart` at the worst moment, summed over families. */
  get lost(): number {
    return this.all.reduce((s, f, i) => s + (this.heldBefore[i] ?? f.totalHeld) - f.lowWater, 0);
  }

  get firstLoss(): string | undefined {
    return this.all.map((f) => f.firstLoss).find((x) => x !== undefined);
  }

  /** Every fleet's reconnecting sessions and pending End-of-RIBs are done. */
  get settled(): boolean {
    return this.all.every((f) => f.reconnecting === 0 && f.eorPending === 0);
  }

  /** The reflectors' dials the nodes answered, over all families (with --listen). */
  get dials(): { answered: number; collisions: number; rejected: number } | undefined {
    const ds = this.all.map((f) => f.dials).filter((d) => d !== undefined);
    if (ds.length === 0) return undefined;
    return { answered: ds.reduce((s, d) => s + d.answered, 0), collisions: ds.reduce((s, d) => s + d.collisions, 0), rejected: ds.reduce((s, d) => s + d.rejected, 0) };
  }

  clearReestablished(): void {
    for (const f of this.all) f.reestablished.clear();
  }

  /** Sessions re-established since `clearReestablished`, in the family that has the fewest. */
  get reestablishedCount(): number {
    return Math.min(...this.all.map((f) => f.reestablished.size));
  }

  close(): void {
    for (const f of this.all) f.close();
  }
}
