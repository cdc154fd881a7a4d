/**
 * What the benchmarks read about a process from /proc, and the markdown
 * tables they print: shared by `bench:rr` and `npm run sim`.
 */
import { readFileSync } from 'node:fs';

const CLK_TCK = 100; // Linux USER_HZ on every architecture we run on

export interface ProcSample {
  rssKb: number;
  /** VmHWM: the peak resident set so far. */
  hwmKb: number;
  /** utime + stime of all threads, in seconds. */
  cpuS: number;
}

/** RSS, peak RSS and CPU time of `pid` (throws if it is gone). */
export function sample(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "(comm)": state is field 3, utime 14, stime 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[11]) + Number(rest[12]);
  return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM'), cpuS: ticks / CLK_TCK };
}

/** This process's open-file limit. */
export function openFileLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m === null || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

export const fmt = (x: number | undefined, digits: number): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));
export const ratio = (x: number | undefined, base: number | undefined): string =>
  x === undefined || base === undefined || base === 0 || !Number.isFinite(x) ? '-' : `${(x / base).toFixed(2)}x`;

/** A markdown table: the first `leftColumns` columns left-aligned, the rest right-aligned. */
export function markdownTable(head: readonly string[], body: readonly (readonly string[])[], leftColumns: number): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: readonly string[]): string => `| ${widths.map((w, i) => (i < leftColumns ? (cells[i] ?? '').padEnd(w) : (cells[i] ?? '').padStart(w))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i < leftColumns ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(head), rule, ...body.map(line)].join('\n');
}
