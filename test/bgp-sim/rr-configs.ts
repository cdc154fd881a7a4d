/**
 * The route reflectors under test, each started as its own process with a
 * private config, control socket and log in a temp dir: iBGP AS 65000,
 * router id and listen address 127.66.0.1 on a free port, cluster id
 * 1.1.1.1, every tester and the monitor a passive RR client, IPv4 unicast
 * only, nothing installed into the kernel.
 *
 *   calico   node dist/src/cli.js speaker --role reflector (file datastore)
 *   calico-metrics  the same with --metrics-port, /metrics scraped every
 *            RR_BENCH_SCRAPE_MS (default 1000) ms while it runs: the cost of metrics
 *   bird2    BIRD 2 from scripts/install-bird2.sh's prefix
 *   bird1    BIRD 1.6 /usr/sbin/bird
 *   gobgp    gobgpd (gRPC API on a free 127.0.0.1 port)
 *   frr      /usr/lib/frr/bgpd standalone: -Z -n -P 0 -S, vty socket in the temp dir
 *
 * The testers' next hops are in 10.66.0.0/16, not their 127.66.x.y session
 * addresses: FRR rejects loopback next hops as martian (NOTIFICATION 3/8).
 * BIRD resolves iBGP next hops recursively through its IGP table, which is
 * empty here (no kernel protocol), so each BIRD gets one static device
 * route for 10.66.0.0/16 and exports only BGP routes. The other daemons take
 * iBGP next hops as they come (FRR without zebra treats every next hop as
 * reachable).
 */
import { existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { get as httpGet } from 'node:http';
import { freePort, runAll, start, stop, tempDir } from '../../bench/support/lab.js';
import { DAEMON_NODE_FLAGS } from '../../src/runtime-flags.js';
import { BENCH_AS, NEXT_HOP_NET, PREFIX_POOL } from './testers.js';

export type RrId = 'calico' | 'calico-metrics' | 'bird2' | 'bird1' | 'gobgp' | 'frr';

export const RR_IDS: readonly RrId[] = ['calico', 'calico-metrics', 'bird2', 'bird1', 'gobgp', 'frr'];

export const CLUSTER_ID = '1.1.1.1';
const BIRD2_PREFIX = process.env.BIRD2_PREFIX ?? '/var/cache/calico-bgpd-test/bird2';
const BIRD2 = join(BIRD2_PREFIX, 'usr/sbin/bird');
const BIRD1 = '/usr/sbin/bird';
const FRR_BGPD = '/usr/lib/frr/bgpd';
const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

/** What a config needs: where the RR listens and who its clients are. */
export interface RrSpec {
  address: string;
  port: number;
  /** Tester addresses and the monitor's. */
  clients: readonly string[];
}

export interface RunningRr {
  readonly pid: number;
  readonly proc: ChildProcess;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

export interface RrKind {
  id: RrId;
  label: string;
  /** undefined when usable, else why not. */
  missing(): string | undefined;
  version(): Promise<string>;
  start(spec: RrSpec): Promise<RunningRr>;
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, cmd)));
}

function tail(file: string, lines = 8): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function running(proc: ChildProcess, log: string): RunningRr {
  if (proc.pid === undefined) throw new Error(`could not start: ${tail(log)}`);
  return { pid: proc.pid, proc, logTail: (n) => tail(log, n), stop: () => stop(proc) };
}

// ---------------------------------------------------------------------------
// Config renderers (pure)
// ---------------------------------------------------------------------------

/** BIRD 1.6 or 2 config: one template, one protocol per client. */
export function birdConfig(version: 1 | 2, spec: RrSpec, logFile: string): string {
  const v2 = version === 2;
  const lines = [
    `router id ${spec.address};`,
    ...(v2 ? [] : [`listen bgp address ${spec.address} port ${spec.port};`]),
    `log "${logFile}" { warning, error, fatal, bug };`,
    'protocol device { scan time 600; }',
    // Resolves the testers' next hops (iBGP: gateway recursive).
    `protocol static nexthops {${v2 ? ' ipv4;' : ''} route ${NEXT_HOP_NET} via "lo"; }`,
    'template bgp rrc {',
    v2 ? `  local ${spec.address} port ${spec.port} as ${BENCH_AS};` : `  local ${spec.address} as ${BENCH_AS};`,
    ...(v2 ? ['  strict bind yes;'] : []),
    '  passive on;',
    '  hold time 180;',
    '  rr client;',
    `  rr cluster id ${CLUSTER_ID};`,
    v2 ? '  ipv4 { import all; export where source = RTS_BGP; };' : '  import all;\n  export where source = RTS_BGP;',
    '}',
  ];
  spec.clients.forEach((c, i) => lines.push(`protocol bgp c${i + 1} from rrc { neighbor ${c} as ${BENCH_AS}; }`));
  return `${lines.join('\n')}\n`;
}

/** GoBGP TOML: one neighbor block per client. */
export function gobgpConfig(spec: RrSpec): string {
  let out = `[global.config]
  as = ${BENCH_AS}
  router-id = "${spec.address}"
  port = ${spec.port}
  local-address-list = ["${spec.address}"]
`;
  for (const c of spec.clients) {
    out += `[[neighbors]]
  [neighbors.config]
    neighbor-address = "${c}"
    peer-as = ${BENCH_AS}
  [neighbors.transport.config]
    passive-mode = true
    local-address = "${spec.address}"
  [neighbors.timers.config]
    hold-time = 180
  [neighbors.route-reflector.config]
    route-reflector-client = true
    route-reflector-cluster-id = "${CLUSTER_ID}"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
`;
  }
  return out;
}

/** FRR bgpd: one peer-group holding every client. */
export function frrConfig(spec: RrSpec): string {
  return `hostname rr-bench
router bgp ${BENCH_AS}
 bgp router-id ${spec.address}
 bgp cluster-id ${CLUSTER_ID}
 no bgp default ipv4-unicast
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor clients peer-group
 neighbor clients remote-as ${BENCH_AS}
 neighbor clients passive
 neighbor clients timers 60 180
${spec.clients.map((c) => ` neighbor ${c} peer-group clients`).join('\n')}
 address-family ipv4 unicast
  neighbor clients activate
  neighbor clients route-reflector-client
 exit-address-family
`;
}

/**
 * The file datastore for calico-bgpd: node `rr` with a cluster id (so every
 * same-AS BGPPeer is an RR client), one global BGPPeer per client (at the
 * RR's own port, where nothing listens on the client addresses, so the
 * speaker's own connection attempts are refused and the clients' win), and
 * an IP pool covering the testers' prefixes (Calico's export filter only
 * passes routes inside a pool).
 */
export function calicoDatastore(spec: RrSpec): string {
  const docs = [
    `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: { name: default }
spec: { asNumber: ${BENCH_AS}, nodeToNodeMeshEnabled: false, listenPort: ${spec.port} }`,
    `apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: rr }
spec: { bgp: { ipv4Address: ${spec.address}/16, routeReflectorClusterID: ${CLUSTER_ID} } }`,
    `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: { name: testers }
spec: { cidr: ${PREFIX_POOL}, blockSize: 26, ipipMode: Never, vxlanMode: Never }`,
    ...spec.clients.map(
      (c, i) => `apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: client-${String(i + 1).padStart(3, '0')} }
spec: { peerIP: "${c}:${spec.port}", asNumber: ${BENCH_AS} }`,
    ),
  ];
  return `${docs.join('\n---\n')}\n`;
}

// ---------------------------------------------------------------------------
// Launchers
// ---------------------------------------------------------------------------

/** Scrapes /metrics every `everyMs` until the process exits (the metrics' cost includes being read). */
function scrapeUntilExit(proc: ChildProcess, port: number, everyMs: number): void {
  const timer = setInterval(() => {
    const req = httpGet(`http://127.0.0.1:${port}/metrics`, (res) => res.resume());
    req.on('error', () => undefined);
  }, everyMs);
  timer.unref();
  proc.once('exit', () => clearInterval(timer));
}

function calicoKind(metrics: boolean): RrKind {
  return {
    id: metrics ? 'calico-metrics' : 'calico',
    label: metrics ? 'calico-bgpd +metrics' : 'calico-bgpd',
    missing: () => (existsSync(CLI) ? undefined : `${CLI} not built`),
    async version() {
      const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string };
      return `${pkg.version} (node ${process.versions.node})`;
    },
    async start(spec) {
      const dir = tempDir('rr-calico-');
      const ds = join(dir, 'cluster.yaml');
      // RR_BENCH_LOG_DIR keeps the speaker's log (e.g. its --trace-gc output) after the run.
      const log = join(process.env.RR_BENCH_LOG_DIR ?? dir, 'speaker.log');
      writeFileSync(ds, calicoDatastore(spec));
      const metricsPort = metrics ? await freePort('127.0.0.1') : 0;
      const metricsArgs = metrics ? ['--metrics-port', String(metricsPort), '--metrics-address', '127.0.0.1'] : [];
      const proc = start(
        process.execPath,
        // RR_BENCH_NODE_ARGS: extra node flags for the speaker (e.g. --cpu-prof --cpu-prof-dir=DIR).
        [...DAEMON_NODE_FLAGS, ...(process.env.RR_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== ''), CLI, 'speaker', '--role', 'reflector', '--node', 'rr', '--datastore-file', ds, '--listen-address', spec.address, '--listen-port', String(spec.port), '--hold-time', '180', '--control-socket', join(dir, 'ctl'), '--bird-socket', '', '--bird6-socket', '', ...metricsArgs],
        log,
        { env: { ...process.env, BGP_LOGSEVERITYSCREEN: 'warning' } },
      );
      if (metrics) scrapeUntilExit(proc, metricsPort, Number(process.env.RR_BENCH_SCRAPE_MS ?? 1000));
      return running(proc, log);
    },
  };
}

export const calico = calicoKind(false);
export const calicoMetrics = calicoKind(true);

function birdKind(version: 1 | 2): RrKind {
  const bin = version === 2 ? BIRD2 : BIRD1;
  return {
    id: version === 2 ? 'bird2' : 'bird1',
    label: version === 2 ? 'BIRD 2' : 'BIRD 1.6',
    missing: () => (existsSync(bin) ? undefined : `${bin} not installed${version === 2 ? ' (scripts/install-bird2.sh)' : ''}`),
    async version() {
      return /BIRD version (\S+)/.exec(await runAll(bin, ['--version']))?.[1] ?? '?';
    },
    async start(spec) {
      const dir = tempDir(`rr-bird${version}-`);
      const conf = join(dir, 'bird.conf');
      const log = join(dir, 'bird.log');
      writeFileSync(conf, birdConfig(version, spec, log));
      const proc = start(bin, ['-f', '-c', conf, '-s', join(dir, 'bird.ctl'), '-P', join(dir, 'bird.pid')], log);
      return running(proc, log);
    },
  };
}

export const bird2 = birdKind(2);
export const bird1 = birdKind(1);

export const gobgp: RrKind = {
  id: 'gobgp',
  label: 'GoBGP',
  missing: () => (onPath('gobgpd') ? undefined : 'gobgpd not on PATH'),
  async version() {
    return /version\s+(\S+)/i.exec(await runAll('gobgpd', ['--version']))?.[1] ?? '?';
  },
  async start(spec) {
    const dir = tempDir('rr-gobgp-');
    const conf = join(dir, 'gobgpd.toml');
    const log = join(dir, 'gobgpd.log');
    writeFileSync(conf, gobgpConfig(spec));
    const api = await freePort('127.0.0.1');
    const proc = start('gobgpd', ['-f', conf, '-t', 'toml', '--api-hosts', `127.0.0.1:${api}`, '--pprof-disable', '-l', 'warn', '-p'], log);
    return running(proc, log);
  },
};

export const frr: RrKind = {
  id: 'frr',
  label: 'FRR bgpd',
  missing: () => (existsSync(FRR_BGPD) ? undefined : `${FRR_BGPD} not installed`),
  async version() {
    return /version (\S+)/.exec(await runAll(FRR_BGPD, ['--version']))?.[1] ?? '?';
  },
  async start(spec) {
    const dir = tempDir('rr-frr-');
    // -S keeps bgpd as the invoking user; the vty socket lives in dir.
    chmodSync(dir, 0o755);
    const conf = join(dir, 'bgpd.conf');
    const log = join(dir, 'bgpd.log');
    writeFileSync(conf, frrConfig(spec));
    const proc = start(
      FRR_BGPD,
      ['-f', conf, '-i', join(dir, 'bgpd.pid'), '--vty_socket', dir, '-Z', '-n', '-P', '0', '-p', String(spec.port), '-l', spec.address, '-S', '--log', `file:${log}`],
      join(dir, 'bgpd.out'),
    );
    return running(proc, log);
  },
};

export const RR_KINDS: Readonly<Record<RrId, RrKind>> = { calico, 'calico-metrics': calicoMetrics, bird2, bird1, gobgp, frr };
