/**
 * CI's short fuzz: 100,000 messages through the codec and 10,000 mutated
 * UPDATEs against a live speaker (`npm run fuzz` runs the same code, longer).
 * Kept crash inputs are replayed first. No timing assertions: a slow machine
 * only takes longer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runFuzz } from './fuzz.js';
import { savedCrashes, verdictOf } from './fuzz-oracle.js';

const keptCrashes = fileURLToPath(new URL('../../../test/hardening/fuzz-crashes/', import.meta.url));

test('every kept crash input now gets a NOTIFICATION or an RFC 7606 verdict', () => {
  for (const c of savedCrashes(keptCrashes)) {
    assert.doesNotThrow(() => verdictOf(c.bytes, c.ctx), `kept input ${c.file}`);
  }
});

test('100,000 fuzzed messages in process and 10,000 mutated UPDATEs on a live session: no crash, hang or divergence', { timeout: 900_000 }, async () => {
  const crashDir = mkdtempSync(join(tmpdir(), 'cbgpd-fuzz-crashes-'));
  try {
    const seed = Number(process.env.CALICO_BGPD_FUZZ_SEED ?? 20261204);
    const r = await runFuzz({ messages: 100_000, liveMessages: 10_000, maxResets: 100, seed, timeoutSeconds: 60, crashDir });
    console.log(r.text);
    assert.equal(r.codec.messages, 100_000);
    assert.ok(r.ok, r.text);
    // The live phase reached both RFC treatments, not just one.
    assert.ok(r.live.resets > 0 && [...r.live.notifications.values()].reduce((a, n) => a + n, 0) > 0, r.text);
    assert.ok(r.live.treatAsWithdraw > 0 && r.live.accepted > 0, r.text);
  } finally {
    rmSync(crashDir, { recursive: true, force: true });
  }
});
