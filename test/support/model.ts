/** Hand-built peering models for speaker tests. */
import type { FamilyConfig, NodeBgpConfig, Peer } from '../../src/model/types.js';

export function family(over: Partial<FamilyConfig> = {}): FamilyConfig {
  return { address: null, network: null, peers: [], skipped: [], pools: [], blocks: [], staticRoutes: [], rejectCidrs: [], communities: [], ...over };
}

export function peer(over: Partial<Peer> & Pick<Peer, 'name' | 'address'>): Peer {
  return {
    type: 'mesh',
    family: over.address.includes(':') ? 6 : 4,
    port: null,
    asNumber: 64512,
    sourceAddress: null,
    passive: false,
    routeReflectorClient: false,
    routeReflectorClusterId: null,
    password: null,
    nextHop: 'auto',
    gracefulRestartTime: null,
    ttlSecurity: 0,
    calicoNode: true,
    numAllowLocalAs: 0,
    reachableBy: null,
    sourceKey: `/test/${over.name}`,
    ...over,
  };
}

export function nodeModel(over: Partial<NodeBgpConfig> & Pick<NodeBgpConfig, 'nodeName' | 'routerId'>): NodeBgpConfig {
  return {
    routerIdSource: 'node-ipv4',
    asNumber: 64512,
    listenPort: null,
    bindMode: 'None',
    logLevel: 'info',
    meshEnabled: true,
    routeReflectorClusterId: null,
    ignoredInterfaces: [],
    ipv4: family(),
    ipv6: family(),
    ...over,
  };
}

export const pool = (cidr: string) => ({
  cidr,
  family: (cidr.includes(':') ? 6 : 4) as 4 | 6,
  ipipMode: 'never' as const,
  ipipInterface: '',
  vxlanMode: 'never' as const,
  natOutgoing: false,
  disabled: false,
  disableBGPExport: false,
});

export const block = (cidr: string, state: 'confirmed' | 'pending' = 'confirmed') => ({
  cidr,
  family: (cidr.includes(':') ? 6 : 4) as 4 | 6,
  state,
  confirmed: state === 'confirmed',
});
