/**
 * The BIRD view of the native speaker, per address family, as calico-node's
 * two BIRDs would show it: IPv4 peers on bird.ctl, IPv6 peers on bird6.ctl.
 * Reads only the speaker's public views (`status`, `sessions`, the model and
 * the Loc-RIB); changes nothing.
 */
import type { DownReason } from '../../bgp/fsm/fsm.js';
import type { Negotiated } from '../../bgp/fsm/negotiate.js';
import type { LocRib } from '../../bgp/rib/loc-rib.js';
import { keyFamily } from '../../bgp/rib/prefix-key.js';
import type { Neighbor } from '../../bgp/session/neighbor.js';
import type { PeerStatus } from '../../bgp/speaker/speaker.js';
import type { NodeBgpConfig, Peer } from '../../model/types.js';
import { BIRD_VERSION } from './server.js';
import type { BirdBgpState, BirdDaemonView, BirdGracefulRestartView, BirdProtocolView, BirdSessionView, ViewDetail } from './view.js';

/** What this module needs of a `Speaker`. */
export interface SpeakerViews {
  status(): { routerId: string; peers: PeerStatus[] };
  sessions(): Map<string, Neighbor>;
  readonly currentModel: NodeBgpConfig;
  readonly locRib: LocRib;
}

/** Facts about the daemon that the speaker does not hold. */
export interface DaemonFacts {
  bootedAt: Date;
  /** When the model last changed (BIRD's last reconfiguration). */
  reconfiguredAt: Date;
  /** Graceful-restart recovery of this daemon, or null when not restarting. */
  gracefulRestart: (peers: number) => BirdGracefulRestartView | null;
  now?: () => Date;
}

const STRERROR: [RegExp, string][] = [
  [/ECONNREFUSED/, 'Connection refused'],
  [/ETIMEDOUT|timed out/i, 'Connection timed out'],
  [/EHOSTUNREACH/, 'No route to host'],
  [/ENETUNREACH/, 'Network is unreachable'],
  [/ECONNRESET/, 'Connection reset by peer'],
  [/EADDRNOTAVAIL/, 'Cannot assign requested address'],
];

/** BIRD's last-error text (`bgp_last_errmsg` with its error class prefix) for why a session went down. */
export function birdLastError(reason: DownReason | null): string {
  if (reason === null) return '';
  switch (reason.kind) {
    case 'connectionFailed': {
      const known = STRERROR.find(([re]) => re.test(reason.error));
      return `Socket: ${known !== undefined ? known[1] : /closed|end/i.test(reason.error) ? 'Connection closed' : reason.error}`;
    }
    case 'holdTimerExpired':
      return 'Error: Hold timer expired';
    case 'notificationReceived':
      return `Received: ${reason.text}`;
    case 'notificationSent':
      return `Error: ${reason.text}`;
    case 'stopped':
    case 'collision':
      return '';
  }
}

/** BIRD's `Neighbor caps` and `Session` words for a negotiated session. */
export function sessionWords(n: Negotiated, spec: Peer, localAs: number): { caps: string[]; session: string[] } {
  const rxAddPath = n.rxCtx.addPath.size > 0;
  const txAddPath = n.txCtx.addPath.size > 0;
  const caps: string[] = [];
  if (n.routeRefresh) caps.push('refresh');
  if (n.enhancedRouteRefresh) caps.push('enhanced-refresh');
  if (n.gracefulRestart !== null) caps.push(n.gracefulRestart.families.size > 0 ? 'restart-able' : 'restart-aware');
  if (n.llgrStaleTime !== null) caps.push([...n.llgrStaleTime.values()].some((t) => t > 0) ? 'llgr-able' : 'llgr-aware');
  if (n.fourOctetAs) caps.push('AS4');
  // The peer's view: it sends with path ids when we receive them, and the other way round.
  if (txAddPath) caps.push('add-path-rx');
  if (rxAddPath) caps.push('add-path-tx');
  if (n.extendedMessage) caps.push('ext-messages');
  const internal = spec.asNumber === localAs;
  // BIRD 1.6 runs every iBGP session multihop unless told otherwise.
  const session = [internal ? 'internal' : 'external'];
  if (internal) session.push('multihop');
  if (spec.routeReflectorClient) session.push('route-reflector');
  if (n.fourOctetAs) session.push('AS4');
  if (rxAddPath) session.push('add-path-rx');
  if (txAddPath) session.push('add-path-tx');
  if (n.extendedMessage) session.push('ext-messages');
  return { caps, session };
}

function bgpState(state: string, spec: Peer): BirdBgpState {
  // BIRD names a passive protocol that waits for the peer "Passive".
  if (spec.passive && (state === 'Active' || state === 'Idle')) return 'Passive';
  return state as BirdBgpState;
}

function protocolView(s: PeerStatus, spec: Peer, nbr: Neighbor | undefined, preferred: number, localAs: number): BirdProtocolView {
  const established = s.state === 'Established';
  const n = established ? (nbr?.negotiated ?? null) : null;
  let session: BirdSessionView | null = null;
  if (n !== null) {
    const words = sessionWords(n, spec, localAs);
    session = {
      neighborId: n.peerId,
      neighborCaps: words.caps,
      session: words.session,
      sourceAddress: nbr?.connection?.socket.localAddress?.replace(/^::ffff:/, '') ?? spec.sourceAddress ?? '',
      holdTime: n.holdTime,
      keepaliveTime: n.keepaliveTime,
    };
  }
  return {
    name: s.name,
    state: established ? 'up' : 'start',
    since: new Date(s.since),
    bgpState: bgpState(s.state, spec),
    lastError: established ? '' : birdLastError(nbr?.lastDown ?? null),
    neighborAddress: s.address,
    neighborAs: s.asNumber,
    imported: s.routesAccepted,
    exported: s.routesAdvertised,
    preferred,
    received: s.routesReceived,
    session,
  };
}

/** Destinations counted between two yields to the event loop (a few milliseconds of work). */
const WALK_SLICE = 20_000;

/**
 * Paths and destinations of one family, and how many best paths each peer
 * gave. Walks the Loc-RIB in slices and yields between them, so a table of
 * a million routes (about a second of walking) never stalls sessions.
 * Counts taken while routes change are as approximate as BIRD's.
 */
export async function tableCounts(rib: LocRib, family: 4 | 6): Promise<{ paths: number; networks: number; preferred: Map<string, number> }> {
  const afi = family === 4 ? 1 : 2;
  const preferred = new Map<string, number>();
  let paths = 0;
  let networks = 0;
  let slice = 0;
  for (const d of rib.destinations()) {
    if (++slice === WALK_SLICE) {
      slice = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (keyFamily(d.key) !== afi) continue;
    networks++;
    for (let p = d.best; p !== null; p = p.next) paths++;
    const from = d.best?.source?.name;
    if (from !== undefined) preferred.set(from, (preferred.get(from) ?? 0) + 1);
  }
  return { paths, networks, preferred };
}

/**
 * The view one BIRD of `family` would give of the speaker's peers and, with
 * `detail` 'routes', of its table (one walk of the Loc-RIB).
 */
export async function speakerBirdView(speaker: SpeakerViews, family: 4 | 6, facts: DaemonFacts, detail: ViewDetail = 'routes'): Promise<BirdDaemonView> {
  const model = speaker.currentModel;
  const specs = new Map((family === 4 ? model.ipv4 : model.ipv6).peers.map((p) => [p.name, p]));
  const { paths, networks, preferred } = detail === 'routes' ? await tableCounts(speaker.locRib, family) : { paths: 0, networks: 0, preferred: new Map<string, number>() };
  const sessions = speaker.sessions();
  const protocols: BirdProtocolView[] = [];
  for (const s of speaker.status().peers) {
    const spec = specs.get(s.name);
    // A peer the model could not configure has no protocol in Calico's BIRD config either.
    if (spec === undefined || spec.invalid !== undefined) continue;
    protocols.push(protocolView(s, spec, sessions.get(s.name), preferred.get(s.name) ?? 0, model.asNumber));
  }
  return {
    version: BIRD_VERSION,
    routerId: model.routerId,
    now: facts.now?.() ?? new Date(),
    bootedAt: facts.bootedAt,
    reconfiguredAt: facts.reconfiguredAt,
    gracefulRestart: facts.gracefulRestart(protocols.length),
    protocols,
    routes: { paths, networks },
  };
}
