/**
 * The address families the speaker carries (IPv4 and IPv6 unicast), as one
 * table: what differs between them (key width, prefix length, next-hop
 * length, the kernel's address family, BIRD's channel name) is looked up
 * here instead of being re-derived from `family === 4` at each use.
 */
import { Afi, Safi } from './packet/iana.js';

/** One AFI/SAFI the speaker carries. */
export interface FamilyDescriptor {
  /** Our short name for it (`4` or `6`), as the model writes it. */
  readonly family: 4 | 6;
  readonly afi: 1 | 2;
  readonly safi: 1;
  /** 32-bit words per prefix in a PrefixList or a RIB key. */
  readonly keyWidth: 1 | 4;
  readonly maxPrefixLength: 32 | 128;
  /** Octets of an address (and of a plain NEXT_HOP, RFC 4760 for IPv6 global). */
  readonly addressLength: 4 | 16;
  /** AF_INET / AF_INET6 (linux/socket.h), for rtnetlink. */
  readonly netlinkFamily: 2 | 10;
  /** BIRD 2's channel name. */
  readonly birdChannel: 'ipv4' | 'ipv6';
  /** The unspecified address, the destination of a default route. */
  readonly anyAddress: '0.0.0.0' | '::';
}

const IPV4_UNICAST: FamilyDescriptor = {
  family: 4,
  afi: Afi.IPV4,
  safi: Safi.UNICAST,
  keyWidth: 1,
  maxPrefixLength: 32,
  addressLength: 4,
  netlinkFamily: 2,
  birdChannel: 'ipv4',
  anyAddress: '0.0.0.0',
};

const IPV6_UNICAST: FamilyDescriptor = {
  family: 6,
  afi: Afi.IPV6,
  safi: Safi.UNICAST,
  keyWidth: 4,
  maxPrefixLength: 128,
  addressLength: 16,
  netlinkFamily: 10,
  birdChannel: 'ipv6',
  anyAddress: '::',
};

/** The descriptor of family 4 or 6. */
export function familyOf(family: 4 | 6): FamilyDescriptor {
  return family === 4 ? IPV4_UNICAST : IPV6_UNICAST;
}

/** The descriptor of AFI 1 or 2. */
export function familyOfAfi(afi: number): FamilyDescriptor {
  return afi === Afi.IPV4 ? IPV4_UNICAST : IPV6_UNICAST;
}
