/**
 * Phase (a) of the fuzzer: mutated and random messages through the decoder,
 * validateUpdate, the JSON view and the encoder, in process.
 */
import { FuzzStats, saveCrash, verdictOf } from './fuzz-oracle.js';
import { Rng, allSeeds, mutate } from './fuzz-corpus.js';

/** A single message slower than this counts as a hang (the codec is synchronous, so it is measured, not interrupted). */
const HANG_MS = 1000;

export async function fuzzCodec(opts: { messages: number; seed: number; crashDir: string; progress?: (line: string) => void }): Promise<FuzzStats> {
  const stats = new FuzzStats();
  const seeds = allSeeds(opts.seed);
  const r = new Rng(opts.seed);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < opts.messages; i++) {
    const input = i < seeds.length ? seeds[i]! : mutate(seeds, r);
    const start = Date.now();
    try {
      stats.count(verdictOf(input.bytes, input.ctx));
    } catch (e) {
      stats.messages++;
      stats.crashes.push({ file: saveCrash(opts.crashDir, input.bytes, input.ctx, e, `codec (seed ${input.from})`), error: String((e as Error)?.message ?? e) });
    }
    if (Date.now() - start > HANG_MS) stats.hangs++;
    if (opts.progress !== undefined && (i + 1) % 250_000 === 0) opts.progress(`codec: ${i + 1} messages`);
    // Let timers (progress, a test's timeout) run on long runs.
    if ((i & 0xffff) === 0xffff) await new Promise((res) => setImmediate(res));
  }
  stats.seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return stats;
}
