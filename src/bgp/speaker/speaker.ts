/**
 * The native BGP speaker: sessions from the peering model, one Loc-RIB,
 * Calico's export policy through update groups, graceful restart, and the
 * `status`/`routes` views. One event loop owns all of it: sockets and timers
 * only post events here.
 *
 * Kernel programming is not done here: the FIB layer is fed through
 * `onBestChange` (src/commands/speaker.ts, kernel-sync.ts). Split horizon
 * for reflected routes is the update group's (update-group.ts); a route
 * learned from an external peer is still offered back to that peer, whose
 * AS_PATH loop check drops it.
 */
import type { Logger } from 'pino';
import {
  Afi,
  ErrCode,
  RefreshSubtype,
  afiSafiKey,
  encodeMessage,
  endOfRibFamily,
  ipv4ToString,
  parseIpv4,
  type PathAttributes,
  type RouteRefreshMessage,
  type UpdateVerdict,
} from '../packet/index.js';
import type { DownReason } from '../fsm/fsm.js';
import type { Negotiated } from '../fsm/negotiate.js';
import { BgpListener } from '../session/listener.js';
import { ListenerSecurity, secureConnector, transportProblem } from '../session/sockopt.js';
import { Neighbor, isCollision, type Connector } from '../session/neighbor.js';
import { type Clock, systemClock } from '../session/clock.js';
import { AttrTable } from '../rib/intern.js';
import { LocRib, multipathOf, pathsOf, type BestChange } from '../rib/loc-rib.js';
import { peerAddressKey, type Path, type PathSource } from '../rib/best-path.js';
import { type PrefixKey, keyFromString, keyToString, prefixKey } from '../rib/prefix-key.js';
import { CalicoPolicy, keyParts, loopCheck } from '../policy/calico.js';
import type { NodeBgpConfig, Peer } from '../../model/types.js';
import { type ExportClass, classSignature, exportAttributes, mayAdvertise } from './export.js';
import { UpdateGroup, exportCacheKey, type Advertised } from './update-group.js';
import { RejectedRoutes, importPolicyInputs, reapplyImportPolicy } from './rejected-routes.js';
import { DEFAULT_SESSION, type SessionDefaults, neighborConfigFor, peerIdentity } from './peer-config.js';
import { describeDown } from './describe-down.js';
import { familyOf } from '../family.js';
import type { SpeakerObservation } from './observation.js';
export type { SpeakerObservation } from './observation.js';

export interface SpeakerOptions {
  role: 'node' | 'reflector';
  /** Override the model's listen port (tests); 0 picks a free port. */
  listenPort?: number;
  /** Override the listen address; default: the model's bind mode. */
  listenHost?: string;
  session?: Partial<SessionDefaults>;
  clock?: Clock;
  connector?: Connector;
  log: Logger;
  /** Destinations whose best path changed (for kernel programming). */
  onBestChange?: (changes: readonly BestChange[]) => void;
  importOnlyPools?: boolean;
  importRejectCidrs?: boolean;
  /**
   * Most prefixes accepted from one peer. Past it: `warn` logs once;
   * `teardown` closes the session with Cease / Maximum Number of Prefixes
   * Reached (RFC 4486) and lets the restart backoff bring it back.
   */
  maxPrefixes?: { limit: number; action: 'warn' | 'teardown' };
  /** Milliseconds to gather changes before sending UPDATEs. */
  batchMs?: number;
  /** Called once, when every established peer has sent End-of-RIB after start. */
  onConverged?: () => void;
  /** Which prefixes the kernel holds from us (for the routes view). */
  installed?: () => ReadonlySet<PrefixKey>;
}

interface PeerRuntime {
  index: number;
  spec: Peer;
  identity: string;
  neighbor: Neighbor;
  source: PathSource & { routerId: number };
  group: UpdateGroup | null;
  negotiated: Negotiated | null;
  received: number;
  accepted: number;
  /** Families with stale routes from a graceful restart, and their timer. */
  staleTimer: unknown;
  /** When the peer's last End-of-RIB arrived per family key. */
  eorSeen: Set<number>;
  overLimitLogged: boolean;
}

export interface PeerStatus {
  name: string;
  address: string;
  port: number;
  asNumber: number;
  type: 'mesh' | 'global' | 'node';
  state: string;
  since: string;
  info: string;
  routesReceived: number;
  routesAccepted: number;
  routesAdvertised: number;
}

export interface RouteView {
  prefix: string;
  best: boolean;
  /** Shares forwarding with the best path (ECMP); the best path itself is true. */
  multipath: boolean;
  nextHops: string[];
  from: string;
  asPath: number[];
  localPref: number;
  communities: string[];
  /** RFC 4456 attributes of a reflected route. */
  originatorId?: string;
  clusterList?: string[];
  installed: boolean;
}

/** Changed prefixes that make a batch full (see `scheduleFlush`). */
const MAX_BATCH = 8192;

/** An IPv4 key in the form the export policy takes. */

export class Speaker {
  private model: NodeBgpConfig;
  private policy: CalicoPolicy;
  private readonly table = new AttrTable();
  private readonly rib = new LocRib(this.table);
  private readonly peers = new Map<string, PeerRuntime>();
  private readonly groups = new Map<string, UpdateGroup>();
  private readonly sources = new Map<PathSource, PeerRuntime>();
  private readonly rejected = new RejectedRoutes(this.table);
  private importInputs: string;
  private readonly listeners: { listener: BgpListener; security: ListenerSecurity | null }[] = [];
  private readonly dirty = new Set<PrefixKey>();
  private localRoutes = new Set<PrefixKey>();
  private flushTimer: unknown = null;
  private nextIndex = 1;
  private readonly clock: Clock;
  private readonly session: SessionDefaults;
  private readonly log: Logger;
  private convergedOnce = false;
  listenPortBound = 0;

  constructor(model: NodeBgpConfig, private readonly options: SpeakerOptions) {
    this.model = model;
    this.policy = this.makePolicy(model);
    this.importInputs = importPolicyInputs(model, options);
    this.clock = options.clock ?? systemClock;
    this.session = { ...DEFAULT_SESSION, ...options.session };
    this.log = options.log;
  }

  private makePolicy(model: NodeBgpConfig): CalicoPolicy {
    return new CalicoPolicy(model, {
      ...(this.options.importOnlyPools !== undefined ? { importOnlyPools: this.options.importOnlyPools } : {}),
      ...(this.options.importRejectCidrs !== undefined ? { importRejectCidrs: this.options.importRejectCidrs } : {}),
    });
  }

  private get clusterId(): string | null {
    return this.model.routeReflectorClusterId;
  }

  private get reflector(): boolean {
    return this.options.role === 'reflector' || this.clusterId !== null;
  }

  // -------------------------------------------------------------------------
  // Lifecycle
  // -------------------------------------------------------------------------

  async start(): Promise<void> {
    const port = this.options.listenPort ?? this.model.listenPort ?? 179;
    const hosts: (string | undefined)[] = [];
    if (this.options.listenHost !== undefined) hosts.push(this.options.listenHost);
    else if (this.model.bindMode === 'NodeIP') {
      for (const a of [this.model.ipv4.address, this.model.ipv6.address]) if (a !== null) hosts.push(a);
    } else hosts.push(undefined);
    for (const host of hosts) {
      // The accept hook runs only after listen() has bound the server and
      // `security` exists; until then it has nothing to secure.
      let security: ListenerSecurity | null = null;
      const listener = new BgpListener(
        { port, ...(host !== undefined ? { host } : {}) },
        (addr) => this.peerByAddress(addr)?.neighbor,
        (level, msg, extra) => this.log[level](extra, msg),
        (socket, neighbor) => {
          const rt = this.peers.get(neighbor.config.name);
          if (rt === undefined || security === null) return null;
          return security.accepted(socket, { name: rt.spec.name, address: rt.spec.address, password: rt.spec.password, ttlSecurity: rt.spec.ttlSecurity });
        },
      );
      try {
        this.listenPortBound = await listener.listen();
      } catch (e) {
        // Release the addresses already bound: a speaker that failed to start holds nothing open.
        await Promise.all([listener, ...this.listeners.map((l) => l.listener)].map((l) => l.close()));
        this.listeners.length = 0;
        throw new Error(`cannot listen on ${host ?? '*'} port ${port}: ${(e as Error).message}`);
      }
      const server = listener.netServer;
      if (server !== null) security = new ListenerSecurity(server);
      this.listeners.push({ listener, security });
    }
    this.log.info({ port: this.listenPortBound, hosts, routerId: this.model.routerId, as: this.model.asNumber, role: this.options.role }, 'BGP speaker listening');
    this.syncLocalRoutes();
    this.syncPeers();
  }

  /**
   * Stops every session. `graceful`: close without Cease so peers that
   * negotiated graceful restart keep our routes (RFC 4724); otherwise send
   * Cease with `message`.
   */
  async stop(opts: { graceful: boolean; message?: string } = { graceful: false }): Promise<void> {
    for (const p of this.peers.values()) {
      if (opts.graceful) p.neighbor.abandon();
      else p.neighbor.stop(opts.message ?? 'calico-bgpd shutting down');
      if (p.staleTimer !== null) this.clock.clearTimeout(p.staleTimer);
    }
    if (this.flushTimer !== null) this.clock.clearTimeout(this.flushTimer);
    await Promise.all(this.listeners.map((l) => l.listener.close()));
    this.listeners.length = 0;
  }

  /** Applies a new model: only peers whose entry changed are touched; local routes follow IPAM. */
  applyModel(model: NodeBgpConfig): void {
    const routerChanged = model.routerId !== this.model.routerId || model.asNumber !== this.model.asNumber;
    this.model = model;
    this.policy = this.makePolicy(model);
    if (routerChanged) {
      // Every session depends on the router id and AS: rebuild them all.
      for (const p of [...this.peers.values()]) this.removePeer(p, 'router id or AS changed');
    }
    this.syncLocalRoutes();
    this.syncPeers();
    const importInputs = importPolicyInputs(model, this.options);
    if (importInputs !== this.importInputs) {
      // RFC 4271 9.1: a policy change re-runs the decision on routes already learned.
      this.importInputs = importInputs;
      this.absorb(reapplyImportPolicy(this.rib, this.rejected, this.table, (key) => this.importRejects(key)));
      this.log.info('import policy changed: learned routes judged again');
    }
    // Policy inputs (pools, blocks, communities) may have changed: re-export everything.
    for (const g of this.groups.values()) g.clearExportCache();
    for (const d of this.rib.destinations()) this.dirty.add(d.key);
    this.scheduleFlush();
  }

  private wantedPeers(): Peer[] {
    return [...this.model.ipv4.peers, ...this.model.ipv6.peers];
  }

  private syncPeers(): void {
    const wanted = new Map(this.wantedPeers().map((p) => [p.name, p]));
    for (const [name, rt] of [...this.peers]) {
      const spec = wanted.get(name);
      if (spec === undefined) this.removePeer(rt, 'peer removed from configuration');
      else if (peerIdentity(spec) !== rt.identity) {
        this.removePeer(rt, 'peer configuration changed');
      }
    }
    for (const spec of wanted.values()) if (!this.peers.has(spec.name)) this.addPeer(spec);
    // TCP-MD5 keys and GTSM on the listening sockets follow the peer set
    // (a rotated password is replaced in place).
    const secured = [...this.peers.values()].filter((p) => p.spec.invalid === undefined).map((p) => ({ name: p.spec.name, address: p.spec.address, password: p.spec.password, ttlSecurity: p.spec.ttlSecurity }));
    const problems = new Set<string>();
    for (const l of this.listeners) for (const pr of l.security?.update(secured) ?? []) problems.add(pr);
    for (const pr of problems) this.log.error(pr);
  }

  private addPeer(spec: Peer): void {
    const index = this.nextIndex++;
    const source = {
      name: spec.name,
      address: spec.address,
      routerId: 0,
      peerType: (spec.asNumber === this.model.asNumber ? 'internal' : 'external') as 'internal' | 'external',
      addressKey: peerAddressKey(spec.address),
    };
    // The callbacks run only once the session starts, after `rt` exists.
    const neighbor = new Neighbor(
      neighborConfigFor(this.model, spec, this.session),
      {
        established: (n) => this.onEstablished(rt, n),
        down: (reason, wasEstablished) => this.onDown(rt, reason, wasEstablished),
        update: (v) => this.onUpdate(rt, v),
        routeRefresh: (m) => this.onRouteRefresh(rt, m),
        state: (s, prev) => this.log.debug({ peer: spec.name, from: prev, to: s }, 'session state'),
        log: (level, msg, extra) => this.log[level](extra ?? {}, msg),
      },
      this.clock,
      this.options.connector ?? secureConnector((cfg) => ({ password: cfg.password ?? null, ttlSecurity: cfg.ttlSecurity ?? 0 })),
    );
    const rt: PeerRuntime = {
      index,
      spec,
      identity: peerIdentity(spec),
      source,
      group: null,
      negotiated: null,
      received: 0,
      accepted: 0,
      staleTimer: null,
      eorSeen: new Set(),
      overLimitLogged: false,
      neighbor,
    };
    this.peers.set(spec.name, rt);
    this.sources.set(source, rt);
    if (spec.invalid !== undefined) {
      // Listed in status with the reason, never started; its connections are refused as unknown.
      this.log.error({ peer: spec.name, address: spec.address, key: spec.sourceKey }, `peer ${spec.name} is not configured: ${spec.invalid}; this session stays down`);
      return;
    }
    const problem = transportProblem(spec, spec);
    if (problem !== null) this.log.error(`${problem}; this session stays down`);
    if (!this.byAddress.has(spec.address)) this.byAddress.set(spec.address, rt);
    rt.neighbor.start();
  }

  private removePeer(rt: PeerRuntime, reason: string): void {
    rt.neighbor.stop(reason, 3 /* Cease / Peer De-configured */);
    this.rejected.forgetSource(rt.source);
    if (rt.staleTimer !== null) this.clock.clearTimeout(rt.staleTimer);
    this.leaveGroup(rt);
    this.absorb(this.rib.removeSource(rt.source));
    this.peers.delete(rt.spec.name);
    this.sources.delete(rt.source);
    if (this.byAddress.get(rt.spec.address) === rt) {
      this.byAddress.delete(rt.spec.address);
      for (const other of this.peers.values()) if (other.spec.address === rt.spec.address && other.spec.invalid === undefined) this.byAddress.set(other.spec.address, other);
    }
  }

  /** Peers by address, for incoming connections (first configured wins when several share an address). */
  private readonly byAddress = new Map<string, PeerRuntime>();

  private peerByAddress(address: string): PeerRuntime | undefined {
    return this.byAddress.get(address);
  }

  // -------------------------------------------------------------------------
  // Local routes: this node's blocks and advertised service ranges
  // -------------------------------------------------------------------------

  private syncLocalRoutes(): void {
    const wanted = new Set<PrefixKey>();
    for (const fam of [this.model.ipv4, this.model.ipv6]) {
      for (const b of fam.blocks) wanted.add(keyFromString(b.cidr));
      for (const s of fam.staticRoutes) wanted.add(keyFromString(s));
    }
    for (const key of this.localRoutes) if (!wanted.has(key)) this.absorbOne(this.rib.withdraw(null, key, 0), key);
    for (const key of wanted) {
      if (this.localRoutes.has(key)) continue;
      const attrs = this.table.intern({ origin: 0, asPath: [] }, typeof key === 'string' ? [] : undefined);
      this.absorbOne(this.rib.announce(null, key, 0, attrs), key);
    }
    this.localRoutes = wanted;
  }

  // -------------------------------------------------------------------------
  // Sessions
  // -------------------------------------------------------------------------

  private exportClass(rt: PeerRuntime): ExportClass {
    const self = rt.neighbor.connection?.socket.localAddress ?? rt.spec.sourceAddress ?? '';
    const selfAddress = self.startsWith('::ffff:') ? self.slice(7) : self;
    return {
      family: rt.spec.family,
      peerType: rt.source.peerType,
      localAs: this.model.asNumber,
      reflector: this.reflector,
      clusterId: this.clusterId ?? (this.options.role === 'reflector' ? this.model.routerId : null),
      rrClient: rt.spec.routeReflectorClient,
      nextHop: rt.spec.nextHop,
      selfAddress: rt.spec.family === 6 && !selfAddress.includes(':') ? (this.model.ipv6.address ?? selfAddress) : selfAddress,
    };
  }

  private onEstablished(rt: PeerRuntime, n: Negotiated): void {
    rt.negotiated = n;
    if (this.pendingRemoval.has(rt.source)) this.removePending();
    if (rt.source.routerId !== (parseIpv4(n.peerId) ?? 0)) {
      // Reflected routes carry the source's id (ORIGINATOR_ID): cached exports are stale.
      rt.source.routerId = parseIpv4(n.peerId) ?? 0;
      for (const g of this.groups.values()) g.clearExportCache();
    }
    rt.eorSeen.clear();
    this.log.info({ peer: rt.spec.name, address: rt.spec.address, holdTime: n.holdTime, addPathTx: [...n.txCtx.addPath] }, 'BGP session established');
    const cls = this.exportClass(rt);
    const sig = classSignature(cls) + JSON.stringify({ four: n.txCtx.fourOctetAs, ap: [...n.txCtx.addPath].sort(), max: n.txCtx.maxMessageLength });
    let group = this.groups.get(sig);
    if (group === undefined) {
      group = new UpdateGroup(sig, cls, n.txCtx, this.table);
      this.groups.set(sig, group);
      // A new group computes its Adj-RIB-Out from the whole Loc-RIB.
      for (const d of this.rib.destinations()) this.exportTo(group, d.key);
      group.publish(); // no members yet: this only fills the Adj-RIB-Out
    }
    // The table and End-of-RIB go out with the next flush, after the changes
    // still pending (so the new member starts from the table the others have),
    // one encoding for every member joining in between.
    group.join(rt.neighbor);
    rt.group = group;
    this.scheduleFlush();
  }

  private leaveGroup(rt: PeerRuntime): void {
    const g = rt.group;
    rt.group = null;
    if (g === null) return;
    g.leave(rt.neighbor);
    if (g.members.size === 0) {
      g.clear();
      this.groups.delete(g.signature);
    }
  }

  private onDown(rt: PeerRuntime, reason: DownReason, wasEstablished: boolean): void {
    if (!wasEstablished) return;
    this.rejected.forgetSource(rt.source);
    const collision = isCollision(reason);
    if (collision) this.log.info({ peer: rt.spec.name, reason }, 'BGP session closed by collision resolution; it comes back on the connection that was kept');
    else this.log.warn({ peer: rt.spec.name, reason }, 'BGP session down');
    const n = rt.negotiated;
    rt.negotiated = null;
    this.leaveGroup(rt);
    const family = afiSafiKey(familyOf(rt.spec.family).afi, 1);
    // RFC 4724 section 4.2: when the session drops without a NOTIFICATION and
    // the peer can restart gracefully for this family, keep its routes as
    // stale for its restart time. A collision Cease counts as no NOTIFICATION:
    // the session carries on on the other connection, which replaces the
    // routes and ends with End-of-RIB.
    const gr = n?.gracefulRestart;
    const notification = !collision && (reason.kind === 'notificationReceived' || reason.kind === 'notificationSent' || reason.kind === 'stopped');
    if (gr !== null && gr !== undefined && gr.families.has(family) && !notification && gr.restartTime > 0) {
      this.absorb(this.rib.markStale(rt.source, 1));
      this.log.info({ peer: rt.spec.name, seconds: gr.restartTime }, 'graceful restart: keeping routes as stale');
      const llgr = n?.llgrStaleTime?.get(family) ?? 0;
      // A second drop before End-of-RIB restarts the clock rather than leaving the old timer running too.
      if (rt.staleTimer !== null) this.clock.clearTimeout(rt.staleTimer);
      rt.staleTimer = this.clock.setTimeout(() => {
        rt.staleTimer = null;
        if (llgr > 0) {
          // RFC 9494: move to the long-lived stale phase, least preferred.
          this.absorb(this.rib.markStale(rt.source, 2));
          rt.staleTimer = this.clock.setTimeout(() => {
            rt.staleTimer = null;
            this.absorb(this.rib.sweepStale(rt.source));
          }, llgr * 1000);
        } else {
          this.log.info({ peer: rt.spec.name }, 'graceful restart timer expired: removing stale routes');
          this.absorb(this.rib.sweepStale(rt.source));
        }
      }, gr.restartTime * 1000);
      return;
    }
    this.pendingRemoval.add(rt.source);
    if (this.pendingRemoval.size === 1) setImmediate(() => this.removePending());
  }

  /** Peers that went down in the same tick are removed from the RIB in one pass. */
  private readonly pendingRemoval = new Set<PathSource>();

  private removePending(): void {
    if (this.pendingRemoval.size === 0) return;
    const sources = new Set(this.pendingRemoval);
    this.pendingRemoval.clear();
    this.absorb(this.rib.removeSources(sources));
  }

  private onUpdate(rt: PeerRuntime, v: Exclude<UpdateVerdict, { action: 'session-reset' }>): void {
    if (v.action === 'treat-as-withdraw') {
      this.log.warn({ peer: rt.spec.name, issues: v.issues.map((i) => i.reason) }, 'malformed UPDATE treated as withdraw (RFC 7606)');
      for (const list of v.withdraw) for (let i = 0; i < list.count; i++) this.withdrawLearned(rt, prefixKey(list, i), list.pathIds?.[i] ?? 0);
      return;
    }
    if (v.issues.length > 0) this.log.info({ peer: rt.spec.name, issues: v.issues.map((i) => i.reason) }, 'UPDATE attributes discarded (RFC 7606)');
    const u = v.update;
    const eor = endOfRibFamily(u);
    if (eor !== undefined) {
      this.onEndOfRib(rt, afiSafiKey(eor.afi, eor.safi));
      return;
    }
    for (const list of [u.withdrawn, u.attributes.mpUnreach?.withdrawn]) {
      if (list === undefined) continue;
      for (let i = 0; i < list.count; i++) this.withdrawLearned(rt, prefixKey(list, i), list.pathIds?.[i] ?? 0);
    }
    const mp = u.attributes.mpReach;
    if (u.nlri.count === 0 && (mp === undefined || mp.nlri.count === 0)) return;
    const attrs: PathAttributes = u.attributes;
    const loop = loopCheck(attrs, { localAs: this.model.asNumber, routerId: this.model.routerId, clusterId: this.clusterId }, rt.source.peerType === 'external');
    const v4set = u.nlri.count > 0 ? this.table.intern(attrs) : null;
    const v6set = mp !== undefined && mp.nlri.count > 0 ? this.table.intern(attrs, mp.nextHops) : null;
    for (const [list, set] of [[u.nlri, v4set], [mp?.nlri, v6set]] as const) {
      if (list === undefined || set === null) continue;
      for (let i = 0; i < list.count; i++) {
        rt.received++;
        const key = prefixKey(list, i);
        const pathId = list.pathIds?.[i] ?? 0;
        const rejected = loop ?? this.policy.importPrefix(list.afi, list.afi === Afi.IPV4 ? [list.words[i]!] : list.words.subarray(4 * i, 4 * i + 4), list.lens[i]!);
        if (rejected !== undefined) {
          this.withdrawLearned(rt, key, pathId);
          // Kept for a later policy change; a looped route is never usable.
          if (loop === undefined) this.rejected.keep(rt.source, key, pathId, this.table.retain(set));
          continue;
        }
        this.rejected.forget(rt.source, key, pathId);
        rt.accepted++;
        this.absorbOne(this.rib.announce(rt.source, key, pathId, this.table.retain(set)), key);
      }
      this.table.release(set);
    }
    if (loop !== undefined) this.log.debug({ peer: rt.spec.name, reason: loop }, 'routes ignored');
    this.checkMaxPrefixes(rt);
  }

  /** A route from a peer is gone (withdrawn or replaced by an unusable one): from the Loc-RIB and the kept rejects. */
  private withdrawLearned(rt: PeerRuntime, key: PrefixKey, pathId: number): void {
    this.rejected.forget(rt.source, key, pathId);
    this.absorbOne(this.rib.withdraw(rt.source, key, pathId), key);
  }

  /** Why the import policy turns a prefix away, or undefined. */
  private importRejects(key: PrefixKey): string | undefined {
    const prefix = keyParts(key);
    return this.policy.importPrefix(prefix.afi, prefix.words, prefix.len);
  }

  private checkMaxPrefixes(rt: PeerRuntime): void {
    const max = this.options.maxPrefixes;
    if (max === undefined) return;
    const held = this.rib.countFrom(rt.source);
    if (held <= max.limit) {
      rt.overLimitLogged = false;
      return;
    }
    if (max.action === 'warn') {
      if (!rt.overLimitLogged) this.log.warn({ peer: rt.spec.name, prefixes: held, limit: max.limit }, 'peer exceeds the prefix limit');
      rt.overLimitLogged = true;
      return;
    }
    this.log.error({ peer: rt.spec.name, prefixes: held, limit: max.limit }, 'peer exceeds the prefix limit: closing the session');
    // RFC 4486 section 4: the data is AFI (2), SAFI (1) and the limit (4).
    const data = Buffer.alloc(7);
    data.writeUInt16BE(familyOf(rt.spec.family).afi, 0);
    data[2] = 1;
    data.writeUInt32BE(Math.min(max.limit, 0xffffffff), 3);
    rt.neighbor.drop(`more than ${max.limit} prefixes`, 1, data);
  }

  private onEndOfRib(rt: PeerRuntime, family: number): void {
    rt.eorSeen.add(family);
    // RFC 4724 section 4.2: End-of-RIB from the restarted peer: whatever is
    // still stale was not re-advertised.
    if (rt.staleTimer !== null) {
      this.clock.clearTimeout(rt.staleTimer);
      rt.staleTimer = null;
    }
    this.absorb(this.rib.sweepStale(rt.source));
    if (!this.convergedOnce) {
      // RFC 4724 section 4.1: End-of-RIB "from all its peers", not only from
      // those whose sessions happen to be up: a peer still connecting (a
      // collision, a slower node) has routes to send too. Until then the
      // kernel's stale routes keep forwarding, bounded by its purge timer.
      if ([...this.peers.values()].every((p) => p.negotiated !== null && p.eorSeen.size > 0)) {
        this.convergedOnce = true;
        this.options.onConverged?.();
      }
    }
  }

  private onRouteRefresh(rt: PeerRuntime, m: RouteRefreshMessage): void {
    const family = familyOf(rt.spec.family).afi;
    if (m.afi !== family || m.safi !== 1) return;
    if (m.subtype === RefreshSubtype.BORR) {
      // RFC 7313: the peer re-sends everything; what it does not re-send by
      // EoRR is gone.
      this.absorb(this.rib.markStale(rt.source, 1));
      return;
    }
    if (m.subtype === RefreshSubtype.EORR) {
      this.absorb(this.rib.sweepStale(rt.source));
      return;
    }
    if (m.subtype !== RefreshSubtype.NORMAL || rt.group === null) return;
    const n = rt.negotiated;
    const msgs = rt.group.fullTable(rt.neighbor);
    if (n?.enhancedRouteRefresh === true) {
      const ctx = n.txCtx;
      rt.neighbor.writeUpdates([
        encodeMessage({ type: 'ROUTE-REFRESH', afi: m.afi, safi: 1, subtype: RefreshSubtype.BORR }, ctx),
        ...msgs,
        encodeMessage({ type: 'ROUTE-REFRESH', afi: m.afi, safi: 1, subtype: RefreshSubtype.EORR }, ctx),
      ]);
    } else {
      rt.neighbor.writeUpdates(msgs);
    }
  }

  /** Asks a peer to re-send its routes (inbound soft reset). */
  refresh(peerName: string): boolean {
    const rt = this.peers.get(peerName);
    if (rt?.negotiated == null || !rt.negotiated.routeRefresh) return false;
    return rt.neighbor.send({ type: 'ROUTE-REFRESH', afi: familyOf(rt.spec.family).afi, safi: 1, subtype: RefreshSubtype.NORMAL });
  }

  /** Resets one session (or all with no name). */
  reset(peerName?: string): number {
    let n = 0;
    for (const rt of this.peers.values()) {
      if (peerName !== undefined && rt.spec.name !== peerName) continue;
      rt.neighbor.reset();
      n++;
    }
    return n;
  }

  // -------------------------------------------------------------------------
  // Export
  // -------------------------------------------------------------------------

  private absorbOne(change: BestChange | null, key: PrefixKey): void {
    if (change === null) return;
    this.dirty.add(key);
    this.options.onBestChange?.([change]);
    this.scheduleFlush();
  }

  private absorb(changes: readonly BestChange[]): void {
    if (changes.length === 0) return;
    for (const c of changes) this.dirty.add(c.dest.key);
    this.options.onBestChange?.(changes);
    this.scheduleFlush();
  }

  /**
   * Flushes after `batchMs`, or at once when the batch is full. The bound
   * matters when UPDATEs arrive faster than one turn of the event loop: a
   * whole table can be read before a timer gets to run, and then the
   * changed-prefix set, each group's pending map and the packing lists all
   * grow to the size of the table for a moment, which is most of the
   * process's peak memory. Batches of `MAX_BATCH` prefixes still fill every
   * UPDATE.
   */
  private scheduleFlush(): void {
    if (this.dirty.size >= MAX_BATCH) {
      if (this.flushTimer !== null) this.clock.clearTimeout(this.flushTimer);
      this.flushTimer = null;
      this.flushNow();
      return;
    }
    if (this.flushTimer !== null) return;
    this.flushTimer = this.clock.setTimeout(() => {
      this.flushTimer = null;
      this.flushNow();
    }, this.options.batchMs ?? 10);
  }

  private localPathId(p: Path): number {
    const idx = p.source === null ? 0 : (this.sources.get(p.source)?.index ?? 0);
    return idx * 4096 + (p.pathId % 4096) + 1;
  }

  private exportTo(group: UpdateGroup, key: PrefixKey): void {
    const isV4 = typeof key === 'number';
    if (isV4 !== (group.cls.family === 4)) return;
    const dest = this.rib.get(key);
    let wanted: Advertised = null;
    if (dest !== undefined && dest.best !== null) {
      const prefix = keyParts(key);
      // Calico's export filter decides per prefix, whichever path is sent.
      const decision = this.policy.exportPrefix(prefix.afi, prefix.words, prefix.len);
      if (decision.accept) {
        const commKey = decision.communities.length + decision.largeCommunities.length === 0 ? '' : JSON.stringify([decision.communities, decision.largeCommunities]);
        const candidates = group.addPath ? multipathOf(dest) : [dest.best];
        for (const p of candidates) {
          const srcRt = p.source === null ? undefined : this.sources.get(p.source);
          if (!mayAdvertise(p, group.cls, srcRt?.spec.routeReflectorClient ?? false)) continue;
          const cacheKey = exportCacheKey(p.attrs.id, srcRt?.index ?? 0, commKey);
          let set = group.exportCache.get(cacheKey);
          if (set === undefined) {
            const r = exportAttributes(p, group.cls, decision);
            set = this.table.intern(r.attrs, isV4 ? undefined : r.nextHops);
            group.exportCache.set(cacheKey, set);
          }
          this.table.retain(set);
          if (!group.addPath) {
            wanted = set;
            break;
          }
          if (!(wanted instanceof Map)) wanted = new Map();
          wanted.set(this.localPathId(p), set);
        }
      }
    }
    group.setPrefix(key, wanted);
  }

  private flushNow(): void {
    const keys = [...this.dirty];
    this.dirty.clear();
    for (const group of this.groups.values()) {
      if (keys.length === 0 && !group.hasJoining) continue;
      for (const key of keys) this.exportTo(group, key);
      group.publish();
    }
  }

  // -------------------------------------------------------------------------
  // Views
  // -------------------------------------------------------------------------

  get routerId(): string {
    return this.model.routerId;
  }

  status(): { routerId: string; asNumber: number; peers: PeerStatus[] } {
    const peers: PeerStatus[] = [];
    for (const rt of this.peers.values()) {
      const state = rt.neighbor.state;
      peers.push({
        name: rt.spec.name,
        address: rt.spec.address,
        port: rt.spec.port ?? 179,
        asNumber: rt.spec.asNumber,
        type: rt.spec.type,
        state,
        since: rt.neighbor.since.toISOString(),
        info: state === 'Established' ? 'Established' : describeDown(rt.neighbor.lastDown, rt.spec, state),
        routesReceived: rt.received,
        routesAccepted: this.rib.countFrom(rt.source),
        routesAdvertised: rt.group?.advertisedTo(rt.neighbor) ?? 0,
      });
    }
    return { routerId: this.model.routerId, asNumber: this.model.asNumber, peers };
  }

  routes(prefix?: string): { routes: RouteView[] } {
    const out: RouteView[] = [];
    const dests = prefix !== undefined ? [this.rib.get(keyFromString(prefix))].filter((d) => d !== undefined) : [...this.rib.destinations()];
    for (const d of dests) {
      const multipath = new Set(multipathOf(d));
      for (const p of pathsOf(d)) {
        const a = p.attrs.attrs;
        out.push({
          prefix: keyToString(d.key),
          best: p === d.best,
          multipath: multipath.has(p),
          nextHops: [...p.attrs.nextHops],
          from: p.source?.name ?? 'local',
          asPath: (a.asPath ?? []).flatMap((s) => s.asns),
          localPref: a.localPref ?? 100,
          communities: (a.communities ?? []).map((c) => `${c >>> 16}:${c & 0xffff}`),
          ...(a.originatorId !== undefined ? { originatorId: a.originatorId } : {}),
          ...(a.clusterList !== undefined ? { clusterList: [...a.clusterList] } : {}),
          installed: this.options.installed?.().has(d.key) ?? false,
        });
      }
    }
    out.sort((x, y) => (x.prefix < y.prefix ? -1 : x.prefix > y.prefix ? 1 : Number(y.best) - Number(x.best)));
    return { routes: out };
  }

  /** What the metrics endpoint reads at scrape time (src/metrics/speaker-metrics.ts). */
  observe(): SpeakerObservation {
    let backlog = 0;
    for (const g of this.groups.values()) backlog += g.pendingCount;
    let refused = 0;
    let refusedNotLogged = 0;
    for (const { listener } of this.listeners) {
      refused += listener.refusals.counts.refused;
      refusedNotLogged += listener.refusals.counts.suppressed;
    }
    const peers = [...this.peers.values()].map((rt) => ({ spec: rt.spec, neighbor: rt.neighbor, received: rt.received, accepted: this.rib.countFrom(rt.source), advertised: rt.group?.advertisedTo(rt.neighbor) ?? 0 }));
    return { peers, backlog, refused, refusedNotLogged };
  }

  /** The Loc-RIB, read-only, for the FIB layer. */
  get locRib(): LocRib {
    return this.rib;
  }

  get currentModel(): NodeBgpConfig {
    return this.model;
  }

  /** Each peer's session by protocol name (negotiated facts, socket), for the BIRD-compatible socket. */
  sessions = (): Map<string, Neighbor> => new Map([...this.peers.values()].map((rt) => [rt.spec.name, rt.neighbor]));
}

export { ErrCode, describeDown, ipv4ToString };
