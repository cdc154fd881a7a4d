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

export function convertPeers(inp: PeerInputs): void {
  const { keys, problems } = inp;
  const globalAs = keys.get(globalKey('as_num')) ?? DEFAULT_AS;
  const nodeNames = inp.nodes.map((n) => n.name);
  const nodeSet = new Set(nodeNames);
  const selectorCache = new Map<string, Selector>();
  const nodeIps = new Set<string>();

  const matching = (sel: Selector): string[] => inp.nodes.filter((n) => sel.matches(n.labels)).map((n) => n.name);
  interface Fields {
    v4: string;
    v6: string;
    as: string;
    rr: string;
  }
  const fieldCache = new Map<string, Fields>();
  const byIp = new Map<string, string[]>();
  const index = (n: string, ip: string): void => {
    if (ip === '') return;
    nodeIps.add(ip);
    const list = byIp.get(ip);
    if (list) list.push(n);
    else byIp.set(ip, [n]);
  };
  for (const node of inp.nodes) {
    const n = node.name;
    const f: Fields = node.written ?? {
      v4: keys.get(hostKey(n, 'ip_addr_v4')) ?? '',
      v6: keys.get(hostKey(n, 'ip_addr_v6')) ?? '',
      as: keys.get(hostKey(n, 'as_num')) ?? '',
      rr: keys.get(hostKey(n, 'rr_cluster_id')) ?? '',
    };
    fieldCache.set(n, f);
    index(n, f.v4);
    index(n, f.v6);
  }
  const fields = (n: string): Fields => fieldCache.get(n) ?? { v4: '', v6: '', as: '', rr: '' };
  const listenPortOf = (n: string): number => inp.nodeListenPorts.get(n) ?? inp.globalListenPort;

  /** Calico nodes owning `ip` with AS `asNum` (0 = global) and, if given, listening on `port`. */
  const nodesWithIpPortAs = (ip: string, asNum: number, port: number): string[] => {
    const want = asNum === 0 ? globalAs : String(asNum);
    const out: string[] = [];
    for (const n of byIp.get(ip) ?? []) {
      const f = fields(n);
      if ((f.as || globalAs) !== want) continue;
      if (port !== 0) {
        const np = inp.nodeListenPorts.get(n);
        if (np !== undefined ? np !== port : inp.globalListenPort !== 0 && inp.globalListenPort !== port) continue;
      }
      out.push(n);
    }
    return out;
  };

  // -- validate each BGPPeer once ------------------------------------------
  interface Valid {
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
  const valid: Valid[] = [];
  const compile = (name: string, field: string, src: string): Selector | undefined => {
    const cached = selectorCache.get(src);
    if (cached) return cached;
    try {
      const s = compileSelector(src);
      selectorCache.set(src, s);
      return s;
    } catch (e) {
      problems.add(name, `${field}: ${e instanceof SelectorError ? e.message : String(e)}`);
      return undefined;
    }
  };

  for (const res of inp.peers) {
    const name = resourceName(res);
    const spec = isRecord(res.spec) ? res.spec : {};
    const v: Partial<Valid> & { res: Resource; name: string } = { res, name };
    v.node = str(spec.node) ?? '';
    if (v.node !== '' && !nodeSet.has(v.node)) {
      // Calico accepts this (the node may appear later); nothing is emitted until it does.
    }
    const nodeSelSrc = str(spec.nodeSelector) ?? '';
    const peerSelSrc = str(spec.peerSelector) ?? '';
    const peerIpSrc = str(spec.peerIP) ?? '';
    if (nodeSelSrc !== '' && v.node !== '') {
      problems.add(name, 'node and nodeSelector are mutually exclusive; peer skipped');
      continue;
    }
    if (peerSelSrc !== '' && peerIpSrc !== '') {
      problems.add(name, 'peerIP and peerSelector are mutually exclusive; peer skipped');
      continue;
    }
    if (peerSelSrc === '' && peerIpSrc === '') {
      problems.add(name, 'neither peerIP nor peerSelector is set; peer skipped');
      continue;
    }
    if (nodeSelSrc !== '') {
      v.nodeSelector = compile(name, 'nodeSelector', nodeSelSrc);
      if (!v.nodeSelector) continue;
    }
    if (peerSelSrc !== '') {
      v.peerSelector = compile(name, 'peerSelector', peerSelSrc);
      if (!v.peerSelector) continue;
    }
    v.asNumber = 0;
    if (spec.asNumber !== undefined && spec.asNumber !== null) {
      const as = parseAsNumber(spec.asNumber);
      if (as === undefined) {
        problems.add(name, `asNumber ${JSON.stringify(spec.asNumber)} is not an AS number (0-4294967295 or asdot); peer skipped`);
        continue;
      }
      v.asNumber = as;
    }
    if (peerIpSrc !== '') {
      const split = splitPeerIp(peerIpSrc);
      if ('error' in split) {
        problems.add(name, `${split.error}; peer skipped`);
        continue;
      }
      const ip = parseIp(split.host);
      if (!ip) {
        problems.add(name, `peerIP ${JSON.stringify(peerIpSrc)} is not an IP address; peer skipped`);
        continue;
      }
      if (v.asNumber === 0) {
        problems.add(name, 'asNumber is required with peerIP; peer skipped');
        continue;
      }
      v.peerIp = { ip: ip.text, family: ip.family, port: split.port };
    }
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
    v.reachableBy = '';
    if (spec.reachableBy !== undefined && spec.reachableBy !== '') {
      const rb = parseIp(str(spec.reachableBy) ?? '');
      if (!rb) {
        problems.add(name, `reachableBy ${JSON.stringify(spec.reachableBy)} is not an IP address; peer skipped`);
        continue;
      }
      if (v.peerIp && rb.family !== v.peerIp.family) {
        problems.add(name, 'reachableBy address family does not match peerIP; peer skipped');
        continue;
      }
      v.reachableBy = rb.text;
    }
    v.password = null;
    const pw = spec.password;
    if (pw !== undefined && pw !== null) {
      const ref = isRecord(pw) && isRecord(pw.secretKeyRef) ? pw.secretKeyRef : undefined;
      const sName = ref ? str(ref.name) : undefined;
      const sKey = ref ? str(ref.key) : undefined;
      if (!sName || !sKey) {
        problems.add(name, 'password must be {secretKeyRef: {name, key}}; peering has no password');
      } else {
        const secret = inp.secret(sName, sKey);
        if (secret === undefined) problems.add(name, `password secret ${sName}/${sKey} not found; peering has no password`);
        else v.password = secret;
      }
    }
    valid.push(v as Valid);
  }

  // -- emit -----------------------------------------------------------------
  const out = new Map<string, string>();
  const peerPath = (family: Family, ip: string, port: number, node?: string): string => {
    const leaf = `peer_v${family}/${ip}${port ? `-${port}` : ''}`;
    return node === undefined ? `${GLOBAL_PREFIX}/${leaf}` : `${HOST_PREFIX}/${node}/${leaf}`;
  };
  const serialised = new WeakMap<PeerValue, string>();
  const emit = (path: string, globalTwin: string | undefined, value: PeerValue): void => {
    if (out.has(path)) return;
    if (globalTwin !== undefined && out.has(globalTwin)) return;
    let text = serialised.get(value);
    if (text === undefined) serialised.set(value, (text = JSON.stringify(value)));
    out.set(path, text);
  };
  // Field order as Calico serialises its peer struct.
  const withCommon = (v: Valid, b: Omit<PeerValue, 'password' | 'source_addr' | 'restart_time' | 'next_hop_mode'>): PeerValue => ({
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
  });
  const nodeAsPeers = (node: string, v4: boolean, v6: boolean, v: Valid): Candidate[] => {
    const f = fields(node);
    const res: Candidate[] = [];
    const asText = f.as || globalAs;
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
          port: listenPortOf(node),
          keep_next_hop: false,
          calico_node: false,
          num_allow_local_as: 0,
          ttl_security: v.ttlSecurity,
          reachable_by: v.reachableBy,
        }),
      });
    }
    return res;
  };
  const localNodesOf = (v: Valid): string[] =>
    v.nodeSelector ? matching(v.nodeSelector) : v.node !== '' ? [v.node] : [];

  for (const globalPass of [true, false]) {
    for (const v of valid) {
      const isGlobal = !v.nodeSelector && v.node === '';
      if (globalPass !== isGlobal) continue;
      const locals = localNodesOf(v);
      let cands: Candidate[] = [];
      if (v.peerSelector) {
        for (const n of matching(v.peerSelector)) cands.push(...nodeAsPeers(n, true, true, v));
      } else if (v.peerIp) {
        let port = v.peerIp.port;
        if (port === 0) {
          const owners = nodesWithIpPortAs(v.peerIp.ip, v.asNumber, 0);
          if (owners.length > 0) port = listenPortOf(owners[0]!);
        }
        cands = [
          {
            family: v.peerIp.family,
            value: withCommon(v, {
              ip: v.peerIp.ip,
              as_num: String(v.asNumber),
              rr_cluster_id: '',
              port,
              keep_next_hop: v.keepNextHop,
              calico_node: nodeIps.has(v.peerIp.ip),
              num_allow_local_as: v.numAllowLocalAs,
              ttl_security: v.ttlSecurity,
              reachable_by: v.reachableBy,
            }),
          },
        ];
      }
      for (const c of cands) {
        if (globalPass) {
          emit(peerPath(c.family, c.value.ip, c.value.port), undefined, c.value);
        } else {
          const twin = peerPath(c.family, c.value.ip, c.value.port);
          for (const local of locals) emit(peerPath(c.family, c.value.ip, c.value.port, local), twin, c.value);
        }
      }
    }
  }

  // Reverse peerings, so that both ends of a Calico-to-Calico peering are configured.
  for (const v of valid) {
    let locals: string[];
    let v4 = false;
    let v6 = false;
    if (v.peerSelector) {
      locals = matching(v.peerSelector);
      v4 = v6 = true;
    } else {
      const p = v.peerIp!;
      locals = nodesWithIpPortAs(p.ip, v.asNumber, p.port);
      if (p.family === 6) v6 = true;
      else v4 = true;
    }
    if (locals.length === 0) continue;
    const remotes = v.nodeSelector ? matching(v.nodeSelector) : v.node !== '' ? [v.node] : nodeNames;
    const cands: Candidate[] = [];
    for (const r of remotes) cands.push(...nodeAsPeers(r, v4, v6, v));
    for (const c of cands) {
      const twin = peerPath(c.family, c.value.ip, c.value.port);
      for (const local of locals) emit(peerPath(c.family, c.value.ip, c.value.port, local), twin, c.value);
    }
  }

  for (const [k, val] of out) keys.set(k, val);
}
