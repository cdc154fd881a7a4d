/** Asks the running daemon over its control socket (see server.ts). */
import { connect } from 'node:net';
import type { ControlRequest } from './server.js';

export class ControlError extends Error {}

export function ask<T>(path: string, req: ControlRequest, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new ControlError(`no answer from calico-bgpd at ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      const reply = JSON.parse(buf.slice(0, nl)) as { ok: boolean; result?: T; error?: string };
      if (reply.ok) resolve(reply.result as T);
      else reject(new ControlError(reply.error ?? 'request failed'));
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'is `calico-bgpd speaker` running?' : e.message;
      reject(new ControlError(`cannot reach calico-bgpd at ${path}: ${why}`));
    });
  });
}
