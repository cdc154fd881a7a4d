/**
 * Log lines for refused connections, limited per source: a connect flood
 * from one address (or a peer misconfigured on the other side, retrying
 * every few seconds) would otherwise write one warning per attempt. The
 * first refusal from a source is logged; later ones within `intervalMs` are
 * only counted, and the next line after the interval says how many were
 * left out. The counts are kept for a metric to read.
 */

/** What was refused, and how much of it the log left out. */
export interface RefusalCounts {
  /** Every refused connection, logged or not. */
  refused: number;
  /** Refusals counted but not logged (rate limit). */
  suppressed: number;
}

export interface RefusalLogOptions {
  /** At most one line per source in this many milliseconds (default 60 s). */
  intervalMs?: number;
  /** Sources remembered at once; the oldest is forgotten first (bounds memory under a spoofed flood). */
  maxSources?: number;
  /** Injected clock (tests). */
  now?: () => number;
}

type LogFn = (level: 'info' | 'warn', msg: string, extra: Record<string, unknown>) => void;

export class RefusalLog {
  readonly counts: RefusalCounts = { refused: 0, suppressed: 0 };
  private readonly sources = new Map<string, { loggedAt: number; suppressed: number }>();
  private readonly intervalMs: number;
  private readonly maxSources: number;
  private readonly now: () => number;

  constructor(private readonly log: LogFn, opts: RefusalLogOptions = {}) {
    this.intervalMs = opts.intervalMs ?? 60_000;
    this.maxSources = opts.maxSources ?? 1024;
    this.now = opts.now ?? Date.now;
  }

  /** Counts one refusal from `source` and logs it unless this source was logged within the interval. */
  refused(source: string, level: 'info' | 'warn', msg: string, extra: Record<string, unknown>): void {
    this.counts.refused++;
    const t = this.now();
    const seen = this.sources.get(source);
    if (seen !== undefined && t - seen.loggedAt < this.intervalMs) {
      seen.suppressed++;
      this.counts.suppressed++;
      return;
    }
    const left = seen?.suppressed ?? 0;
    this.log(level, left > 0 ? `${msg} (${left} more from this source not logged since the last line)` : msg, left > 0 ? { ...extra, notLogged: left } : extra);
    // Re-insert so the Map's order is least recently logged first.
    this.sources.delete(source);
    this.sources.set(source, { loggedAt: t, suppressed: 0 });
    if (this.sources.size > this.maxSources) {
      const oldest = this.sources.keys().next().value;
      if (oldest !== undefined) this.sources.delete(oldest);
    }
  }
}
