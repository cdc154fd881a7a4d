import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  Afi,
  BgpCodecError,
  DEFAULT_CONTEXT,
  Framer,
  PrefixList,
  afiSafiKey,
  attributesFromJson,
  decodeMessage,
  encodeMessage,
  makeContext,
  messageFromJson,
  messageToJson,
  packUpdates,
  packWithdrawals,
  validateUpdate,
  type CodecContext,
  type DecodedUpdate,
} from '../../../src/bgp/packet/index.js';
import { attributesJson, unicastIpv4, updateJson, v4Prefix, v6Prefix } from './arbitraries.js';
import { fixtures } from './fixtures.js';
import { malformedCases } from './malformed.js';

const SEED = Number(process.env.CODEC_FUZZ_SEED ?? 20261122);

/** Decodes and validates like a session would; anything but BgpCodecError escaping is a bug. */
function decodeLikeASession(buf: Buffer, ctx: CodecContext): void {
  try {
    const { message } = decodeMessage(buf, ctx);
    if (message.type === 'UPDATE') validateUpdate(message as DecodedUpdate, ctx);
    messageToJson(message);
  } catch (e) {
    if (!(e instanceof BgpCodecError)) throw e;
  }
}

const contexts: CodecContext[] = [
  DEFAULT_CONTEXT,
  makeContext({ fourOctetAs: false, peerType: 'external' }),
  makeContext({ addPath: new Set([afiSafiKey(1, 1), afiSafiKey(2, 1)]), peerType: 'internal' }),
];

test('UPDATEs round-trip through encode and decode', () => {
  fc.assert(
    fc.property(updateJson, fc.boolean(), (json, addPath) => {
      const ctx = addPath ? contexts[2]! : DEFAULT_CONTEXT;
      let msg;
      try {
        msg = messageFromJson(json);
      } catch {
        return; // e.g. duplicate-free JSON that is not representable; none expected
      }
      let bytes: Buffer;
      try {
        bytes = encodeMessage(msg, ctx);
      } catch (e) {
        if (e instanceof RangeError && /exceeds/.test(e.message)) return; // too big for one message
        throw e;
      }
      const { message } = decodeMessage(bytes, ctx);
      assert.deepEqual((message as DecodedUpdate).issues, []);
      // On an ADD-PATH session, prefixes sent without an identifier go out with 0.
      const expected = JSON.stringify(messageToJson(msg), (k, v: unknown) =>
        addPath && k !== 'prefix' && typeof v === 'string' && /^[0-9a-f:.]+\/\d+$/.test(v) ? { prefix: v, pathId: 0 } : v,
      );
      assert.deepEqual(messageToJson(message), JSON.parse(expected));
    }),
    { seed: SEED, numRuns: 3000 },
  );
});

test('UPDATEs for a 2-octet AS peer round-trip their real AS path via AS4_PATH', () => {
  const ctx = makeContext({ fourOctetAs: false });
  const seq = fc.array(fc.integer({ min: 1, max: 0xffffffff }), { minLength: 1, maxLength: 10 });
  fc.assert(
    fc.property(seq, (asns) => {
      const json = { type: 'UPDATE', withdrawn: [], nlri: ['192.0.2.0/24'], attributes: { origin: 'igp', asPath: [{ type: 'sequence', asns }], nextHop: '192.0.2.1' } };
      const { message } = decodeMessage(encodeMessage(messageFromJson(json), ctx), ctx);
      const back = messageToJson(message).attributes as { asPath: { asns: number[] }[] };
      assert.deepEqual(back.asPath.flatMap((s) => s.asns), asns);
    }),
    { seed: SEED, numRuns: 1000 },
  );
});

test('OPENs round-trip through encode and decode', () => {
  const capability = fc.oneof(
    fc.record({ code: fc.constant(1), afi: fc.constantFrom(1, 2), safi: fc.constant(1) }),
    fc.constant({ code: 2 }),
    fc.record({ code: fc.constant(65), asn: fc.integer({ min: 1, max: 0xffffffff }) }),
    fc.record({
      code: fc.constant(64),
      restartState: fc.boolean(),
      notification: fc.boolean(),
      restartTime: fc.integer({ min: 0, max: 4095 }),
      families: fc.array(fc.record({ afi: fc.constantFrom(1, 2), safi: fc.constant(1), forwardingState: fc.boolean() }), { maxLength: 2 }),
    }),
    fc.record({ code: fc.constant(69), families: fc.array(fc.record({ afi: fc.constantFrom(1, 2), safi: fc.constant(1), mode: fc.constantFrom('receive', 'send', 'both') }), { minLength: 1, maxLength: 2 }) }),
    fc.record({ code: fc.constant(73), hostname: fc.string({ maxLength: 20 }), domain: fc.string({ maxLength: 20 }) }),
    fc.record({ code: fc.integer({ min: 100, max: 255 }), data: fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b).toString('hex')) }),
  );
  fc.assert(
    fc.property(
      fc.record({
        myAs: fc.integer({ min: 1, max: 0xffff }),
        holdTime: fc.oneof(fc.constant(0), fc.integer({ min: 3, max: 0xffff })),
        bgpId: unicastIpv4,
        capabilities: fc.array(capability, { maxLength: 40 }),
      }),
      (o) => {
        const json = { type: 'OPEN', version: 4, ...o };
        const { message } = decodeMessage(encodeMessage(messageFromJson(json), DEFAULT_CONTEXT), DEFAULT_CONTEXT);
        assert.deepEqual(messageToJson(message), JSON.parse(JSON.stringify(json)));
      },
    ),
    { seed: SEED, numRuns: 2000 },
  );
});

/** Valid messages to mutate: the fixtures plus random UPDATEs. */
function corpus(): Buffer[] {
  const out = fixtures.map((f) => f.bytes);
  out.push(...malformedCases.map((c) => c.bytes));
  for (const json of fc.sample(updateJson, { seed: SEED, numRuns: 200 })) {
    try {
      out.push(encodeMessage(messageFromJson(json), DEFAULT_CONTEXT));
    } catch {
      // too large for one message: skip
    }
  }
  return out;
}

test('100,000 random and mutated messages never throw anything but the codec error', { timeout: 300_000 }, () => {
  const seeds = corpus();
  const mutation = fc.record({
    base: fc.integer({ min: 0, max: seeds.length - 1 }),
    edits: fc.array(
      fc.record({ kind: fc.constantFrom('set', 'insert', 'delete', 'truncate'), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      { minLength: 1, maxLength: 6 },
    ),
    fixLength: fc.boolean(),
    ctx: fc.integer({ min: 0, max: contexts.length - 1 }),
  });
  let runs = 0;
  fc.assert(
    fc.property(mutation, ({ base, edits, fixLength, ctx }) => {
      let bytes = Array.from(seeds[base]!);
      for (const e of edits) {
        const at = bytes.length === 0 ? 0 : e.at % bytes.length;
        if (e.kind === 'set') bytes[at] = e.value;
        else if (e.kind === 'insert') bytes.splice(at, 0, e.value);
        else if (e.kind === 'delete') bytes.splice(at, 1);
        else bytes = bytes.slice(0, at);
      }
      const buf = Buffer.from(bytes);
      // Keep the header consistent half the time, so mutations reach the body.
      if (fixLength && buf.length >= 19) {
        buf.fill(0xff, 0, 16);
        buf.writeUInt16BE(Math.min(buf.length, 0xffff), 16);
      }
      decodeLikeASession(buf, contexts[ctx]!);
      runs++;
    }),
    { seed: SEED, numRuns: 80_000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.integer({ min: 1, max: 5 }), (raw, type) => {
      const buf = Buffer.alloc(19 + raw.length);
      buf.fill(0xff, 0, 16);
      buf.writeUInt16BE(buf.length, 16);
      buf[18] = type;
      Buffer.from(raw).copy(buf, 19);
      decodeLikeASession(buf, contexts[raw.length % contexts.length]!);
      runs++;
    }),
    { seed: SEED + 1, numRuns: 20_000 },
  );
  assert.ok(runs >= 100_000, `ran ${runs}`);
});

test('inputs that once broke the decoder stay fixed', () => {
  const cases = JSON.parse(readFileSync(new URL('../../../../test/bgp/packet/regressions.json', import.meta.url), 'utf8')) as { hex: string; why: string }[];
  assert.ok(cases.length > 0);
  for (const c of cases) for (const ctx of contexts) decodeLikeASession(Buffer.from(c.hex, 'hex'), ctx);
});

test('the framer yields the same messages whatever the TCP segmentation', () => {
  const stream = Buffer.concat(fixtures.map((f) => f.bytes));
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 200 }), (cuts) => {
      const framer = new Framer(4096);
      const got: Buffer[] = [];
      let o = 0;
      let i = 0;
      while (o < stream.length) {
        const n = cuts[i++ % cuts.length]!;
        got.push(...framer.push(stream.subarray(o, o + n)));
        o += n;
      }
      assert.equal(framer.buffered, 0);
      assert.deepEqual(got.map((b) => b.toString('hex')), fixtures.map((f) => f.bytes.toString('hex')));
    }),
    { seed: SEED, numRuns: 300 },
  );
});

test('the packer fills every UPDATE but the last, and loses no prefix', () => {
  const ctxs = [DEFAULT_CONTEXT, contexts[2]!, makeContext({ maxMessageLength: 65535 })];
  fc.assert(
    fc.property(
      fc.oneof(
        fc.array(v4Prefix, { minLength: 1, maxLength: 50 }),
        fc.array(v4Prefix, { minLength: 1200, maxLength: 3000 }),
        fc.array(v6Prefix, { minLength: 400, maxLength: 1500 }),
      ),
      attributesJson,
      fc.integer({ min: 0, max: ctxs.length - 1 }),
      (prefixes, attrsJson, which) => {
        const ctx = ctxs[which]!;
        const afi = prefixes[0]!.includes(':') ? Afi.IPV6 : Afi.IPV4;
        const list = PrefixList.fromStrings(afi, prefixes, ctx.addPath.size > 0 ? prefixes.map((_, i) => i) : undefined);
        const attrs = { ...attributesFromJson(attrsJson), ...(afi === Afi.IPV4 ? { nextHop: '192.0.2.1' } : {}) };
        const msgs = packUpdates(list, attrs, ctx, afi === Afi.IPV6 ? ['2001:db8::1'] : undefined);
        const back: string[] = [];
        msgs.forEach((m, i) => {
          assert.ok(m.length <= ctx.maxMessageLength);
          const { message } = decodeMessage(m, ctx);
          const u = message as DecodedUpdate;
          assert.deepEqual(u.issues, []);
          const part = afi === Afi.IPV4 ? u.nlri : u.attributes.mpReach!.nlri;
          back.push(...part.toStrings());
          if (i < msgs.length - 1) {
            // The next prefix would not have fitted: no room was wasted.
            const nextLen = list.lens[back.length]!;
            const nextSize = (ctx.addPath.size > 0 ? 5 : 1) + ((nextLen + 7) >> 3);
            assert.ok(m.length + nextSize > ctx.maxMessageLength, `message ${i} of ${m.length} octets had room`);
          }
        });
        assert.deepEqual(back, list.toStrings());
        const w = packWithdrawals(list, ctx);
        const wback = w.flatMap((m) => {
          const u = decodeMessage(m, ctx).message as DecodedUpdate;
          return afi === Afi.IPV4 ? u.withdrawn.toStrings() : u.attributes.mpUnreach!.withdrawn.toStrings();
        });
        assert.deepEqual(wback, list.toStrings());
      },
    ),
    { seed: SEED, numRuns: 60 },
  );
});
