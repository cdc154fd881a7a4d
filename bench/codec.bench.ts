/**
 * `npm run bench:codec`: decode and encode throughput of the wire codec, in
 * prefixes per second, for the shapes a route reflector sees:
 *
 *   single   one IPv4 prefix per UPDATE (worst case: attributes per prefix)
 *   v4       fully packed IPv4 /24 UPDATEs
 *   v6       fully packed IPv6 /48 UPDATEs (MP_REACH_NLRI)
 *   v4-ap    fully packed IPv4 /24 UPDATEs with ADD-PATH identifiers
 *
 * Decode goes from wire bytes to the RIB's form (PrefixList + attributes,
 * validated per RFC 7606); encode goes from that form to wire bytes (the
 * packer). Each figure is the best of several timed rounds after a warm-up.
 *
 * Targets (issue #2): decode >= 20 M prefixes/s and encode >= 10 M
 * prefixes/s for packed IPv4.
 */
import {
  Afi,
  DEFAULT_CONTEXT,
  PrefixList,
  afiSafiKey,
  decodeMessage,
  encodeMessage,
  makeContext,
  packUpdates,
  validateUpdate,
  type CodecContext,
  type DecodedUpdate,
  type PathAttributes,
} from '../src/bgp/packet/index.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const TARGET_PREFIXES = Number(process.env.BENCH_PREFIXES ?? 1_000_000);

const attrs: PathAttributes = {
  origin: 0,
  asPath: [{ type: 2, asns: [64512, 64513, 4200000000] }],
  nextHop: '192.0.2.1',
  localPref: 100,
  communities: [(64512 << 16) | 100],
};

function v4Prefixes(n: number): PrefixList {
  const words = new Uint32Array(n);
  const lens = new Uint8Array(n).fill(24);
  for (let i = 0; i < n; i++) words[i] = ((10 << 24) | (i << 8)) >>> 0; // 10.x.y.0/24, wrapping
  return new PrefixList(Afi.IPV4, lens, words, null);
}

function v6Prefixes(n: number): PrefixList {
  const words = new Uint32Array(n * 4);
  const lens = new Uint8Array(n).fill(48);
  for (let i = 0; i < n; i++) {
    words[4 * i] = 0x20010db8;
    words[4 * i + 1] = (i & 0xffff) << 16;
  }
  return new PrefixList(Afi.IPV6, lens, words, null);
}

function withPathIds(list: PrefixList): PrefixList {
  const ids = new Uint32Array(list.count);
  for (let i = 0; i < ids.length; i++) ids[i] = (i & 1) + 1;
  return new PrefixList(list.afi, list.lens, list.words, ids);
}

interface Case {
  name: string;
  ctx: CodecContext;
  prefixes: PrefixList;
  /** Encodes the prefixes into UPDATE messages. */
  encode: (list: PrefixList, ctx: CodecContext) => Buffer[];
}

const packed = (nextHops?: string[]) => (list: PrefixList, ctx: CodecContext) => packUpdates(list, attrs, ctx, nextHops);
const v6attrs: PathAttributes = { ...attrs, nextHop: undefined };
delete v6attrs.nextHop;

const cases: Case[] = [
  {
    name: 'single (1 IPv4 prefix per UPDATE)',
    ctx: DEFAULT_CONTEXT,
    prefixes: v4Prefixes(TARGET_PREFIXES / 10),
    encode: (list, ctx) => {
      const out = new Array<Buffer>(list.count);
      for (let i = 0; i < list.count; i++) {
        out[i] = encodeMessage({ type: 'UPDATE', withdrawn: PrefixList.empty(Afi.IPV4), attributes: attrs, nlri: list.slice(i, i + 1) }, ctx);
      }
      return out;
    },
  },
  { name: 'v4 packed /24', ctx: DEFAULT_CONTEXT, prefixes: v4Prefixes(TARGET_PREFIXES), encode: packed() },
  {
    name: 'v6 packed /48',
    ctx: DEFAULT_CONTEXT,
    prefixes: v6Prefixes(TARGET_PREFIXES / 2),
    encode: (list, ctx) => packUpdates(list, v6attrs, ctx, ['2001:db8::1']),
  },
  {
    name: 'v4 packed /24 ADD-PATH',
    ctx: makeContext({ addPath: new Set([afiSafiKey(1, 1)]) }),
    prefixes: withPathIds(v4Prefixes(TARGET_PREFIXES)),
    encode: packed(),
  },
];

function best(fn: () => number): { seconds: number; count: number } {
  fn(); // warm-up
  let bestS = Infinity;
  let count = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    count = fn();
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (s < bestS) bestS = s;
  }
  return { seconds: bestS, count };
}

function decodeAll(msgs: Buffer[], ctx: CodecContext): number {
  let n = 0;
  for (const m of msgs) {
    const { message } = decodeMessage(m, ctx);
    const v = validateUpdate(message as DecodedUpdate, ctx);
    if (v.action !== 'accept') throw new Error('benchmark input must be valid');
    n += v.update.nlri.count + (v.update.attributes.mpReach?.nlri.count ?? 0);
  }
  return n;
}

const fmt = (x: number): string => (x / 1e6).toFixed(2).padStart(8) + ' M/s';

console.log(`codec benchmark: node ${process.version}, best of ${ROUNDS} rounds`);
console.log('case                               prefixes  msgs    decode        encode');
const results: Record<string, { decode: number; encode: number }> = {};
for (const c of cases) {
  const msgs = c.encode(c.prefixes, c.ctx);
  const dec = best(() => decodeAll(msgs, c.ctx));
  const enc = best(() => {
    const out = c.encode(c.prefixes, c.ctx);
    return out.length > 0 ? c.prefixes.count : 0;
  });
  if (dec.count !== c.prefixes.count) throw new Error(`${c.name}: decoded ${dec.count} of ${c.prefixes.count}`);
  const decodeRate = dec.count / dec.seconds;
  const encodeRate = c.prefixes.count / enc.seconds;
  results[c.name] = { decode: decodeRate, encode: encodeRate };
  console.log(`${c.name.padEnd(34)} ${String(c.prefixes.count).padStart(8)} ${String(msgs.length).padStart(5)} ${fmt(decodeRate)}  ${fmt(encodeRate)}`);
}
const v4 = results['v4 packed /24']!;
console.log(
  `\npacked IPv4 vs target: decode ${(v4.decode / 20e6).toFixed(2)}x of 20 M/s, encode ${(v4.encode / 10e6).toFixed(2)}x of 10 M/s`,
);
if (process.env.BENCH_JSON !== undefined) console.log(JSON.stringify(results));
