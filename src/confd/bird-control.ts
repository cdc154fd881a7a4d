/**
 * Tells a running BIRD to re-read its configuration through its control
 * socket, the way `birdc configure` does, but judging the answer by BIRD's
 * reply codes: `birdc` exits 0 even when BIRD rejects the file, so a shell
 * `reload_cmd` of `birdc configure` would hide exactly the failure that
 * matters.
 *
 * Protocol (BIRD's doc/prog, "Remote control"): every reply line starts with
 * a 4-digit code; `DDDD-` continues, `DDDD ` ends the reply, a leading space
 * continues the previous code. 0xxx = OK, 1xxx = table data, 8xxx = run-time
 * error, 9xxx = parse error. After connecting the server greets with
 * `0001 BIRD x.y.z ready.`
 */
import { createConnection } from 'node:net';

export interface BirdReply {
  /** The code of the final line. */
  code: number;
  /** Every line, codes stripped. */
  lines: string[];
}

/** Outcome of `configure`. */
export interface ConfigureResult {
  ok: boolean;
  /** BIRD's own words, e.g. `Reconfigured` or `bird.cfg:12:3 syntax error`. */
  message: string;
  /** Nobody listens on the socket (no such file, connection refused). */
  notRunning: boolean;
}

/** 0003 Reconfigured, 0004 Reconfiguration in progress (applied once BIRD is ready), 0019 Nothing to do. */
const OK_CODES = new Set([3, 4, 19]);

/**
 * Sends one command and collects the reply, with a deadline for the whole
 * exchange. Rejects on connection errors and timeouts.
 */
export function birdCommand(socketPath: string, command: string, timeoutMs = 10_000): Promise<BirdReply> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(socketPath);
    let buf = '';
    let greeted = false;
    const lines: string[] = [];
    const timer = setTimeout(() => finish(new Error(`no answer from BIRD at ${socketPath} within ${timeoutMs} ms`)), timeoutMs);
    let done = false;
    function finish(err: Error | null, reply?: BirdReply): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(reply!);
    }
    sock.setEncoding('utf8');
    sock.on('error', (err: NodeJS.ErrnoException) => {
      const e = new Error(`cannot talk to BIRD at ${socketPath}: ${err.message}`) as NodeJS.ErrnoException;
      if (err.code !== undefined) e.code = err.code;
      finish(e);
    });
    sock.on('close', () => finish(new Error(`BIRD at ${socketPath} closed the connection before answering`)));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^(\d{4})([ -])(.*)$/.exec(line);
        if (!greeted) {
          if (m && m[2] === ' ') {
            greeted = true;
            sock.write(`${command}\n`);
          }
          continue;
        }
        if (!m) {
          lines.push(line.replace(/^ /, ''));
          continue;
        }
        lines.push(m[3]!);
        if (m[2] === ' ') return finish(null, { code: Number(m[1]), lines });
      }
    });
  });
}

/** `configure` through the control socket; never throws. */
export async function birdConfigure(socketPath: string, timeoutMs = 10_000): Promise<ConfigureResult> {
  try {
    const reply = await birdCommand(socketPath, 'configure', timeoutMs);
    return { ok: OK_CODES.has(reply.code), message: reply.lines.join('\n'), notRunning: false };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, message: (err as Error).message, notRunning: code === 'ENOENT' || code === 'ECONNREFUSED' };
  }
}
