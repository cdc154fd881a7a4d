/**
 * Real BGP daemons for benchmarks, each started with a private config, a
 * private control socket / API port and log in its own temp dir, listening
 * on a loopback address and a free port, with one passive iBGP neighbor (the
 * benchmark's sender). Nothing is installed into the kernel.
 *
 *   BIRD 1.6   bird / bird6 -f, birdc -s SOCK
 *   GoBGP      gobgpd --api-hosts 127.0.0.1:PORT, gobgp -p PORT
 *   FRR        /usr/lib/frr/bgpd -Z (no zebra), vtysh --vty_socket DIR
 *
 * `count()` asks the daemon's own CLI how many prefixes of the family its
 * RIB holds from the sender.
 */
import { existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { alive, freePort, run, runAll, sleep, start, stop, tempDir } from './lab.js';

export type Family = 'ipv4' | 'ipv6';

export const PEER_AS = 65000;

export interface Peer {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** The address the sender must connect from (the configured neighbor). */
  readonly senderAddress: string;
  /** Prefixes of the family the daemon's RIB holds from the sender. */
  count(): Promise<number>;
  /** Last lines of the daemon's log, for error messages. */
  logTail(): string;
  stop(): Promise<void>;
}

export interface PeerKind {
  id: 'bird' | 'gobgp' | 'frr';
  /** undefined when usable, else why not. */
  missing(): string | undefined;
  version(): Promise<string>;
  start(family: Family): Promise<Peer>;
}

/** Loopback addresses: the daemon listens on `daemon`, the sender binds `sender`. */
function addresses(family: Family, index: number): { daemon: string; sender: string } {
  // IPv4: a pair per daemon kind in 127.0.0.0/8 (every address there is
  // local on Linux). IPv6: only ::1 is on lo without touching the host's
  // interfaces, so both ends use it and the ports tell them apart.
  return family === 'ipv4' ? { daemon: `127.0.0.${10 * index + 1}`, sender: `127.0.0.${10 * index + 2}` } : { daemon: '::1', sender: '::1' };
}

function tail(file: string, lines = 5): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

abstract class BasePeer implements Peer {
  abstract readonly name: string;
  constructor(
    readonly host: string,
    readonly port: number,
    readonly senderAddress: string,
    protected readonly proc: ChildProcess,
    protected readonly logFile: string,
  ) {}
  abstract count(): Promise<number>;
  logTail(): string {
    return tail(this.logFile);
  }
  async stop(): Promise<void> {
    await stop(this.proc);
  }
}

/** Waits (bounded) until `ready()` holds; fails at once if the process exits. Stops it on failure. */
async function ensureAlive(proc: ChildProcess, what: string, logFile: string, ready: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    if (!alive(proc)) throw new Error(`${what}: exited (${proc.exitCode ?? proc.signalCode}); log: ${tail(logFile)}`);
    try {
      if (await ready()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() >= deadline) {
      await stop(proc);
      throw new Error(`${what}: not ready after ${timeoutMs} ms (${last}); log: ${tail(logFile)}`);
    }
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------
// BIRD 1.6: bird for IPv4, bird6 for IPv6 (one daemon per family in 1.x)
// ---------------------------------------------------------------------------

class BirdPeer extends BasePeer {
  constructor(
    readonly name: string,
    host: string,
    port: number,
    sender: string,
    proc: ChildProcess,
    logFile: string,
    private readonly birdc: string,
    private readonly sock: string,
  ) {
    super(host, port, sender, proc, logFile);
  }
  async count(): Promise<number> {
    const out = await run(this.birdc, ['-s', this.sock, 'show protocols all feed'], 10_000);
    // "  Routes:         500000 imported, 0 exported, 500000 preferred"
    const m = /Routes:\s+(\d+) imported/.exec(out);
    return m ? Number(m[1]) : 0;
  }
}

export const bird: PeerKind = {
  id: 'bird',
  missing: () =>
    ['/usr/sbin/bird', '/usr/sbin/bird6', '/usr/sbin/birdc', '/usr/sbin/birdc6'].some((f) => !existsSync(f)) ? 'bird/bird6/birdc/birdc6 not installed in /usr/sbin' : undefined,
  async version() {
    const out = await runAll('/usr/sbin/bird', ['--version']);
    return /BIRD version (\S+)/.exec(out)?.[1] ?? '?';
  },
  async start(family) {
    const dir = tempDir('bench-bird-');
    const { daemon, sender } = addresses(family, 1);
    const port = await freePort(daemon);
    const conf = join(dir, 'bird.conf');
    const sock = join(dir, 'bird.ctl');
    const log = join(dir, 'bird.log');
    writeFileSync(
      conf,
      `router id 10.255.0.1;
listen bgp address ${daemon} port ${port};
log "${log}" { warning, error, fatal, bug };
protocol device { scan time 600; }
protocol bgp feed {
  local ${daemon} as ${PEER_AS};
  neighbor ${sender} as ${PEER_AS};
  passive on;
  multihop;
  hold time 180;
  import all;
  export none;
}
`,
    );
    const bin = family === 'ipv4' ? '/usr/sbin/bird' : '/usr/sbin/bird6';
    const proc = start(bin, ['-f', '-c', conf, '-s', sock, '-P', join(dir, 'bird.pid')], log);
    const birdc = family === 'ipv4' ? '/usr/sbin/birdc' : '/usr/sbin/birdc6';
    await ensureAlive(proc, `${bin} control socket`, log, async () => /feed/.test(await run(birdc, ['-s', sock, 'show protocols'], 3000)));
    return new BirdPeer(`BIRD ${family === 'ipv4' ? 'bird' : 'bird6'}`, daemon, port, sender, proc, log, birdc, sock);
  },
};

// ---------------------------------------------------------------------------
// GoBGP
// ---------------------------------------------------------------------------

class GobgpPeer extends BasePeer {
  readonly name = 'GoBGP';
  constructor(
    host: string,
    port: number,
    sender: string,
    proc: ChildProcess,
    logFile: string,
    private readonly apiPort: number,
    private readonly family: Family,
  ) {
    super(host, port, sender, proc, logFile);
  }
  async count(): Promise<number> {
    const out = await run('gobgp', ['-u', '127.0.0.1', '-p', String(this.apiPort), 'global', 'rib', 'summary', '-a', this.family], 10_000);
    // "Table ipv4-unicast\nDestination: 500000, Path: 500000"
    const m = /Path:\s*(\d+)/.exec(out);
    return m ? Number(m[1]) : 0;
  }
}

export const gobgp: PeerKind = {
  id: 'gobgp',
  missing: () => (runAllSyncExists('gobgpd') && runAllSyncExists('gobgp') ? undefined : 'gobgpd/gobgp not on PATH'),
  async version() {
    const out = await runAll('gobgpd', ['--version']);
    return /version\s+(\S+)/i.exec(out)?.[1] ?? out.trim().split('\n')[0] ?? '?';
  },
  async start(family) {
    const dir = tempDir('bench-gobgp-');
    const { daemon, sender } = addresses(family, 2);
    const port = await freePort(daemon);
    const apiPort = await freePort('127.0.0.1');
    const conf = join(dir, 'gobgpd.toml');
    const log = join(dir, 'gobgpd.log');
    writeFileSync(
      conf,
      `[global.config]
  as = ${PEER_AS}
  router-id = "10.255.0.2"
  port = ${port}
  local-address-list = ["${daemon}"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "${sender}"
    peer-as = ${PEER_AS}
  [neighbors.transport.config]
    passive-mode = true
    local-address = "${daemon}"
  [neighbors.timers.config]
    hold-time = 180
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
`,
    );
    const proc = start('gobgpd', ['-f', conf, '-t', 'toml', '--api-hosts', `127.0.0.1:${apiPort}`, '--pprof-disable', '-l', 'warn', '-p'], log);
    await ensureAlive(proc, 'gobgpd API', log, async () => /neighbor|Peer/i.test(await runAll('gobgp', ['-u', '127.0.0.1', '-p', String(apiPort), 'neighbor'], 3000)));
    return new GobgpPeer(daemon, port, sender, proc, log, apiPort, family);
  },
};

function runAllSyncExists(cmd: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, cmd)));
}

// ---------------------------------------------------------------------------
// FRR bgpd, standalone: no zebra (-Z), no kernel (-n), no TCP vty (-P 0)
// ---------------------------------------------------------------------------

const FRR_BGPD = '/usr/lib/frr/bgpd';

class FrrPeer extends BasePeer {
  readonly name = 'FRR bgpd';
  constructor(
    host: string,
    port: number,
    sender: string,
    proc: ChildProcess,
    logFile: string,
    private readonly vtyDir: string,
    private readonly family: Family,
  ) {
    super(host, port, sender, proc, logFile);
  }
  async count(): Promise<number> {
    const out = await run('vtysh', ['--vty_socket', this.vtyDir, '-d', 'bgpd', '-c', `show bgp ${this.family} unicast summary json`], 10_000);
    const j = JSON.parse(out) as { peers?: Record<string, { pfxRcd?: number }> };
    return j.peers?.[this.senderAddress]?.pfxRcd ?? 0;
  }
}

export const frr: PeerKind = {
  id: 'frr',
  missing: () => (existsSync(FRR_BGPD) && runAllSyncExists('vtysh') ? undefined : `${FRR_BGPD} or vtysh not installed`),
  async version() {
    const out = await runAll(FRR_BGPD, ['--version']);
    return /version (\S+)/.exec(out)?.[1] ?? '?';
  },
  async start(family) {
    const dir = tempDir('bench-frr-');
    // bgpd drops privileges to user frr unless told otherwise; -S keeps it
    // as the invoking user, so the temp dir needs no ownership changes.
    chmodSync(dir, 0o755);
    const { daemon, sender } = addresses(family, 3);
    const port = await freePort(daemon);
    const conf = join(dir, 'bgpd.conf');
    const log = join(dir, 'bgpd.log');
    const afi = family === 'ipv4' ? 'ipv4' : 'ipv6';
    writeFileSync(
      conf,
      `hostname bench-bgpd
router bgp ${PEER_AS}
 bgp router-id 10.255.0.3
 no bgp default ipv4-unicast
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor ${sender} remote-as ${PEER_AS}
 neighbor ${sender} passive
 neighbor ${sender} timers 60 180
 address-family ${afi} unicast
  neighbor ${sender} activate
 exit-address-family
`,
    );
    const proc = start(
      FRR_BGPD,
      ['-f', conf, '-i', join(dir, 'bgpd.pid'), '--vty_socket', dir, '-Z', '-n', '-P', '0', '-p', String(port), '-l', daemon, '-S', '--log', `file:${log}`],
      join(dir, 'bgpd.out'),
    );
    await ensureAlive(proc, 'FRR bgpd vty', join(dir, 'bgpd.out'), async () =>
      /Established|Active|Idle|Connect/.test(await run('vtysh', ['--vty_socket', dir, '-d', 'bgpd', '-c', 'show bgp summary'], 3000)) || existsSync(join(dir, 'bgpd.vty')),
    );
    return new FrrPeer(daemon, port, sender, proc, log, dir, family);
  },
};

export const PEER_KINDS: readonly PeerKind[] = [bird, gobgp, frr];
