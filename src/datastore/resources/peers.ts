/**
 * BGPPeer resources -> `/calico/bgp/v1/{global,host/<node>}/peer_v{4,6}/<ip>[-<port>]`
 * entries, with the rules Calico's confd client applies:
 *
 * 1. A peer with neither `node` nor `nodeSelector` is global; others are
 *    placed under every node they select. Global peerings are emitted first,
 *    and a node-specific peering to an IP/port that already has a global
 *    peering is dropped (the global one covers it).
 * 2. `peerSelector` expands to the selected nodes' addresses (v4 and v6),
 *    their AS (node AS, else the global AS), their listen port and their
 *    route-reflector cluster id.
 * 3. A `peerIP` without a port gets the listen port of the Calico node that
 *    owns that IP and AS (node-specific, else global), so both ends agree.
 * 4. Reverse peerings: every node that a BGPPeer points at (by peerSelector,
 *    or by peerIP + AS matching a Calico node) gets a peering back to the
 *    nodes on the local side, unless an explicit peering already exists.
 * 5. The first peering written for a key wins.
 *
 * BGPPeers are processed in name order so the result is deterministic
 * (Calico iterates a Go map here, so its tie-breaking is arbitrary).
 */
import type { Resource } from '../types.js';
import { compileSelector, SelectorError, type Selector } from '../selector.js';
import {
  DEFAULT_AS,
  GLOBAL_PREFIX,
  HOST_PREFIX,
  globalKey,
  hostKey,
  isRecord,
  resourceName,
  str,
  type NodeInfo,
  type ProblemSink,
} from './common.js';
import { parseIp, type Family } from '../../net/index.js';
import { parseAsNumber, parseGoDurationSeconds } from './ip.js';

/** The JSON value of one peer key, field names as Calico writes them. */
export interface PeerValue {
  ip: string;
  as_num: string;
  rr_cluster_id: string;
  password: string | null;
  source_addr: string;
  port: number;
  keep_next_hop: boolean;
  restart_time: string;
  calico_node: boolean;
  num_allow_local_as: number;
  ttl_security: number;
  reachable_by: string;
  /** Calico's newer `nextHopMode` (`Auto`, `Self`, `Keep`); "" when unset. */
  next_hop_mode: string;
}

export interface PeerInputs {
  peers: Resource[];
  /** Nodes in name order. */
  nodes: NodeInfo[];
  keys: Map<string, string>;
  globalListenPort: number;
  nodeListenPorts: Map<string, number>;
  secret(name: string, key: string): string | undefined;
  problems: ProblemSink;
}

interface Candidate {
  family: Family;
  value: PeerValue;
}

/** Splits `ip`, `ip:port`, `[v6]:port`; a bare IPv6 address has no port. */
export function splitPeerIp(s: string): { host: string; port: number } | { error: string } {
  const t = s.trim();
  if (t.startsWith('[')) {
    const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(t);
    if (!m) return { error: `peerIP ${JSON.stringify(s)} is not [address]:port` };
    const port = Number(m[2]);
    if (port < 1 || port > 65535) return { error: `peerIP port ${port} is out of range 1-65535` };
    return { host: m[1]!, port };
  }
  const colons = t.split(':').length - 1;
  if (colons === 1) {
    const [host, p] = t.split(':') as [string, string];
    if (!/^\d{1,5}$/.test(p)) return { error: `peerIP ${JSON.stringify(s)} has a bad port` };
    const port = Number(p);
    if (port < 1 || port > 65535) return { error: `peerIP port ${port} is out of range 1-65535` };
    return { host, port };
  }
  return { host: t, port: 0 };
}

/** The peer-key fields of one node, as written into the key view. */
interface NodeFields {
  v4: string;
  v6: string;
  as: string;
  rr: string;
}

/** The nodes as peers see them: addresses, AS, listen port, who owns which address. */
export class PeerNodes {
  readonly names: string[];
  /** Every node address. */
  readonly ips = new Set<string>();
  readonly globalAs: string;
  private readonly fieldCache = new Map<string, NodeFields>();
  private readonly byIp = new Map<string, string[]>();

  constructor(private readonly inp: PeerInputs) {
    const { keys } = inp;
    this.globalAs = keys.get(globalKey('as_num')) ?? DEFAULT_AS;
    this.names = inp.nodes.map((n) => n.name);
    for (const node of inp.nodes) {
      const n = node.name;
      const f: NodeFields = node.written ?? {
        v4: keys.get(hostKey(n, 'ip_addr_v4')) ?? '',
        v6: keys.get(hostKey(n, 'ip_addr_v6')) ?? '',
        as: keys.get(hostKey(n, 'as_num')) ?? '',
        rr: keys.get(hostKey(n, 'rr_cluster_id')) ?? '',
      };
      this.fieldCache.set(n, f);
      this.index(n, f.v4);
      this.index(n, f.v6);
    }
  }

  private index(n: string, ip: string): void {
    if (ip === '') return;
    this.ips.add(ip);
    const list = this.byIp.get(ip);
    if (list) list.push(n);
    else this.byIp.set(ip, [n]);
  }

  fields(n: string): NodeFields {
    return this.fieldCache.get(n) ?? { v4: '', v6: '', as: '', rr: '' };
  }

  listenPortOf(n: string): number {
    return this.inp.nodeListenPorts.get(n) ?? this.inp.globalListenPort;
  }

  /** Names of the nodes whose labels `sel` matches. */
  matching(sel: Selector): string[] {
    return this.inp.nodes.filter((n) => sel.matches(n.labels)).map((n) => n.name);
  }

  /** Calico nodes owning `ip` with AS `asNum` (0 = global) and, if given, listening on `port`. */
  withIpPortAs(ip: string, asNum: number, port: number): string[] {
    const want = asNum === 0 ? this.globalAs : String(asNum);
    const out: string[] = [];
    for (const n of this.byIp.get(ip) ?? []) {
      const f = this.fields(n);
      if ((f.as || this.globalAs) !== want) continue;
      if (port !== 0) {
        const np = this.inp.nodeListenPorts.get(n);
        if (np !== undefined ? np !== port : this.inp.globalListenPort !== 0 && this.inp.globalListenPort !== port) continue;
      }
      out.push(n);
    }
    return out;
  }
}

/** A BGPPeer that passed validation, its fields in the form the emitter needs. */
export interface ValidPeer {
  res: Resource;
  name: string;
  node: string;
  nodeSelector?: Selector;
  peerSelector?: Selector;
  peerIp?: { ip: string; family: Family; port: number };
  asNumber: number;
  password: string | null;
  sourceAddr: string;
  restartTime: string;
  keepNextHop: boolean;
  nextHopMode: string;
  ttlSecurity: number;
  numAllowLocalAs: number;
  reachableBy: string;
}

/** Compiles a selector once per source text; a bad one is a Problem of the peer `name` that used it. */
export function selectorCompiler(problems: ProblemSink): (name: string, field: string, src: string) => Selector | undefined {
  const cache = new Map<string, Selector>();
  return (name, field, src) => {
    const cached = cache.get(src);
    if (cached) return cached;
    try {
      const s = compileSelector(src);
      cache.set(src, s);
      return s;
    } catch (e) {
      problems.add(name, `${field}: ${e instanceof SelectorError ? e.message : String(e)}`);
      return undefined;
    }
  };
}

type Compile = ReturnType<typeof selectorCompiler>;
type PeerDraft = Partial<ValidPeer> & { res: Resource; name: string };

/** Who peers with whom: node / nodeSelector, peerIP / peerSelector, asNumber. False when the peer is skipped. */
function validateEnds(v: PeerDraft, spec: Record<string, unknown>, problems: ProblemSink, compile: Compile): boolean {
  const name = v.name;
  v.node = str(spec.node) ?? '';
  // A node that does not exist (yet) is accepted, as Calico does; nothing is emitted until it appears.
  const nodeSelSrc = str(spec.nodeSelector) ?? '';
  const peerSelSrc = str(spec.peerSelector) ?? '';
  const peerIpSrc = str(spec.peerIP) ?? '';
  if (nodeSelSrc !== '' && v.node !== '') {
    problems.add(name, 'node and nodeSelector are mutually exclusive; peer skipped');
    return false;
  }
  if (peerSelSrc !== '' && peerIpSrc !== '') {
    problems.add(name, 'peerIP and peerSelector are mutually exclusive; peer skipped');
    return false;
  }
  if (peerSelSrc === '' && peerIpSrc === '') {
    problems.add(name, 'neither peerIP nor peerSelector is set; peer skipped');
    return false;
  }
  if (nodeSelSrc !== '') {
    v.nodeSelector = compile(name, 'nodeSelector', nodeSelSrc);
    if (!v.nodeSelector) return false;
  }
  if (peerSelSrc !== '') {
    v.peerSelector = compile(name, 'peerSelector', peerSelSrc);
    if (!v.peerSelector) return false;
  }
  v.asNumber = 0;
  if (spec.asNumber !== undefined && spec.asNumber !== null) {
    const as = parseAsNumber(spec.asNumber);
    if (as === undefined) {
      problems.add(name, `asNumber ${JSON.stringify(spec.asNumber)} is not an AS number (0-4294967295 or asdot); peer skipped`);
      return false;
    }
    v.asNumber = as;
  }
  if (peerIpSrc === '') return true;
  const split = splitPeerIp(peerIpSrc);
  if ('error' in split) {
    problems.add(name, `${split.error}; peer skipped`);
    return false;
  }
  const ip = parseIp(split.host);
  if (!ip) {
    problems.add(name, `peerIP ${JSON.stringify(peerIpSrc)} is not an IP address; peer skipped`);
    return false;
  }
  if (v.asNumber === 0) {
    problems.add(name, 'asNumber is required with peerIP; peer skipped');
    return false;
  }
  v.peerIp = { ip: ip.text, family: ip.family, port: split.port };
  return true;
}

/** Session options: source address, restart time, next hop, TTL security, allowed local AS. Bad values are ignored. */
function validateOptions(v: PeerDraft, spec: Record<string, unknown>, problems: ProblemSink): void {
  const name = v.name;
  const src = str(spec.sourceAddress) ?? '';
  if (src !== '' && src !== 'UseNodeIP' && src !== 'None') {
    problems.add(name, `sourceAddress ${JSON.stringify(src)} is not UseNodeIP or None; using UseNodeIP`);
  }
  v.sourceAddr = src === 'None' ? 'None' : 'UseNodeIP';
  v.restartTime = '';
  if (spec.maxRestartTime !== undefined && spec.maxRestartTime !== null) {
    const secs = parseGoDurationSeconds(spec.maxRestartTime);
    if (secs === undefined) problems.add(name, `maxRestartTime ${JSON.stringify(spec.maxRestartTime)} is not a duration; ignored`);
    else v.restartTime = String(Math.round(secs));
  }
  v.keepNextHop = spec.keepOriginalNextHop === true;
  v.nextHopMode = '';
  if (spec.nextHopMode !== undefined) {
    const m = str(spec.nextHopMode) ?? '';
    if (m === 'Auto' || m === 'Self' || m === 'Keep') v.nextHopMode = m;
    else problems.add(name, `nextHopMode ${JSON.stringify(spec.nextHopMode)} is not Auto, Self or Keep; ignored`);
  }
  v.ttlSecurity = 0;
  if (spec.ttlSecurity !== undefined) {
    const t = Number(spec.ttlSecurity);
    if (Number.isInteger(t) && t >= 0 && t <= 255) v.ttlSecurity = t;
    else problems.add(name, `ttlSecurity ${JSON.stringify(spec.ttlSecurity)} is not 0-255; ignored`);
  }
  v.numAllowLocalAs = 0;
  if (spec.numAllowedLocalASNumbers !== undefined) {
    const n = Number(spec.numAllowedLocalASNumbers);
    if (Number.isInteger(n) && n >= 0 && n <= 10) v.numAllowLocalAs = n;
    else problems.add(name, 'numAllowedLocalASNumbers must be 0-10; ignored');
  }
}

/** `reachableBy`: an address of the peer's family. False when the peer is skipped. */
function validateReachableBy(v: PeerDraft, spec: Record<string, unknown>, problems: ProblemSink): boolean {
  v.reachableBy = '';
  if (spec.reachableBy === undefined || spec.reachableBy === '') return true;
  const rb = parseIp(str(spec.reachableBy) ?? '');
  if (!rb) {
    problems.add(v.name, `reachableBy ${JSON.stringify(spec.reachableBy)} is not an IP address; peer skipped`);
    return false;
  }
  if (v.peerIp && rb.family !== v.peerIp.family) {
    problems.add(v.name, 'reachableBy address family does not match peerIP; peer skipped');
    return false;
  }
  v.reachableBy = rb.text;
  return true;
}

/** The password from its Secret; a bad reference or a missing Secret leaves the peering without one. */
function resolvePassword(name: string, spec: Record<string, unknown>, inp: PeerInputs): string | null {
  const pw = spec.password;
  if (pw === undefined || pw === null) return null;
  const ref = isRecord(pw) && isRecord(pw.secretKeyRef) ? pw.secretKeyRef : undefined;
  const sName = ref ? str(ref.name) : undefined;
  const sKey = ref ? str(ref.key) : undefined;
  if (!sName || !sKey) {
    inp.problems.add(name, 'password must be {secretKeyRef: {name, key}}; peering has no password');
    return null;
  }
  const secret = inp.secret(sName, sKey);
  if (secret === undefined) inp.problems.add(name, `password secret ${sName}/${sKey} not found; peering has no password`);
  return secret ?? null;
}

/** Checks one BGPPeer; undefined (with Problems) when it is skipped. */
export function validatePeer(res: Resource, inp: PeerInputs, compile: Compile): ValidPeer | undefined {
  const name = resourceName(res);
  const spec = isRecord(res.spec) ? res.spec : {};
  const v: PeerDraft = { res, name };
  if (!validateEnds(v, spec, inp.problems, compile)) return undefined;
  validateOptions(v, spec, inp.problems);
  if (!validateReachableBy(v, spec, inp.problems)) return undefined;
  v.password = resolvePassword(name, spec, inp);
  return v as ValidPeer;
}

/** The key of a peering: global, or under `node`. */
export function peerPath(family: Family, ip: string, port: number, node?: string): string {
  const leaf = `peer_v${family}/${ip}${port ? `-${port}` : ''}`;
  return node === undefined ? `${GLOBAL_PREFIX}/${leaf}` : `${HOST_PREFIX}/${node}/${leaf}`;
}

/** A peer value with the BGPPeer's own settings added, fields in the order Calico serialises its peer struct. */
export function withCommon(v: ValidPeer, b: Omit<PeerValue, 'password' | 'source_addr' | 'restart_time' | 'next_hop_mode'>): PeerValue {
  return {
    ip: b.ip,
    as_num: b.as_num,
    rr_cluster_id: b.rr_cluster_id,
    password: v.password,
    source_addr: v.sourceAddr,
    port: b.port,
    keep_next_hop: b.keep_next_hop,
    restart_time: v.restartTime,
    calico_node: b.calico_node,
    num_allow_local_as: b.num_allow_local_as,
    ttl_security: b.ttl_security,
    reachable_by: b.reachable_by,
    next_hop_mode: v.nextHopMode,
  };
}

/** Node `node` as the remote end of peering `v`, in the families asked for. */
export function nodeAsPeers(nodes: PeerNodes, node: string, v4: boolean, v6: boolean, v: ValidPeer): Candidate[] {
  const f = nodes.fields(node);
  const res: Candidate[] = [];
  const asText = f.as || nodes.globalAs;
  for (const [family, ip] of [
    [4, v4 ? f.v4 : ''],
    [6, v6 ? f.v6 : ''],
  ] as const) {
    if (ip === '') continue;
    res.push({
      family,
      value: withCommon(v, {
        ip,
        as_num: asText,
        rr_cluster_id: f.rr,
        port: nodes.listenPortOf(node),
        keep_next_hop: false,
        calico_node: false,
        num_allow_local_as: 0,
        ttl_security: v.ttlSecurity,
        reachable_by: v.reachableBy,
      }),
    });
  }
  return res;
}

/** The peer keys being written: the first value written for a key wins, and a global key covers its node twins. */
class PeerKeys {
  readonly out = new Map<string, string>();
  private readonly serialised = new WeakMap<PeerValue, string>();

  emit(path: string, globalTwin: string | undefined, value: PeerValue): void {
    if (this.out.has(path)) return;
    if (globalTwin !== undefined && this.out.has(globalTwin)) return;
    let text = this.serialised.get(value);
    if (text === undefined) this.serialised.set(value, (text = JSON.stringify(value)));
    this.out.set(path, text);
  }

  /** `cands` globally, or under each of `locals` (unless a global twin exists). */
  emitAll(cands: Candidate[], locals: string[] | null): void {
    for (const c of cands) {
      const twin = peerPath(c.family, c.value.ip, c.value.port);
      if (locals === null) this.emit(twin, undefined, c.value);
      else for (const local of locals) this.emit(peerPath(c.family, c.value.ip, c.value.port, local), twin, c.value);
    }
  }
}

/** The remote ends of peering `v` as written in it: the selected nodes, or the peer IP. */
function forwardCandidates(nodes: PeerNodes, v: ValidPeer): Candidate[] {
  const cands: Candidate[] = [];
  if (v.peerSelector) {
    for (const n of nodes.matching(v.peerSelector)) cands.push(...nodeAsPeers(nodes, n, true, true, v));
  } else if (v.peerIp) {
    let port = v.peerIp.port;
    if (port === 0) {
      const owners = nodes.withIpPortAs(v.peerIp.ip, v.asNumber, 0);
      if (owners.length > 0) port = nodes.listenPortOf(owners[0]!);
    }
    cands.push({
      family: v.peerIp.family,
      value: withCommon(v, {
        ip: v.peerIp.ip,
        as_num: String(v.asNumber),
        rr_cluster_id: '',
        port,
        keep_next_hop: v.keepNextHop,
        calico_node: nodes.ips.has(v.peerIp.ip),
        num_allow_local_as: v.numAllowLocalAs,
        ttl_security: v.ttlSecurity,
        reachable_by: v.reachableBy,
      }),
    });
  }
  return cands;
}

/** The reverse of peering `v`, so that both ends of a Calico-to-Calico peering are configured. */
function emitReverse(nodes: PeerNodes, v: ValidPeer, keys: PeerKeys): void {
  let locals: string[];
  let v4 = false;
  let v6 = false;
  if (v.peerSelector) {
    locals = nodes.matching(v.peerSelector);
    v4 = v6 = true;
  } else {
    const p = v.peerIp!;
    locals = nodes.withIpPortAs(p.ip, v.asNumber, p.port);
    if (p.family === 6) v6 = true;
    else v4 = true;
  }
  if (locals.length === 0) return;
  const remotes = v.nodeSelector ? nodes.matching(v.nodeSelector) : v.node !== '' ? [v.node] : nodes.names;
  const cands: Candidate[] = [];
  for (const r of remotes) cands.push(...nodeAsPeers(nodes, r, v4, v6, v));
  keys.emitAll(cands, locals);
}

/** Writes the peer keys of every BGPPeer in `inp` into `inp.keys` (rules 1-5 above); bad peers become Problems. */
export function convertPeers(inp: PeerInputs): void {
  const nodes = new PeerNodes(inp);
  const compile = selectorCompiler(inp.problems);
  const valid: ValidPeer[] = [];
  for (const res of inp.peers) {
    const v = validatePeer(res, inp, compile);
    if (v !== undefined) valid.push(v);
  }
  const keys = new PeerKeys();
  // Global peerings first: a node-specific one to the same IP and port is then dropped.
  for (const globalPass of [true, false]) {
    for (const v of valid) {
      const isGlobal = !v.nodeSelector && v.node === '';
      if (globalPass !== isGlobal) continue;
      const locals = v.nodeSelector ? nodes.matching(v.nodeSelector) : v.node !== '' ? [v.node] : [];
      keys.emitAll(forwardCandidates(nodes, v), globalPass ? null : locals);
    }
  }
  for (const v of valid) emitReverse(nodes, v, keys);
  for (const [k, val] of keys.out) inp.keys.set(k, val);
}
