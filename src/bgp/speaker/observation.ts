/**
 * What the speaker reports for metrics, read at scrape time (`Speaker.observe()`):
 * state the speaker keeps anyway, gathered once per scrape.
 */
import type { Neighbor } from '../session/neighbor.js';
import type { Peer } from '../../model/types.js';

/** Per-peer state and counters, and the speaker-wide figures next to them. */
export interface SpeakerObservation {
  peers: { spec: Peer; neighbor: Neighbor; received: number; accepted: number; advertised: number }[];
  /** Prefixes changed but not yet sent, over all update groups. */
  backlog: number;
  /** Incoming connections refused (not a peer, or failing TCP-MD5/GTSM), and their log lines left out by the rate limit. */
  refused: number;
  refusedNotLogged: number;
}
