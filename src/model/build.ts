/**
 * Key view + node name + environment -> NodeBgpConfig, with the rules of
 * Calico's BIRD templates (bird.cfg / bird6.cfg / bird_aggr / bird_ipam):
 *
 * - Router id: CALICO_ROUTER_ID `hash` -> an IPv4 made from the SHA-256 of
 *   the node name (first byte above 223 lowered by 32), any other non-empty
 *   value literally, else the node's IPv4 address.
 * - A family whose node address is empty is disabled: no peers at all.
 * - Mesh (when enabled and this node is not a route reflector): one peer per
 *   other node with an address in the family, skipping ourselves and route
 *   reflectors; AS and listen port of that node (else global); passive when
 *   the peer address sorts after ours as a string, so exactly one side
 *   connects; node-mesh password and restart time.
 * - Global and node-specific peers from their keys, ourselves skipped;
 *   `source address` for UseNodeIP; `rr client` when the peer is iBGP, this
 *   node has a cluster id and the peer is not in the same cluster;
 *   `next hop keep` for keepOriginalNextHop towards an eBGP peer.
 *
 * Bad entries (malformed JSON, address, CIDR, AS) become Problems naming the
 * key; the entry is skipped and the rest of the model is still built.
 */
import { createHash } from 'node:crypto';
import type { Problem } from '../datastore/resources/problem.js';
import { keyPartToCidr, parseCidr } from '../net/index.js';
import { parseAsNumber } from '../datastore/resources/ip.js';
import { G, H, KeyIndex, type FamilyEntry } from './key-index.js';
import { interfaceNameProblem, passwordProblem } from './validate.js';
import type {
  Block,
  Family,
  FamilyConfig,
  ModelEnv,
  NodeBgpConfig,
  Peer,
  Pool,
  PrefixCommunities,
  SkippedPeer,
} from './types.js';

/** Calico's `hashToIPv4`: SHA-256 of the node name, first four bytes, first byte kept out of 224+. */
/**
 * Is `nodeName` in the key view at all? Calico writes a node's ip_addr_v4 key
 * (empty when the node has no IPv4 address) for every node it knows.
 */
export function nodeInKeyView(keys: ReadonlyMap<string, string>, nodeName: string): boolean {
  return keys.has(`/calico/bgp/v1/host/${nodeName}/ip_addr_v4`);
}

export function hashToIPv4(nodeName: string): string {
  const h = createHash('sha256').update(nodeName).digest();
  const first = h[0]! > 223 ? h[0]! - 32 : h[0]!;
  return `${first}.${h[1]}.${h[2]}.${h[3]}`;
}

function parseJson(key: string, raw: string, problems: Problem[]): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    problems.push({ resource: key, message: 'value is not valid JSON; entry skipped' });
    return undefined;
  }
}

const rec = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/** Builds the peering model for `nodeName` from a key view. Pure. */
export function buildNodeBgpConfig(
  keys: ReadonlyMap<string, string>,
  nodeName: string,
  env: ModelEnv = {},
): { config: NodeBgpConfig; problems: Problem[] } {
  return buildFromIndex(KeyIndex.from(keys, nodeName), env);
}

/** A memoised peer, as a Calico node's peer (same object for the same input peer). */
const asCalicoNode = new WeakMap<Peer, Peer>();

/** A peer entry's outcome, memoised per key and inputs. */
interface Outcome {
  peer?: Peer;
  skipped?: SkippedPeer;
  problems: Problem[];
}

/** An AS number setting, or `fallback` when it is empty or bad (a bad one is a Problem in `sink`). */
export function asOr(raw: string | undefined, fallback: number, key: string, sink: Problem[]): number {
  if (raw === undefined || raw === '') return fallback;
  const as = parseAsNumber(raw);
  if (as === undefined) {
    sink.push({ resource: key, message: `AS number ${JSON.stringify(raw)} is not 0-4294967295 or asdot; using ${fallback}` });
    return fallback;
  }
  return as;
}

/** A port setting, or null when it is empty or bad (a bad one is a Problem in `sink`). */
export function portOf(raw: string | undefined, key: string, sink: Problem[]): number | null {
  if (raw === undefined || raw === '') return null;
  const p = Number(raw);
  if (!Number.isInteger(p) || p < 1 || p > 65535) {
    sink.push({ resource: key, message: `port ${JSON.stringify(raw)} is not 1-65535; ignored` });
    return null;
  }
  return p;
}

/** Calico's BIRD protocol name of a peer: `Mesh_10_0_0_1`, `Node_2001_db8__1_port_1790`. */
export function peerName(prefix: string, ip: string, port: number | null): string {
  return `${prefix}_${ip.replace(/[.:]/g, '_')}${port ? `_port_${port}` : ''}`;
}

/** The settings every peering of this node depends on. */
export interface PeerSettings {
  globalAs: number;
  localAs: number;
  meshEnabled: boolean;
  globalListen: number | null;
  meshPassword: string | null;
  /** Why the mesh password cannot be used, if it cannot. */
  meshPasswordProblem: string | null;
  meshRestart: number | null;
  rrClusterId: string | null;
}

/** What the peer builders share: the index, the settings, the problems sink and the node-address test. */
export interface PeerContext {
  idx: KeyIndex;
  settings: PeerSettings;
  problems: Problem[];
  /** Is `ip` the address of a Calico node? */
  isNodeIp(ip: string): boolean;
}

/** The part of the settings a mesh peering's memo signature depends on. */
function meshSignature(s: PeerSettings): string {
  return `${s.globalAs}|${s.globalListen}|${s.meshPassword}|${s.meshRestart}`;
}

/** A test for "is this a node's address", building the address set on first use. */
export function nodeIpTest(idx: KeyIndex): (ip: string) => boolean {
  let known: Set<string> | undefined;
  return (ip) => {
    if (known === undefined) {
      known = new Set<string>();
      for (const h of idx.hosts.map.values()) {
        if (h.v4) known.add(h.v4);
        if (h.v6) known.add(h.v6);
      }
    }
    return known.has(ip);
  };
}

/** Whether the node-to-node mesh is on (the default). */
export function meshEnabledOf(idx: KeyIndex, problems: Problem[]): boolean {
  const meshRaw = idx.get(`${G}node_mesh`);
  if (meshRaw === undefined) return true;
  const v = rec(parseJson(`${G}node_mesh`, meshRaw, problems));
  if (v && typeof v.enabled === 'boolean') return v.enabled;
  if (v) problems.push({ resource: `${G}node_mesh`, message: 'expected {"enabled": true|false}; mesh stays on' });
  return true;
}

/** The settings of every mesh peering: password (checked) and restart time. */
export function meshPeerSettings(idx: KeyIndex, problems: Problem[]): Pick<PeerSettings, 'meshPassword' | 'meshPasswordProblem' | 'meshRestart'> {
  const meshPassword = idx.get(`${G}node_mesh_password`) ?? null;
  const meshPasswordProblem = meshPassword === null ? null : passwordProblem(meshPassword);
  if (meshPasswordProblem !== null) problems.push({ resource: `${G}node_mesh_password`, message: `${meshPasswordProblem}; no mesh peering is configured` });
  let meshRestart: number | null = null;
  const meshRestartRaw = idx.get(`${G}node_mesh_restart_time`);
  if (meshRestartRaw !== undefined && meshRestartRaw !== '') {
    const n = Number(meshRestartRaw);
    if (Number.isInteger(n) && n >= 0) meshRestart = n;
    else problems.push({ resource: `${G}node_mesh_restart_time`, message: `${JSON.stringify(meshRestartRaw)} is not whole seconds; ignored` });
  }
  return { meshPassword, meshPasswordProblem, meshRestart };
}

/** The global ignored-interfaces list, each name checked (a bad one is left out). */
export function ignoredInterfacesOf(idx: KeyIndex, problems: Problem[]): string[] {
  const ignoredRaw = idx.get(`${G}ignored_interfaces`);
  return (ignoredRaw ? ignoredRaw.split(',').filter((s) => s !== '') : []).filter((name) => {
    const bad = interfaceNameProblem(name);
    if (bad !== null) problems.push({ resource: `${G}ignored_interfaces`, message: `${bad}; that interface is not ignored, the others are` });
    return bad === null;
  });
}

/** This node's address in `family` (canonical), or null when it has none or a bad one (then the family is off). */
export function ownAddress(idx: KeyIndex, raw: string, family: Family, key: string, problems: Problem[]): string | null {
  if (raw === '') return null;
  const ip = idx.ip(raw);
  if (!ip || ip.family !== family) {
    problems.push({ resource: key, message: `${JSON.stringify(raw)} is not an IPv${family} address; IPv${family} disabled on this node` });
    return null;
  }
  return ip.text;
}

/** This node's route-reflector cluster id, or null when it is not a route reflector (or the id is bad). */
export function rrClusterIdOf(idx: KeyIndex, raw: string, problems: Problem[]): string | null {
  if (raw === '') return null;
  const ip = idx.ip(raw);
  if (ip && ip.family === 4) return ip.text;
  problems.push({ resource: `${H}${idx.nodeName}/rr_cluster_id`, message: `${JSON.stringify(raw)} is not an IPv4 address; not a route reflector` });
  return null;
}

/** The router id: CALICO_ROUTER_ID (`hash` or an IPv4 address), else the node's IPv4 address. */
export function routerIdOf(
  idx: KeyIndex,
  env: ModelEnv,
  addr4: string | null,
  problems: Problem[],
): { routerId: string; routerIdSource: NodeBgpConfig['routerIdSource'] } {
  const envId = env.routerId?.trim() ?? '';
  if (envId === 'hash') return { routerId: hashToIPv4(idx.nodeName), routerIdSource: 'hash' };
  if (envId !== '') {
    const ip = idx.ip(envId);
    if (ip && ip.family === 4) return { routerId: ip.text, routerIdSource: 'env' };
    problems.push({ resource: 'env/CALICO_ROUTER_ID', message: `${JSON.stringify(envId)} is not an IPv4 address or "hash"; using the node IPv4 address` });
  }
  if (addr4 !== null) return { routerId: addr4, routerIdSource: 'node-ipv4' };
  problems.push({ resource: `${H}${idx.nodeName}/ip_addr_v4`, message: 'no router id: the node has no IPv4 address and CALICO_ROUTER_ID is not set' });
  return { routerId: '', routerIdSource: 'none' };
}

/**
 * Builds the model from an index (kept current by `KeyIndex.apply`). Same
 * result as `buildNodeBgpConfig` on the equivalent key view; unchanged peers
 * come back as the same objects as last time.
 */
export function buildFromIndex(idx: KeyIndex, env: ModelEnv = {}): { config: NodeBgpConfig; problems: Problem[] } {
  const nodeName = idx.nodeName;
  const problems: Problem[] = [];
  const myHost = `${H}${nodeName}/`;
  const me = idx.hosts.get(nodeName) ?? { v4: '', v6: '', as: '', rr: '', listenPort: '' };

  const globalAs = asOr(idx.get(`${G}as_num`), 64512, `${G}as_num`, problems);
  const localAs = asOr(me.as, globalAs, `${myHost}as_num`, problems);
  const meshEnabled = meshEnabledOf(idx, problems);
  const globalListen = portOf(idx.get(`${G}listen_port`), `${G}listen_port`, problems);
  const listenPort = me.listenPort !== '' ? portOf(me.listenPort, `${myHost}listen_port`, problems) : globalListen;
  const bindMode = idx.get(`${G}bind_mode`) === 'NodeIP' ? 'NodeIP' : 'None';
  const logLevel = idx.get(`${myHost}loglevel`) ?? idx.get(`${G}loglevel`) ?? 'info';
  const ignoredInterfaces = ignoredInterfacesOf(idx, problems);
  const mesh = meshPeerSettings(idx, problems);

  const addr4 = ownAddress(idx, me.v4, 4, `${myHost}ip_addr_v4`, problems);
  const addr6 = ownAddress(idx, me.v6, 6, `${myHost}ip_addr_v6`, problems);
  const rrClusterId = rrClusterIdOf(idx, me.rr, problems);
  const { routerId, routerIdSource } = routerIdOf(idx, env, addr4, problems);

  const ctx: PeerContext = { idx, problems, isNodeIp: nodeIpTest(idx), settings: { globalAs, localAs, meshEnabled, globalListen, rrClusterId, ...mesh } };
  const family = (f: Family, own: string | null): FamilyConfig => {
    const { peers, skipped } = familyPeers(ctx, f, own);
    const net = idx.get(`${myHost}network_v${f}`);
    return {
      address: own,
      network: net ? net : null,
      peers,
      skipped,
      pools: poolsOf(idx, f, problems),
      blocks: blocksOf(idx, f, problems),
      staticRoutes: routesOf(idx, f, 'static', problems),
      rejectCidrs: routesOf(idx, f, 'reject', problems),
      communities: communitiesOf(idx, f, problems),
    };
  };

  const config: NodeBgpConfig = {
    nodeName,
    routerId,
    routerIdSource,
    asNumber: localAs,
    listenPort,
    bindMode,
    logLevel,
    meshEnabled,
    routeReflectorClusterId: rrClusterId,
    ignoredInterfaces,
    ipv4: family(4, addr4),
    ipv6: family(6, addr6),
  };
  return { config, problems };
}

// ---------------------------------------------------------------------------
// Peers, pools, blocks, routes, communities of one family

/** One mesh peering to host `n` (memoised on everything it depends on). */
export function meshOutcome(ctx: PeerContext, family: Family, own: string, n: string): Outcome | undefined {
  const { idx, settings } = ctx;
  const { globalAs, globalListen, meshPassword, meshRestart, meshPasswordProblem } = settings;
  const h = idx.hosts.get(n)!;
  const raw = family === 4 ? h.v4 : h.v6;
  if (raw === '') return undefined;
  const sig = `${raw}|${h.as}|${h.rr}|${h.listenPort}|${own}|${meshSignature(settings)}`;
  return idx.memoize(`mesh${family}:${n}`, sig, (): Outcome => {
    const sourceKey = `${H}${n}/${family === 4 ? 'ip_addr_v4' : 'ip_addr_v6'}`;
    const out: Outcome = { problems: [] };
    const ip = idx.ip(raw);
    if (!ip || ip.family !== family) {
      if (n !== idx.nodeName) out.problems.push({ resource: sourceKey, message: `${JSON.stringify(raw)} is not an IPv${family} address; no mesh peering to ${n}` });
      return out;
    }
    if (ip.text === own) out.skipped = { sourceKey, address: ip.text, reason: 'self' };
    else if (h.rr !== '') out.skipped = { sourceKey, address: ip.text, reason: 'route-reflector' };
    else {
      out.peer = {
        name: peerName('Mesh', ip.text, null),
        type: 'mesh',
        family,
        address: ip.text,
        port: h.listenPort !== '' ? portOf(h.listenPort, `${H}${n}/listen_port`, out.problems) : globalListen,
        asNumber: asOr(h.as, globalAs, `${H}${n}/as_num`, out.problems),
        sourceAddress: own,
        // Go template `gt` on strings: byte order, which is what JS `>` does for ASCII.
        passive: ip.text > own,
        routeReflectorClient: false,
        routeReflectorClusterId: null,
        password: meshPassword,
        nextHop: 'auto',
        gracefulRestartTime: meshRestart,
        ttlSecurity: 0,
        calicoNode: true,
        numAllowLocalAs: 0,
        reachableBy: null,
        ...(meshPasswordProblem !== null ? { invalid: `node-to-node mesh password: ${meshPasswordProblem}` } : {}),
        sourceKey,
      };
    }
    return out;
  });
}

/** One global or node-specific peering from its key (memoised on value and this node's settings). */
export function explicitOutcome(ctx: PeerContext, e: FamilyEntry, key: string, prefix: 'Global' | 'Node', own: string): Outcome {
  const { idx } = ctx;
  const { localAs, rrClusterId } = ctx.settings;
  const family = e.family;
  return idx.memoize(key, `${e.value}|${own}|${localAs}|${rrClusterId}`, (): Outcome => {
    const out: Outcome = { problems: [] };
    const parsed = parseJson(key, e.value, out.problems);
    if (parsed === undefined) return out;
    const v = rec(parsed);
    if (!v) {
      out.problems.push({ resource: key, message: 'expected a JSON object; peer skipped' });
      return out;
    }
    const ip = typeof v.ip === 'string' ? idx.ip(v.ip) : undefined;
    if (!ip || ip.family !== family) {
      out.problems.push({ resource: key, message: `ip ${JSON.stringify(v.ip)} is not an IPv${family} address; peer skipped` });
      return out;
    }
    const as = parseAsNumber(v.as_num);
    if (as === undefined) {
      out.problems.push({ resource: key, message: `as_num ${JSON.stringify(v.as_num)} is not 0-4294967295 or asdot; peer skipped` });
      return out;
    }
    let port: number | null = null;
    if (v.port !== undefined && v.port !== null && v.port !== 0 && v.port !== '') {
      const p = Number(v.port);
      if (!Number.isInteger(p) || p < 1 || p > 65535) {
        out.problems.push({ resource: key, message: `port ${JSON.stringify(v.port)} is not 1-65535; peer skipped` });
        return out;
      }
      port = p;
    }
    if (ip.text === own) {
      out.skipped = { sourceKey: key, address: ip.text, reason: 'self' };
      if (v.calico_node === true) out.problems.push({ resource: key, message: `peer ${ip.text} is this node's own address; peer skipped` });
      return out;
    }
    const peerRr = typeof v.rr_cluster_id === 'string' ? v.rr_cluster_id : '';
    const rrClient = as === localAs && rrClusterId !== null && peerRr !== rrClusterId;
    let nextHop: Peer['nextHop'] = 'auto';
    if (v.next_hop_mode === 'Self') nextHop = 'self';
    else if (v.next_hop_mode === 'Keep') nextHop = 'keep';
    else if (v.keep_next_hop === true && as !== localAs) nextHop = 'keep';
    let restart: number | null = null;
    if (typeof v.restart_time === 'string' && v.restart_time !== '') {
      const n = Number(v.restart_time);
      if (Number.isInteger(n) && n >= 0) restart = n;
      else out.problems.push({ resource: key, message: `restart_time ${JSON.stringify(v.restart_time)} is not whole seconds; ignored` });
    }
    const ttl = typeof v.ttl_security === 'number' && Number.isInteger(v.ttl_security) && v.ttl_security >= 0 && v.ttl_security <= 255 ? v.ttl_security : 0;
    let reachableBy: string | null = null;
    if (typeof v.reachable_by === 'string' && v.reachable_by !== '') {
      const rb = idx.ip(v.reachable_by);
      if (rb) reachableBy = rb.text;
      else out.problems.push({ resource: key, message: `reachable_by ${JSON.stringify(v.reachable_by)} is not an IP address; ignored` });
    }
    const password = typeof v.password === 'string' && v.password !== '' ? v.password : null;
    const badPassword = password === null ? null : passwordProblem(password);
    if (badPassword !== null) out.problems.push({ resource: key, message: `${badPassword}; peer ${ip.text} is not configured` });
    out.peer = {
      name: peerName(prefix, ip.text, port),
      type: prefix === 'Global' ? 'global' : 'node',
      family,
      address: ip.text,
      port,
      asNumber: as,
      sourceAddress: v.source_addr === 'UseNodeIP' ? own : null,
      passive: false,
      routeReflectorClient: rrClient,
      routeReflectorClusterId: rrClient ? rrClusterId : null,
      password,
      nextHop,
      gracefulRestartTime: restart,
      ttlSecurity: ttl,
      calicoNode: v.calico_node === true,
      numAllowLocalAs: typeof v.num_allow_local_as === 'number' ? v.num_allow_local_as : 0,
      reachableBy,
      ...(badPassword !== null ? { invalid: badPassword } : {}),
      sourceKey: key,
    };
    return out;
  });
}

/** The mesh, global and node peers of `family` (none when this node has no address in it). */
export function familyPeers(ctx: PeerContext, family: Family, own: string | null): { peers: Peer[]; skipped: SkippedPeer[] } {
  const { idx, settings, problems } = ctx;
  const peers: Peer[] = [];
  const skipped: SkippedPeer[] = [];
  if (own === null) return { peers, skipped };
  const take = (o: Outcome | undefined): void => {
    if (o === undefined) return;
    if (o.peer) peers.push(o.peer);
    if (o.skipped) skipped.push(o.skipped);
    for (const p of o.problems) problems.push(p);
  };
  if (settings.rrClusterId === null && settings.meshEnabled) {
    for (const n of idx.hosts.keys()) take(meshOutcome(ctx, family, own, n));
  }
  for (const [list, prefix] of [
    [idx.globalPeers, 'Global'],
    [idx.nodePeers, 'Node'],
  ] as const) {
    for (const key of list.keys()) {
      const e = list.get(key)!;
      if (e.family !== family) continue;
      const o = explicitOutcome(ctx, e, key, prefix, own);
      // Whether the address belongs to a Calico node depends on other keys: decided here, not memoised.
      if (o.peer && !o.peer.calicoNode && ctx.isNodeIp(o.peer.address)) {
        let marked = asCalicoNode.get(o.peer);
        if (marked === undefined) asCalicoNode.set(o.peer, (marked = { ...o.peer, calicoNode: true }));
        take({ ...o, peer: marked });
      } else take(o);
    }
  }
  return { peers, skipped };
}

/** The IP pools of `family`; bad ones are Problems and left out. */
export function poolsOf(idx: KeyIndex, family: Family, problems: Problem[]): Pool[] {
  const out: Pool[] = [];
  for (const key of idx.pools.keys()) {
    const p = { key, ...idx.pools.get(key)! };
    if (p.family !== family) continue;
    const v = rec(parseJson(p.key, p.value, problems));
    if (!v) continue;
    const cidr = typeof v.cidr === 'string' ? parseCidr(v.cidr) : undefined;
    if (!cidr || cidr.family !== family) {
      problems.push({ resource: p.key, message: `cidr ${JSON.stringify(v.cidr)} is not an IPv${family} CIDR; pool skipped` });
      continue;
    }
    const ipip = typeof v.ipip === 'string' ? v.ipip : '';
    const badTunnel = interfaceNameProblem(ipip);
    if (badTunnel !== null) {
      problems.push({ resource: p.key, message: `ipip: ${badTunnel}; pool skipped` });
      continue;
    }
    const mode = (m: unknown, fallbackOn: boolean): Pool['ipipMode'] =>
      m === 'always' ? 'always' : m === 'cross-subnet' ? 'cross-subnet' : (m === undefined || m === '') && fallbackOn ? 'always' : 'never';
    out.push({
      cidr: cidr.network,
      family,
      ipipMode: mode(v.ipip_mode, ipip !== ''),
      ipipInterface: ipip,
      vxlanMode: mode(v.vxlan_mode, false),
      natOutgoing: v.masquerade === true,
      disabled: v.disabled === true,
      disableBGPExport: v.disableBGPExport === true,
    });
  }
  return out;
}

/** The IPAM blocks of `family` (affine to this node); bad ones are Problems and left out. */
export function blocksOf(idx: KeyIndex, family: Family, problems: Problem[]): Block[] {
  const out: Block[] = [];
  for (const key of idx.blocks.keys()) {
    const b = { key, ...idx.blocks.get(key)! };
    if (b.family !== family) continue;
    const cidr = parseCidr(keyPartToCidr(b.part));
    if (!cidr || cidr.family !== family) {
      problems.push({ resource: b.key, message: `${JSON.stringify(keyPartToCidr(b.part))} is not an IPv${family} CIDR; block skipped` });
      continue;
    }
    let state: Block['state'] = '';
    if (b.value !== '') {
      const v = rec(parseJson(b.key, b.value, problems));
      if (!v) continue;
      const s = v.state ?? '';
      if (s === '' || s === 'confirmed' || s === 'pending' || s === 'pendingDeletion') state = s;
      else {
        problems.push({ resource: b.key, message: `state ${JSON.stringify(s)} is not confirmed, pending or pendingDeletion; block skipped` });
        continue;
      }
      if (v.deleted === true) continue;
    }
    out.push({ cidr: cidr.network, family, state, confirmed: state === '' || state === 'confirmed' });
  }
  return out;
}

/** The service (static) or reject CIDRs of `family`, as canonical networks. */
export function routesOf(idx: KeyIndex, family: Family, kind: 'static' | 'reject', problems: Problem[]): string[] {
  const out: string[] = [];
  for (const key of idx.routes.keys()) {
    const r = { key, ...idx.routes.get(key)! };
    if (r.family !== family || r.kind !== kind) continue;
    const cidr = parseCidr(keyPartToCidr(r.part));
    if (!cidr || cidr.family !== family) {
      problems.push({ resource: r.key, message: `${JSON.stringify(keyPartToCidr(r.part))} is not an IPv${family} CIDR; route skipped` });
      continue;
    }
    out.push(cidr.network);
  }
  return out;
}

/** The prefix advertisements (communities per CIDR) of `family`: this node's list, else the global one. */
export function communitiesOf(idx: KeyIndex, family: Family, problems: Problem[]): PrefixCommunities[] {
  const myHost = `${H}${idx.nodeName}/`;
  const leaf = `prefix_advertisements/ip_v${family}`;
  const key = idx.has(`${myHost}${leaf}`) ? `${myHost}${leaf}` : `${G}${leaf}`;
  const raw = idx.get(key);
  if (raw === undefined) return [];
  const list = parseJson(key, raw, problems);
  if (list === null || list === undefined) return [];
  if (!Array.isArray(list)) {
    problems.push({ resource: key, message: 'expected a JSON list of {cidr, communities}; ignored' });
    return [];
  }
  const out: PrefixCommunities[] = [];
  for (const item of list) {
    const v = rec(item);
    const cidr = v && typeof v.cidr === 'string' ? parseCidr(v.cidr) : undefined;
    if (!v || !cidr) {
      problems.push({ resource: key, message: `entry ${JSON.stringify(item)} has no valid cidr; skipped` });
      continue;
    }
    const std: string[] = [];
    const large: string[] = [];
    for (const c of Array.isArray(v.communities) ? v.communities : []) {
      const parts = String(c).split(':');
      if (parts.length === 2 && parts.every((x) => /^\d+$/.test(x) && Number(x) <= 0xffff)) std.push(String(c));
      else if (parts.length === 3 && parts.every((x) => /^\d+$/.test(x) && Number(x) <= 0xffffffff)) large.push(String(c));
      else problems.push({ resource: key, message: `community ${JSON.stringify(c)} for ${v.cidr} is not a:b or a:b:c; skipped` });
    }
    out.push({ cidr: String(v.cidr), communities: std, largeCommunities: large });
  }
  return out;
}
