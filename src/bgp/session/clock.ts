/**
 * The scheduling seam: everything in the session layer that waits goes
 * through a `Clock`, so tests can drive time and production uses the real
 * timers.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // Session timers never keep the process alive on their own.
    t.unref();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Named one-shot timers on a clock; setting a running timer restarts it. */
export class TimerSet<Name extends string> {
  private readonly handles = new Map<Name, unknown>();

  constructor(
    private readonly clock: Clock,
    private readonly fire: (name: Name) => void,
  ) {}

  set(name: Name, seconds: number): void {
    this.clear(name);
    this.handles.set(
      name,
      this.clock.setTimeout(() => {
        this.handles.delete(name);
        this.fire(name);
      }, Math.max(0, seconds * 1000)),
    );
  }

  clear(name: Name): void {
    const h = this.handles.get(name);
    if (h !== undefined) {
      this.clock.clearTimeout(h);
      this.handles.delete(name);
    }
  }

  clearAll(): void {
    for (const name of [...this.handles.keys()]) this.clear(name);
  }

  running(name: Name): boolean {
    return this.handles.has(name);
  }
}
