/**
 * Capped exponential backoff with jitter, and the timer seam that the
 * datastore watchers schedule through (so tests need no real clock).
 *
 * Delay for attempt n (0-based): base = min(cap, initial * factor^n), then
 * "equal jitter": half of it fixed, the other half uniformly random. Unlike
 * full jitter it never retries instantly, and unlike no jitter it spreads a
 * fleet of nodes that all lost the same etcd/API server at the same moment.
 */

/** Where code schedules work. The default uses the real clock. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  now: () => Date.now(),
};

export interface BackoffOptions {
  /** First delay before jitter, ms. Default 200. */
  initialMs?: number;
  /** Upper bound of the delay before jitter, ms. Default 30 000. */
  maxMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Random source in [0, 1). Default Math.random. */
  random?: () => number;
}

/** One backoff sequence; `reset()` after a success. */
export class Backoff {
  private attempt = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private readonly random: () => number;

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = opts.initialMs ?? 200;
    this.maxMs = Math.max(opts.maxMs ?? 30_000, this.initialMs);
    this.factor = opts.factor ?? 2;
    this.random = opts.random ?? Math.random;
  }

  /** The delay to wait before the next attempt; advances the sequence. */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * Math.pow(this.factor, this.attempt));
    // Stop growing the exponent once capped so it never overflows.
    if (base < this.maxMs) this.attempt++;
    const half = base / 2;
    return Math.round(half + this.random() * half);
  }

  /** Number of failures since the last reset (saturates at the cap). */
  get failures(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}
