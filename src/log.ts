/**
 * Process-wide logger. JSON lines on stderr by default (stdout stays free for
 * command output such as `decode` and `model --json`).
 *
 * Level comes from `--log-level`, else `BGP_LOGSEVERITYSCREEN` (Calico's
 * variable, whose values are Calico's: debug, info, warning, error, fatal,
 * none), else `info`.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

const calicoToPino: Record<string, string> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  fatal: 'fatal',
  panic: 'fatal',
  none: 'silent',
  silent: 'silent',
};

/** Maps a Calico or pino level name to a pino level; unknown names give undefined. */
export function normaliseLevel(level: string | undefined): string | undefined {
  if (level === undefined || level === '') return undefined;
  return calicoToPino[level.trim().toLowerCase()];
}

let root: Logger = pino(
  { level: normaliseLevel(process.env.BGP_LOGSEVERITYSCREEN) ?? 'info', base: { svc: 'calico-bgpd' } },
  pino.destination(2),
);

/** Reconfigures the root logger level; returns false for an unknown level name. */
export function setLogLevel(level: string): boolean {
  const normalised = normaliseLevel(level);
  if (normalised === undefined) return false;
  root.level = normalised;
  return true;
}

/** The root logger, or a child bound to a component name. */
export function logger(component?: string): Logger {
  return component === undefined ? root : root.child({ component });
}

/** Replaces the root logger (tests capture log lines this way). */
export function setRootLogger(next: Logger): void {
  root = next;
}
