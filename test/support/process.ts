/**
 * Child processes and polling for tests against real daemons: every process
 * is killed and every temp dir removed when the test ends, pass or fail.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';

export interface Cleanup {
  add(fn: () => void | Promise<void>): void;
  run(): Promise<void>;
}

/** A LIFO list of clean-up steps; run it in `after`/`finally`. */
export function cleanup(): Cleanup {
  const steps: (() => void | Promise<void>)[] = [];
  return {
    add: (fn) => void steps.push(fn),
    async run() {
      while (steps.length > 0) {
        const fn = steps.pop()!;
        try {
          await fn();
        } catch {
          // Keep cleaning up the rest.
        }
      }
    },
  };
}

export function tempDir(c: Cleanup, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  c.add(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts a process whose output goes to `logFile`-less pipes kept in memory (last 64 KB). */
export function startProcess(c: Cleanup, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): { child: ChildProcess; output: () => string } {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (b: Buffer): void => {
    out = (out + b.toString('utf8')).slice(-65536);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  c.add(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
        setTimeout(resolve, 2000).unref();
      }),
  );
  return { child, output: () => out };
}

/** Runs a command to completion (bounded) and returns stdout. */
export function run(cmd: string, args: string[], timeoutMs = 15_000): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs });
  return { stdout: r.stdout ?? '', stderr: r.stderr ?? '', status: r.status };
}

/** Polls `check` every `intervalMs` until it returns a value (not undefined/false) or `timeoutMs` passes. */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last !== undefined ? ` (last error: ${String(last)})` : ''}`);
}

/** A TCP port free on the given address right now. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Can something listen on host:port right now? */
function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/**
 * A port free on every one of `hosts` and not in `avoid`: for a process
 * listening on several addresses (IPv4 and ::1) beside others that chose
 * their ports on one address each. `freePort` checks one address only, so
 * two calls for different addresses can return the same number.
 */
export async function freePortOn(hosts: readonly string[], avoid: readonly number[] = []): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freePort(hosts[0]);
    if (avoid.includes(port)) continue;
    let free = true;
    for (const h of hosts.slice(1)) free &&= await canListen(h, port);
    if (free) return port;
  }
  throw new Error(`no port free on ${hosts.join(', ')} after 50 attempts`);
}

/** True when `cmd` is an executable name found on $PATH (what `command -v` answers, without a shell). */
export function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, cmd)));
}
