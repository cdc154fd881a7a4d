/**
 * Resources -> legacy key view, the way Calico's bgpsyncer and confd client
 * derive it. Pure: the same resources always give the same keys.
 *
 * Accepted kinds (apiVersion `projectcalico.org/v3`, `crd.projectcalico.org/v1`
 * or core `v1`): BGPConfiguration, BGPPeer, Node (Calico or Kubernetes),
 * IPPool, BlockAffinity, Service, Endpoints, Secret. Other kinds are ignored.
 *
 * Keys produced (values exactly as Calico writes them):
 *
 *   /calico/bgp/v1/global/as_num                    "64567"  (only if configured; consumers default 64512)
 *   /calico/bgp/v1/global/node_mesh                 {"enabled":false}
 *   /calico/bgp/v1/global/loglevel                  debug | info | none
 *   /calico/bgp/v1/global/listen_port               "179"
 *   /calico/bgp/v1/global/bind_mode                 None | NodeIP
 *   /calico/bgp/v1/global/svc_{cluster,external,loadbalancer}_ips   comma-separated CIDRs
 *   /calico/bgp/v1/global/node_mesh_restart_time    seconds
 *   /calico/bgp/v1/global/node_mesh_password        the password (sensitive)
 *   /calico/bgp/v1/global/ignored_interfaces        comma-separated
 *   /calico/bgp/v1/{global,host/<n>}/prefix_advertisements/ip_v{4,6}   [{"cidr":..,"communities":[..]}]
 *   /calico/bgp/v1/host/<n>/{listen_port,loglevel}  from BGPConfiguration node.<n>
 *   /calico/bgp/v1/host/<n>/ip_addr_v4, ip_addr_v6, rr_cluster_id   always present ("" when unset)
 *   /calico/bgp/v1/host/<n>/network_v4, network_v6, as_num          when set
 *   /calico/bgp/v1/{global,host/<n>}/peer_v{4,6}/<ip>[-<port>]      see peers.ts
 *   /calico/v1/ipam/v{4,6}/pool/<cidr a-b>          {"cidr","ipip","ipip_mode","vxlan_mode","masquerade","ipam","disabled","disableBGPExport"}
 *   /calico/ipam/v2/host/<n>/ipv{4,6}/block/<cidr a-b>   {"state":"confirmed|pending|pendingDeletion|","deleted":false}
 *   /calico/staticroutes[v6]/<cidr a-b>, /calico/rejectcidrs[v6]/<cidr a-b>   the CIDR (see services.ts)
 */
import type { Resource } from '../types.js';
import {
  globalKey,
  hostKey,
  isRecord,
  resourceName,
  str,
  stringLabels,
  ProblemSink,
  type NodeInfo,
} from './common.js';
import { cidrToKeyPart, parseCidr, parseIp, type ParsedCidr } from '../../net/index.js';
import { parseAsNumber, parseGoDurationSeconds } from './ip.js';
import { convertPeers } from './peers.js';
import type { Problem } from './problem.js';
import { convertServices } from './services.js';

export type { Problem } from './problem.js';

export interface KeyViewOptions {
  /** This node: needed for per-service routes and the exclude-from-LB label. */
  nodeName?: string;
  /** Calico's USE_POD_CIDR: Kubernetes Node podCIDRs become confirmed block affinities. */
  usePodCidr?: boolean;
  /** CALICO_ADVERTISE_CLUSTER_IPS: overrides serviceClusterIPs of BGPConfiguration default. */
  advertiseClusterIps?: string;
}

// ---------------------------------------------------------------------------
// Memoisation. Resources are treated as immutable values: a backend passes a
// new object when a resource changes (every backend here parses a fresh one).
// The output of each resource, and of the whole peer computation, is recorded
// and replayed while its inputs are the same objects, so a change to one
// resource costs little more than replaying the others' keys.
// ---------------------------------------------------------------------------

interface Recorded {
  keys: Array<[string, string]>;
  problems: Array<[string, string]>;
}

function record(fn: (keys: Map<string, string>, sink: ProblemSink) => void): Recorded {
  const k = new Map<string, string>();
  const s = new ProblemSink();
  fn(k, s);
  return { keys: [...k], problems: s.list.map((p) => [p.resource, p.message]) };
}

function replay(r: Recorded, keys: Map<string, string>, sink: ProblemSink): void {
  for (const [k, v] of r.keys) keys.set(k, v);
  for (const [res, msg] of r.problems) sink.add(res, msg);
}

const resourceMemo = new WeakMap<Resource, Recorded>();

function memoized(r: Resource, fn: (r: Resource, keys: Map<string, string>, sink: ProblemSink) => void): Recorded {
  let rec = resourceMemo.get(r);
  if (rec === undefined) {
    rec = record((k, s) => fn(r, k, s));
    resourceMemo.set(r, rec);
  }
  return rec;
}

const nodeMemo = new WeakMap<Resource, { partner: Resource | undefined; out: { info: NodeInfo; rec: Recorded } }>();

/** One node's merged info and keys, memoised on the (Kubernetes Node, v3 Node) pair. */
function nodeOutput(k8s: Resource | undefined, v3: Resource | undefined): { info: NodeInfo; rec: Recorded } {
  const primary = (v3 ?? k8s)!;
  const partner = v3 ? k8s : undefined;
  const m = nodeMemo.get(primary);
  if (m && m.partner === partner) return m.out;
  const info = mergeNodes(k8s ? [k8s] : [], v3 ? [v3] : [])[0]!;
  const rec = record((k, s) => convertNode(info, k, s));
  const out = { info, rec };
  nodeMemo.set(primary, { partner, out });
  return out;
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The last peer computation (inputs by identity, recorded output). */
let lastPeers: { sig: string; peers: Resource[]; nodes: NodeInfo[]; secrets: Resource[]; rec: Recorded } | undefined;

const ANN = {
  ipv4: 'projectcalico.org/IPv4Address',
  ipv6: 'projectcalico.org/IPv6Address',
  as: 'projectcalico.org/ASNumber',
  rr: 'projectcalico.org/RouteReflectorClusterID',
};

const STANDARD_COMMUNITY = /^(\d+):(\d+)$/;
const LARGE_COMMUNITY = /^(\d+):(\d+):(\d+)$/;

/** True for `a:b` (16-bit parts) or `a:b:c` (32-bit parts). */
export function isValidCommunity(c: string): boolean {
  let m = STANDARD_COMMUNITY.exec(c);
  if (m) return Number(m[1]) <= 0xffff && Number(m[2]) <= 0xffff;
  m = LARGE_COMMUNITY.exec(c);
  if (m) return [m[1], m[2], m[3]].every((x) => Number(x) <= 0xffffffff);
  return false;
}

const isCoreNode = (r: Resource): boolean => r.kind === 'Node' && r.apiVersion === 'v1';

// ---------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------

/** The CIDRs of a BGPConfiguration service-range field (bad entries were reported by convertBgpConfig). */
function serviceRanges(spec: Record<string, unknown>, field: string): ParsedCidr[] {
  const list = spec[field];
  if (!Array.isArray(list)) return [];
  const out: ParsedCidr[] = [];
  for (const item of list) {
    const cidr = isRecord(item) ? str(item.cidr) : undefined;
    const p = cidr !== undefined ? parseCidr(cidr) : undefined;
    if (p) out.push(p);
  }
  return out;
}

/** The peer keys and problems of the BGPPeers, recorded; reused while peers, nodes, secrets and settings are the same objects. */
function peerRecord(
  keys: Map<string, string>,
  peers: Resource[],
  nodes: NodeInfo[],
  secrets: Resource[],
  globalListenPort: number,
  nodeListenPorts: Map<string, number>,
  secret: (name: string, key: string) => string | undefined,
): Recorded {
  const sig = `${keys.get('/calico/bgp/v1/global/as_num') ?? ''}|${globalListenPort}|${[...nodeListenPorts].sort().join(',')}`;
  const last = lastPeers;
  if (last && last.sig === sig && sameItems(last.peers, peers) && sameItems(last.nodes, nodes) && sameItems(last.secrets, secrets)) return last.rec;
  const rec = record((k, sk) => {
    // The conversion reads the global AS from the keys it writes into.
    const asNum = keys.get('/calico/bgp/v1/global/as_num');
    if (asNum !== undefined) k.set('/calico/bgp/v1/global/as_num', asNum);
    convertPeers({ peers, nodes, keys: k, globalListenPort, nodeListenPorts, secret, problems: sk });
    k.delete('/calico/bgp/v1/global/as_num');
  });
  lastPeers = { sig, peers, nodes, secrets, rec };
  return rec;
}

/**
 * Converts a set of resources into the legacy key view. Bad entries are
 * skipped and reported in `problems`; everything else is converted.
 */
export function resourcesToKeyView(
  resources: Iterable<Resource>,
  opts: KeyViewOptions,
): { keys: Map<string, string>; problems: Problem[] } {
  const sink = new ProblemSink();
  const keys = new Map<string, string>();

  // Later resources of the same kind and name replace earlier ones (apply semantics).
  const byKind = new Map<string, Map<string, Resource>>();
  for (const r of resources) {
    if (!isRecord(r) || typeof r.kind !== 'string' || !isRecord(r.metadata) || typeof r.metadata.name !== 'string') {
      sink.add(`${(r as { kind?: string })?.kind ?? 'Unknown'}/<unnamed>`, 'resource has no kind or metadata.name; skipped');
      continue;
    }
    const kind = isCoreNode(r) ? 'K8sNode' : r.kind;
    let m = byKind.get(kind);
    if (!m) byKind.set(kind, (m = new Map()));
    m.set(r.metadata.namespace ? `${r.metadata.namespace}/${r.metadata.name}` : r.metadata.name, r);
  }
  const all = (kind: string): Resource[] =>
    [...(byKind.get(kind)?.values() ?? [])].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));

  const secret = makeSecretLookup(all('Secret'));

  // -- BGPConfiguration --------------------------------------------------------
  let globalListenPort = 0;
  const nodeListenPorts = new Map<string, number>();
  let defaultConfig: Resource | undefined;
  for (const cfg of all('BGPConfiguration')) {
    const name = cfg.metadata.name;
    if (name === 'default') {
      defaultConfig = cfg;
      globalListenPort = convertBgpConfig(cfg, undefined, keys, sink, secret);
    } else if (name.startsWith('node.') && name.length > 5) {
      const node = name.slice(5);
      const port = convertBgpConfig(cfg, node, keys, sink, secret);
      if (port) nodeListenPorts.set(node, port);
    } else {
      sink.add(resourceName(cfg), "name must be 'default' or 'node.<nodename>'; ignored");
    }
  }

  // -- Nodes -------------------------------------------------------------------
  const nodes: NodeInfo[] = [];
  {
    const k8sByName = byKind.get('K8sNode') ?? new Map<string, Resource>();
    const v3ByName = byKind.get('Node') ?? new Map<string, Resource>();
    const names = [...new Set([...k8sByName.keys(), ...v3ByName.keys()])].sort();
    for (const name of names) {
      const out = nodeOutput(k8sByName.get(name), v3ByName.get(name));
      replay(out.rec, keys, sink);
      nodes.push(out.info);
    }
  }

  // -- IPAM ----------------------------------------------------------------------
  for (const pool of all('IPPool')) replay(memoized(pool, convertPool), keys, sink);
  for (const aff of all('BlockAffinity')) replay(memoized(aff, convertAffinity), keys, sink);
  if (opts.usePodCidr) {
    for (const n of nodes) {
      for (const c of n.podCidrs) {
        const p = parseCidr(c);
        if (!p) {
          sink.add(n.source, `podCIDR ${JSON.stringify(c)} is not a CIDR; ignored`);
          continue;
        }
        keys.set(blockKey(n.name, p), JSON.stringify({ state: 'confirmed', deleted: false }));
      }
    }
  }

  // -- Peers ---------------------------------------------------------------------
  replay(peerRecord(keys, all('BGPPeer'), nodes, all('Secret'), globalListenPort, nodeListenPorts, secret), keys, sink);

  // -- Services ------------------------------------------------------------------
  const spec = defaultConfig && isRecord(defaultConfig.spec) ? defaultConfig.spec : {};
  let clusterCidrs = serviceRanges(spec, 'serviceClusterIPs');
  if (opts.advertiseClusterIps) {
    const p = parseCidr(opts.advertiseClusterIps);
    if (p) clusterCidrs = [p];
    else sink.add('env/CALICO_ADVERTISE_CLUSTER_IPS', `${JSON.stringify(opts.advertiseClusterIps)} is not a CIDR; ignored`);
  }
  const endpoints = new Map<string, Resource>();
  for (const ep of all('Endpoints')) endpoints.set(`${ep.metadata.namespace ?? 'default'}/${ep.metadata.name}`, ep);
  const self = opts.nodeName !== undefined ? nodes.find((n) => n.name === opts.nodeName) : undefined;
  convertServices({
    clusterCidrs,
    externalCidrs: serviceRanges(spec, 'serviceExternalIPs'),
    loadBalancerCidrs: serviceRanges(spec, 'serviceLoadBalancerIPs'),
    services: all('Service'),
    endpoints,
    ...(opts.nodeName !== undefined ? { nodeName: opts.nodeName } : {}),
    ...(self ? { nodeLabels: self.labels } : {}),
    keys,
    problems: sink,
  });

  return { keys, problems: sink.list };
}

// ---------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------

/** Looks a secret value up by secret name and key; prefers calico-system, then kube-system. */
function makeSecretLookup(secrets: Resource[]): (name: string, key: string) => string | undefined {
  const rank = (ns: string | undefined): number => (ns === 'calico-system' ? 0 : ns === 'kube-system' ? 1 : 2);
  const sorted = [...secrets].sort((a, b) => rank(a.metadata.namespace) - rank(b.metadata.namespace));
  return (name, key) => {
    for (const s of sorted) {
      if (s.metadata.name !== name) continue;
      const stringData = isRecord(s.stringData) ? s.stringData : undefined;
      if (stringData && typeof stringData[key] === 'string') return stringData[key] as string;
      const data = isRecord(s.data) ? s.data : undefined;
      if (data && typeof data[key] === 'string') return Buffer.from(data[key] as string, 'base64').toString('utf8');
    }
    return undefined;
  };
}

// ---------------------------------------------------------------------------
// BGPConfiguration
// ---------------------------------------------------------------------------

/** Writes one BGPConfiguration's keys; returns its listen port (0 = unset). */
function convertBgpConfig(
  cfg: Resource,
  node: string | undefined,
  keys: Map<string, string>,
  sink: ProblemSink,
  secret: (name: string, key: string) => string | undefined,
): number {
  const name = resourceName(cfg);
  const spec = isRecord(cfg.spec) ? cfg.spec : {};
  const key = (k: string): string => (node === undefined ? globalKey(k) : hostKey(node, k));

  let listenPort = 0;
  if (spec.listenPort !== undefined && spec.listenPort !== null) {
    const p = Number(spec.listenPort);
    if (Number.isInteger(p) && p >= 1 && p <= 65535) {
      listenPort = p;
      keys.set(key('listen_port'), String(p));
    } else {
      sink.add(name, `listenPort ${JSON.stringify(spec.listenPort)} is not 1-65535; ignored`);
    }
  }
  if (typeof spec.logSeverityScreen === 'string' && spec.logSeverityScreen !== '') {
    const l = spec.logSeverityScreen.toLowerCase();
    keys.set(key('loglevel'), l === 'debug' || l === 'info' ? l : 'none');
  }
  convertPrefixAdvertisements(spec, name, key, keys, sink);
  if (node !== undefined) {
    for (const f of ['asNumber', 'nodeToNodeMeshEnabled', 'serviceClusterIPs', 'serviceExternalIPs', 'serviceLoadBalancerIPs', 'nodeMeshPassword', 'nodeMeshMaxRestartTime', 'bindMode']) {
      if (spec[f] !== undefined) sink.add(name, `${f} is only honoured in BGPConfiguration default; ignored`);
    }
    return listenPort;
  }

  if (spec.asNumber !== undefined && spec.asNumber !== null) {
    const as = parseAsNumber(spec.asNumber);
    if (as === undefined) sink.add(name, `asNumber ${JSON.stringify(spec.asNumber)} is not an AS number (0-4294967295 or asdot); default 64512 used`);
    else keys.set(key('as_num'), String(as));
  }
  if (typeof spec.nodeToNodeMeshEnabled === 'boolean') {
    keys.set(key('node_mesh'), JSON.stringify({ enabled: spec.nodeToNodeMeshEnabled }));
  } else if (spec.nodeToNodeMeshEnabled !== undefined && spec.nodeToNodeMeshEnabled !== null) {
    sink.add(name, `nodeToNodeMeshEnabled ${JSON.stringify(spec.nodeToNodeMeshEnabled)} is not true/false; mesh stays on`);
  }
  if (spec.bindMode !== undefined) {
    if (spec.bindMode === 'None' || spec.bindMode === 'NodeIP') keys.set(key('bind_mode'), spec.bindMode);
    else sink.add(name, `bindMode ${JSON.stringify(spec.bindMode)} is not None or NodeIP; ignored`);
  }
  const svc: Array<[string, string]> = [
    ['serviceClusterIPs', 'svc_cluster_ips'],
    ['serviceExternalIPs', 'svc_external_ips'],
    ['serviceLoadBalancerIPs', 'svc_loadbalancer_ips'],
  ];
  for (const [field, k] of svc) {
    const list = spec[field];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) {
      sink.add(name, `${field} must be a list of {cidr: ...}; ignored`);
      continue;
    }
    const good: string[] = [];
    for (const item of list) {
      const cidr = isRecord(item) ? str(item.cidr) : undefined;
      const p = cidr !== undefined ? parseCidr(cidr) : undefined;
      if (!p) sink.add(name, `${field} entry ${JSON.stringify(item)} is not a CIDR; skipped`);
      else good.push(cidr!.trim());
    }
    if (good.length > 0) keys.set(key(k), good.join(','));
  }
  if (spec.nodeMeshMaxRestartTime !== undefined && spec.nodeMeshMaxRestartTime !== null) {
    const s = parseGoDurationSeconds(spec.nodeMeshMaxRestartTime);
    if (s === undefined) sink.add(name, `nodeMeshMaxRestartTime ${JSON.stringify(spec.nodeMeshMaxRestartTime)} is not a duration; ignored`);
    else keys.set(key('node_mesh_restart_time'), String(Math.round(s)));
  }
  const pw = spec.nodeMeshPassword;
  if (pw !== undefined && pw !== null) {
    const ref = isRecord(pw) && isRecord(pw.secretKeyRef) ? pw.secretKeyRef : undefined;
    const sName = ref ? str(ref.name) : undefined;
    const sKey = ref ? str(ref.key) : undefined;
    const value = sName && sKey ? secret(sName, sKey) : undefined;
    if (!sName || !sKey) sink.add(name, 'nodeMeshPassword must be {secretKeyRef: {name, key}}; mesh has no password');
    else if (value === undefined) sink.add(name, `nodeMeshPassword secret ${sName}/${sKey} not found; mesh has no password`);
    else keys.set(key('node_mesh_password'), value);
  }
  if (Array.isArray(spec.ignoredInterfaces)) {
    keys.set(key('ignored_interfaces'), spec.ignoredInterfaces.map((x) => String(x)).join(','));
  }
  return listenPort;
}

function convertPrefixAdvertisements(
  spec: Record<string, unknown>,
  name: string,
  key: (k: string) => string,
  keys: Map<string, string>,
  sink: ProblemSink,
): void {
  if (!Array.isArray(spec.prefixAdvertisements)) return;
  const defined = new Map<string, string>();
  if (Array.isArray(spec.communities)) {
    for (const c of spec.communities) {
      const cname = isRecord(c) ? str(c.name) : undefined;
      const value = isRecord(c) ? str(c.value) : undefined;
      if (!cname || !value || !isValidCommunity(value)) {
        sink.add(name, `community ${JSON.stringify(c)} needs a name and a value a:b or a:b:c; skipped`);
        continue;
      }
      defined.set(cname, value);
    }
  }
  const v4: Array<{ cidr: string; communities: string[] }> = [];
  const v6: typeof v4 = [];
  for (const adv of spec.prefixAdvertisements) {
    const cidr = isRecord(adv) ? str(adv.cidr) : undefined;
    const p = cidr !== undefined ? parseCidr(cidr) : undefined;
    if (!p) {
      sink.add(name, `prefixAdvertisements entry ${JSON.stringify(adv)} has no valid cidr; skipped`);
      continue;
    }
    const set = new Set<string>();
    const list = isRecord(adv) && Array.isArray(adv.communities) ? adv.communities : [];
    for (const c of list) {
      const s = str(c) ?? '';
      if (isValidCommunity(s)) set.add(s);
      else if (defined.has(s)) set.add(defined.get(s)!);
      else sink.add(name, `prefixAdvertisements ${cidr}: community ${JSON.stringify(c)} is neither a:b, a:b:c nor a defined name; skipped`);
    }
    (p.family === 6 ? v6 : v4).push({ cidr: cidr!.trim(), communities: [...set].sort() });
  }
  keys.set(key('prefix_advertisements/ip_v4'), JSON.stringify(v4.length ? v4 : null));
  keys.set(key('prefix_advertisements/ip_v6'), JSON.stringify(v6.length ? v6 : null));
}

// ---------------------------------------------------------------------------
// Nodes
// ---------------------------------------------------------------------------

/**
 * Kubernetes Nodes carry Calico's BGP settings in projectcalico.org/*
 * annotations. A projectcalico.org/v3 Node of the same name is applied on top
 * the way calicoctl applies it: its labels are added (overriding), and its
 * spec.bgp, when present, replaces the BGP settings.
 */
function mergeNodes(k8s: Resource[], calico: Resource[]): NodeInfo[] {
  const out = new Map<string, NodeInfo>();
  for (const r of k8s) {
    const ann = r.metadata.annotations ?? {};
    const spec = isRecord(r.spec) ? r.spec : {};
    const bgp: NonNullable<NodeInfo['bgp']> = {};
    if (ann[ANN.ipv4] !== undefined) bgp.ipv4Address = ann[ANN.ipv4];
    if (ann[ANN.ipv6] !== undefined) bgp.ipv6Address = ann[ANN.ipv6];
    if (ann[ANN.as] !== undefined) bgp.asNumber = ann[ANN.as];
    if (ann[ANN.rr] !== undefined) bgp.routeReflectorClusterID = ann[ANN.rr];
    const podCidrs = Array.isArray(spec.podCIDRs)
      ? spec.podCIDRs.map((x) => String(x))
      : typeof spec.podCIDR === 'string' && spec.podCIDR !== ''
        ? [spec.podCIDR]
        : [];
    const info: NodeInfo = { name: r.metadata.name, labels: stringLabels(r.metadata.labels), podCidrs, source: resourceName(r) };
    if (Object.keys(bgp).length > 0) info.bgp = bgp;
    out.set(r.metadata.name, info);
  }
  for (const r of calico) {
    const spec = isRecord(r.spec) ? r.spec : {};
    const prev = out.get(r.metadata.name);
    const info: NodeInfo = prev
      ? { ...prev, labels: { ...prev.labels, ...stringLabels(r.metadata.labels) }, source: resourceName(r) }
      : { name: r.metadata.name, labels: stringLabels(r.metadata.labels), podCidrs: [], source: resourceName(r) };
    if (isRecord(spec.bgp)) info.bgp = { ...spec.bgp };
    out.set(r.metadata.name, info);
  }
  return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function convertNode(n: NodeInfo, keys: Map<string, string>, sink: ProblemSink): void {
  let v4 = '';
  let v6 = '';
  const bgp = n.bgp ?? {};
  const addr = (field: 'ipv4Address' | 'ipv6Address', family: 4 | 6): void => {
    const raw = bgp[field];
    if (raw === undefined || raw === null || raw === '') return;
    const p = typeof raw === 'string' ? parseCidr(raw, true) : undefined;
    if (!p || p.family !== family) {
      sink.add(n.source, `bgp.${field} ${JSON.stringify(raw)} is not an IPv${family} address or CIDR; node has no IPv${family} BGP address`);
      return;
    }
    keys.set(hostKey(n.name, `network_v${family}`), p.network);
    if (family === 4) v4 = p.ip;
    else v6 = p.ip;
  };
  addr('ipv4Address', 4);
  addr('ipv6Address', 6);
  keys.set(hostKey(n.name, 'ip_addr_v4'), v4);
  keys.set(hostKey(n.name, 'ip_addr_v6'), v6);
  let asText = '';
  if (bgp.asNumber !== undefined && bgp.asNumber !== null && bgp.asNumber !== '') {
    const as = parseAsNumber(bgp.asNumber);
    if (as === undefined) sink.add(n.source, `bgp.asNumber ${JSON.stringify(bgp.asNumber)} is not an AS number (0-4294967295 or asdot); global AS used`);
    else keys.set(hostKey(n.name, 'as_num'), (asText = String(as)));
  }
  let rr = '';
  const rawRr = bgp.routeReflectorClusterID;
  if (rawRr !== undefined && rawRr !== null && rawRr !== '') {
    const ip = typeof rawRr === 'string' ? parseIp(rawRr) : undefined;
    if (!ip || ip.family !== 4) sink.add(n.source, `bgp.routeReflectorClusterID ${JSON.stringify(rawRr)} is not an IPv4 address; node is not a route reflector`);
    else rr = ip.text;
  }
  keys.set(hostKey(n.name, 'rr_cluster_id'), rr);
  n.written = { v4, v6, as: asText, rr };
}

// ---------------------------------------------------------------------------
// IP pools and block affinities
// ---------------------------------------------------------------------------

function convertPool(pool: Resource, keys: Map<string, string>, sink: ProblemSink): void {
  const name = resourceName(pool);
  const spec = isRecord(pool.spec) ? pool.spec : {};
  const cidr = typeof spec.cidr === 'string' ? parseCidr(spec.cidr) : undefined;
  if (!cidr) {
    sink.add(name, `cidr ${JSON.stringify(spec.cidr)} is not a CIDR; pool skipped`);
    return;
  }
  const mode = (field: string): string | undefined => {
    const v = spec[field];
    if (v === undefined || v === null || v === '' || v === 'Never') return '';
    if (v === 'Always') return 'always';
    if (v === 'CrossSubnet') return 'cross-subnet';
    sink.add(name, `${field} ${JSON.stringify(v)} is not Always, CrossSubnet or Never; pool skipped`);
    return undefined;
  };
  const ipipMode = mode('ipipMode');
  const vxlanMode = mode('vxlanMode');
  if (ipipMode === undefined || vxlanMode === undefined) return;
  const disabled = spec.disabled === true;
  const value = {
    cidr: cidr.network,
    ipip: ipipMode ? 'tunl0' : '',
    ipip_mode: ipipMode,
    vxlan_mode: vxlanMode,
    masquerade: spec.natOutgoing === true,
    ipam: !disabled,
    disabled,
    disableBGPExport: spec.disableBGPExport === true,
  };
  keys.set(`/calico/v1/ipam/v${cidr.family}/pool/${cidrToKeyPart(cidr.network)}`, JSON.stringify(value));
}

function blockKey(node: string, c: ParsedCidr): string {
  return `/calico/ipam/v2/host/${node}/ipv${c.family}/block/${cidrToKeyPart(c.network)}`;
}

const AFFINITY_STATES = new Set(['', 'confirmed', 'pending', 'pendingDeletion']);

function convertAffinity(aff: Resource, keys: Map<string, string>, sink: ProblemSink): void {
  const name = resourceName(aff);
  const spec = isRecord(aff.spec) ? aff.spec : {};
  const node = str(spec.node);
  if (!node) {
    sink.add(name, 'spec.node is missing; affinity skipped');
    return;
  }
  const cidr = typeof spec.cidr === 'string' ? parseCidr(spec.cidr) : undefined;
  if (!cidr) {
    sink.add(name, `cidr ${JSON.stringify(spec.cidr)} is not a CIDR; affinity skipped`);
    return;
  }
  // Calico's Kubernetes backend hides affinities marked deleted.
  if (spec.deleted === true || spec.deleted === 'true') return;
  const state = str(spec.state) ?? '';
  if (!AFFINITY_STATES.has(state)) {
    sink.add(name, `state ${JSON.stringify(state)} is not confirmed, pending or pendingDeletion; affinity skipped`);
    return;
  }
  keys.set(blockKey(node, cidr), JSON.stringify({ state, deleted: false }));
}
