/**
 * Process-wide logger, on stderr (stdout stays free for command output such
 * as `decode` and `model --json`). Format: `--log-format json|text`, else
 * CALICO_BGPD_LOG_FORMAT, else text when stderr is a terminal and JSON
 * lines otherwise (log collectors get JSON).
 *
 * Level comes from `--log-level`, else `BGP_LOGSEVERITYSCREEN` (Calico's
 * variable, whose values are Calico's: debug, info, warning, error, fatal,
 * none), else `info`.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { formatLogLine } from './log-text.js';

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

export type LogFormat = 'json' | 'text';

/** The format from the environment and the terminal (no flag given). */
export function defaultLogFormat(env: NodeJS.ProcessEnv = process.env, isTty = process.stderr.isTTY === true): LogFormat {
  const f = env.CALICO_BGPD_LOG_FORMAT?.trim().toLowerCase();
  if (f === 'json' || f === 'text') return f;
  return isTty ? 'text' : 'json';
}

/** Text lines, written synchronously like pino's own destination (nothing lost at exit). */
const textDestination: DestinationStream = {
  write(line: string) {
    process.stderr.write(formatLogLine(line) + '\n');
  },
};

function makeRoot(format: LogFormat, level: string): Logger {
  return pino({ level, base: { svc: 'calico-bgpd' } }, format === 'text' ? textDestination : pino.destination(2));
}

let root: Logger = makeRoot(defaultLogFormat(), normaliseLevel(process.env.BGP_LOGSEVERITYSCREEN) ?? 'info');

/** Switches the output format (`--log-format`); returns false for an unknown name. */
export function setLogFormat(format: string): boolean {
  const f = format.trim().toLowerCase();
  if (f !== 'json' && f !== 'text') return false;
  root = makeRoot(f, root.level);
  return true;
}

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
