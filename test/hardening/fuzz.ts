/**
 * The BGP fuzzer: phase (a) in process (fuzz-codec.ts), then phase (b)
 * against a live speaker (fuzz-live.ts). Used by `npm run fuzz` and the CI
 * test. A crash, hang or divergence from the RFC treatment fails the run.
 */
import { fuzzCodec } from './fuzz-codec.js';
import { fuzzLive } from './fuzz-live.js';
import type { FuzzStats } from './fuzz-oracle.js';

export interface FuzzOptions {
  /** Messages through the codec in process. */
  messages: number;
  /** UPDATEs sent to the live speaker. */
  liveMessages: number;
  maxResets: number;
  seed: number;
  timeoutSeconds: number;
  crashDir: string;
  progress?: (line: string) => void;
}

export interface FuzzReport {
  ok: boolean;
  codec: FuzzStats;
  live: Awaited<ReturnType<typeof fuzzLive>>;
  text: string;
}

export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const codec = await fuzzCodec({ messages: o.messages, seed: o.seed, crashDir: o.crashDir, ...(o.progress ? { progress: o.progress } : {}) });
  const live = await fuzzLive({ messages: o.liveMessages, seed: o.seed, crashDir: o.crashDir, maxResets: o.maxResets, timeoutSeconds: o.timeoutSeconds, ...(o.progress ? { progress: o.progress } : {}) });
  const bad = codec.crashes.length + codec.hangs + live.crashes.length + live.hangs + live.divergences.length;
  const text = [
    `fuzz seed ${o.seed}`,
    ...codec.lines('(a) codec in process'),
    ...live.lines('(b) live speaker over TCP'),
    `  sessions reset by NOTIFICATION ${live.resets} (budget ${o.maxResets}); UPDATEs not sent past the budget ${live.skipped}`,
    `  divergences from the codec's verdict ${live.divergences.length}`,
    ...live.divergences.slice(0, 20).map((d) => `  DIVERGENCE ${d}`),
    bad === 0 ? 'fuzz: PASS' : `fuzz: FAIL (${bad} crashes, hangs or divergences; inputs kept in ${o.crashDir})`,
  ].join('\n');
  return { ok: bad === 0, codec, live, text };
}
