/**
 * Addresses and CIDRs as the datastore writes them, parsed into text plus
 * words, for the resource conversion, the peering model and the policy.
 *
 * Text forms follow Go's `net.IP.String()` / `net.IPNet.String()`, which is
 * what Calico writes into its key view and BIRD files: dotted quad for
 * IPv4, RFC 5952 for IPv6. That includes Go's answer to IPv4-mapped
 * addresses: `net.IP` treats `::ffff:1.2.3.4` as the IPv4 address 1.2.3.4
 * (`To4()` succeeds, `String()` prints `1.2.3.4`, libcalico-go files the
 * peer under `peer_v4`), so `parseIp` returns family 4 for it, and a mapped
 * CIDR of length >= 96 is the IPv4 CIDR of length - 96. Parsers return
 * `undefined` instead of throwing, so a caller can turn a bad value into a
 * Problem naming the key or resource.
 */
import { ipv4ToString, ipv6ToString, isIpv4Mapped, maskWord, parseIpv4, parseIpv6, parsePrefixLength } from './ip.js';

export type Family = 4 | 6;

/** An address parsed from text. */
export interface ParsedIp {
  family: Family;
  /** Canonical text form. */
  text: string;
  /** The address: one word (IPv4) or four (IPv6), most significant first. */
  words: number[];
}

/** A CIDR parsed from text. */
export interface ParsedCidr {
  family: Family;
  /** The address as written (canonicalised), e.g. 10.192.0.2 for 10.192.0.2/16. */
  ip: string;
  prefixLength: number;
  /** The masked network in canonical `addr/len` form, e.g. 10.192.0.0/16. */
  network: string;
  /** The masked network: one word (IPv4) or four (IPv6). */
  words: number[];
}

function wordsText(family: Family, words: readonly number[]): string {
  return family === 4 ? ipv4ToString(words[0]!) : ipv6ToString(words);
}

/** Parses an IPv4 or IPv6 address (no prefix length); surrounding blanks are ignored. */
export function parseIp(s: string): ParsedIp | undefined {
  if (typeof s !== 'string') return undefined;
  const t = s.trim();
  if (t.includes(':')) {
    const w = parseIpv6(t);
    if (w === undefined) return undefined;
    if (isIpv4Mapped(w)) return { family: 4, text: ipv4ToString(w[3]), words: [w[3]] };
    return { family: 6, text: ipv6ToString(w), words: w };
  }
  const v = parseIpv4(t);
  return v === undefined ? undefined : { family: 4, text: ipv4ToString(v), words: [v] };
}

/** Parses `addr/len`; with `allowBareIp`, a bare address counts as a host prefix. */
export function parseCidr(s: string, allowBareIp = false): ParsedCidr | undefined {
  if (typeof s !== 'string') return undefined;
  const t = s.trim();
  const slash = t.indexOf('/');
  if (slash < 0 && !allowBareIp) return undefined;
  const addr = slash < 0 ? t : t.slice(0, slash);
  let family: Family;
  let words: number[];
  let max: number;
  let unmapped = false;
  if (addr.includes(':')) {
    const w = parseIpv6(addr);
    if (w === undefined) return undefined;
    family = 6;
    words = w;
    max = 128;
    unmapped = isIpv4Mapped(w);
  } else {
    const v = parseIpv4(addr);
    if (v === undefined) return undefined;
    family = 4;
    words = [v];
    max = 32;
  }
  let prefixLength = max;
  if (slash >= 0) {
    const len = parsePrefixLength(t, slash + 1, t.length, max);
    if (len === undefined) return undefined;
    prefixLength = len;
  }
  if (unmapped && prefixLength >= 96) {
    family = 4;
    words = [words[3]!];
    prefixLength -= 96;
  }
  const masked = words.map((w, i) => maskWord(w, prefixLength - 32 * i));
  return { family, ip: wordsText(family, words), prefixLength, network: `${wordsText(family, masked)}/${prefixLength}`, words: masked };
}

/** True when `ip` lies inside `cidr` (same family). */
export function cidrContains(cidr: ParsedCidr, ip: ParsedIp): boolean {
  if (cidr.family !== ip.family) return false;
  for (let i = 0; i < cidr.words.length; i++) {
    if (maskWord(ip.words[i]!, cidr.prefixLength - 32 * i) !== cidr.words[i]) return false;
  }
  return true;
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
