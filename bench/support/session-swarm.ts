/**
 * A swarm of BGP peers for the sessions benchmark, written with our codec:
 * one Node process that opens N sessions to one daemon, each from its own
 * loopback source address (127/8 is all local on Linux, no aliases needed),
 * and keeps them up: OPEN with the configured hold time, KEEPALIVE every
 * hold/3, nothing else. UPDATEs from the daemon are framed and dropped.
 *
 * Run as a child process (so its CPU and memory never mix with the daemon
 * under test's, and the benchmark's CLI polling cannot stall its timers):
 *
 *   node dist/bench/support/session-swarm.js --host A --port P --as N \
 *        --count 1000 --hold 9 [--concurrency 8] [--lifetime 600]
 *
 * It writes one JSON line to stdout at start and one per `--report-ms`
 * (default 250) with counts, and exits on SIGTERM, after `--lifetime`
 * seconds, or when its parent goes away (so a killed benchmark leaves no
 * swarm behind).
 *
 * Session setup is paced: at most `--concurrency` sessions are between
 * "connect" and "Established" at once. The daemons' listen backlogs differ
 * (a full accept queue drops SYNs and costs the client a 1 s retransmit), so
 * an unpaced burst of 1,000 SYNs would measure backlog sizes, not session
 * handling. A session that fails before Established is retried after 1 s; a
 * session that drops after Established is counted and reconnected.
 */
import { connect, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CapCode, DEFAULT_CONTEXT, Framer, MAX_MESSAGE_LENGTH, Afi, Safi, decodeMessage, encodeMessage, type Capability, type OpenMessage } from '../../src/bgp/packet/index.js';

export interface SwarmOptions {
  /** Daemon address and port. */
  host: string;
  port: number;
  /** AS number every swarm peer uses (iBGP when equal to the daemon's). */
  asn: number;
  count: number;
  /** Hold time offered in OPEN, seconds. */
  hold: number;
  /** Sessions in setup at once. */
  concurrency: number;
}

/** The source address (and BGP identifier) of swarm peer `i`: 127.1.x.y, y in 1..250. */
export function swarmAddress(i: number): string {
  return `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

/** What the swarm reports on each stdout line. */
export interface SwarmReport {
  /** Date.now() when the first connect was issued. */
  startedAt: number;
  /** Sessions Established right now. */
  established: number;
  /** Date.now() when all `count` sessions were first Established at once, or null. */
  allEstablishedAt: number | null;
  /** Failed setups (refused, reset, NOTIFICATION, timeout) that were retried. */
  setupFailures: number;
  /** Established sessions that went down (hold timer, NOTIFICATION, reset). */
  drops: number;
  /** Setups whose TCP connect took over 900 ms (a SYN retransmit: the daemon's accept queue overflowed). */
  slowConnects: number;
  /** Last few failure reasons. */
  lastErrors: string[];
}

const KEEPALIVE = encodeMessage({ type: 'KEEPALIVE' }, DEFAULT_CONTEXT);
/** Bound on one setup (connect + OPEN exchange). */
const SETUP_TIMEOUT_MS = 15_000;
const RETRY_MS = 1000;

type State = 'idle' | 'setup' | 'established';

interface Session {
  i: number;
  state: State;
  sock: Socket | null;
  keepalive: NodeJS.Timeout | null;
  holdTimer: NodeJS.Timeout | null;
  setupTimer: NodeJS.Timeout | null;
  holdMs: number;
}

export class Swarm {
  private readonly sessions: Session[] = [];
  private readonly queue: number[] = [];
  private inSetup = 0;
  private established = 0;
  private stopped = false;
  readonly report: SwarmReport = { startedAt: 0, established: 0, allEstablishedAt: null, setupFailures: 0, drops: 0, slowConnects: 0, lastErrors: [] };

  constructor(private readonly opts: SwarmOptions) {
    for (let i = 0; i < opts.count; i++) this.sessions.push({ i, state: 'idle', sock: null, keepalive: null, holdTimer: null, setupTimer: null, holdMs: 0 });
  }

  start(): void {
    this.report.startedAt = Date.now();
    for (let i = 0; i < this.opts.count; i++) this.queue.push(i);
    this.pump();
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.sessions) this.reset(s);
  }

  private pump(): void {
    while (!this.stopped && this.inSetup < this.opts.concurrency && this.queue.length > 0) this.open(this.sessions[this.queue.shift()!]!);
  }

  private error(s: Session, why: string): void {
    const e = this.report.lastErrors;
    e.push(`${swarmAddress(s.i)}: ${why}`);
    if (e.length > 5) e.shift();
  }

  private reset(s: Session): void {
    for (const t of [s.keepalive, s.holdTimer, s.setupTimer]) if (t !== null) clearTimeout(t);
    s.keepalive = s.holdTimer = s.setupTimer = null;
    s.sock?.destroy();
    s.sock = null;
  }

  private fail(s: Session, why: string): void {
    if (s.state === 'idle') return;
    if (s.state === 'established') {
      this.established--;
      this.report.drops++;
    } else {
      this.inSetup--;
      this.report.setupFailures++;
    }
    this.error(s, why);
    s.state = 'idle';
    this.reset(s);
    if (this.stopped) return;
    setTimeout(() => {
      if (this.stopped) return;
      this.queue.push(s.i);
      this.pump();
    }, RETRY_MS).unref();
    this.pump();
  }

  private open(s: Session): void {
    const { host, port, asn, hold } = this.opts;
    s.state = 'setup';
    this.inSetup++;
    const t0 = Date.now();
    const framer = new Framer(MAX_MESSAGE_LENGTH);
    const sock = connect({ host, port, localAddress: swarmAddress(s.i) });
    s.sock = sock;
    let gotOpen = false;
    sock.setNoDelay(true);
    // Events of a socket this session already dropped must not touch its next one.
    const mine = () => s.sock === sock;
    s.setupTimer = setTimeout(() => mine() && this.fail(s, `not Established within ${SETUP_TIMEOUT_MS} ms`), SETUP_TIMEOUT_MS);
    sock.on('error', (err) => mine() && this.fail(s, err.message));
    sock.on('close', () => mine() && this.fail(s, 'connection closed'));
    sock.on('connect', () => {
      if (!mine()) return;
      if (Date.now() - t0 > 900) this.report.slowConnects++;
      const caps = [
        { code: CapCode.MULTIPROTOCOL, afi: Afi.IPV4, safi: Safi.UNICAST },
        { code: CapCode.FOUR_OCTET_AS, asn },
      ] as Capability[];
      const open: OpenMessage = { type: 'OPEN', version: 4, myAs: asn, holdTime: hold, bgpId: swarmAddress(s.i), capabilities: caps };
      sock.write(encodeMessage(open, DEFAULT_CONTEXT));
    });
    sock.on('data', (chunk: Buffer) => {
      if (!mine()) return;
      let frames: Buffer[];
      try {
        frames = framer.push(chunk);
      } catch (err) {
        this.fail(s, `framing: ${(err as Error).message}`);
        return;
      }
      if (s.holdMs > 0) this.armHold(s);
      for (const f of frames) {
        let type: string;
        let msg;
        try {
          msg = decodeMessage(f, DEFAULT_CONTEXT).message;
          type = msg.type;
        } catch {
          // An UPDATE we cannot read with the default context (ADD-PATH,
          // say) is still proof of life; the swarm keeps no RIB.
          type = 'UPDATE';
        }
        if (type === 'OPEN' && msg?.type === 'OPEN') {
          gotOpen = true;
          const holdS = Math.min(hold, msg.holdTime);
          s.holdMs = holdS * 1000;
          sock.write(KEEPALIVE);
          if (holdS > 0) {
            s.keepalive = setInterval(() => {
              if (!sock.destroyed) sock.write(KEEPALIVE);
            }, s.holdMs / 3);
            this.armHold(s);
          }
        } else if (type === 'KEEPALIVE') {
          if (gotOpen && s.state === 'setup') this.up(s);
        } else if (type === 'NOTIFICATION' && msg?.type === 'NOTIFICATION') {
          this.fail(s, `NOTIFICATION ${msg.code}/${msg.subcode}`);
          return;
        }
      }
    });
  }

  private armHold(s: Session): void {
    if (s.holdTimer !== null) clearTimeout(s.holdTimer);
    s.holdTimer = setTimeout(() => this.fail(s, 'hold timer expired (the daemon sent nothing for the hold time)'), s.holdMs);
  }

  private up(s: Session): void {
    s.state = 'established';
    if (s.setupTimer !== null) clearTimeout(s.setupTimer);
    s.setupTimer = null;
    this.inSetup--;
    this.established++;
    if (this.established === this.opts.count && this.report.allEstablishedAt === null) this.report.allEstablishedAt = Date.now();
    this.pump();
  }

  snapshot(): SwarmReport {
    return { ...this.report, established: this.established, lastErrors: [...this.report.lastErrors] };
  }
}

// ---------------------------------------------------------------------------
// Command line (child process of sessions.bench)
// ---------------------------------------------------------------------------

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (v === undefined) throw new Error(`session-swarm: --${name} is required`);
  return v;
}

function main(): void {
  const swarm = new Swarm({
    host: arg('host'),
    port: Number(arg('port')),
    asn: Number(arg('as')),
    count: Number(arg('count', '1000')),
    hold: Number(arg('hold', '9')),
    concurrency: Number(arg('concurrency', '8')),
  });
  const lifetimeMs = Number(arg('lifetime', '600')) * 1000;
  const reportMs = Number(arg('report-ms', '250'));
  const parent = process.ppid;
  const print = () => process.stdout.write(`${JSON.stringify(swarm.snapshot())}\n`);
  const quit = (code: number) => {
    swarm.stop();
    print();
    process.exit(code);
  };
  swarm.start();
  print();
  setInterval(() => {
    print();
    // Orphaned (the benchmark died without cleaning up): go too.
    if (process.ppid !== parent) quit(2);
  }, reportMs);
  setTimeout(() => quit(3), lifetimeMs).unref();
  process.on('SIGTERM', () => quit(0));
  process.on('SIGINT', () => quit(0));
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) main();
