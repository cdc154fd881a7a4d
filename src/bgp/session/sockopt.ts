/**
 * TCP-MD5 signatures (RFC 2385) and GTSM (RFC 5082) for BGP sessions.
 *
 * Node has no setsockopt, so the options come from a small N-API addon in
 * `native/` (built by `scripts/build-native.sh`). The addon is optional: the
 * daemon runs without it, but a peer that asks for a password or
 * ttlSecurity then never gets a session. It is refused with
 * "TCP-MD5 unavailable: <reason>", because an unsigned or unprotected
 * session would be worse than none.
 *
 * - Outgoing: the key and the TTLs must be on the socket before the SYN, so
 *   the addon creates, binds and connects the socket in a worker thread and
 *   hands back the fd, which becomes a `net.Socket`.
 * - Incoming: the listening socket holds one key per peer address; the
 *   kernel copies it to the accepted socket. It also sends with TTL 255, so
 *   a GTSM peer that connects to us accepts our SYN-ACK; the minimum TTL is
 *   set per accepted socket (`setMinTtl`), as BIRD does, since the listener
 *   serves peers with different settings.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect as netConnect, Socket, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Connector, NeighborConfig } from './neighbor.js';

// ---------------------------------------------------------------------------
// The addon

interface Addon {
  connect(host: string, port: number, localAddress: string | null, password: string | null, ttlHops: number, timeoutMs: number): Promise<number>;
  setMd5(fd: number, peerAddress: string, password: string | null): void;
  setTtlSecurity(fd: number, hops: number): void;
  getTtl(fd: number): [ttl: number, minTtl: number];
}

/** Whether MD5/GTSM can be used, and if not, why (for logs and status). */
export type SocketOptionsStatus = { ok: true } | { ok: false; reason: string };

const ADDON_FILE = 'bgp_sockopt.node';

/** `<repo>/native/build/Release/bgp_sockopt.node`, found from this file (src/ or dist/src/). */
export function defaultAddonPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'native', 'build', 'Release', ADDON_FILE);
}

let addon: Addon | null = null;
let status: SocketOptionsStatus | null = null;

/**
 * Loads the addon from `path` (default: $CALICO_BGPD_SOCKOPT_ADDON, else
 * `defaultAddonPath()`), replacing any loaded before. Tests point it at a
 * missing file to check the degraded path.
 */
export function loadSocketOptions(path: string = process.env.CALICO_BGPD_SOCKOPT_ADDON ?? defaultAddonPath()): SocketOptionsStatus {
  addon = null;
  if (process.platform !== 'linux') {
    status = { ok: false, reason: `not supported on ${process.platform} (Linux only)` };
    return status;
  }
  if (!existsSync(path)) {
    status = { ok: false, reason: `native addon not built (${path} is missing; run scripts/build-native.sh)` };
    return status;
  }
  try {
    addon = createRequire(import.meta.url)(path) as Addon;
    status = { ok: true };
  } catch (e) {
    status = { ok: false, reason: `native addon ${path} failed to load: ${(e as Error).message}` };
  }
  return status;
}

/** Whether TCP-MD5 and GTSM are available (loads the addon on first use). */
export function socketOptionsAvailable(): SocketOptionsStatus {
  return status ?? loadSocketOptions();
}

function need(what: 'TCP-MD5' | 'GTSM'): Addon {
  const s = socketOptionsAvailable();
  if (!s.ok || addon === null) throw new Error(`${what} unavailable: ${s.ok ? 'native addon not loaded' : s.reason}`);
  return addon;
}

// ---------------------------------------------------------------------------
// Per-peer settings

/** What a peer asks of its transport. */
export interface TransportSecurity {
  /** TCP-MD5 key (at most 80 bytes); null or empty = none. */
  password?: string | null;
  /** GTSM: the peer is at most this many hops away (1-254); 0 = off. */
  ttlSecurity?: number;
}

const wantsMd5 = (s: TransportSecurity | undefined): s is TransportSecurity & { password: string } =>
  s?.password !== undefined && s.password !== null && s.password !== '';
const wantsGtsm = (s: TransportSecurity | undefined): boolean => (s?.ttlSecurity ?? 0) > 0;

/**
 * Why a peer with these settings cannot have a session here, or null when it
 * can. The text names the peer: `peer Mesh_10_0_0_2 (10.0.0.2): TCP-MD5
 * unavailable: native addon not built (...)`.
 */
export function transportProblem(peer: { name: string; address: string }, sec: TransportSecurity | undefined): string | null {
  if (!wantsMd5(sec) && !wantsGtsm(sec)) return null;
  const s = socketOptionsAvailable();
  if (s.ok) {
    if (wantsMd5(sec) && Buffer.byteLength(sec.password) > 80) return `peer ${peer.name} (${peer.address}): TCP-MD5 password is longer than 80 bytes`;
    const hops = sec?.ttlSecurity ?? 0;
    if (!Number.isInteger(hops) || hops < 0 || hops > 254) return `peer ${peer.name} (${peer.address}): ttlSecurity ${hops} is not 0-254`;
    return null;
  }
  return `peer ${peer.name} (${peer.address}): ${wantsMd5(sec) ? 'TCP-MD5' : 'GTSM'} unavailable: ${s.reason}`;
}

// ---------------------------------------------------------------------------
// Outgoing

export interface SecureConnectOptions extends TransportSecurity {
  host: string;
  port: number;
  localAddress?: string;
  /** Give up after this long (ETIMEDOUT). A wrong MD5 key looks like this. */
  timeoutMs?: number;
}

/**
 * Connects with the MD5 key and GTSM TTLs in place before the SYN. Without
 * either it is a plain `net.connect`. Rejects with "TCP-MD5 unavailable: …"
 * (or "GTSM unavailable: …") when the addon is missing.
 */
export async function connectWithOptions(o: SecureConnectOptions): Promise<Socket> {
  if (!wantsMd5(o) && !wantsGtsm(o)) {
    const socket = netConnect({ host: o.host, port: o.port, ...(o.localAddress !== undefined ? { localAddress: o.localAddress } : {}) });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(socket);
      });
    });
  }
  const a = need(wantsMd5(o) ? 'TCP-MD5' : 'GTSM');
  const fd = await a.connect(o.host, o.port, o.localAddress ?? null, wantsMd5(o) ? o.password : null, o.ttlSecurity ?? 0, o.timeoutMs ?? 30_000);
  const socket = new Socket({ fd, readable: true, writable: true });
  socket.setNoDelay(true);
  return socket;
}

/**
 * A `Connector` for `Neighbor`: plain `net.connect` (synchronous, as before)
 * for peers that need nothing, the addon (a Promise) for those that do. A
 * connect gives up after the connect-retry time, when the FSM starts another.
 */
export function secureConnector(security: (cfg: NeighborConfig) => TransportSecurity | undefined): Connector {
  return (cfg) => {
    const sec = security(cfg);
    if (!wantsMd5(sec) && !wantsGtsm(sec)) {
      return netConnect({ host: cfg.address, port: cfg.port, ...(cfg.localAddress !== undefined ? { localAddress: cfg.localAddress } : {}) });
    }
    const problem = transportProblem(cfg, sec);
    if (problem !== null) return Promise.reject(new Error(problem));
    return connectWithOptions({
      ...sec,
      host: cfg.address,
      port: cfg.port,
      ...(cfg.localAddress !== undefined ? { localAddress: cfg.localAddress } : {}),
      timeoutMs: Math.max(1, cfg.connectRetryTime) * 1000,
    });
  };
}

// ---------------------------------------------------------------------------
// Existing sockets

/** The OS file descriptor behind a listening server or a connected socket. */
function fdOf(x: Server | Socket, what: string): number {
  const fd = (x as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error(`${what}: the socket has no file descriptor (not listening/connected yet?)`);
  return fd;
}

/**
 * Installs (or with null, removes) the TCP-MD5 key for `address` on a
 * listening server. Connections from that address then must be signed with
 * it; the kernel drops their unsigned or wrongly signed segments. Throws
 * "TCP-MD5 unavailable: …" without the addon.
 */
export function setListenerPassword(server: Server, address: string, password: string | null): void {
  if (password === null || password === '') {
    // Nothing to remove if nothing could have been installed.
    if (!socketOptionsAvailable().ok) return;
    need('TCP-MD5').setMd5(fdOf(server, 'TCP-MD5'), address, null);
    return;
  }
  need('TCP-MD5').setMd5(fdOf(server, 'TCP-MD5'), address, password);
}

/**
 * Makes a listening server send with TTL 255 without filtering anything, so
 * a GTSM peer connecting to us accepts our SYN-ACK. Call it once when any
 * peer has ttlSecurity; `setMinTtl` on the accepted socket does the rest.
 */
export function setListenerTtl(server: Server): void {
  need('GTSM').setTtlSecurity(fdOf(server, 'GTSM'), 255);
}

/**
 * GTSM on a connected socket: send with TTL 255 and drop segments that
 * arrive with TTL below 256 - hops (IP_MINTTL / IPV6_MINHOPCOUNT). hops 0
 * turns it off.
 */
export function setMinTtl(socket: Socket, hops: number): void {
  if (!Number.isInteger(hops) || hops < 0 || hops > 254) throw new RangeError(`GTSM: hops ${hops} is not 0-254`);
  need('GTSM').setTtlSecurity(fdOf(socket, 'GTSM'), hops);
}

// ---------------------------------------------------------------------------
// A listener's share

/** A peer as the listener sees it. */
export interface ListenerPeer extends TransportSecurity {
  name: string;
  address: string;
}

/**
 * Keeps one listening server's MD5 keys and TTL in step with the peer set:
 * call `update` whenever peers change (keys are added, replaced and removed
 * in place, so a rotated password needs no restart) and `accepted` for each
 * incoming connection before handing it to the neighbor.
 */
export class ListenerSecurity {
  private readonly keys = new Map<string, string>();
  private ttlSet = false;

  constructor(private readonly server: Server) {}

  /** Applies the peers' settings; returns one line per peer that cannot have a session (log them). */
  update(peers: readonly ListenerPeer[]): string[] {
    const problems: string[] = [];
    const wanted = new Map<string, string>();
    for (const p of peers) {
      const problem = transportProblem(p, p);
      if (problem !== null) problems.push(problem);
      else if (wantsMd5(p)) wanted.set(p.address, p.password);
    }
    for (const address of this.keys.keys()) {
      if (wanted.has(address)) continue;
      try {
        setListenerPassword(this.server, address, null);
      } catch (e) {
        problems.push(`peer ${address}: removing its TCP-MD5 key failed: ${(e as Error).message}`);
      }
      this.keys.delete(address);
    }
    for (const [address, key] of wanted) {
      if (this.keys.get(address) === key) continue;
      try {
        setListenerPassword(this.server, address, key);
        this.keys.set(address, key);
      } catch (e) {
        problems.push(`peer ${address}: TCP-MD5 key not installed: ${(e as Error).message}`);
      }
    }
    if (!this.ttlSet && peers.some((p) => wantsGtsm(p) && transportProblem(p, p) === null)) {
      try {
        setListenerTtl(this.server);
        this.ttlSet = true;
      } catch (e) {
        problems.push(`GTSM: listener TTL not set: ${(e as Error).message}`);
      }
    }
    return problems;
  }

  /**
   * An incoming connection from `peer`: applies its GTSM minimum TTL.
   * Returns why it must be refused (close it and log), or null. Without the
   * addon, a peer that wants MD5 or GTSM is refused here, so it never gets
   * an unprotected session even if it connects without them.
   */
  accepted(socket: Socket, peer: ListenerPeer): string | null {
    const problem = transportProblem(peer, peer);
    if (problem !== null) return problem;
    if (wantsMd5(peer) && this.keys.get(peer.address) !== peer.password) return `peer ${peer.name} (${peer.address}): TCP-MD5 key not installed on the listener`;
    if (wantsGtsm(peer)) {
      try {
        setMinTtl(socket, peer.ttlSecurity!);
      } catch (e) {
        return `peer ${peer.name} (${peer.address}): ${(e as Error).message}`;
      }
    }
    return null;
  }
}

/** The socket's [TTL sent, minimum TTL accepted], for status and tests. */
export function getTtl(x: Socket | Server): [ttl: number, minTtl: number] {
  return need('GTSM').getTtl(fdOf(x, 'GTSM'));
}
