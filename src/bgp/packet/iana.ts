/**
 * IANA registry values used on the wire (BGP message types, path attribute
 * type codes, capability codes, address families, NOTIFICATION codes).
 * Plain `as const` objects so they cost nothing at run time and read well in
 * `switch` statements.
 */

/** RFC 4271 section 4.1 message types, plus ROUTE-REFRESH (RFC 2918). */
export const MsgType = {
  OPEN: 1,
  UPDATE: 2,
  NOTIFICATION: 3,
  KEEPALIVE: 4,
  ROUTE_REFRESH: 5,
} as const;
export type MsgTypeCode = (typeof MsgType)[keyof typeof MsgType];

/** Path attribute type codes. */
export const AttrType = {
  ORIGIN: 1,
  AS_PATH: 2,
  NEXT_HOP: 3,
  MULTI_EXIT_DISC: 4,
  LOCAL_PREF: 5,
  ATOMIC_AGGREGATE: 6,
  AGGREGATOR: 7,
  COMMUNITIES: 8,
  ORIGINATOR_ID: 9,
  CLUSTER_LIST: 10,
  MP_REACH_NLRI: 14,
  MP_UNREACH_NLRI: 15,
  EXTENDED_COMMUNITIES: 16,
  AS4_PATH: 17,
  AS4_AGGREGATOR: 18,
  LARGE_COMMUNITIES: 32,
} as const;

/** Attribute flag bits (RFC 4271 section 4.3). */
export const AttrFlag = {
  OPTIONAL: 0x80,
  TRANSITIVE: 0x40,
  PARTIAL: 0x20,
  EXTENDED_LENGTH: 0x10,
} as const;

/** Capability codes (RFC 5492 registry). */
export const CapCode = {
  MULTIPROTOCOL: 1,
  ROUTE_REFRESH: 2,
  EXTENDED_NEXT_HOP: 5,
  EXTENDED_MESSAGE: 6,
  GRACEFUL_RESTART: 64,
  FOUR_OCTET_AS: 65,
  ADD_PATH: 69,
  ENHANCED_ROUTE_REFRESH: 70,
  LONG_LIVED_GRACEFUL_RESTART: 71,
  FQDN: 73,
} as const;

/** Address family identifiers and subsequent AFIs this codec understands. */
export const Afi = { IPV4: 1, IPV6: 2 } as const;
export type AfiCode = (typeof Afi)[keyof typeof Afi];
export const Safi = { UNICAST: 1 } as const;

/** AS_TRANS, the 2-octet stand-in for a 4-octet AS number (RFC 6793). */
export const AS_TRANS = 23456;

/** Message size limits (RFC 4271 section 4.1, RFC 8654). */
export const HEADER_LENGTH = 19;
export const MAX_MESSAGE_LENGTH = 4096;
export const MAX_EXTENDED_MESSAGE_LENGTH = 65535;

/** NOTIFICATION error codes (RFC 4271 section 4.5, RFC 7313, RFC 6608). */
export const ErrCode = {
  MESSAGE_HEADER: 1,
  OPEN_MESSAGE: 2,
  UPDATE_MESSAGE: 3,
  HOLD_TIMER_EXPIRED: 4,
  FSM: 5,
  CEASE: 6,
  ROUTE_REFRESH: 7,
} as const;

export const HeaderSub = { CONNECTION_NOT_SYNCHRONIZED: 1, BAD_MESSAGE_LENGTH: 2, BAD_MESSAGE_TYPE: 3 } as const;

export const OpenSub = {
  UNSPECIFIC: 0,
  UNSUPPORTED_VERSION: 1,
  BAD_PEER_AS: 2,
  BAD_BGP_IDENTIFIER: 3,
  UNSUPPORTED_OPTIONAL_PARAMETER: 4,
  UNACCEPTABLE_HOLD_TIME: 6,
  UNSUPPORTED_CAPABILITY: 7,
  ROLE_MISMATCH: 11,
} as const;

export const UpdateSub = {
  UNSPECIFIC: 0,
  MALFORMED_ATTRIBUTE_LIST: 1,
  UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: 2,
  MISSING_WELL_KNOWN_ATTRIBUTE: 3,
  ATTRIBUTE_FLAGS_ERROR: 4,
  ATTRIBUTE_LENGTH_ERROR: 5,
  INVALID_ORIGIN_ATTRIBUTE: 6,
  INVALID_NEXT_HOP_ATTRIBUTE: 8,
  OPTIONAL_ATTRIBUTE_ERROR: 9,
  INVALID_NETWORK_FIELD: 10,
  MALFORMED_AS_PATH: 11,
} as const;

/** RFC 6608 FSM error subcodes: which state received the unexpected message. */
export const FsmSub = {
  UNSPECIFIED: 0,
  UNEXPECTED_IN_OPENSENT: 1,
  UNEXPECTED_IN_OPENCONFIRM: 2,
  UNEXPECTED_IN_ESTABLISHED: 3,
} as const;

/** RFC 4486 Cease subcodes. */
export const CeaseSub = {
  MAX_PREFIXES_REACHED: 1,
  ADMINISTRATIVE_SHUTDOWN: 2,
  PEER_DECONFIGURED: 3,
  ADMINISTRATIVE_RESET: 4,
  CONNECTION_REJECTED: 5,
  OTHER_CONFIGURATION_CHANGE: 6,
  CONNECTION_COLLISION_RESOLUTION: 7,
  OUT_OF_RESOURCES: 8,
  HARD_RESET: 9,
  BFD_DOWN: 10,
} as const;

export const RouteRefreshSub = { INVALID_MESSAGE_LENGTH: 1 } as const;

/** ROUTE-REFRESH message subtypes (RFC 7313). */
export const RefreshSubtype = { NORMAL: 0, BORR: 1, EORR: 2 } as const;

const codeNames: Record<number, [string, Record<number, string>]> = {
  1: ['Message Header Error', { 1: 'Connection Not Synchronized', 2: 'Bad Message Length', 3: 'Bad Message Type' }],
  2: [
    'OPEN Message Error',
    {
      0: 'Unspecific',
      1: 'Unsupported Version Number',
      2: 'Bad Peer AS',
      3: 'Bad BGP Identifier',
      4: 'Unsupported Optional Parameter',
      5: 'Authentication Failure (deprecated)',
      6: 'Unacceptable Hold Time',
      7: 'Unsupported Capability',
      11: 'Role Mismatch',
    },
  ],
  3: [
    'UPDATE Message Error',
    {
      0: 'Unspecific',
      1: 'Malformed Attribute List',
      2: 'Unrecognized Well-known Attribute',
      3: 'Missing Well-known Attribute',
      4: 'Attribute Flags Error',
      5: 'Attribute Length Error',
      6: 'Invalid ORIGIN Attribute',
      7: 'AS Routing Loop (deprecated)',
      8: 'Invalid NEXT_HOP Attribute',
      9: 'Optional Attribute Error',
      10: 'Invalid Network Field',
      11: 'Malformed AS_PATH',
    },
  ],
  4: ['Hold Timer Expired', {}],
  5: [
    'Finite State Machine Error',
    {
      0: 'Unspecified',
      1: 'Unexpected message in OpenSent',
      2: 'Unexpected message in OpenConfirm',
      3: 'Unexpected message in Established',
    },
  ],
  6: [
    'Cease',
    {
      1: 'Maximum Number of Prefixes Reached',
      2: 'Administrative Shutdown',
      3: 'Peer De-configured',
      4: 'Administrative Reset',
      5: 'Connection Rejected',
      6: 'Other Configuration Change',
      7: 'Connection Collision Resolution',
      8: 'Out of Resources',
      9: 'Hard Reset',
      10: 'BFD Down',
    },
  ],
  7: ['ROUTE-REFRESH Message Error', { 1: 'Invalid Message Length' }],
};

/** Human-readable "Code / Subcode" text for logs and `status`. */
export function notificationText(code: number, subcode: number): string {
  const entry = codeNames[code];
  if (entry === undefined) return `unknown error code ${code} (subcode ${subcode})`;
  const sub = entry[1][subcode];
  if (sub !== undefined) return `${entry[0]} / ${sub}`;
  return Object.keys(entry[1]).length === 0 && subcode === 0 ? entry[0] : `${entry[0]} / subcode ${subcode}`;
}
