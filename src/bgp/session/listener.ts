/**
 * The BGP listening socket. Every incoming connection is handed to the
 * neighbor configured for its source address; connections from anyone else
 * are closed at once, with a log line naming the address (never silently).
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Neighbor } from './neighbor.js';
import { RefusalLog, type RefusalLogOptions } from './refusal-log.js';

export interface ListenerOptions {
  /** Address to bind; undefined = all addresses (dual-stack). */
  host?: string;
  port: number;
  /** Rate limit of the refused-connection log lines (per source). */
  refusalLog?: RefusalLogOptions;
}

/** `::ffff:192.0.2.1` -> `192.0.2.1`, so IPv4 peers match on a dual-stack socket. */
export function normaliseAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address.toLowerCase();
}

/**
 * Accept queue length asked of the kernel (it caps it at net.core.somaxconn).
 * Node's default of 511 is too short for a reflector that thousands of
 * clients reconnect to at once after it restarts: the kernel drops the SYNs
 * past the queue, and each client then waits out TCP's SYN retransmission
 * backoff (1, 3, 7, 15 ... s) before it is even seen.
 */
export const LISTEN_BACKLOG = 8192;

export class BgpListener {
  private server: Server | null = null;
  /** Refused connections: counted always, logged at most once a minute per source. */
  readonly refusals: RefusalLog;

  constructor(
    private readonly options: ListenerOptions,
    private readonly lookup: (address: string) => Neighbor | undefined,
    private readonly log: (level: 'info' | 'warn', msg: string, extra: Record<string, unknown>) => void = () => {},
    /** Last check before a connection reaches its neighbor (TCP-MD5/GTSM): a reason refuses it. */
    private readonly vet: (socket: Socket, neighbor: Neighbor) => string | null = () => null,
  ) {
    this.refusals = new RefusalLog(log, options.refusalLog);
  }

  /** The listening server (for socket options such as TCP-MD5 keys); null before listen(). */
  get netServer(): Server | null {
    return this.server;
  }

  /** Binds and listens; resolves with the port actually bound (useful with port 0). */
  async listen(): Promise<number> {
    const server = createServer({ noDelay: true }, (socket) => this.onConnection(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: this.options.port, backlog: LISTEN_BACKLOG, ...(this.options.host !== undefined ? { host: this.options.host } : {}) }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    return typeof addr === 'object' && addr !== null ? addr.port : this.options.port;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private onConnection(socket: Socket): void {
    if (socket.remoteAddress === undefined) {
      // Reset by the other side before we looked: the address is gone with
      // the socket. Not "a stranger": it may well have been a peer.
      this.refusals.refused('(closed)', 'info', 'a BGP connection was closed by the other side before its address could be read', {});
      socket.destroy();
      return;
    }
    const address = normaliseAddress(socket.remoteAddress);
    const neighbor = this.lookup(address);
    if (neighbor === undefined) {
      this.refusals.refused(address, 'warn', 'refused BGP connection from an address that is not a configured peer', { address, port: socket.remotePort });
      socket.destroy();
      return;
    }
    const refused = this.vet(socket, neighbor);
    if (refused !== null) {
      this.refusals.refused(address, 'warn', 'refused BGP connection', { address, neighbor: neighbor.config.name, reason: refused });
      socket.destroy();
      return;
    }
    if (!neighbor.accept(socket)) {
      this.log('info', 'refused BGP connection: the session is already up or stopped', { address, neighbor: neighbor.config.name, state: neighbor.state });
      socket.destroy();
    }
  }
}
