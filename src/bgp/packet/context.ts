/**
 * Negotiated session facts that change how bytes are read and written. Built
 * once from the two OPENs and passed to every decode/encode call; one context
 * per direction, because ADD-PATH can be negotiated in one direction only.
 */
import { MAX_MESSAGE_LENGTH } from './iana.js';

export interface CodecContext {
  /** Both sides advertised the 4-octet AS capability (RFC 6793). */
  readonly fourOctetAs: boolean;
  /** AFI/SAFI keys (see `afiSafiKey`) whose NLRI carry path identifiers (RFC 7911). */
  readonly addPath: ReadonlySet<number>;
  /** Largest message allowed: 4096, or 65535 with extended messages (RFC 8654). */
  readonly maxMessageLength: number;
  /**
   * Whether the peer is internal (iBGP), external (eBGP), or unknown (a
   * decode tool). Some RFC 7606 rules depend on it (LOCAL_PREF mandatory on
   * iBGP; ORIGINATOR_ID/CLUSTER_LIST/LOCAL_PREF discarded from eBGP).
   */
  readonly peerType?: 'internal' | 'external';
}

/** One number per AFI/SAFI pair, for cheap set membership. */
export function afiSafiKey(afi: number, safi: number): number {
  return (afi << 8) | safi;
}

export const DEFAULT_CONTEXT: CodecContext = Object.freeze({
  fourOctetAs: true,
  addPath: new Set<number>(),
  maxMessageLength: MAX_MESSAGE_LENGTH,
});

/** A context with some fields overridden. */
export function makeContext(overrides: Partial<CodecContext> = {}): CodecContext {
  return { ...DEFAULT_CONTEXT, ...overrides };
}
