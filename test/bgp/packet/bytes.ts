/**
 * A tiny, independent byte builder for test fixtures: messages are spelled
 * out field by field here, never produced by the encoder under test.
 */

export type Part = number[] | Buffer | string;

/** Concatenates parts: number arrays are octets, strings are hex. */
export function bytes(...parts: Part[]): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p.replace(/\s+/g, ''), 'hex') : Buffer.from(p))));
}

export const u16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];
export const u32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
export const ip4 = (t: string): number[] => t.split('.').map(Number);

/** A whole message: marker, length, type, body. */
export function msg(type: number, ...body: Part[]): Buffer {
  const b = bytes(...body);
  return bytes(Array(16).fill(0xff), u16(19 + b.length), [type], b);
}

/** A message with a stated length that may differ from the real one. */
export function msgWithLength(type: number, length: number, ...body: Part[]): Buffer {
  return bytes(Array(16).fill(0xff), u16(length), [type], ...body);
}

/** One path attribute (extended length when flags has 0x10). */
export function attr(flags: number, type: number, ...value: Part[]): Buffer {
  const v = bytes(...value);
  return flags & 0x10 ? bytes([flags, type], u16(v.length), v) : bytes([flags, type, v.length], v);
}

/** An UPDATE from its three parts. */
export function update(withdrawn: Part, attrs: Part[], nlri: Part): Buffer {
  const w = bytes(withdrawn);
  const a = bytes(...attrs);
  return msg(2, u16(w.length), w, u16(a.length), a, nlri);
}

/** An OPEN: version 4 unless given, capabilities in one optional parameter. */
export function open(myAs: number, hold: number, id: string, caps: Part[] = [], version = 4): Buffer {
  const c = bytes(...caps);
  const params = c.length === 0 ? Buffer.alloc(0) : bytes([2, c.length], c);
  return msg(1, [version], u16(myAs), u16(hold), ip4(id), [params.length], params);
}

export const cap = (code: number, ...value: Part[]): Buffer => {
  const v = bytes(...value);
  return bytes([code, v.length], v);
};

// Common attributes.
export const ORIGIN_IGP = attr(0x40, 1, [0]);
export const asPath4 = (...asns: number[]): Buffer => (asns.length === 0 ? attr(0x40, 2) : attr(0x40, 2, [2, asns.length], ...asns.map(u32)));
export const asPath2 = (...asns: number[]): Buffer => (asns.length === 0 ? attr(0x40, 2) : attr(0x40, 2, [2, asns.length], ...asns.map(u16)));
export const nextHop = (t: string): Buffer => attr(0x40, 3, ip4(t));
