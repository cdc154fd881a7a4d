/**
 * Stage directories (`.calico-bgpd-stage-<pid>-XXXXXX`, see writer.ts) live
 * next to the files they replace, so that the final rename is atomic. A
 * confd killed mid-batch (SIGKILL, OOM) leaves its stage behind; nothing else
 * would ever remove it. At start we remove the stages of processes that are
 * gone: those named with a PID that no longer runs (or with our own PID but
 * not open in this process: an earlier life under the same PID), and those
 * of the older naming without a PID (written before this sweep existed).
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.js';

/** Prefix of every stage directory; the writer appends `<pid>-` and mkdtemp's suffix. */
export const STAGE_PREFIX = '.calico-bgpd-stage-';

/**
 * Stage directories this process has open right now (the writer adds and
 * removes them). A stage named with our own PID that is not in here is from
 * an earlier process that had the same PID: in a container confd is PID 1
 * on every restart, so "our PID" alone does not mean "ours".
 */
export const openStages = new Set<string>();

/** The stage prefix for this process. */
export function stagePrefix(pid = process.pid): string {
  return `${STAGE_PREFIX}${pid}-`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but is not ours to signal; still alive.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The PID in a stage directory's name, or null for the older naming without one. */
export function stageOwner(name: string): number | null {
  const m = /^\.calico-bgpd-stage-(\d+)-/.exec(name);
  return m ? Number(m[1]) : null;
}

/**
 * Removes stale stage directories in `dirs`; returns the paths removed. A
 * directory that cannot be read (it does not exist yet) is skipped.
 */
export function sweepStaleStages(dirs: Iterable<string>, log?: Logger): string[] {
  const removed: string[] = [];
  for (const dir of new Set(dirs)) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!name.startsWith(STAGE_PREFIX)) continue;
      const owner = stageOwner(name);
      const path = join(dir, name);
      if (owner !== null && (owner === process.pid ? openStages.has(path) : alive(owner))) continue;
      try {
        rmSync(path, { recursive: true, force: true });
        removed.push(path);
      } catch (err) {
        log?.warn({ err, path }, 'could not remove a stale stage directory');
      }
    }
  }
  if (removed.length > 0) log?.info({ removed }, `removed ${removed.length} stale stage director${removed.length === 1 ? 'y' : 'ies'} left by an earlier run`);
  return removed;
}
