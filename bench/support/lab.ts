/**
 * Bookkeeping for benchmark labs: temp dirs and child processes that must go
 * away whatever happens (normal end, exception, Ctrl-C, SIGTERM). Processes
 * are stopped by their own pid (SIGTERM, then SIGKILL after a grace period),
 * never by name. Every wait here is bounded.
 */
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const procs = new Set<ChildProcess>();
const dirs = new Set<string>();
let hooked = false;
let stopping = false;

function hook(): void {
  if (hooked) return;
  hooked = true;
  // Last resort when the process exits without running cleanup(): nothing
  // asynchronous is possible here, so SIGKILL and synchronous removal.
  process.on('exit', () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null && p.pid !== undefined) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\n${sig}: cleaning up\n`);
    stopping = true;
    void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

/** A new temp dir, removed by cleanup(). */
export function tempDir(prefix: string): string {
  hook();
  if (stopping) throw new Error('interrupted');
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(d);
  return d;
}

/** Spawns a tracked process; stdout and stderr go to `logFile`. */
export function start(cmd: string, args: string[], logFile: string, opts: SpawnOptions = {}): ChildProcess {
  hook();
  if (stopping) throw new Error('interrupted');
  const fd = openSync(logFile, 'a');
  try {
    const p = spawn(cmd, args, { ...opts, stdio: ['ignore', fd, fd] });
    procs.add(p);
    p.on('error', () => {}); // reported through exitCode / the caller's readiness wait
    p.once('exit', () => procs.delete(p));
    return p;
  } finally {
    closeSync(fd);
  }
}

/** Whether a tracked process is still running. */
export function alive(p: ChildProcess): boolean {
  return p.exitCode === null && p.signalCode === null;
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL and wait (bounded). */
export async function stop(p: ChildProcess, graceMs = 3000): Promise<void> {
  if (!alive(p) || p.pid === undefined) {
    procs.delete(p);
    return;
  }
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  const within = (ms: number) => Promise.race([exited.then(() => true), sleep(ms).then(() => false)]);
  p.kill('SIGTERM');
  if (!(await within(graceMs))) {
    p.kill('SIGKILL');
    await within(2000);
  }
  procs.delete(p);
}

/** The last `lines` lines of a daemon's log file, for error messages. */
export function logTail(file: string, lines = 5): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Waits (bounded) until `ready()` holds, polling every `intervalMs`; fails at
 * once if the process exits. Stops the process on failure. Errors name
 * `what` and end with the tail of `logFile`.
 */
export async function waitReady(proc: ChildProcess, what: string, logFile: string, ready: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    if (!alive(proc)) throw new Error(`${what}: exited (${proc.exitCode ?? proc.signalCode}); log: ${logTail(logFile)}`);
    try {
      if (await ready()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() >= deadline) {
      await stop(proc);
      throw new Error(`${what}: not ready after ${timeoutMs} ms (${last}); log: ${logTail(logFile)}`);
    }
    await sleep(intervalMs);
  }
}

/** Stops every tracked process and removes every temp dir. */
export async function cleanup(): Promise<void> {
  await Promise.all([...procs].map((p) => stop(p)));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs a command with a timeout; resolves with stdout (rejects on failure). */
export function run(cmd: string, args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message.trim()} ${String(stderr).trim()}`));
      else resolve(String(stdout));
    });
  });
}

/** Like run(), but resolves with stdout + stderr and never rejects on exit status. */
export function runAll(cmd: string, args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (_err, stdout, stderr) => resolve(`${String(stdout)}${String(stderr)}`));
  });
}

/** A TCP port the kernel just gave us on `host` (closed again before returning). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
