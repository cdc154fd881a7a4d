/**
 * Handlebars helpers for the BIRD templates. They are deliberately few and
 * dumb: the decisions live in the view built by `render.ts` (a pure function
 * of the model), the templates only lay it out.
 */
import type { HelperDelegate } from 'handlebars';

/** A value that cannot be written into a BIRD config safely. */
export class RenderError extends Error {
  override readonly name = 'RenderError';
}

/**
 * BIRD's lexer reads a string as `"` up to the next `"` on the same line,
 * with no escapes (BIRD 1.6 and 2.0 alike). A value holding `"`, a newline
 * or a NUL cannot be expressed; writing it anyway would end the string early
 * and let the rest of the value become configuration, so refuse it.
 */
export function birdString(value: unknown, what = 'value'): string {
  const s = String(value);
  if (/["\n\r\0]/.test(s)) throw new RenderError(`${what} contains a double quote, line break or NUL, which BIRD cannot express`);
  return `"${s}"`;
}

/** `debug ...;` for a BGPConfiguration log severity, or nothing for `none` (Calico's mapping). */
export function debugStatement(logLevel: unknown): string {
  const l = String(logLevel).toLowerCase();
  if (l === 'none') return '';
  return l === 'debug' ? 'debug all;' : 'debug { states };';
}

/** The helpers the templates use, by name. */
export const helpers: Record<string, HelperDelegate> = {
  /** `{{str peer.password "password of X"}}` -> a quoted BIRD string. */
  str: (value: unknown, what: unknown) => birdString(value, typeof what === 'string' ? what : 'value'),
  /** `{{debug model.logLevel}}` -> `debug all;` / `debug { states };` / nothing. */
  debug: (logLevel: unknown) => debugStatement(logLevel),
  /** `{{field "65000:100" 1}}` -> `100`: one part of a colon-separated community. */
  field: (value: unknown, index: unknown) => String(value).split(':')[Number(index)] ?? '',
  eq: (a: unknown, b: unknown) => a === b,
  ne: (a: unknown, b: unknown) => a !== b,
  /** `{{#if (or a b)}}`: any argument truthy (the options hash is the last argument, ignored). */
  or: (...args: unknown[]) => args.slice(0, -1).some((a) => Boolean(a) && !(Array.isArray(a) && a.length === 0)),
  and: (...args: unknown[]) => args.slice(0, -1).every((a) => Boolean(a) && !(Array.isArray(a) && a.length === 0)),
  not: (a: unknown) => !a || (Array.isArray(a) && a.length === 0),
};
