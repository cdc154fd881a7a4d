/**
 * Test-side readers of BIRD's control socket, written from what calicoctl
 * (`node status`), calico-node (`-bird-ready`, its graceful-restart check)
 * and bird_exporter do with it: a raw client that reads one reply, and
 * parsers that accept exactly the lines those tools accept and fail where
 * they fail. Used to check that our socket and real BIRD read the same.
 */
import { connect } from 'node:net';

/** Is this line the last of a reply? (`CODE ` with a space; `CODE-` and ` ...` continue.) */
export const endsReply = (line: string): boolean => /^\d{4} /.test(line);

/**
 * Connects, reads the greeting, sends `command`, and returns every line up to
 * and including the one that ends the reply (greeting first). Bounded by `timeoutMs`.
 */
export function birdRequest(socket: string, command: string, timeoutMs = 10_000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const c = connect(socket);
    let buf = '';
    const lines: string[] = [];
    let sent = false;
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`no complete reply to "${command}" from ${socket} within ${timeoutMs} ms; got:\n${lines.join('\n')}\n${buf}`));
    }, timeoutMs);
    c.setEncoding('utf8');
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    c.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (!endsReply(line)) continue;
        if (!sent) {
          // The greeting (0001) ends its own reply; now the command.
          sent = true;
          c.write(`${command}\n`);
          continue;
        }
        clearTimeout(timer);
        c.destroy();
        resolve(lines);
        return;
      }
    });
  });
}

/** A BGP peer as calicoctl's and calico-node's parsers see a `show protocols` row. */
export interface ParsedPeer {
  peerIp: string;
  /** `node-to-node mesh`, `global` or `node specific`. */
  peerType: string;
  /** BIRD's protocol state column (`up`, `start`). */
  state: string;
  since: string;
  /** The first word of the info column (`Established`, `Active`, `Passive`, ...). */
  bgpState: string;
  info: string;
}

const PEER_TYPES: Record<string, string> = { Global: 'global', Mesh: 'node-to-node mesh', Node: 'node specific' };
const HEADINGS = ['name', 'proto', 'table', 'state', 'since', 'info'];

/** A row: at least six columns, protocol BGP, a Calico name; anything else is skipped, as the tools skip it. */
function parseRow(row: string, family: 4 | 6): ParsedPeer | null {
  const cols = row.trim().split(/\s+/);
  if (cols.length < 6 || cols[1] !== 'BGP') return null;
  const m = /^(Global|Node|Mesh)_(.+)$/.exec(cols[0]!);
  if (m === null || PEER_TYPES[m[1]!] === undefined) return null;
  return {
    peerIp: m[2]!.replace(/_/g, family === 4 ? '.' : ':'),
    peerType: PEER_TYPES[m[1]!]!,
    state: cols[3]!,
    since: cols[4]!,
    bgpState: cols[5]!,
    info: cols.slice(6).join(' '),
  };
}

/**
 * The `show protocols` reply read as calicoctl `node status` and calico-node's
 * readiness check read it: greeting, 2002 heading (must be exactly BIRD's
 * columns), 1002 first row, ' ' further rows, 0000 end; any other line is an error.
 */
export function parsePeers(lines: readonly string[], family: 4 | 6): ParsedPeer[] {
  const peers: ParsedPeer[] = [];
  for (const line of lines) {
    if (line.startsWith('0000')) return peers;
    if (line.startsWith('0001')) continue;
    let row: string;
    if (line.startsWith('2002')) {
      if (line.slice(5).trim().split(/\s+/).join(' ') !== HEADINGS.join(' ')) throw new Error('unknown BIRD table output format');
      continue;
    } else if (line.startsWith('1002')) row = line.slice(5);
    else if (line.startsWith(' ')) row = line.slice(1);
    else throw new Error(`unexpected output line from BIRD: '${line}'`);
    const p = parseRow(row, family);
    if (p !== null) peers.push(p);
  }
  throw new Error('reply ended without 0000');
}

/** calico-node's graceful-restart check over a `show status` reply: true on a 0024 line, false on 0013, error on anything unexpected. */
export function parseGracefulRestart(lines: readonly string[]): boolean {
  for (const line of lines) {
    if (line.startsWith('0013')) return false;
    if (line.startsWith('0024')) return true;
    if (/^(0001|1000|1011| )/.test(line)) continue;
    throw new Error(`unexpected output line from BIRD: '${line}'`);
  }
  throw new Error('reply ended without 0013');
}

/** calico-node's readiness verdict from the peers (after the start-up grace period: one Established peer, or none at all). */
export function readyAfterGrace(peers: readonly ParsedPeer[]): boolean {
  return peers.length === 0 || peers.some((p) => p.bgpState === 'Established');
}

/** What bird_exporter takes from `show protocols all`: per protocol its name, state, and route counts. */
export interface ExporterProtocol {
  name: string;
  proto: string;
  up: boolean;
  imported: number;
  exported: number;
  preferred: number | null;
}

/** bird_exporter's protocol parser: a row regex, a `Routes:` regex, an empty line ends a protocol. */
export function parseExporterProtocols(lines: readonly string[]): ExporterProtocol[] {
  const row = /^(?:1002-)?([^\s]+)\s+(MRT|BGP|BFD|OSPF|RPKI|RIP|RAdv|Pipe|Perf|Direct|Babel|Device|Kernel|Static)\s+([^\s]+)\s+([^\s]+)\s+(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}|[^\s]+)(?:\s+(.*?))?$/;
  const routes = /^\s+Routes:\s+(\d+) imported, (?:(\d+) filtered, )?(\d+) exported(?:, (\d+) preferred)?/;
  const out: ExporterProtocol[] = [];
  let current: ExporterProtocol | null = null;
  for (const raw of lines) {
    const line = raw.replace(/ +$/, '');
    if (line === '') {
      current = null;
      continue;
    }
    const m = row.exec(line);
    if (m !== null) {
      current = { name: m[1]!, proto: m[2]!, up: m[4] === 'up', imported: 0, exported: 0, preferred: null };
      out.push(current);
      continue;
    }
    const r = routes.exec(line);
    if (r !== null && current !== null) {
      current.imported = Number(r[1]);
      current.exported = Number(r[3]);
      current.preferred = r[4] !== undefined ? Number(r[4]) : null;
    }
  }
  return out;
}

/** Hides what legitimately differs between two daemons' lines: times of day, dates, and the given words. */
export function maskLine(line: string, words: Record<string, string>): string {
  let out = line.replace(/\d{2}:\d{2}:\d{2}/g, 'HH:MM:SS').replace(/\d{4}-\d{2}-\d{2}/g, 'YYYY-MM-DD');
  for (const [w, r] of Object.entries(words)) out = out.split(w).join(r);
  return out;
}

/**
 * Also hides what our socket does not track the way BIRD does: timer values
 * (BIRD counts down; we print the negotiated time) and the route change
 * statistics (BIRD counts updates it considered and rejected).
 */
export function looseLine(line: string): string {
  return line.replace(/(timer: +)\d+\/\d+/, '$1N/N').replace(/^( +(Import|Export) (updates|withdraws):).*$/, '$1 ...');
}
