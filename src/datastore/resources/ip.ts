/**
 * Scalar values of Calico resources: AS numbers and Go durations.
 *
 * IP addresses and CIDRs live in `src/net/`; they are re-exported here only
 * so datastore code written against this module keeps compiling.
 */
export { cidrContains, cidrToKeyPart, keyPartToCidr, parseCidr, parseIp, type Family, type ParsedCidr, type ParsedIp } from '../../net/index.js';

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
