/**
 * Samples a running `calico-bgpd speaker`: RSS, fds and sockets from /proc,
 * heap and live handles from the `debug` field of its control socket's
 * `status`, and how many of its peers are Established.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { ask } from '../../src/control/client.js';
import type { ProcessDebug } from '../../src/control/debug.js';
import type { Sample } from './trend.js';

export interface SpeakerStatus {
  peers: { name: string; state: string; since: string; info: string }[];
  debug?: ProcessDebug;
}

/** Open fds of a process and how many of them are sockets. */
export function fdCounts(pid: number): { fds: number; sockets: number } {
  let fds = 0;
  let sockets = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    fds++;
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
    } catch {
      // closed between readdir and readlink
    }
  }
  return { fds, sockets };
}

/** VmRSS of a process in MB, from /proc (no help from the process itself). */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]) / 1024;
}

/** The speaker's status over its control socket, or undefined when it does not answer. */
export async function speakerStatus(socket: string, timeoutMs = 10_000): Promise<SpeakerStatus | undefined> {
  try {
    return await ask<SpeakerStatus>(socket, { cmd: 'status' }, timeoutMs);
  } catch {
    return undefined;
  }
}

/** One sample; undefined fields of a status that did not come are NaN. */
export async function sample(pid: number, socket: string, t: number): Promise<Sample> {
  const st = await speakerStatus(socket);
  const { fds, sockets } = fdCounts(pid);
  const res = st?.debug?.activeResources ?? {};
  return {
    t,
    rssMb: rssMb(pid),
    heapMb: st?.debug !== undefined ? st.debug.heapUsedBytes / 1048576 : NaN,
    fds,
    sockets,
    handles: st?.debug !== undefined ? Object.values(res).reduce((a, n) => a + n, 0) : NaN,
    timers: res.Timeout ?? 0,
    established: st?.peers.filter((p) => p.state === 'Established').length ?? 0,
    peers: st?.peers.length ?? 0,
  };
}
