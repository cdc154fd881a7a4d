/**
 * Readiness and liveness, with the meaning calico-node gives its
 * `-bird-ready` / `-bird-live` probes (node/pkg/health in Calico):
 *
 * ready (speaker):
 * - no BGP peers configured: ready;
 * - during the start-up grace period (`READY_GRACE_SECONDS` after the
 *   speaker started): every peer (mesh, global and node-specific alike)
 *   must be Established, and no graceful restart may be in progress (we
 *   restarted with routes kept and have not yet had every End-of-RIB), so
 *   that a rolling update waits until this node's BGP is back;
 * - after it: at least one peer Established, so that other nodes going
 *   down do not make the whole mesh unready.
 *
 * live: the daemon answers on its control socket (the answer is the proof:
 * calico-node asks BIRD for `show status` the same way).
 */

/** One probe's verdict and the line that says why. */
export interface HealthResult {
  ok: boolean;
  reason: string;
}

export type HealthKind = 'ready' | 'live';

/** calico-node's default `-threshold-time` for `-bird-ready`. */
export const READY_GRACE_SECONDS = 30;

/** What the speaker's readiness looks at. */
export interface SpeakerHealthInput {
  peers: readonly { name: string; address: string; state: string }[];
  /** Seconds since the speaker started its sessions. */
  uptimeSeconds: number;
  /** Restarted with forwarding state kept and not yet converged (RFC 4724). */
  gracefulRestartInProgress: boolean;
}

/** The speaker's readiness (see the module comment). */
export function speakerReadiness(input: SpeakerHealthInput): HealthResult {
  const { peers } = input;
  if (peers.length === 0) return { ok: true, reason: 'ready: no BGP peers configured' };
  const up = peers.filter((p) => p.state === 'Established');
  const down = peers.filter((p) => p.state !== 'Established').map((p) => p.address);
  if (input.uptimeSeconds < READY_GRACE_SECONDS) {
    if (down.length > 0) return { ok: false, reason: `not ready: BGP not established with ${down.join(',')} (start-up: all peers must be up)` };
    if (input.gracefulRestartInProgress) return { ok: false, reason: 'not ready: graceful restart in progress' };
    return { ok: true, reason: `ready: all ${peers.length} BGP peers established` };
  }
  if (up.length === 0) return { ok: false, reason: `not ready: BGP not established with ${down.join(',')}` };
  return { ok: true, reason: `ready: ${up.length} of ${peers.length} BGP peers established` };
}

/** The speaker's liveness: it answered, so it runs. */
export function speakerLiveness(peers: readonly { state: string }[]): HealthResult {
  const up = peers.filter((p) => p.state === 'Established').length;
  return { ok: true, reason: `live: speaker running, ${up} of ${peers.length} BGP peers established` };
}

/** Before the first model: alive (waiting is normal), not ready. */
export function startingHealth(kind: HealthKind, waitingFor: string): HealthResult {
  return kind === 'live' ? { ok: true, reason: `live: starting, ${waitingFor}` } : { ok: false, reason: `not ready: starting, ${waitingFor}` };
}
