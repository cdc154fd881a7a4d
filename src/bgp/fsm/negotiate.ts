/**
 * What two OPENs agree on (RFC 4271 section 4.2, RFC 5492 and the
 * capability RFCs): hold time, 4-octet AS, families, ADD-PATH per direction,
 * route refresh flavours, extended messages, graceful restart. The result
 * carries one codec context per direction, built once.
 */
import {
  AS_TRANS,
  Afi,
  CapCode,
  MAX_EXTENDED_MESSAGE_LENGTH,
  MAX_MESSAGE_LENGTH,
  Safi,
  afiSafiKey,
  type Capability,
  type CodecContext,
  type OpenMessage,
} from '../packet/index.js';

export interface PeerGracefulRestart {
  /** The peer restarted and is asking us to keep its routes (R bit). */
  restarting: boolean;
  /** Seconds the peer asks us to keep its routes stale. */
  restartTime: number;
  /** Families for which the peer preserved forwarding state (F bit), as family keys. */
  forwarding: Set<number>;
  /** Families the peer supports graceful restart for. */
  families: Set<number>;
}

export interface Negotiated {
  peerAs: number;
  peerId: string;
  /** 0 means no hold timer and no keepalives. */
  holdTime: number;
  keepaliveTime: number;
  fourOctetAs: boolean;
  /** Family keys (afiSafiKey) both sides can exchange. */
  families: Set<number>;
  routeRefresh: boolean;
  enhancedRouteRefresh: boolean;
  extendedMessage: boolean;
  /** The peer's graceful restart capability, if it sent one. */
  gracefulRestart: PeerGracefulRestart | null;
  /** The peer's long-lived GR stale times per family key, if it sent the capability. */
  llgrStaleTime: Map<number, number> | null;
  /** Decoding what the peer sends. */
  rxCtx: CodecContext;
  /** Encoding what we send. */
  txCtx: CodecContext;
}

/** The AS a peer's OPEN speaks for: the 4-octet capability's, else the My AS field. */
export function openAs(open: OpenMessage): number {
  const cap = open.capabilities.find((c) => c.code === CapCode.FOUR_OCTET_AS) as { asn: number } | undefined;
  return cap !== undefined ? cap.asn : open.myAs;
}

function families(caps: readonly Capability[]): Set<number> {
  const out = new Set<number>();
  for (const c of caps) if (c.code === CapCode.MULTIPROTOCOL) out.add(afiSafiKey((c as { afi: number }).afi, (c as { safi: number }).safi));
  // RFC 4760: a speaker that sends no multiprotocol capability does IPv4
  // unicast only.
  if (out.size === 0) out.add(afiSafiKey(Afi.IPV4, Safi.UNICAST));
  return out;
}

function addPathModes(caps: readonly Capability[]): Map<number, 'receive' | 'send' | 'both'> {
  const out = new Map<number, 'receive' | 'send' | 'both'>();
  for (const c of caps) {
    if (c.code !== CapCode.ADD_PATH || !('families' in c)) continue;
    for (const f of (c as Extract<Capability, { code: 69 }>).families) out.set(afiSafiKey(f.afi, f.safi), f.mode);
  }
  return out;
}

const has = (caps: readonly Capability[], code: number): boolean => caps.some((c) => c.code === code);

/**
 * Negotiates the session from our OPEN and theirs. `ourHoldTime` is what we
 * offered; "the BGP speaker MUST calculate the value of the Hold Timer by
 * using the smaller of its configured Hold Time and the Hold Time received
 * in the OPEN message".
 */
export function negotiate(ours: OpenMessage, theirs: OpenMessage, peerType: 'internal' | 'external'): Negotiated {
  const holdTime = Math.min(ours.holdTime, theirs.holdTime);
  // "A reasonable maximum time between KEEPALIVE messages would be one third
  // of the Hold Time interval."
  const keepaliveTime = holdTime === 0 ? 0 : Math.max(1, Math.floor(holdTime / 3));
  const fourOctetAs = has(ours.capabilities, CapCode.FOUR_OCTET_AS) && has(theirs.capabilities, CapCode.FOUR_OCTET_AS);
  const ourFamilies = families(ours.capabilities);
  const common = new Set([...families(theirs.capabilities)].filter((f) => ourFamilies.has(f)));

  // RFC 7911 section 4: we receive path ids for a family when we said
  // receive/both and the peer said send/both; and the other way round.
  const ourAp = addPathModes(ours.capabilities);
  const theirAp = addPathModes(theirs.capabilities);
  const rxAddPath = new Set<number>();
  const txAddPath = new Set<number>();
  for (const [fam, mode] of ourAp) {
    if (!common.has(fam)) continue;
    const peer = theirAp.get(fam);
    if (peer === undefined) continue;
    if ((mode === 'receive' || mode === 'both') && (peer === 'send' || peer === 'both')) rxAddPath.add(fam);
    if ((mode === 'send' || mode === 'both') && (peer === 'receive' || peer === 'both')) txAddPath.add(fam);
  }

  const extendedMessage = has(ours.capabilities, CapCode.EXTENDED_MESSAGE) && has(theirs.capabilities, CapCode.EXTENDED_MESSAGE);
  const maxMessageLength = extendedMessage ? MAX_EXTENDED_MESSAGE_LENGTH : MAX_MESSAGE_LENGTH;

  let gracefulRestart: PeerGracefulRestart | null = null;
  const gr = theirs.capabilities.find((c) => c.code === CapCode.GRACEFUL_RESTART) as Extract<Capability, { code: 64 }> | undefined;
  if (gr !== undefined && 'families' in gr) {
    gracefulRestart = {
      restarting: gr.restartState,
      restartTime: gr.restartTime,
      forwarding: new Set(gr.families.filter((f) => f.forwardingState).map((f) => afiSafiKey(f.afi, f.safi))),
      families: new Set(gr.families.map((f) => afiSafiKey(f.afi, f.safi))),
    };
  }
  let llgrStaleTime: Map<number, number> | null = null;
  const llgr = theirs.capabilities.find((c) => c.code === CapCode.LONG_LIVED_GRACEFUL_RESTART) as Extract<Capability, { code: 71 }> | undefined;
  if (llgr !== undefined && 'families' in llgr) {
    llgrStaleTime = new Map(llgr.families.map((f) => [afiSafiKey(f.afi, f.safi), f.staleTime]));
  }

  return {
    peerAs: openAs(theirs),
    peerId: theirs.bgpId,
    holdTime,
    keepaliveTime,
    fourOctetAs,
    families: common,
    // Code 128 is the pre-standard route refresh some routers still send.
    routeRefresh: has(theirs.capabilities, CapCode.ROUTE_REFRESH) || has(theirs.capabilities, 128),
    enhancedRouteRefresh: has(ours.capabilities, CapCode.ENHANCED_ROUTE_REFRESH) && has(theirs.capabilities, CapCode.ENHANCED_ROUTE_REFRESH),
    extendedMessage,
    gracefulRestart,
    llgrStaleTime,
    rxCtx: { fourOctetAs, addPath: rxAddPath, maxMessageLength, peerType },
    txCtx: { fourOctetAs, addPath: txAddPath, maxMessageLength, peerType },
  };
}

/** The My AS field for a local AS: AS_TRANS when it needs 4 octets (RFC 6793 section 4.1). */
export function myAsField(localAs: number): number {
  return localAs > 0xffff ? AS_TRANS : localAs;
}
