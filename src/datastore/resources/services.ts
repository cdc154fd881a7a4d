/**
 * Service IP advertisement -> `/calico/staticroutes[v6]/<cidr>` (routes BIRD
 * originates as blackholes and exports) and `/calico/rejectcidrs[v6]/<cidr>`
 * (ranges never programmed into the kernel from BGP), following Calico:
 *
 * - Every range in BGPConfiguration `default` serviceClusterIPs and
 *   serviceExternalIPs, and every serviceLoadBalancerIPs range that is not a
 *   single address, is a static route and a reject range on every node.
 *   A node labelled `node.kubernetes.io/exclude-from-external-load-balancers:
 *   "true"` keeps only the reject ranges.
 * - Per Service (types ClusterIP, NodePort, LoadBalancer, with a cluster IP):
 *   with `externalTrafficPolicy: Local` and a ready endpoint on this node of
 *   the service's address family, or with policy Cluster and a single-address
 *   LoadBalancer/external IP, this node adds /32 (/128) routes for the cluster
 *   IP (when cluster IPs are advertised at all), allowed external IPs and
 *   allowed load-balancer ingress IPs.
 *
 * Per-service routes depend on the node name; without one only the ranges
 * are produced.
 */
import type { Resource } from '../types.js';
import { isRecord, resourceName, str, type ProblemSink } from './common.js';
import { cidrContains, cidrToKeyPart, parseCidr, parseIp, type ParsedCidr } from '../../net/index.js';

export interface ServiceInputs {
  clusterCidrs: ParsedCidr[];
  externalCidrs: ParsedCidr[];
  loadBalancerCidrs: ParsedCidr[];
  services: Resource[];
  endpoints: Map<string, Resource>;
  nodeName?: string;
  nodeLabels?: Record<string, string>;
  keys: Map<string, string>;
  problems: ProblemSink;
}

const EXCLUDE_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';

function routeKey(kind: 'staticroutes' | 'rejectcidrs', cidr: string): string {
  const v6 = cidr.includes(':');
  return `/calico/${kind}${v6 ? 'v6' : ''}/${cidrToKeyPart(cidr)}`;
}

const isSingle = (c: ParsedCidr): boolean => c.prefixLength === (c.family === 4 ? 32 : 128);

export function convertServices(inp: ServiceInputs): void {
  const { keys, problems } = inp;
  const excluded = inp.nodeLabels?.[EXCLUDE_LABEL] === 'true';
  const addRange = (c: ParsedCidr, staticToo: boolean): void => {
    keys.set(routeKey('rejectcidrs', c.network), c.network);
    if (staticToo && !excluded) keys.set(routeKey('staticroutes', c.network), c.network);
  };
  for (const c of inp.clusterCidrs) addRange(c, true);
  for (const c of inp.externalCidrs) addRange(c, true);
  for (const c of inp.loadBalancerCidrs) if (!isSingle(c)) addRange(c, true);

  if (inp.nodeName === undefined || excluded) return;
  const within = (ranges: ParsedCidr[], ipText: string, singleOnly: boolean): boolean => {
    const ip = parseIp(ipText);
    if (!ip) return false;
    return ranges.some((r) => (!singleOnly || isSingle(r)) && cidrContains(r, ip));
  };

  for (const svc of inp.services) {
    const name = resourceName(svc);
    const spec = isRecord(svc.spec) ? svc.spec : {};
    const type = str(spec.type) ?? 'ClusterIP';
    if (type !== 'ClusterIP' && type !== 'NodePort' && type !== 'LoadBalancer') continue;
    const clusterIpText = str(spec.clusterIP) ?? '';
    if (clusterIpText === '' || clusterIpText === 'None') continue;
    const clusterIp = parseIp(clusterIpText);
    if (!clusterIp) {
      problems.add(name, `clusterIP ${JSON.stringify(clusterIpText)} is not an IP address; service skipped`);
      continue;
    }
    const externalIps = Array.isArray(spec.externalIPs) ? spec.externalIPs.map((x) => str(x) ?? '') : [];
    const status = isRecord(svc.status) ? svc.status : {};
    const lb = isRecord(status.loadBalancer) ? status.loadBalancer : {};
    const ingressIps = Array.isArray(lb.ingress)
      ? lb.ingress.map((i) => (isRecord(i) ? (str(i.ip) ?? '') : '')).filter((s) => s !== '')
      : [];
    const specLbIp = str(spec.loadBalancerIP) ?? '';
    const policy = str(spec.externalTrafficPolicy) ?? 'Cluster';

    let advertise = false;
    if (policy === 'Cluster') {
      if (type === 'LoadBalancer' && [specLbIp, ...ingressIps].some((ip) => within(inp.loadBalancerCidrs, ip, true))) advertise = true;
      if (externalIps.some((ip) => within(inp.externalCidrs, ip, true))) advertise = true;
    }
    if (!advertise && policy === 'Local') {
      const ns = svc.metadata.namespace ?? 'default';
      const ep = inp.endpoints.get(`${ns}/${svc.metadata.name}`);
      const subsets = ep && Array.isArray(ep.subsets) ? ep.subsets : [];
      for (const subset of subsets) {
        if (!isRecord(subset) || !Array.isArray(subset.addresses)) continue;
        for (const a of subset.addresses) {
          if (!isRecord(a) || str(a.nodeName) !== inp.nodeName) continue;
          const addr = parseIp(str(a.ip) ?? '');
          if (addr && addr.family === clusterIp.family) advertise = true;
        }
      }
    }
    if (!advertise) continue;

    const routes: string[] = [];
    if (inp.clusterCidrs.length > 0) routes.push(clusterIp.text);
    for (const ip of externalIps) {
      if (within(inp.externalCidrs, ip, false)) routes.push(parseIp(ip)!.text);
      else if (!parseIp(ip)) problems.add(name, `externalIP ${JSON.stringify(ip)} is not an IP address; not advertised`);
    }
    for (const ip of ingressIps) {
      if (within(inp.loadBalancerCidrs, ip, false)) routes.push(parseIp(ip)!.text);
      else if (!parseIp(ip)) problems.add(name, `load-balancer ingress IP ${JSON.stringify(ip)} is not an IP address; not advertised`);
    }
    for (const r of routes) {
      const c = parseCidr(r, true)!;
      keys.set(routeKey('staticroutes', c.network), c.network);
    }
  }
}
