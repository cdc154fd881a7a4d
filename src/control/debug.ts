/**
 * Process figures for the control socket's `status` (field `debug`): what a
 * soak test samples to find leaks that /proc does not show (heap, active
 * timers and handles by kind).
 */

/** One sample of this process's memory and its live libuv resources. */
export interface ProcessDebug {
  pid: number;
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  /** Live resources by kind ("Timeout", "TCPSocketWrap", "FSReqCallback", ...), from process.getActiveResourcesInfo(). */
  activeResources: Record<string, number>;
}

/** Samples the running process. Cheap enough to answer on every `status`. */
export function processDebug(): ProcessDebug {
  const mem = process.memoryUsage();
  const activeResources: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) activeResources[kind] = (activeResources[kind] ?? 0) + 1;
  return { pid: process.pid, rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, heapTotalBytes: mem.heapTotal, externalBytes: mem.external, activeResources };
}
