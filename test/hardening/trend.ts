/**
 * Leak verdicts for a soak: samples of one process over time, split after a
 * warm-up into halves. Robust to a slow or busy machine: nothing depends on
 * how fast things happened, only on whether memory and handles keep growing
 * while the same churn repeats.
 */

/** One sample of one speaker process. */
export interface Sample {
  /** Seconds since the soak started. */
  t: number;
  rssMb: number;
  heapMb: number;
  fds: number;
  sockets: number;
  /** Live libuv resources (timers, sockets, fs requests), from the control socket. */
  handles: number;
  timers: number;
  established: number;
  peers: number;
}

export interface Limits {
  /** Largest allowed rise of the median RSS from the first to the second half (MB). */
  rssGrowthMb: number;
  /** Largest allowed RSS slope over the second half (MB/min), checked only on soaks of at least `slopeMinMinutes`. */
  rssSlopeMbPerMin: number;
  slopeMinMinutes: number;
  heapGrowthMb: number;
  /** Largest allowed rise of the median handle count from the first half's maximum. */
  handleGrowth: number;
}

export const DEFAULT_LIMITS: Limits = { rssGrowthMb: 32, rssSlopeMbPerMin: 1.5, slopeMinMinutes: 10, heapGrowthMb: 24, handleGrowth: 12 };

export interface Trend {
  rssFirstMb: number;
  rssSecondMb: number;
  rssSlopeMbPerMin: number;
  heapFirstMb: number;
  heapSecondMb: number;
  handlesFirstMax: number;
  handlesSecondMedian: number;
  fdsFirstMedian: number;
  fdsSecondMedian: number;
  failures: string[];
}

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Least-squares slope of y over t (per second). */
function slope(points: { t: number; y: number }[]): number {
  if (points.length < 2) return 0;
  const mt = points.reduce((a, p) => a + p.t, 0) / points.length;
  const my = points.reduce((a, p) => a + p.y, 0) / points.length;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.y - my);
    den += (p.t - mt) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Judges one process's samples (taken during churn): warm-up = first quarter, then halves. */
export function judge(name: string, samples: Sample[], minutes: number, limits: Limits = DEFAULT_LIMITS): Trend {
  const warm = samples.slice(Math.floor(samples.length / 4));
  const half = Math.floor(warm.length / 2);
  const first = warm.slice(0, half);
  const second = warm.slice(half);
  const t: Trend = {
    rssFirstMb: median(first.map((s) => s.rssMb)),
    rssSecondMb: median(second.map((s) => s.rssMb)),
    rssSlopeMbPerMin: slope(second.map((s) => ({ t: s.t, y: s.rssMb }))) * 60,
    heapFirstMb: median(first.map((s) => s.heapMb)),
    heapSecondMb: median(second.map((s) => s.heapMb)),
    handlesFirstMax: Math.max(...first.map((s) => s.handles)),
    handlesSecondMedian: median(second.map((s) => s.handles)),
    fdsFirstMedian: median(first.map((s) => s.fds)),
    fdsSecondMedian: median(second.map((s) => s.fds)),
    failures: [],
  };
  if (first.length < 2 || second.length < 2) {
    t.failures.push(`${name}: only ${samples.length} samples, too few to judge a trend`);
    return t;
  }
  const rssGrowth = t.rssSecondMb - t.rssFirstMb;
  if (rssGrowth > limits.rssGrowthMb) t.failures.push(`${name}: RSS median grew ${rssGrowth.toFixed(1)} MB from the first half to the second (limit ${limits.rssGrowthMb} MB)`);
  if (minutes >= limits.slopeMinMinutes && t.rssSlopeMbPerMin > limits.rssSlopeMbPerMin) {
    t.failures.push(`${name}: RSS still rising ${t.rssSlopeMbPerMin.toFixed(2)} MB/min over the second half (limit ${limits.rssSlopeMbPerMin} MB/min)`);
  }
  const heapGrowth = t.heapSecondMb - t.heapFirstMb;
  if (heapGrowth > limits.heapGrowthMb) t.failures.push(`${name}: heap median grew ${heapGrowth.toFixed(1)} MB (limit ${limits.heapGrowthMb} MB)`);
  if (t.handlesSecondMedian > t.handlesFirstMax + limits.handleGrowth) {
    t.failures.push(`${name}: active handles median ${t.handlesSecondMedian} in the second half, first half at most ${t.handlesFirstMax} (limit +${limits.handleGrowth})`);
  }
  return t;
}

/** The samples as a fixed-width table, at most `rows` rows (evenly spaced, last one kept). */
export function sampleTable(name: string, samples: Sample[], rows = 40): string {
  const step = Math.max(1, Math.ceil(samples.length / rows));
  const picked = samples.filter((_, i) => i % step === 0 || i === samples.length - 1);
  const head = `${name}\n${'t(s)'.padStart(7)} ${'rss MB'.padStart(8)} ${'heap MB'.padStart(8)} ${'fds'.padStart(5)} ${'socks'.padStart(6)} ${'handles'.padStart(8)} ${'timers'.padStart(7)} ${'estab'.padStart(6)}`;
  const lines = picked.map(
    (s) =>
      `${s.t.toFixed(0).padStart(7)} ${s.rssMb.toFixed(1).padStart(8)} ${s.heapMb.toFixed(1).padStart(8)} ${String(s.fds).padStart(5)} ${String(s.sockets).padStart(6)} ${String(s.handles).padStart(8)} ${String(s.timers).padStart(7)} ${`${s.established}/${s.peers}`.padStart(6)}`,
  );
  return [head, ...lines].join('\n');
}

/** One line per process: the halves and the slope. */
export function trendLine(name: string, t: Trend): string {
  return `${name}: RSS ${t.rssFirstMb.toFixed(1)} -> ${t.rssSecondMb.toFixed(1)} MB (slope ${t.rssSlopeMbPerMin.toFixed(2)} MB/min), heap ${t.heapFirstMb.toFixed(1)} -> ${t.heapSecondMb.toFixed(1)} MB, fds ${t.fdsFirstMedian} -> ${t.fdsSecondMedian}, handles max ${t.handlesFirstMax} -> median ${t.handlesSecondMedian}`;
}
