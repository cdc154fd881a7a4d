/**
 * Capabilities advertisement (RFC 5492): each capability is
 *
 *   +------------------------------+
 *   | Capability Code (1 octet)    |
 *   +------------------------------+
 *   | Capability Length (1 octet)  |
 *   +------------------------------+
 *   | Capability Value (variable)  |
 *   +------------------------------+
 *
 * The in-memory form of each capability is also its JSON form (what
 * `calico-bgpd decode` prints), so there is one shape to learn.
 */
import { CapCode } from './iana.js';
import { fail } from './errors.js';

export interface AfiSafi {
  afi: number;
  safi: number;
}

export type AddPathMode = 'receive' | 'send' | 'both';

export type Capability =
  /** RFC 4760 */
  | { code: 1; afi: number; safi: number }
  /** RFC 2918 */
  | { code: 2 }
  /** RFC 8950: NLRI of afi/safi may carry next hops of nextHopAfi */
  | { code: 5; families: { afi: number; safi: number; nextHopAfi: number }[] }
  /** RFC 8654 */
  | { code: 6 }
  /** RFC 4724 */
  | {
      code: 64;
      restartState: boolean;
      notification: boolean;
      restartTime: number;
      families: { afi: number; safi: number; forwardingState: boolean }[];
    }
  /** RFC 6793 */
  | { code: 65; asn: number }
  /** RFC 7911 */
  | { code: 69; families: { afi: number; safi: number; mode: AddPathMode }[] }
  /** RFC 7313 */
  | { code: 70 }
  /** RFC 9494 */
  | { code: 71; families: { afi: number; safi: number; forwardingState: boolean; staleTime: number }[] }
  /** draft-walton-bgp-hostname-capability (FQDN) */
  | { code: 73; hostname: string; domain: string }
  /** Anything else, kept as received. */
  | { code: number; data: string };

const ADD_PATH_MODES: Record<number, AddPathMode> = { 1: 'receive', 2: 'send', 3: 'both' };
const ADD_PATH_CODES: Record<AddPathMode, number> = { receive: 1, send: 2, both: 3 };

function malformed(code: number, reason: string): never {
  return fail({ kind: 'malformedOpen', reason: `capability ${code}: ${reason}` });
}

function needLength(code: number, len: number, ok: boolean): void {
  if (!ok) malformed(code, `bad length ${len}`);
}

/** Decodes one capability value buf[start, start+len). */
export function decodeCapability(code: number, buf: Buffer, start: number, len: number): Capability {
  const end = start + len;
  switch (code) {
    case CapCode.MULTIPROTOCOL:
      // AFI (2) | Reserved (1) | SAFI (1)
      needLength(code, len, len === 4);
      return { code, afi: buf.readUInt16BE(start), safi: buf[start + 3]! };
    case CapCode.ROUTE_REFRESH:
    case CapCode.EXTENDED_MESSAGE:
    case CapCode.ENHANCED_ROUTE_REFRESH:
      needLength(code, len, len === 0);
      return { code } as Capability;
    case CapCode.EXTENDED_NEXT_HOP: {
      // NLRI AFI (2) | NLRI SAFI (2) | Nexthop AFI (2), repeated
      needLength(code, len, len % 6 === 0);
      const families = [];
      for (let i = start; i < end; i += 6) {
        families.push({ afi: buf.readUInt16BE(i), safi: buf.readUInt16BE(i + 2), nextHopAfi: buf.readUInt16BE(i + 4) });
      }
      return { code, families };
    }
    case CapCode.GRACEFUL_RESTART: {
      // Restart Flags (4 bits) | Restart Time (12 bits), then per family:
      // AFI (2) | SAFI (1) | Flags for Address Family (1)
      needLength(code, len, len >= 2 && (len - 2) % 4 === 0);
      const head = buf.readUInt16BE(start);
      const families = [];
      for (let i = start + 2; i < end; i += 4) {
        families.push({ afi: buf.readUInt16BE(i), safi: buf[i + 2]!, forwardingState: (buf[i + 3]! & 0x80) !== 0 });
      }
      return {
        code,
        restartState: (head & 0x8000) !== 0,
        notification: (head & 0x4000) !== 0,
        restartTime: head & 0x0fff,
        families,
      };
    }
    case CapCode.FOUR_OCTET_AS:
      needLength(code, len, len === 4);
      return { code, asn: buf.readUInt32BE(start) };
    case CapCode.ADD_PATH: {
      // AFI (2) | SAFI (1) | Send/Receive (1), repeated
      needLength(code, len, len % 4 === 0);
      const families = [];
      for (let i = start; i < end; i += 4) {
        const mode = ADD_PATH_MODES[buf[i + 3]!];
        // RFC 7911: "If any other value is received, then the capability
        // SHOULD be treated as not understood and ignored." We keep it raw.
        if (mode === undefined) return { code, data: buf.toString('hex', start, end) };
        families.push({ afi: buf.readUInt16BE(i), safi: buf[i + 2]!, mode });
      }
      return { code, families };
    }
    case CapCode.LONG_LIVED_GRACEFUL_RESTART: {
      // AFI (2) | SAFI (1) | Flags (1) | Long-lived Stale Time (3), repeated
      needLength(code, len, len % 7 === 0);
      const families = [];
      for (let i = start; i < end; i += 7) {
        families.push({
          afi: buf.readUInt16BE(i),
          safi: buf[i + 2]!,
          forwardingState: (buf[i + 3]! & 0x80) !== 0,
          staleTime: buf.readUIntBE(i + 4, 3),
        });
      }
      return { code, families };
    }
    case CapCode.FQDN: {
      // Hostname Length (1) | Hostname | Domain Length (1) | Domain
      needLength(code, len, len >= 2);
      const hostLen = buf[start]!;
      needLength(code, len, 1 + hostLen + 1 <= len);
      const domainLen = buf[start + 1 + hostLen]!;
      needLength(code, len, 2 + hostLen + domainLen === len);
      return {
        code,
        hostname: buf.toString('utf8', start + 1, start + 1 + hostLen),
        domain: buf.toString('utf8', start + 2 + hostLen, end),
      };
    }
    default:
      return { code, data: buf.toString('hex', start, end) };
  }
}

/** Length of a capability's value. */
export function capabilityValueLength(cap: Capability): number {
  switch (cap.code) {
    case CapCode.MULTIPROTOCOL:
    case CapCode.FOUR_OCTET_AS:
      return 4;
    case CapCode.ROUTE_REFRESH:
    case CapCode.EXTENDED_MESSAGE:
    case CapCode.ENHANCED_ROUTE_REFRESH:
      return 0;
    default:
      break;
  }
  if ('data' in cap) return cap.data.length / 2;
  if ('families' in cap) {
    const per = cap.code === CapCode.EXTENDED_NEXT_HOP ? 6 : cap.code === CapCode.LONG_LIVED_GRACEFUL_RESTART ? 7 : 4;
    return (cap.code === CapCode.GRACEFUL_RESTART ? 2 : 0) + per * cap.families.length;
  }
  if ('hostname' in cap) return 2 + Buffer.byteLength(cap.hostname) + Buffer.byteLength(cap.domain);
  throw new RangeError(`cannot encode capability ${JSON.stringify(cap)}`);
}

/** Writes one capability (code, length, value) at offset; returns the next offset. */
export function encodeCapability(cap: Capability, buf: Buffer, offset: number): number {
  const len = capabilityValueLength(cap);
  if (len > 255) throw new RangeError(`capability ${cap.code} value too long (${len} bytes)`);
  buf[offset] = cap.code;
  buf[offset + 1] = len;
  let o = offset + 2;
  if ('data' in cap) {
    return o + buf.write(cap.data, o, 'hex');
  }
  switch (cap.code) {
    case CapCode.MULTIPROTOCOL: {
      const c = cap as { afi: number; safi: number };
      buf.writeUInt16BE(c.afi, o);
      buf[o + 2] = 0;
      buf[o + 3] = c.safi;
      return o + 4;
    }
    case CapCode.FOUR_OCTET_AS:
      buf.writeUInt32BE((cap as { asn: number }).asn >>> 0, o);
      return o + 4;
    case CapCode.ROUTE_REFRESH:
    case CapCode.EXTENDED_MESSAGE:
    case CapCode.ENHANCED_ROUTE_REFRESH:
      return o;
    case CapCode.EXTENDED_NEXT_HOP:
      for (const f of (cap as Extract<Capability, { code: 5 }>).families) {
        buf.writeUInt16BE(f.afi, o);
        buf.writeUInt16BE(f.safi, o + 2);
        buf.writeUInt16BE(f.nextHopAfi, o + 4);
        o += 6;
      }
      return o;
    case CapCode.GRACEFUL_RESTART: {
      const c = cap as Extract<Capability, { code: 64 }>;
      buf.writeUInt16BE((c.restartState ? 0x8000 : 0) | (c.notification ? 0x4000 : 0) | (c.restartTime & 0x0fff), o);
      o += 2;
      for (const f of c.families) {
        buf.writeUInt16BE(f.afi, o);
        buf[o + 2] = f.safi;
        buf[o + 3] = f.forwardingState ? 0x80 : 0;
        o += 4;
      }
      return o;
    }
    case CapCode.ADD_PATH:
      for (const f of (cap as Extract<Capability, { code: 69 }>).families) {
        buf.writeUInt16BE(f.afi, o);
        buf[o + 2] = f.safi;
        buf[o + 3] = ADD_PATH_CODES[f.mode];
        o += 4;
      }
      return o;
    case CapCode.LONG_LIVED_GRACEFUL_RESTART:
      for (const f of (cap as Extract<Capability, { code: 71 }>).families) {
        buf.writeUInt16BE(f.afi, o);
        buf[o + 2] = f.safi;
        buf[o + 3] = f.forwardingState ? 0x80 : 0;
        buf.writeUIntBE(f.staleTime & 0xffffff, o + 4, 3);
        o += 7;
      }
      return o;
    case CapCode.FQDN: {
      const c = cap as Extract<Capability, { code: 73 }>;
      const host = Buffer.from(c.hostname, 'utf8');
      const domain = Buffer.from(c.domain, 'utf8');
      buf[o++] = host.length;
      o += host.copy(buf, o);
      buf[o++] = domain.length;
      return o + domain.copy(buf, o);
    }
    default:
      throw new RangeError(`cannot encode capability ${JSON.stringify(cap)}`);
  }
}
