/**
 * Seeds and mutations for the BGP fuzzer. Seeds are valid encodings: our
 * codec fixtures and malformed cases, every message of the captured vectors
 * in test/vectors/ (BIRD, GoBGP, FRR, ExaBGP bytes), and UPDATEs our encoder
 * builds from random JSON. Everything random comes from one seeded PRNG, so
 * a run is repeated exactly by its seed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afiSafiKey, encodeMessage, frameLength, makeContext, messageFromJson, type CodecContext } from '../../src/bgp/packet/index.js';
import { fixtures } from '../bgp/packet/fixtures.js';
import { malformedCases } from '../bgp/packet/malformed.js';
import { updateJson } from '../bgp/packet/arbitraries.js';

/** A message and the session context it was (or may be) read in. */
export interface Seed {
  bytes: Buffer;
  ctx: CodecContext;
  from: string;
}

/** mulberry32: small, fast, good enough for choosing mutations. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

const ADD_PATH_BOTH = new Set([afiSafiKey(1, 1), afiSafiKey(2, 1)]);

/** The contexts a fuzzed message is read in: 2/4-octet AS, ADD-PATH, extended messages, iBGP/eBGP/tool. */
export const CONTEXTS: readonly CodecContext[] = [
  makeContext(),
  makeContext({ peerType: 'internal' }),
  makeContext({ peerType: 'external' }),
  makeContext({ fourOctetAs: false, peerType: 'external' }),
  makeContext({ addPath: ADD_PATH_BOTH, peerType: 'internal' }),
  makeContext({ addPath: new Set([afiSafiKey(1, 1)]), maxMessageLength: 65535 }),
];

const vectorsDir = fileURLToPath(new URL('../../../test/vectors/', import.meta.url));

/** Every message of every captured vector, read with the context its metadata gives. */
export function vectorSeeds(): Seed[] {
  const out: Seed[] = [];
  for (const name of readdirSync(vectorsDir).filter((n) => n.endsWith('.bin')).sort()) {
    const meta = JSON.parse(readFileSync(vectorsDir + name.replace(/\.bin$/, '.json'), 'utf8')) as { fourOctetAs: boolean; addPath: string[] };
    const ctx = makeContext({
      fourOctetAs: meta.fourOctetAs,
      addPath: new Set(meta.addPath.map((f) => afiSafiKey(Number(f.split('/')[0]), Number(f.split('/')[1])))),
      maxMessageLength: 65535,
    });
    const buf = readFileSync(vectorsDir + name);
    for (let off = 0; off < buf.length; ) {
      const len = frameLength(buf, off, buf.length, 65535);
      if (len < 0) break;
      out.push({ bytes: Buffer.from(buf.subarray(off, off + len)), ctx, from: `vector ${name}@${off}` });
      off += len;
    }
  }
  return out;
}

/** UPDATEs our encoder builds from `count` random JSON updates (all attribute kinds, MP_REACH/UNREACH, ADD-PATH, 2-octet AS). */
export function encoderSeeds(seed: number, count: number): Seed[] {
  const out: Seed[] = [];
  const ctxs = [CONTEXTS[0]!, CONTEXTS[3]!, CONTEXTS[4]!];
  fc.sample(updateJson, { seed, numRuns: count }).forEach((json, i) => {
    const ctx = ctxs[i % ctxs.length]!;
    try {
      out.push({ bytes: encodeMessage(messageFromJson(json), ctx), ctx, from: `encoder #${i}` });
    } catch (e) {
      if (!(e instanceof RangeError)) throw e; // too big for one message: skip
    }
  });
  return out;
}

/** All seeds: fixtures, malformed cases, vectors, encoder output. */
export function allSeeds(seed: number, encoded = 600): Seed[] {
  return [
    ...fixtures.map((f) => ({ bytes: f.bytes, ctx: f.ctx ?? CONTEXTS[0]!, from: `fixture ${f.name}` })),
    ...malformedCases.map((m) => ({ bytes: m.bytes, ctx: m.ctx ?? CONTEXTS[0]!, from: `malformed ${m.name}` })),
    ...vectorSeeds(),
    ...encoderSeeds(seed, encoded),
  ];
}

const INTERESTING8 = [0, 1, 2, 3, 4, 0x0f, 0x10, 0x3f, 0x40, 0x7f, 0x80, 0x81, 0xc0, 0xe0, 0xf0, 0xfe, 0xff];
const INTERESTING16 = [0, 1, 2, 18, 19, 20, 23, 29, 0x7f, 0x80, 0xff, 0x100, 4095, 4096, 4097, 0x7fff, 0x8000, 0xfffe, 0xffff];

/** Offsets of the path attributes of an UPDATE (header at 0), best effort: stops at the first that does not fit. */
function attributeOffsets(b: Buffer): number[] {
  if (b.length < 23 || b[18] !== 2) return [];
  const wl = b.readUInt16BE(19);
  const aStart = 21 + wl + 2;
  if (aStart > b.length) return [];
  const aEnd = Math.min(b.length, aStart + b.readUInt16BE(21 + wl));
  const out: number[] = [];
  for (let o = aStart; o + 3 <= aEnd && out.length < 64; ) {
    out.push(o);
    const ext = (b[o]! & 0x10) !== 0;
    const len = ext ? (o + 4 <= aEnd ? b.readUInt16BE(o + 2) : 0) : b[o + 2]!;
    o += (ext ? 4 : 3) + len;
  }
  return out;
}

type Mutator = (b: Buffer, r: Rng, others: readonly Seed[]) => Buffer;

const MUTATORS: Mutator[] = [
  // flip 1..4 bits
  (b, r) => {
    const n = 1 + r.int(4);
    for (let i = 0; i < n; i++) {
      const at = 19 + r.int(Math.max(1, b.length - 19));
      if (at < b.length) b[at] = b[at]! ^ (1 << r.int(8));
    }
    return b;
  },
  // an interesting byte anywhere after the marker
  (b, r) => {
    b[16 + r.int(Math.max(1, b.length - 16))] = r.pick(INTERESTING8);
    return b;
  },
  // an interesting 16-bit value (lengths live there)
  (b, r) => {
    if (b.length < 21) return b;
    b.writeUInt16BE(r.pick(INTERESTING16), 16 + r.int(b.length - 17));
    return b;
  },
  // truncate
  (b, r) => b.subarray(0, 19 + r.int(Math.max(1, b.length - 18))),
  // insert random bytes
  (b, r) => {
    const at = 19 + r.int(Math.max(1, b.length - 18));
    const ins = Buffer.from(Array.from({ length: 1 + r.int(16) }, () => r.int(256)));
    return Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
  },
  // duplicate a slice of the body
  (b, r) => {
    if (b.length <= 20) return b;
    const from = 19 + r.int(b.length - 19);
    const len = 1 + r.int(Math.min(64, b.length - from));
    const at = 19 + r.int(b.length - 18);
    return Buffer.concat([b.subarray(0, at), b.subarray(from, from + len), b.subarray(at)]);
  },
  // splice: our head, another seed's tail
  (b, r, others) => {
    const o = r.pick(others).bytes;
    const cut = 19 + r.int(Math.max(1, b.length - 18));
    const cut2 = 19 + r.int(Math.max(1, o.length - 18));
    return Buffer.concat([b.subarray(0, cut), o.subarray(cut2)]);
  },
  // structure-aware: one attribute's flags, type code or length
  (b, r) => {
    const offs = attributeOffsets(b);
    if (offs.length === 0) return b;
    const o = r.pick(offs);
    const what = r.int(3);
    if (what === 0) b[o] = r.pick(INTERESTING8) | (r.int(2) === 0 ? b[o]! & 0x10 : 0);
    else if (what === 1) b[o + 1] = r.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 20, 22, 29, 32, 35, 128, 240, 255]);
    else if ((b[o]! & 0x10) !== 0 && o + 4 <= b.length) b.writeUInt16BE(r.pick(INTERESTING16), o + 2);
    else b[o + 2] = r.pick(INTERESTING8);
    return b;
  },
  // drop one attribute
  (b, r) => {
    const offs = attributeOffsets(b);
    if (offs.length < 2) return b;
    const i = r.int(offs.length - 1);
    const dropped = offs[i + 1]! - offs[i]!;
    const wl = b.readUInt16BE(19);
    const out = Buffer.concat([b.subarray(0, offs[i]!), b.subarray(offs[i + 1]!)]);
    out.writeUInt16BE(Math.max(0, out.readUInt16BE(21 + wl) - dropped), 21 + wl);
    return out;
  },
];

/** A header with a valid marker and, usually, the true length, so mutations reach past the header checks. */
function reframe(b: Buffer, r: Rng): Buffer {
  if (b.length > 0xffff) b = b.subarray(0, 0xffff);
  if (r.int(10) < 8) b.writeUInt16BE(b.length, 16);
  return b;
}

/** Random bytes behind a valid header of a random type (1..5, sometimes not). */
export function randomMessage(r: Rng): Buffer {
  const len = 19 + r.int(r.int(4) === 0 ? 4077 : 64);
  const b = Buffer.alloc(len);
  b.fill(0xff, 0, 16);
  for (let i = 19; i < len; i++) b[i] = r.int(256);
  b.writeUInt16BE(len, 16);
  b[18] = r.int(12) === 0 ? r.int(256) : 1 + r.int(5);
  return b;
}

/** One fuzz input: a mutated seed (1..3 mutations) or, one time in ten unless `mutatedOnly`, random bytes. */
export function mutate(seeds: readonly Seed[], r: Rng, mutatedOnly = false): Seed {
  if (!mutatedOnly && r.int(10) === 0) return { bytes: randomMessage(r), ctx: r.pick(CONTEXTS), from: 'random' };
  const s = r.pick(seeds);
  let b: Buffer = Buffer.from(s.bytes);
  const n = 1 + r.int(3);
  for (let i = 0; i < n; i++) b = reframe(Buffer.from(r.pick(MUTATORS)(b, r, seeds)), r);
  // Mostly the seed's own context; sometimes another one, to read the bytes wrongly on purpose.
  return { bytes: b, ctx: r.int(4) === 0 ? r.pick(CONTEXTS) : s.ctx, from: s.from };
}
