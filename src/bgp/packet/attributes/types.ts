/**
 * In-memory path attributes of one UPDATE. Every field is optional because
 * every attribute can be absent on the wire; validation (RFC 7606) decides
 * what absence means.
 */
import type { PrefixList } from '../prefix.js';

/** AS_PATH segment types (RFC 4271, RFC 5065). */
export const SegmentType = { SET: 1, SEQUENCE: 2, CONFED_SEQUENCE: 3, CONFED_SET: 4 } as const;
export type SegmentTypeCode = 1 | 2 | 3 | 4;

export interface AsPathSegment {
  type: SegmentTypeCode;
  asns: number[];
}

export type Origin = 0 | 1 | 2; // IGP, EGP, INCOMPLETE

export interface MpReach {
  afi: number;
  safi: number;
  /** One next hop, or for IPv6 a global address followed by a link-local one. */
  nextHops: string[];
  nlri: PrefixList;
}

export interface MpUnreach {
  afi: number;
  safi: number;
  withdrawn: PrefixList;
}

export interface UnknownAttribute {
  type: number;
  flags: number;
  data: Buffer;
}

export interface PathAttributes {
  origin?: Origin;
  asPath?: AsPathSegment[];
  nextHop?: string;
  med?: number;
  localPref?: number;
  atomicAggregate?: true;
  aggregator?: { as: number; address: string };
  /** RFC 1997 communities, each as a 32-bit value (high 16 bits : low 16 bits). */
  communities?: number[];
  originatorId?: string;
  clusterList?: string[];
  mpReach?: MpReach;
  mpUnreach?: MpUnreach;
  /** RFC 4360 extended communities, each 8 octets as 16 lowercase hex digits. */
  extendedCommunities?: string[];
  /** RFC 8092 large communities: [global admin, local 1, local 2]. */
  largeCommunities?: [number, number, number][];
  /**
   * Attributes this codec does not interpret, kept as received: optional
   * transitive ones are re-encoded with the Partial bit set; optional
   * non-transitive ones are not re-encoded (RFC 4271 section 5).
   */
  unknown?: UnknownAttribute[];
}

/** What RFC 7606 says to do about a malformed attribute. */
export type ErrorAction = 'attribute-discard' | 'treat-as-withdraw' | 'session-reset';
