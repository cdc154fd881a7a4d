/**
 * A NETLINK_ROUTE socket through the native addon (native-netlink/): Node
 * has no AF_NETLINK sockets of its own. The addon only moves bytes; this
 * file loads it, numbers requests, runs one exchange at a time, and splits
 * replies by sequence number. Encoding is in `netlink-codec.ts`.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeReplies, type NetlinkReply } from './netlink-codec.js';

// ---------------------------------------------------------------------------
// The addon

/** What native-netlink/src/netlink.c exports. */
export interface NetlinkAddon {
  open(netnsPath: string | null, bufferBytes: number): { fd: number; portId: number; rcvbuf: number; sndbuf: number };
  /**
   * Sends `request`, resolves with every reply up to the ACK/error/DONE
   * carrying `lastSeq`. The request is copied before this returns.
   */
  exchange(fd: number, request: Buffer, lastSeq: number, timeoutMs: number): Promise<Buffer>;
  close(fd: number): void;
}

/** Whether the addon is usable, and if not, why. */
export type AddonStatus = { ok: true; addon: NetlinkAddon } | { ok: false; reason: string };

const ADDON_FILE = 'netlink.node';

/** `<repo>/native-netlink/build/Release/netlink.node`, found from this file (src/ or dist/src/). */
export function defaultAddonPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'native-netlink', 'build', 'Release', ADDON_FILE);
}

const loaded = new Map<string, AddonStatus>();

/** Loads the addon from `path` (default: $CALICO_BGPD_NETLINK_ADDON, else `defaultAddonPath()`); never throws. */
export function loadNetlinkAddon(path: string = process.env.CALICO_BGPD_NETLINK_ADDON ?? defaultAddonPath()): AddonStatus {
  const known = loaded.get(path);
  if (known !== undefined) return known;
  let status: AddonStatus;
  if (process.platform !== 'linux') {
    status = { ok: false, reason: `rtnetlink is Linux only (this is ${process.platform})` };
  } else if (!existsSync(path)) {
    status = { ok: false, reason: `netlink addon not built (${path} is missing; run scripts/build-native-netlink.sh)` };
  } else {
    try {
      status = { ok: true, addon: createRequire(import.meta.url)(path) as NetlinkAddon };
    } catch (e) {
      status = { ok: false, reason: `netlink addon ${path} failed to load: ${(e as Error).message}` };
    }
  }
  loaded.set(path, status);
  return status;
}

// ---------------------------------------------------------------------------
// The socket

/** An exchange that failed as a whole (timeout, lost replies, socket error); `code` is the errno name. */
export class NetlinkIoError extends Error {
  override readonly name = 'NetlinkIoError';
  constructor(
    message: string,
    readonly code: string,
    /** Replies that arrived before the failure. */
    readonly partial: NetlinkReply[],
  ) {
    super(message);
  }
}

/** `exchangeRaw()` failed as a whole; `raw` holds what arrived before. */
export class NetlinkRawError extends Error {
  override readonly name = 'NetlinkRawError';
  constructor(
    message: string,
    readonly code: string,
    readonly raw: Buffer,
  ) {
    super(message);
  }
}

export interface NetlinkSocketOptions {
  /** A network namespace file (`/run/netns/NAME`, `/proc/PID/ns/net`); null = this process's. */
  netns?: string | null;
  /** Send and receive buffer size asked for (root gets it; others get the sysctl maximum). */
  bufferBytes?: number;
  /** Bound on one exchange, ms. */
  timeoutMs?: number;
}

/**
 * One NETLINK_ROUTE socket. The addon runs exchanges one at a time (a lock
 * around send + receive), so replies of different requests never
 * interleave, and several can be handed over at once.
 */
export class NetlinkSocket {
  private seq: number;
  private readonly inflight = new Set<Promise<unknown>>();
  private closed = false;

  private constructor(
    private readonly addon: NetlinkAddon,
    private readonly fd: number,
    /** The kernel-assigned port id of this socket. */
    readonly portId: number,
    /** Receive buffer the kernel granted; batches are sized from it. */
    readonly rcvbuf: number,
    readonly sndbuf: number,
    private readonly timeoutMs: number,
  ) {
    // Start away from 0 so replies to an earlier process's socket (same port id reused) never match.
    this.seq = (Date.now() & 0x3fffffff) >>> 0;
  }

  /** Opens a socket; throws the addon's error (with `code`) when it cannot. */
  static open(addon: NetlinkAddon, opts: NetlinkSocketOptions = {}): NetlinkSocket {
    const s = addon.open(opts.netns ?? null, opts.bufferBytes ?? 8 * 1024 * 1024);
    return new NetlinkSocket(addon, s.fd, s.portId, s.rcvbuf, s.sndbuf, opts.timeoutMs ?? 30_000);
  }

  /** Reserves `n` consecutive sequence numbers; returns the first. */
  nextSeq(n = 1): number {
    if (this.seq + n > 0xffffffff) this.seq = 1; // wrap, staying above 0
    const first = this.seq;
    this.seq += n;
    return first;
  }

  /**
   * Sends a buffer of requests and resolves with the replies whose sequence
   * numbers lie in [firstSeq, lastSeq], stopping at the one that ends
   * `lastSeq` (its ACK, error, or NLMSG_DONE).
   */
  exchange(request: Buffer, firstSeq: number, lastSeq: number): Promise<NetlinkReply[]> {
    if (this.closed) return Promise.reject(new NetlinkIoError('netlink socket is closed', 'EBADF', []));
    const run = async (): Promise<NetlinkReply[]> => {
      const inRange = (r: NetlinkReply) => r.header.seq >= firstSeq && r.header.seq <= lastSeq;
      try {
        const reply = await this.addon.exchange(this.fd, request, lastSeq, this.timeoutMs);
        return decodeReplies(reply).filter(inRange);
      } catch (e) {
        const err = e as Error & { code?: string; partial?: Buffer };
        let partial: NetlinkReply[] = [];
        try {
          if (err.partial) partial = decodeReplies(err.partial).filter(inRange);
        } catch {
          // a torn partial reply tells us nothing more
        }
        throw new NetlinkIoError(err.message, err.code ?? 'EIO', partial);
      }
    };
    return this.track(run());
  }

  /**
   * Like `exchange()`, for batches of change requests: the raw reply bytes,
   * left to `scanAcks()`. On failure the NetlinkRawError carries the partial
   * bytes in `raw`. The request is copied before this returns (the addon
   * takes a private copy), so the caller may reuse its buffer at once.
   */
  exchangeRaw(request: Buffer, lastSeq: number): Promise<Buffer> {
    if (this.closed) return Promise.reject(new NetlinkRawError('netlink socket is closed', 'EBADF', Buffer.alloc(0)));
    const run = async (): Promise<Buffer> => {
      try {
        return await this.addon.exchange(this.fd, request, lastSeq, this.timeoutMs);
      } catch (e) {
        const err = e as Error & { code?: string; partial?: Buffer };
        throw new NetlinkRawError(err.message, err.code ?? 'EIO', err.partial ?? Buffer.alloc(0));
      }
    };
    return this.track(run());
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    const forget = () => void this.inflight.delete(p);
    p.then(forget, forget);
    return p;
  }

  /** Closes the socket after the exchanges under way. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inflight]);
    this.addon.close(this.fd);
  }
}
