/**
 * Real BGP daemons for benchmarks, each started with a private config, a
 * private control socket / API port and log in its own temp dir, listening
 * on a loopback address and a free port, with one passive iBGP neighbor (the
 * benchmark's sender). Nothing is installed into the kernel.
 *
 *   BIRD 1.6   bird / bird6 -f, birdc -s SOCK
 *   GoBGP      gobgpd --api-hosts 127.0.0.1:PORT, gobgp -p PORT
 *   FRR        /usr/lib/frr/bgpd -Z (no zebra), vtysh --vty_socket DIR
 *   calico     our `speaker --role reflector` (file datastore), its control socket
 *
 * `count()` asks the daemon's own CLI how many prefixes of the family its
 * RIB holds from the sender.
 */
import { existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ask } from '../../src/control/client.js';
import { DAEMON_NODE_FLAGS } from '../../src/runtime-flags.js';
import type { ChildProcess } from 'node:child_process';
import { birdConfig } from '../../test/support/daemons/bird.js';
import { frrConfig } from '../../test/support/daemons/frr.js';
import { gobgpConfig } from '../../test/support/daemons/gobgp.js';
import { onPath } from '../../test/support/process.js';
import { freePort, logTail, run, runAll, start, stop, tempDir, waitReady } from './lab.js';

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
  id: 'calico' | 'bird' | 'gobgp' | 'frr';
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

/** A started daemon; `count` asks its CLI. */
class RunningPeer implements Peer {
  constructor(
    readonly name: string,
    readonly host: string,
    readonly port: number,
    readonly senderAddress: string,
    private readonly proc: ChildProcess,
    private readonly logFile: string,
    readonly count: () => Promise<number>,
  ) {}
  logTail(): string {
    return logTail(this.logFile);
  }
  async stop(): Promise<void> {
    await stop(this.proc);
  }
}

/** Waits (20 s) until `ready()` holds; fails at once if the process exits. Stops it on failure. */
const ensureAlive = (proc: ChildProcess, what: string, logFile: string, ready: () => Promise<boolean> | boolean): Promise<void> => waitReady(proc, what, logFile, ready, 20_000, 100);

/** The one passive iBGP neighbor every daemon has: the sender, hold time 180 s. */
const feed = (sender: string) => ({ name: 'feed', address: sender, peerAs: PEER_AS, passive: true, holdTime: 180 });

// ---------------------------------------------------------------------------
// BIRD 1.6: bird for IPv4, bird6 for IPv6 (one daemon per family in 1.x)
// ---------------------------------------------------------------------------

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
    writeFileSync(conf, birdConfig({ as: PEER_AS, routerId: '10.255.0.1', address: daemon, port, neighbors: [feed(sender)], logFile: log, scanTime: 600 }));
    const bin = family === 'ipv4' ? '/usr/sbin/bird' : '/usr/sbin/bird6';
    const proc = start(bin, ['-f', '-c', conf, '-s', sock, '-P', join(dir, 'bird.pid')], log);
    const birdc = family === 'ipv4' ? '/usr/sbin/birdc' : '/usr/sbin/birdc6';
    await ensureAlive(proc, `${bin} control socket`, log, async () => /feed/.test(await run(birdc, ['-s', sock, 'show protocols'], 3000)));
    const count = async (): Promise<number> => {
      const out = await run(birdc, ['-s', sock, 'show protocols all feed'], 10_000);
      // "  Routes:         500000 imported, 0 exported, 500000 preferred"
      const m = /Routes:\s+(\d+) imported/.exec(out);
      return m ? Number(m[1]) : 0;
    };
    return new RunningPeer(`BIRD ${family === 'ipv4' ? 'bird' : 'bird6'}`, daemon, port, sender, proc, log, count);
  },
};

// ---------------------------------------------------------------------------
// GoBGP
// ---------------------------------------------------------------------------

export const gobgp: PeerKind = {
  id: 'gobgp',
  missing: () => (onPath('gobgpd') && onPath('gobgp') ? undefined : 'gobgpd/gobgp not on PATH'),
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
    writeFileSync(conf, gobgpConfig({ as: PEER_AS, routerId: '10.255.0.2', address: daemon, port, neighbors: [feed(sender)] }));
    const proc = start('gobgpd', ['-f', conf, '-t', 'toml', '--api-hosts', `127.0.0.1:${apiPort}`, '--pprof-disable', '-l', 'warn', '-p'], log);
    await ensureAlive(proc, 'gobgpd API', log, async () => /neighbor|Peer/i.test(await runAll('gobgp', ['-u', '127.0.0.1', '-p', String(apiPort), 'neighbor'], 3000)));
    const count = async (): Promise<number> => {
      const out = await run('gobgp', ['-u', '127.0.0.1', '-p', String(apiPort), 'global', 'rib', 'summary', '-a', family], 10_000);
      // "Table ipv4-unicast\nDestination: 500000, Path: 500000"
      const m = /Path:\s*(\d+)/.exec(out);
      return m ? Number(m[1]) : 0;
    };
    return new RunningPeer('GoBGP', daemon, port, sender, proc, log, count);
  },
};

// ---------------------------------------------------------------------------
// FRR bgpd, standalone: no zebra (-Z), no kernel (-n), no TCP vty (-P 0)
// ---------------------------------------------------------------------------

const FRR_BGPD = '/usr/lib/frr/bgpd';

export const frr: PeerKind = {
  id: 'frr',
  missing: () => (existsSync(FRR_BGPD) && onPath('vtysh') ? undefined : `${FRR_BGPD} or vtysh not installed`),
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
    writeFileSync(conf, frrConfig({ as: PEER_AS, routerId: '10.255.0.3', address: daemon, neighbors: [feed(sender)] }));
    const proc = start(
      FRR_BGPD,
      ['-f', conf, '-i', join(dir, 'bgpd.pid'), '--vty_socket', dir, '-Z', '-n', '-P', '0', '-p', String(port), '-l', daemon, '-S', '--log', `file:${log}`],
      join(dir, 'bgpd.out'),
    );
    await ensureAlive(proc, 'FRR bgpd vty', join(dir, 'bgpd.out'), async () =>
      /Established|Active|Idle|Connect/.test(await run('vtysh', ['--vty_socket', dir, '-d', 'bgpd', '-c', 'show bgp summary'], 3000)) || existsSync(join(dir, 'bgpd.vty')),
    );
    const count = async (): Promise<number> => {
      const out = await run('vtysh', ['--vty_socket', dir, '-d', 'bgpd', '-c', `show bgp ${family} unicast summary json`], 10_000);
      const j = JSON.parse(out) as { peers?: Record<string, { pfxRcd?: number }> };
      return j.peers?.[sender]?.pfxRcd ?? 0;
    };
    return new RunningPeer('FRR bgpd', daemon, port, sender, proc, log, count);
  },
};

// ---------------------------------------------------------------------------
// calico-bgpd: our own speaker, end to end
// ---------------------------------------------------------------------------

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

/**
 * The file datastore: this node, and the sender as a global BGPPeer of the
 * same AS. The peer's port is one nothing listens on, so the speaker's own
 * connection attempts are refused and the sender's incoming one is the
 * session. For IPv6 both ends are ::1, so the node's own IPv6 address in
 * the datastore is a documentation address (a peer at the node's own
 * address is skipped) and --listen-address puts the listener on ::1.
 */
function calicoDatastore(family: Family, daemon: string, sender: string, deadPort: number): string {
  const node = family === 'ipv4' ? `ipv4Address: ${daemon}/32` : `ipv4Address: 127.0.0.41/32, ipv6Address: "2001:db8::41/128"`;
  const peerIP = family === 'ipv4' ? `${sender}:${deadPort}` : `[${sender}]:${deadPort}`;
  return `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: { name: default }
spec: { asNumber: ${PEER_AS}, nodeToNodeMeshEnabled: false, logSeverityScreen: Warning }
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: bench }
spec: { bgp: { ${node} } }
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: feed }
spec: { peerIP: "${peerIP}", asNumber: ${PEER_AS} }
`;
}

export const calico: PeerKind = {
  id: 'calico',
  missing: () => (existsSync(CLI) ? undefined : `${CLI} not built (npm run build)`),
  async version() {
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string };
    return pkg.version;
  },
  async start(family) {
    const dir = tempDir('bench-calico-');
    const { daemon, sender } = addresses(family, 4);
    const port = await freePort(daemon);
    const deadPort = await freePort(sender);
    const ds = join(dir, 'cluster.yaml');
    const sock = join(dir, 'ctl');
    const log = join(dir, 'speaker.log');
    writeFileSync(ds, calicoDatastore(family, daemon, sender, deadPort));
    const proc = start(
      process.execPath,
      [...DAEMON_NODE_FLAGS, CLI, 'speaker', '--role', 'reflector', '--node', 'bench', '--datastore-file', ds, '--listen-address', daemon, '--listen-port', String(port), '--hold-time', '180', '--control-socket', sock],
      log,
      { env: { ...process.env, BGP_LOGSEVERITYSCREEN: 'warning' } },
    );
    type Status = { peers: { address: string; routesAccepted: number }[] };
    await ensureAlive(proc, 'calico-bgpd control socket', log, async () => (await ask<Status>(sock, { cmd: 'status' }, 3000)).peers.length > 0);
    // The speaker's Loc-RIB count of routes from the sender (after import policy).
    const count = async (): Promise<number> => (await ask<Status>(sock, { cmd: 'status' }, 10_000)).peers.reduce((n, p) => n + p.routesAccepted, 0);
    return new RunningPeer('calico-bgpd', daemon, port, sender, proc, log, count);
  },
};

export const PEER_KINDS: readonly PeerKind[] = [calico, bird, gobgp, frr];
