/**
 * The three daemons of the sessions benchmark, each configured with N
 * passive iBGP neighbors (the swarm's 127.1.x.y addresses, see
 * session-swarm.ts), hold time 9 s, listening on its own loopback address and
 * a free port, with a private config, control socket / API port and log in a
 * temp dir:
 *
 *   calico-bgpd  `speaker` on a file datastore: this node plus N Nodes in a
 *                full mesh. Calico makes the side whose address sorts higher
 *                connect, so every swarm peer (127.1.*) is passive for us
 *                (127.0.60.1), as it is for the other two daemons.
 *   BIRD 2       N `protocol bgp` from one template, `passive on`.
 *   GoBGP        N `[[neighbors]]`, `passive-mode = true`.
 *
 * Each is started through `sh -c 'ulimit -n 65536; exec ...'` so its pid is
 * the daemon's own and it has file descriptors to spare. `established()`
 * asks the daemon how many neighbors are Established.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { ask } from '../../src/control/client.js';
import { DAEMON_NODE_FLAGS } from '../../src/runtime-flags.js';
import { gobgpConfig } from '../../test/support/daemons/gobgp.js';
import { onPath } from '../../test/support/process.js';
import { freePort, logTail, run, runAll, start, stop, tempDir, waitReady } from './lab.js';
import { swarmAddress } from './session-swarm.js';

/** The AS of the daemon and of every swarm peer (iBGP, as in a Calico mesh). */
export const SWARM_AS = 64512;
export const HOLD_TIME = 9;

export interface Daemon {
  readonly label: string;
  readonly pid: number;
  readonly host: string;
  readonly port: number;
  /** Neighbors the daemon itself reports as Established. */
  established(): Promise<number>;
  logTail(): string;
  stop(): Promise<void>;
}

export interface DaemonKind {
  id: 'ours' | 'bird2' | 'gobgp';
  label: string;
  /** undefined when usable, else why not. */
  missing(): string | undefined;
  version(): Promise<string>;
  start(count: number): Promise<Daemon>;
}

/** Spawns `cmd args` with a raised fd limit; the shell execs, so the pid is the daemon's. */
function startWithFds(cmd: string, args: string[], log: string, env?: NodeJS.ProcessEnv): ChildProcess {
  return start('/bin/sh', ['-c', 'ulimit -n 65536 2>/dev/null; exec "$0" "$@"', cmd, ...args], log, env !== undefined ? { env } : {});
}

/** Waits (30 s) until `ready()` holds; fails at once if the process exits. Stops the process on failure. */
const ensureReady = (proc: ChildProcess, what: string, log: string, ready: () => Promise<boolean>): Promise<void> => waitReady(proc, what, log, ready, 30_000, 200);

class Running implements Daemon {
  constructor(
    readonly label: string,
    readonly host: string,
    readonly port: number,
    private readonly proc: ChildProcess,
    private readonly log: string,
    readonly established: () => Promise<number>,
  ) {}
  get pid(): number {
    return this.proc.pid ?? 0;
  }
  logTail(): string {
    return logTail(this.log);
  }
  async stop(): Promise<void> {
    await stop(this.proc);
  }
}

// ---------------------------------------------------------------------------
// calico-bgpd speaker
// ---------------------------------------------------------------------------

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const OURS_ADDR = '127.0.60.1';

/** This node plus `count` swarm Nodes, full mesh, one BGPConfiguration. */
export function meshYaml(count: number, port: number): string {
  const docs = [
    `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: { name: default }
spec: { asNumber: ${SWARM_AS}, nodeToNodeMeshEnabled: true, listenPort: ${port} }`,
    `apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: bench-ours }
spec: { bgp: { ipv4Address: ${OURS_ADDR}/8 } }`,
  ];
  for (let i = 0; i < count; i++) {
    docs.push(`apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: swarm-${String(i).padStart(4, '0')} }
spec: { bgp: { ipv4Address: ${swarmAddress(i)}/8 } }`);
  }
  return docs.join('\n---\n') + '\n';
}

interface StatusReply {
  peers: { state: string }[];
}

export const ours: DaemonKind = {
  id: 'ours',
  label: 'calico-bgpd',
  missing: () => (existsSync(CLI) ? undefined : `${CLI} not built`),
  async version() {
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string };
    return `${pkg.version} (node ${process.versions.node})`;
  },
  async start(count) {
    const dir = tempDir('bench-sessions-ours-');
    const port = await freePort(OURS_ADDR);
    const cluster = join(dir, 'cluster.yaml');
    const sock = join(dir, 'bgpd.ctl');
    const log = join(dir, 'speaker.log');
    writeFileSync(cluster, meshYaml(count, port));
    const args = [...DAEMON_NODE_FLAGS, CLI, 'speaker', '--node', 'bench-ours', '--datastore-file', cluster, '--listen-address', OURS_ADDR, '--listen-port', String(port), '--control-socket', sock, '--hold-time', String(HOLD_TIME), '--no-kernel', '--bird-socket', '', '--bird6-socket', ''];
    // Warnings and up, as BIRD and GoBGP are configured: per-session info
    // lines would be CPU spent on logging, not on sessions.
    const proc = startWithFds(process.execPath, args, log, { ...process.env, BGP_LOGSEVERITYSCREEN: 'warning' });
    // The control socket answers the same request `calico-bgpd status --json`
    // sends; asking it in process spares a node start-up per poll on a
    // machine the daemon shares.
    const established = async () => (await ask<StatusReply>(sock, { cmd: 'status' }, 10_000)).peers.filter((p) => p.state === 'Established').length;
    await ensureReady(proc, 'calico-bgpd speaker', log, async () => (await ask<StatusReply>(sock, { cmd: 'status' }, 3000)).peers.length === count);
    return new Running('calico-bgpd', OURS_ADDR, port, proc, log, established);
  },
};

// ---------------------------------------------------------------------------
// BIRD 2
// ---------------------------------------------------------------------------

const BIRD2_DIR = '/var/cache/calico-bgpd-test/bird2/usr/sbin';
const BIRD2 = join(BIRD2_DIR, 'bird');
const BIRDC2 = join(BIRD2_DIR, 'birdc');
const BIRD_ADDR = '127.0.60.2';

export const bird2: DaemonKind = {
  id: 'bird2',
  label: 'BIRD 2',
  missing: () => ([BIRD2, BIRDC2].some((f) => !existsSync(f)) ? `${BIRD2} / ${BIRDC2} not present` : undefined),
  async version() {
    return /BIRD version (\S+)/.exec(await runAll(BIRD2, ['--version']))?.[1] ?? '?';
  },
  async start(count) {
    const dir = tempDir('bench-sessions-bird2-');
    const port = await freePort(BIRD_ADDR);
    const conf = join(dir, 'bird.conf');
    const sock = join(dir, 'bird.ctl');
    const log = join(dir, 'bird.log');
    const lines = [
      `router id 10.255.60.2;`,
      `log "${log}" { warning, error, fatal, bug };`,
      `protocol device { scan time 600; }`,
      `template bgp swarm {`,
      `  local ${BIRD_ADDR} port ${port} as ${SWARM_AS};`,
      `  passive on;`,
      `  hold time ${HOLD_TIME};`,
      `  keepalive time ${HOLD_TIME / 3};`,
      `  ipv4 { import all; export none; };`,
      `}`,
    ];
    for (let i = 0; i < count; i++) lines.push(`protocol bgp s${String(i).padStart(4, '0')} from swarm { neighbor ${swarmAddress(i)} as ${SWARM_AS}; }`);
    writeFileSync(conf, lines.join('\n') + '\n');
    const proc = startWithFds(BIRD2, ['-f', '-c', conf, '-s', sock, '-P', join(dir, 'bird.pid')], join(dir, 'bird.out'));
    const show = () => run(BIRDC2, ['-s', sock, 'show protocols'], 10_000);
    // "s0001      BGP        ---        up     03:50:12.123  Established"
    const established = async () => (await show()).match(/\sEstablished\s*$/gm)?.length ?? 0;
    await ensureReady(proc, 'BIRD 2 control socket', join(dir, 'bird.out'), async () => ((await show()).match(/^s\d{4}\s/gm)?.length ?? 0) === count);
    return new Running('BIRD 2', BIRD_ADDR, port, proc, log, established);
  },
};

// ---------------------------------------------------------------------------
// GoBGP
// ---------------------------------------------------------------------------

const GOBGP_ADDR = '127.0.60.3';

export const gobgp: DaemonKind = {
  id: 'gobgp',
  label: 'GoBGP',
  missing: () => (onPath('gobgpd') && onPath('gobgp') ? undefined : 'gobgpd/gobgp not on PATH'),
  async version() {
    const out = await runAll('gobgpd', ['--version']);
    return /version\s+(\S+)/i.exec(out)?.[1] ?? '?';
  },
  async start(count) {
    const dir = tempDir('bench-sessions-gobgp-');
    const port = await freePort(GOBGP_ADDR);
    const apiPort = await freePort('127.0.0.1');
    const conf = join(dir, 'gobgpd.toml');
    const log = join(dir, 'gobgpd.log');
    const neighbors = Array.from({ length: count }, (_, i) => ({ address: swarmAddress(i), peerAs: SWARM_AS, passive: true, holdTime: HOLD_TIME, families: ['ipv4-unicast' as const] }));
    writeFileSync(conf, gobgpConfig({ as: SWARM_AS, routerId: '10.255.60.3', address: GOBGP_ADDR, port, neighbors }));
    const proc = startWithFds('gobgpd', ['-f', conf, '-t', 'toml', '--api-hosts', `127.0.0.1:${apiPort}`, '--pprof-disable', '-l', 'warn', '-p'], log);
    const show = () => run('gobgp', ['-u', '127.0.0.1', '-p', String(apiPort), 'neighbor'], 10_000);
    // "Peer        AS  Up/Down State       |#Received  Accepted"
    // "127.1.0.1 64512 00:00:05 Establ      |        0         0"
    const established = async () => (await show()).match(/\sEstabl\s/g)?.length ?? 0;
    await ensureReady(proc, 'gobgpd API', log, async () => ((await show()).match(/^127\.1\./gm)?.length ?? 0) === count);
    return new Running('GoBGP', GOBGP_ADDR, port, proc, log, established);
  },
};

export const DAEMON_KINDS: readonly DaemonKind[] = [ours, bird2, gobgp];
