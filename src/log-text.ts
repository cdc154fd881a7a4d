/**
 * The `--log-format text` rendering of a pino JSON line: one readable line
 * per event,
 *
 *   2026-12-04 21:03:11.123 WARN  speaker: BGP session down peer=Mesh_10_0_0_2 reason=...
 *
 * local time, level name, component, message, then the other fields as
 * key=value (strings with spaces quoted; objects as compact JSON).
 */

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** Fields every line has, shown in fixed places instead of as key=value. */
const FIXED = new Set(['level', 'time', 'msg', 'component', 'svc', 'pid', 'hostname']);

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** Local time as `YYYY-MM-DD HH:MM:SS.mmm`. */
export function localTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function fieldText(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  if (typeof v === 'object' && v !== null) {
    const err = v as { message?: unknown; type?: unknown };
    // pino's serialised errors: the message says it; the stack is for JSON.
    if (typeof err.message === 'string' && typeof err.type === 'string') return JSON.stringify(err.message);
    return JSON.stringify(v);
  }
  return String(v);
}

/** One pino JSON line as text (without the newline); a line that is not JSON passes through. */
export function formatLogLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.replace(/\n$/, '');
  }
  const level = LEVEL_NAMES[Number(rec.level)] ?? String(rec.level);
  const time = typeof rec.time === 'number' ? localTime(rec.time) : localTime(Date.now());
  const component = typeof rec.component === 'string' ? `${rec.component}: ` : '';
  const msg = typeof rec.msg === 'string' ? rec.msg : '';
  const fields = Object.entries(rec)
    .filter(([k]) => !FIXED.has(k))
    .map(([k, v]) => `${k}=${fieldText(v)}`);
  return `${time} ${level.padEnd(5)} ${component}${msg}${fields.length > 0 ? ' ' + fields.join(' ') : ''}`;
}
