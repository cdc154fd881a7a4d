/**
 * Address helpers shared by the resource conversion and the peering model.
 *
 * Text forms follow Go's `net.IP.String()` (what Calico writes into the key
 * view): dotted quad for IPv4, RFC 5952 compressed lower-case for IPv6. The
 * parsers are strict (no leading zeros in IPv4 octets, no zone ids) and return
 * `undefined` instead of throwing, so callers can turn a bad value into a
 * Problem naming the key or resource.
 */

export type Family = 4 | 6;

export interface ParsedIp {
  family: Family;
  /** Canonical text form. */
  text: string;
  /** 4 bytes (IPv4) or 8 16-bit groups (IPv6). */
  parts: number[];
}

export interface ParsedCidr {
  family: Family;
  /** The address as written (canonicalised), e.g. 10.192.0.2 for 10.192.0.2/16. */
  ip: string;
  prefixLength: number;
  /** The masked network in canonical `addr/len` form, e.g. 10.192.0.0/16. */
  network: string;
}

/** Dotted quad -> 4 octets; strict: no leading zeros, no empty parts. A hand loop: this runs for every address of every node. */
function parseV4Parts(s: string): number[] | undefined {
  const out: number[] = [];
  let value = 0;
  let digits = 0;
  let leadingZero = false;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46; /* '.' ends the last octet */
    if (c === 46) {
      if (digits === 0 || value > 255 || (leadingZero && digits > 1)) return undefined;
      out.push(value);
      if (out.length > 4) return undefined;
      value = 0;
      digits = 0;
      continue;
    }
    if (c < 48 || c > 57) return undefined;
    if (digits === 0) leadingZero = c === 48;
    if (++digits > 3) return undefined;
    value = value * 10 + (c - 48);
  }
  return out.length === 4 ? out : undefined;
}

function parseV6Parts(s: string): number[] | undefined {
  if (s.length < 2 || s.includes('%')) return undefined;
  let tail4: number[] | undefined;
  let body = s;
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    tail4 = parseV4Parts(s.slice(lastColon + 1));
    if (tail4 === undefined) return undefined;
    body = s.slice(0, lastColon + 1) + '0:0';
  }
  const halves = body.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    for (const g of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parseGroups(halves[0]!);
  if (head === undefined) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const tail = parseGroups(halves[1]!);
    if (tail === undefined) return undefined;
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    groups = head;
  }
  if (groups.length !== 8) return undefined;
  if (tail4 !== undefined) {
    groups[6] = (tail4[0]! << 8) | tail4[1]!;
    groups[7] = (tail4[2]! << 8) | tail4[3]!;
  }
  return groups;
}

/** RFC 5952 text: longest run (>= 2) of zero groups becomes `::`, lower-case hex. */
export function formatV6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Parses an IPv4 or IPv6 address (no prefix length). */
export function parseIp(s: string): ParsedIp | undefined {
  if (typeof s !== 'string') return undefined;
  const t = s.trim();
  if (t.includes(':')) {
    const parts = parseV6Parts(t);
    return parts === undefined ? undefined : { family: 6, text: formatV6(parts), parts };
  }
  const parts = parseV4Parts(t);
  return parts === undefined ? undefined : { family: 4, text: parts.join('.'), parts };
}

/** Parses `addr/len`; with `allowBareIp`, a bare address counts as a host prefix. */
export function parseCidr(s: string, allowBareIp = false): ParsedCidr | undefined {
  if (typeof s !== 'string') return undefined;
  const t = s.trim();
  const slash = t.indexOf('/');
  let addr = t;
  let len: number | undefined;
  if (slash >= 0) {
    addr = t.slice(0, slash);
    const l = t.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(l)) return undefined;
    len = Number(l);
  } else if (!allowBareIp) {
    return undefined;
  }
  const ip = parseIp(addr);
  if (ip === undefined) return undefined;
  const width = ip.family === 4 ? 32 : 128;
  const prefixLength = len ?? width;
  if (prefixLength > width) return undefined;
  const groupBits = ip.family === 4 ? 8 : 16;
  const masked = ip.parts.map((p, i) => {
    const keep = Math.max(0, Math.min(groupBits, prefixLength - i * groupBits));
    const mask = keep === 0 ? 0 : ((0xffff << (groupBits - keep)) & ((1 << groupBits) - 1));
    return p & mask;
  });
  const netText = ip.family === 4 ? masked.join('.') : formatV6(masked);
  return { family: ip.family, ip: ip.text, prefixLength, network: `${netText}/${prefixLength}` };
}

/** True when `ip` lies inside `cidr` (same family). */
export function cidrContains(cidr: ParsedCidr, ip: ParsedIp): boolean {
  if (cidr.family !== ip.family) return false;
  const probe = parseCidr(`${ip.text}/${cidr.prefixLength}`);
  return probe !== undefined && probe.network === cidr.network;
}

/** The key-view spelling of a CIDR: `/` becomes `-` (10.0.0.0/8 -> 10.0.0.0-8). */
export function cidrToKeyPart(cidr: string): string {
  return cidr.replace('/', '-');
}

/** Inverse of `cidrToKeyPart`: the last `-` becomes `/`. */
export function keyPartToCidr(part: string): string {
  const i = part.lastIndexOf('-');
  return i < 0 ? part : `${part.slice(0, i)}/${part.slice(i + 1)}`;
}

/** Largest 4-byte AS number. */
export const MAX_AS = 4294967295;

/**
 * Parses an AS number as Calico accepts it: a plain integer or `asdot`
 * (`high.low`), as number or string. Returns undefined when malformed or
 * outside 0..4294967295.
 */
export function parseAsNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v <= MAX_AS ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  let m = /^([0-9]{1,10})$/.exec(s);
  if (m) {
    const n = Number(m[1]);
    return n <= MAX_AS ? n : undefined;
  }
  m = /^([0-9]{1,5})\.([0-9]{1,5})$/.exec(s);
  if (m) {
    const hi = Number(m[1]);
    const lo = Number(m[2]);
    return hi <= 65535 && lo <= 65535 ? hi * 65536 + lo : undefined;
  }
  return undefined;
}

/**
 * Parses a Go duration (`90s`, `2m`, `1h30m`, `1.5m`, `500ms`) into seconds.
 * Calico writes restart times as whole seconds, rounded.
 */
export function parseGoDurationSeconds(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  if (s === '0') return 0;
  const re = /([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/gy;
  const unit: Record<string, number> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  let total = 0;
  let consumed = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * unit[m[2]!]!;
    consumed = re.lastIndex;
  }
  if (consumed === 0 || consumed !== s.length) return undefined;
  return total;
}
