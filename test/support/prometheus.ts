/**
 * Scrapes a Prometheus text endpoint over HTTP and parses it into samples
 * (name, labels, value): enough of the exposition format for tests to read
 * our own /metrics.
 */
import { get } from 'node:http';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** GET url; resolves status, content type and body. */
export function httpGet(url: string, timeoutMs = 10_000): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /(\w+)="((?:[^"\\]|\\.)*)"/g;
  for (const m of text.matchAll(re)) out[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  return out;
}

/** Parses the text exposition format (comments skipped). Throws on a line it cannot read. */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{.*\})?\s+(\S+)(\s+\d+)?$/.exec(line);
    if (m === null) throw new Error(`unreadable metrics line: ${line}`);
    out.push({ name: m[1]!, labels: parseLabels(m[2] ?? ''), value: Number(m[3]) });
  }
  return out;
}

/** Scrapes url and parses it. */
export async function scrape(url: string): Promise<Sample[]> {
  const r = await httpGet(url);
  if (r.status !== 200) throw new Error(`${url}: HTTP ${r.status}`);
  return parseMetrics(r.body);
}

/** The value of the one sample with this name whose labels include `labels`, or undefined. */
export function valueOf(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return hits.length === 1 ? hits[0]!.value : undefined;
}

/** Series identities (name + sorted labels), for cardinality checks. */
export function seriesOf(samples: readonly Sample[]): Set<string> {
  return new Set(samples.map((s) => `${s.name}{${Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(',')}}`));
}
