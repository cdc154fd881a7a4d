/**
 * Idle-hold backoff for flapping peers (RFC 4271 section 8.1.1,
 * DampPeerOscillations): each time a session goes down without having been
 * stable, the wait before the next start doubles, up to a cap, with jitter so
 * a whole mesh does not reconnect in lockstep. A session that stays
 * Established for `stableSeconds` resets the count.
 */
export interface IdleHoldPolicy {
  initialSeconds: number;
  maxSeconds: number;
  stableSeconds: number;
}

export const DEFAULT_IDLE_HOLD: IdleHoldPolicy = { initialSeconds: 1, maxSeconds: 120, stableSeconds: 60 };

export class IdleHoldBackoff {
  private flaps = 0;
  private upSince: number | null = null;

  constructor(
    private readonly policy: IdleHoldPolicy = DEFAULT_IDLE_HOLD,
    private readonly random: () => number = Math.random,
  ) {}

  /** The session reached Established at `now` (ms). */
  up(now: number): void {
    this.upSince = now;
  }

  /** The session went down at `now` (ms); returns seconds to wait before restarting. */
  down(now: number): number {
    if (this.upSince !== null && now - this.upSince >= this.policy.stableSeconds * 1000) this.flaps = 0;
    this.upSince = null;
    const base = Math.min(this.policy.maxSeconds, this.policy.initialSeconds * 2 ** this.flaps);
    this.flaps++;
    // Jitter down to 75%, like the RFC's other timers.
    return base * (0.75 + 0.25 * this.random());
  }

  get consecutiveFlaps(): number {
    return this.flaps;
  }
}
