/**
 * BIRD's control-socket reply framing (BIRD 1.6 `cli_printf`): every line
 * starts with a four-digit reply code. A line followed by more lines of the
 * same reply carries `CODE-`; further lines of that same code carry only a
 * leading space; the line that ends the reply carries `CODE ` (space). Data
 * replies end with an empty `0000 ` line; status and error replies end on
 * their own code (`0013 Daemon is up and running`, `9001 syntax error`).
 */

/** One line of a reply: its code and its text, without framing. */
export interface ReplyLine {
  code: number;
  text: string;
}

/** Reply codes this server sends (BIRD 1.6 `doc/reply_codes`). */
export const ReplyCode = {
  END: 0,
  WELCOME: 1,
  STATUS_UP: 13,
  ROUTE_COUNT: 14,
  GR_STATUS: 24,
  VERSION: 1000,
  PROTOCOL_ROW: 1002,
  PROTOCOL_DETAILS: 1006,
  STATUS_DETAILS: 1011,
  PROTOCOL_HEADING: 2002,
  NO_PROTOCOLS_MATCH: 8003,
  RESTRICTED: 16,
  ACCESS_DENIED: 8007,
  RUNTIME_ERROR: 8008,
  COMMAND_TOO_LONG: 9000,
  SYNTAX_ERROR: 9001,
  NOT_A_PROTOCOL: 9002,
} as const;

const code4 = (code: number): string => String(code).padStart(4, '0');

/**
 * Frames `lines` as one reply: all but the last are continuation lines (`-`
 * on a code change, a lone space while the code stays the same), the last
 * ends the reply. Returns the bytes to write, `\n` after every line.
 */
export function frameReply(lines: readonly ReplyLine[]): string {
  let out = '';
  let last = -1;
  lines.forEach((line, i) => {
    if (i === lines.length - 1) out += `${code4(line.code)} ${line.text}\n`;
    else if (line.code === last) out += ` ${line.text}\n`;
    else out += `${code4(line.code)}-${line.text}\n`;
    last = line.code;
  });
  return out;
}

/** A one-line reply (errors, counts, the greeting). */
export function singleLine(code: number, text: string): string {
  return frameReply([{ code, text }]);
}
