import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  BgpCodecError,
  DEFAULT_CONTEXT,
  decodeMessage,
  encodeMessage,
  messageFromJson,
  messageToJson,
  toNotification,
  validateUpdate,
  type DecodedUpdate,
} from '../../../src/bgp/packet/index.js';
import { fixtures } from './fixtures.js';
import { malformedCases } from './malformed.js';

describe('fixture pairs decode to their object and encode to their bytes', () => {
  for (const f of fixtures) {
    const ctx = f.ctx ?? DEFAULT_CONTEXT;
    test(f.name, () => {
      const { message, length } = decodeMessage(f.bytes, ctx);
      assert.equal(length, f.bytes.length);
      if (message.type === 'UPDATE') assert.deepEqual((message as DecodedUpdate).issues, [], 'no attribute issues');
      assert.deepEqual(messageToJson(message), f.json);

      // Decoding at an offset inside a larger buffer gives the same result.
      const padded = Buffer.concat([Buffer.from([1, 2, 3]), f.bytes, Buffer.from([9])]);
      assert.deepEqual(messageToJson(decodeMessage(padded, ctx, 3).message), f.json);

      if (f.decodeOnly === undefined) {
        const encoded = encodeMessage(messageFromJson(f.json), ctx);
        assert.equal(encoded.toString('hex'), f.bytes.toString('hex'));
      }
    });
  }
});

describe('malformed messages get the RFC 4271 / RFC 7606 reaction', () => {
  for (const c of malformedCases) {
    const ctx = c.ctx ?? DEFAULT_CONTEXT;
    test(c.name, () => {
      const e = c.expect;
      if (!('verdict' in e)) {
        assert.throws(
          () => decodeMessage(c.bytes, ctx),
          (err: unknown) => {
            assert.ok(err instanceof BgpCodecError, `expected BgpCodecError, got ${String(err)}`);
            const n = toNotification(err.detail);
            assert.deepEqual([n.code, n.subcode], e.notification, err.message);
            if (e.data !== undefined) assert.equal(n.data.toString('hex'), e.data);
            return true;
          },
        );
        return;
      }
      const { message } = decodeMessage(c.bytes, ctx);
      assert.equal(message.type, 'UPDATE');
      const verdict = validateUpdate(message as DecodedUpdate, ctx);
      switch (e.verdict) {
        case 'session-reset': {
          assert.equal(verdict.action, 'session-reset', JSON.stringify(verdict.issues.map((i) => i.reason)));
          if (verdict.action !== 'session-reset') return;
          const n = toNotification(verdict.error);
          assert.deepEqual([n.code, n.subcode], e.notification);
          break;
        }
        case 'treat-as-withdraw': {
          assert.equal(verdict.action, 'treat-as-withdraw', JSON.stringify(verdict.issues.map((i) => i.reason)));
          if (verdict.action !== 'treat-as-withdraw') return;
          assert.deepEqual(verdict.withdraw.flatMap((l) => l.toStrings()), e.withdraw);
          const first = verdict.issues.find((i) => i.action === 'treat-as-withdraw')!;
          const n = toNotification(first.error);
          assert.deepEqual([n.code, n.subcode], e.rfc4271, first.reason);
          break;
        }
        case 'attribute-discard': {
          assert.equal(verdict.action, 'accept', JSON.stringify(verdict.issues.map((i) => i.reason)));
          if (verdict.action !== 'accept') return;
          assert.ok(verdict.issues.some((i) => i.action === 'attribute-discard'), 'a discard is reported');
          if (e.absent !== '') assert.equal((verdict.update.attributes as Record<string, unknown>)[e.absent], undefined);
          assert.deepEqual(verdict.update.nlri.toStrings(), ['198.51.100.0/24'], 'the route itself is kept');
          break;
        }
      }
    });
  }
});
