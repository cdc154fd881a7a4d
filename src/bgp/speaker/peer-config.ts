/**
 * From the peering model to session configuration: what we advertise to a
 * peer and how we treat it, following what Calico's BIRD template asks of
 * BIRD (`add paths on`, `graceful restart`, `connect retry time 5`,
 * `error wait time 5,30`).
 */
import type { Capability } from '../packet/index.js';
import type { NeighborConfig } from '../session/neighbor.js';
import type { NodeBgpConfig, Peer } from '../../model/types.js';
import { familyOf } from '../family.js';

export interface SessionDefaults {
  holdTime: number;
  connectRetryTime: number;
  /** Restart time we advertise when the model does not set one. */
  gracefulRestartTime: number;
  /** We restarted and kept forwarding state (the R bit, RFC 4724). */
  restarting: boolean;
  /** Advertise extended messages (RFC 8654). */
  extendedMessage: boolean;
}

export const DEFAULT_SESSION: SessionDefaults = {
  holdTime: 90,
  connectRetryTime: 5,
  gracefulRestartTime: 120,
  restarting: false,
  extendedMessage: true,
};

export function capabilitiesFor(peer: Peer, d: SessionDefaults): Capability[] {
  const afi = familyOf(peer.family).afi;
  const caps: Capability[] = [
    { code: 1, afi, safi: 1 },
    { code: 2 },
    { code: 70 },
    // Calico configures BIRD with `add paths on`: send and receive.
    { code: 69, families: [{ afi, safi: 1, mode: 'both' }] },
    {
      code: 64,
      restartState: d.restarting,
      notification: false,
      restartTime: Math.min(4095, peer.gracefulRestartTime ?? d.gracefulRestartTime),
      families: [{ afi, safi: 1, forwardingState: true }],
    },
  ];
  if (d.extendedMessage) caps.push({ code: 6 });
  return caps;
}

export function neighborConfigFor(model: NodeBgpConfig, peer: Peer, d: SessionDefaults): NeighborConfig {
  return {
    name: peer.name,
    address: peer.address,
    port: peer.port ?? 179,
    ...(peer.sourceAddress !== null ? { localAddress: peer.sourceAddress } : {}),
    passive: peer.passive,
    localAs: model.asNumber,
    peerAs: peer.asNumber,
    routerId: model.routerId,
    holdTime: d.holdTime,
    connectRetryTime: d.connectRetryTime,
    capabilities: capabilitiesFor(peer, d),
    idleHold: { initialSeconds: 5, maxSeconds: 30, stableSeconds: 60 },
    password: peer.password,
    ttlSecurity: peer.ttlSecurity,
  };
}

/** What, if changed, needs the session to be rebuilt. */
export function peerIdentity(peer: Peer): string {
  const { sourceKey: _ignored, ...rest } = peer;
  return JSON.stringify(rest);
}
