/**
 * The control socket: a Unix socket where the running daemon answers
 * `status`, `routes`, `refresh` and `reset` requests, one JSON object per
 * line each way. Only local users who can open the socket file can ask
 * (mode 0660, like BIRD's control socket).
 */
import { createServer, type Server } from 'node:net';
import { existsSync, unlinkSync } from 'node:fs';
import { closeUnix, listenUnix, socketAnswers } from './unix-socket.js';

export const DEFAULT_CONTROL_SOCKET = '/var/run/calico/bgpd.ctl';

export type ControlRequest =
  | { cmd: 'status' }
  | { cmd: 'routes'; prefix?: string }
  | { cmd: 'refresh'; peer: string }
  | { cmd: 'reset'; peer?: string }
  | { cmd: 'health'; kind: 'ready' | 'live' };

export type ControlHandler = (req: ControlRequest) => unknown;

function parseRequest(line: string): ControlRequest {
  const v = JSON.parse(line) as Record<string, unknown>;
  switch (v.cmd) {
    case 'status':
      return { cmd: 'status' };
    case 'routes':
      return typeof v.prefix === 'string' ? { cmd: 'routes', prefix: v.prefix } : { cmd: 'routes' };
    case 'refresh':
      if (typeof v.peer !== 'string') throw new Error('refresh needs "peer"');
      return { cmd: 'refresh', peer: v.peer };
    case 'reset':
      return typeof v.peer === 'string' ? { cmd: 'reset', peer: v.peer } : { cmd: 'reset' };
    case 'health':
      if (v.kind !== 'ready' && v.kind !== 'live') throw new Error('health needs "kind": "ready" or "live"');
      return { cmd: 'health', kind: v.kind };
    default:
      throw new Error(`unknown command ${JSON.stringify(v.cmd)}`);
  }
}

export class ControlServer {
  private server: Server | null = null;

  constructor(
    readonly path: string,
    private readonly handler: ControlHandler,
  ) {}

  /**
   * Like `listen`, but leaves a socket alone that another live daemon
   * answers on (throws instead of taking it over); a stale file is replaced.
   */
  async listenUnlessTaken(): Promise<void> {
    if (existsSync(this.path) && (await socketAnswers(this.path))) throw new Error(`another process answers on ${this.path}`);
    await this.listen();
  }

  async listen(): Promise<void> {
    // A socket file left by a previous run would make listen() fail.
    if (existsSync(this.path)) unlinkSync(this.path);
    const server = createServer((sock) => {
      let buf = '';
      sock.setEncoding('utf8');
      sock.on('error', () => sock.destroy());
      sock.on('data', (chunk: string) => {
        buf += chunk;
        if (buf.length > 65536) return sock.destroy();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          let reply: unknown;
          try {
            reply = { ok: true, result: this.handler(parseRequest(line)) };
          } catch (e) {
            reply = { ok: false, error: (e as Error).message };
          }
          sock.write(JSON.stringify(reply) + '\n');
        }
      });
    });
    this.server = server;
    await listenUnix(server, this.path);
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    await closeUnix(s, this.path);
  }
}

