/**
 * A real etcd server for tests: free loopback ports, a temp data dir,
 * kill -9 / restart on the same ports and data, compaction through the
 * etcd3 client. `stop()` kills the process and removes the data dir; call
 * it from `after()` / `finally` so nothing is left behind on failure.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
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

/** PEM files of a throwaway CA, a server cert for 127.0.0.1 and a client cert. */
export interface TestCerts {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** Makes TestCerts with the openssl CLI in a new temp dir (remove `dir` when done). */
export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'bgpd-certs-'));
  const f = (n: string) => join(dir, n);
  const ossl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=bgpd-test-ca');
  writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  for (const who of ['server', 'client']) {
    ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${who}.key`), '-out', f(`${who}.csr`), '-subj', `/CN=${who === 'server' ? 'localhost' : 'calico-bgpd'}`);
    ossl('x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${who}.pem`), '-days', '2', '-extfile', f('ext.cnf'));
  }
  return { dir, ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') };
}

export interface EtcdServerOptions {
  /** Serve clients over TLS and require a client certificate signed by the CA. */
  tls?: TestCerts;
  /** Cluster membership (EtcdCluster sets these). */
  name?: string;
  initialCluster?: string;
  clientPort?: number;
  peerPort?: number;
}

export class EtcdServer {
  private proc: ChildProcess | undefined;
  private stderr = '';
  readonly endpoint: string;
  private constructor(
    readonly clientPort: number,
    readonly peerPort: number,
    readonly dataDir: string,
    private readonly opts: EtcdServerOptions,
  ) {
    this.endpoint = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`;
  }

  /** Starts etcd and waits until it answers. */
  static async start(opts: EtcdServerOptions = {}): Promise<EtcdServer> {
    const s = await EtcdServer.create(opts);
    try {
      await s.launch();
    } catch (err) {
      await s.stop();
      throw err;
    }
    return s;
  }

  /** Allocates ports and a data dir without launching. */
  static async create(opts: EtcdServerOptions = {}): Promise<EtcdServer> {
    const dataDir = mkdtempSync(join(tmpdir(), 'bgpd-etcd-'));
    return new EtcdServer(opts.clientPort ?? (await freePort()), opts.peerPort ?? (await freePort()), dataDir, opts);
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** A client for the test's own writes (close it when done). */
  client(auth?: { username: string; password: string }): Etcd3 {
    const t = this.opts.tls;
    return new Etcd3({
      hosts: this.endpoint,
      dialTimeout: 2000,
      ...(t ? { credentials: { rootCertificate: readFileSync(t.ca), certChain: readFileSync(t.clientCert), privateKey: readFileSync(t.clientKey) } } : {}),
      ...(auth ? { auth } : {}),
    });
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

  /** GET /health (over TLS with the client cert when TLS is on). */
  private healthy(): Promise<boolean> {
    const t = this.opts.tls;
    if (!t) {
      return fetch(`${this.endpoint}/health`, { signal: AbortSignal.timeout(1000) })
        .then(async (res) => res.ok && ((await res.json()) as { health?: string }).health === 'true')
        .catch(() => false);
    }
    return new Promise((resolve) => {
      const req = httpsRequest(
        `${this.endpoint}/health`,
        { ca: readFileSync(t.ca), cert: readFileSync(t.clientCert), key: readFileSync(t.clientKey), servername: 'localhost', timeout: 1000 },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve(res.statusCode === 200 && body.includes('"true"')));
        },
      );
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
      req.end();
    });
  }

  /** Starts the process and waits for /health (public for EtcdCluster). */
  async launch(): Promise<void> {
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const name = this.opts.name ?? 'test';
    const args = [
      '--name', name,
      '--data-dir', this.dataDir,
      '--listen-client-urls', this.endpoint,
      '--advertise-client-urls', this.endpoint,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', this.opts.initialCluster ?? `${name}=${peer}`,
      // Fast elections so leader-loss tests take seconds (defaults: 100/1000).
      '--heartbeat-interval', '50',
      '--election-timeout', '500',
      '--log-level', 'error',
      '--logger', 'zap',
      // Small machine, shared: keep etcd's own timers lazy.
      '--snapshot-count', '100000',
    ];
    const t = this.opts.tls;
    if (t) args.push('--cert-file', t.serverCert, '--key-file', t.serverKey, '--trusted-ca-file', t.ca, '--client-cert-auth');
    this.stderr = '';
    const p = spawn(ETCD_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.proc = p;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`etcd exited early: ${this.stderr}`);
      if (await this.healthy()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`etcd did not become healthy: ${this.stderr}`);
  }
}

/** Several etcd members on loopback forming one cluster. */
export class EtcdCluster {
  private constructor(readonly members: EtcdServer[]) {}

  static async start(size: number): Promise<EtcdCluster> {
    const ports = [];
    for (let i = 0; i < size; i++) ports.push({ client: await freePort(), peer: await freePort() });
    const initialCluster = ports.map((p, i) => `m${i}=http://127.0.0.1:${p.peer}`).join(',');
    const members: EtcdServer[] = [];
    for (let i = 0; i < size; i++) {
      members.push(await EtcdServer.create({ name: `m${i}`, initialCluster, clientPort: ports[i]!.client, peerPort: ports[i]!.peer }));
    }
    const c = new EtcdCluster(members);
    try {
      // A member is healthy only once a quorum is up: launch all together.
      await Promise.all(members.map((m) => m.launch()));
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.stop()));
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
