/**
 * A real etcd server for tests: free loopback ports, a temp data dir,
 * kill -9 / restart on the same ports and data, compaction through the
 * etcd3 client. `stop()` kills the process and removes the data dir; call
 * it from `after()` / `finally` so nothing is left behind on failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';

const ETCD_BIN = process.env.ETCD_BIN ?? '/usr/bin/etcd';

/** A port the kernel just gave us on 127.0.0.1 (closed again before returning). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export class EtcdServer {
  private proc: ChildProcess | undefined;
  private stderr = '';
  readonly endpoint: string;
  private constructor(
    readonly clientPort: number,
    readonly peerPort: number,
    readonly dataDir: string,
  ) {
    this.endpoint = `http://127.0.0.1:${clientPort}`;
  }

  /** Starts etcd and waits until it answers. */
  static async start(): Promise<EtcdServer> {
    const dataDir = mkdtempSync(join(tmpdir(), 'bgpd-etcd-'));
    const s = new EtcdServer(await freePort(), await freePort(), dataDir);
    try {
      await s.launch();
    } catch (err) {
      await s.stop();
      throw err;
    }
    return s;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** A client for the test's own writes (close it when done). */
  client(): Etcd3 {
    return new Etcd3({ hosts: this.endpoint, dialTimeout: 2000 });
  }

  /** SIGKILL, no clean shutdown; resolves once the process is gone. */
  async kill9(): Promise<void> {
    const p = this.proc;
    if (p === undefined || !this.running) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await gone;
    this.proc = undefined;
  }

  /** Starts it again on the same ports and data dir. */
  async restart(): Promise<void> {
    await this.kill9();
    await this.launch();
  }

  /** Compacts history up to `revision` (default: the current one). Returns the revision used. */
  async compact(revision?: number): Promise<number> {
    const c = this.client();
    try {
      let rev = revision;
      if (rev === undefined) {
        const res = await c.kv.range({ key: Buffer.from('\0') });
        rev = Number(res.header.revision);
      }
      await c.kv.compact({ revision: rev, physical: true });
      return rev;
    } finally {
      c.close();
    }
  }

  async stop(): Promise<void> {
    await this.kill9();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  private async launch(): Promise<void> {
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const args = [
      '--name', 'test',
      '--data-dir', this.dataDir,
      '--listen-client-urls', this.endpoint,
      '--advertise-client-urls', this.endpoint,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `test=${peer}`,
      '--log-level', 'error',
      '--logger', 'zap',
      // Small machine, shared: keep etcd's own timers lazy.
      '--snapshot-count', '100000',
    ];
    this.stderr = '';
    const p = spawn(ETCD_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.proc = p;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`etcd exited early: ${this.stderr}`);
      try {
        const res = await fetch(`${this.endpoint}/health`, { signal: AbortSignal.timeout(1000) });
        if (res.ok) {
          const body = (await res.json()) as { health?: string };
          if (body.health === 'true') return;
        }
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`etcd did not become healthy: ${this.stderr}`);
  }
}

/** Polls `cond` every 10 ms until true or `ms` passes (then throws with `what`). */
export async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
