/**
 * A Unix socket that speaks BIRD 1.6's control protocol, so that `birdc`,
 * `calicoctl node status`, calico-node's probes and bird_exporter can talk to
 * the native speaker as they talk to calico-node's BIRD. Each connection gets
 * BIRD's greeting, then one framed reply per command line, in order; any
 * number of clients at once; a client that goes away mid-reply costs nothing.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { existsSync, unlinkSync } from 'node:fs';
import { closeUnix, listenUnix, socketAnswers } from '../unix-socket.js';
import { answer } from './commands.js';
import { ReplyCode, singleLine } from './reply.js';
import type { BirdDaemonView, ViewDetail } from './view.js';

/** The BIRD release whose protocol and formats we follow; tools read it from the greeting and `show status`. */
export const BIRD_VERSION = '1.6.8';

/** Where calico-node's `bird` (IPv4) and `bird6` (IPv6) listen, and the tools look. */
export const DEFAULT_BIRD_SOCKET = '/var/run/calico/bird.ctl';
/** See DEFAULT_BIRD_SOCKET. */
export const DEFAULT_BIRD6_SOCKET = '/var/run/calico/bird6.ctl';

/** Longest command line accepted; BIRD's own CLI buffer is smaller. */
const MAX_LINE = 4096;


/** One BIRD-compatible Unix socket: greeting, then one reply per command line, for any number of clients. */
export class BirdSocketServer {
  private server: Server | null = null;
  private readonly clients = new Set<Socket>();

  /** `view` builds the current picture of the daemon on each command that needs it. */
  constructor(
    readonly path: string,
    private readonly view: (detail: ViewDetail) => Promise<BirdDaemonView>,
  ) {}

  private serve(sock: Socket): void {
    this.clients.add(sock);
    let buf = '';
    let discarding = false;
    // Replies go out in the order of the commands, each built once the one before is sent.
    let queue: Promise<void> = Promise.resolve();
    sock.setEncoding('utf8');
    // A client that resets or closes mid-reply: drop what is left for it.
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.clients.delete(sock));
    // A client that sends commands but does not read its replies: the next
    // reply is built only once it has taken this one (BIRD, too, holds a
    // client's next command until its output is flushed).
    const send = (text: string): Promise<void> =>
      new Promise((resolve) => {
        if (sock.destroyed || !sock.writable || sock.write(text)) return resolve();
        const done = (): void => {
          sock.off('drain', done);
          sock.off('close', done);
          resolve();
        };
        sock.on('drain', done);
        sock.on('close', done);
      });
    void send(singleLine(ReplyCode.WELCOME, `BIRD ${BIRD_VERSION} ready.`));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        if (discarding) {
          discarding = false;
          continue;
        }
        queue = queue.then(async () => {
          // A client gone before its turn costs no more work.
          if (sock.destroyed) return;
          let reply: string;
          try {
            reply = line.length > MAX_LINE ? singleLine(ReplyCode.COMMAND_TOO_LONG, 'Command too long') : await answer(line, this.view);
          } catch (e) {
            // A fault of ours while building the view: BIRD's runtime-error code, and the connection lives on.
            reply = singleLine(ReplyCode.RUNTIME_ERROR, `Evaluation runtime error: ${(e as Error).message}`);
          }
          await send(reply);
        });
      }
      if (buf.length > MAX_LINE) {
        queue = queue.then(() => send(singleLine(ReplyCode.COMMAND_TOO_LONG, 'Command too long')));
        buf = '';
        discarding = true;
      }
    });
  }

  /** Listens at `path` (mode 0660); fails if another daemon answers there. */
  async listen(): Promise<void> {
    // A socket file left by a previous run would make listen() fail; one
    // that answers belongs to a running daemon (a BIRD, another speaker) and stays.
    if (existsSync(this.path)) {
      if (await socketAnswers(this.path)) throw new Error(`${this.path} is in use by a running daemon`);
      unlinkSync(this.path);
    }
    const server = createServer((sock) => this.serve(sock));
    this.server = server;
    await listenUnix(server, this.path);
  }

  /** Drops the clients, stops listening and removes the socket file. */
  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    for (const c of this.clients) c.destroy();
    await closeUnix(s, this.path);
  }
}
