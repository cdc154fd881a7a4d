/**
 * A real ExaBGP 4.2 for interop tests, on loopback addresses: a config file
 * and `exabgp.*` environment variables in a temp dir (listen addresses and
 * port, no CLI pipes, no privilege drop, log to stdout), static routes from
 * the config, and an API process that appends what ExaBGP receives (JSON,
 * one message a line) to a file the test reads.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Cleanup, run, startProcess, tempDir, waitFor } from '../process.js';

export const EXABGP = process.env.EXABGP_BIN ?? 'exabgp';

/** Null when ExaBGP can be run here, else why not (the caller skips). */
export function exabgpAvailable(): string | null {
  return run(EXABGP, ['--version']).status === 0 ? null : `${EXABGP} not installed`;
}

/** The installed ExaBGP's version as [major, minor, patch] (`exabgp --version`: "ExaBGP : 4.2.21"). */
export function exabgpVersion(): [number, number, number] {
  const out = run(EXABGP, ['--version']).stdout;
  const m = /ExaBGP\s*:\s*(\d+)\.(\d+)\.(\d+)/.exec(out);
  if (m === null) throw new Error(`cannot read the ExaBGP version from: ${out}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

export interface ExabgpNeighbor {
  address: string;
  /** Address ExaBGP connects from (must be one it listens on, to accept too). */
  localAddress: string;
  peerAs: number;
  /** Our side's listening port (ExaBGP connects there). */
  remotePort: number;
  /** Never connect, only accept. */
  passive?: boolean;
  holdTime?: number;
  /** Static routes announced with `next-hop self`, all of the neighbor's family. */
  routes?: string[];
}

export interface ExabgpOptions {
  as: number;
  routerId: string;
  /** Addresses ExaBGP listens on, all on `port`. */
  listen: string[];
  port: number;
  neighbors: ExabgpNeighbor[];
}

/** One JSON message from ExaBGP's API (only the parts the tests read). */
export interface ExabgpMessage {
  type: string;
  neighbor?: {
    address?: { local: string; peer: string };
    state?: string;
    reason?: string;
    message?: {
      update?: {
        announce?: Record<string, Record<string, (string | { nlri: string })[]>>;
        withdraw?: Record<string, (string | { nlri: string })[]>;
      };
    };
  };
}

/** Python, not `cat`: ExaBGP hands the process a non-blocking stdin, and `cat` quits on EAGAIN. */
const RECEIVER = `#!/usr/bin/python3
import os, sys
os.set_blocking(0, True)
with open(sys.argv[1], 'a', buffering=1) as out:
    for line in sys.stdin:
        out.write(line)
`;

export class Exabgp {
  private constructor(
    private readonly received: string,
    readonly logs: () => string,
  ) {}

  static async start(c: Cleanup, o: ExabgpOptions): Promise<Exabgp> {
    const dir = tempDir(c, 'cbgpd-exabgp-');
    const conf = join(dir, 'exabgp.conf');
    const receiver = join(dir, 'receiver.py');
    const received = join(dir, 'received.jsonl');
    writeFileSync(receiver, RECEIVER);
    chmodSync(receiver, 0o755);
    writeFileSync(received, '');
    const lines = ['process receiver {', `  run ${receiver} ${received};`, '  encoder json;', '}'];
    for (const n of o.neighbors) {
      const hold = n.holdTime ?? 30;
      lines.push(
        `neighbor ${n.address} {`,
        `  router-id ${o.routerId};`,
        `  local-address ${n.localAddress};`,
        `  local-as ${o.as};`,
        `  peer-as ${n.peerAs};`,
        `  hold-time ${hold};`,
        `  passive ${n.passive === true};`,
        `  connect ${n.remotePort};`,
        `  family { ${n.address.includes(':') ? 'ipv6' : 'ipv4'} unicast; }`,
        '  api { processes [ receiver ]; receive { parsed; update; notification; } neighbor-changes; }',
        '  static {',
        ...(n.routes ?? []).map((r) => `    route ${r} next-hop self;`),
        '  }',
        '}',
      );
    }
    writeFileSync(conf, lines.join('\n') + '\n');
    // `env` execs ExaBGP, so the pid is ExaBGP's. Dotted names are how ExaBGP reads its settings.
    const p = startProcess(c, 'env', [
      'exabgp.daemon.user=root',
      'exabgp.daemon.drop=false',
      'exabgp.daemon.daemonize=false',
      'exabgp.api.cli=false',
      'exabgp.api.ack=false',
      `exabgp.api.pipename=cbgpd-${process.pid}`,
      'exabgp.log.destination=stdout',
      `exabgp.tcp.bind=${o.listen.join(' ')}`,
      `exabgp.tcp.port=${o.port}`,
      EXABGP,
      conf,
    ]);
    // Runs before the SIGKILL step above: a SIGTERM lets ExaBGP stop its API process.
    c.add(
      () =>
        new Promise<void>((resolve) => {
          if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve();
          p.child.once('exit', () => resolve());
          p.child.kill('SIGTERM');
          setTimeout(resolve, 3000).unref();
        }),
    );
    const x = new Exabgp(received, p.output);
    await waitFor('ExaBGP to load its config', () => p.output().includes('loaded new configuration successfully'), 60_000, 100).catch((e: Error) => {
      throw new Error(`${e.message}\n${p.output().slice(-1500)}`);
    });
    return x;
  }

  /** Every message the API process has written so far. */
  messages(): ExabgpMessage[] {
    if (!existsSync(this.received)) return [];
    const out: ExabgpMessage[] = [];
    for (const line of readFileSync(this.received, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        out.push(JSON.parse(line) as ExabgpMessage);
      } catch {
        // A line still being written.
      }
    }
    return out;
  }

  private forPeer(peer: string): ExabgpMessage[] {
    return this.messages().filter((m) => m.neighbor?.address?.peer === peer);
  }

  /** The last session state ExaBGP reported for a peer ("up", "down", "connected"), or 'unknown'. */
  state(peer: string): string {
    return this.forPeer(peer).filter((m) => m.type === 'state').at(-1)?.neighbor?.state ?? 'unknown';
  }

  /** Why ExaBGP last reported the session with a peer down, or ''. */
  lastDownReason(peer: string): string {
    return this.forPeer(peer).filter((m) => m.type === 'state' && m.neighbor?.state === 'down').at(-1)?.neighbor?.reason ?? '';
  }

  /** Prefixes a peer currently announces to ExaBGP, from the announce/withdraw messages in order. */
  routesFrom(peer: string): Set<string> {
    const held = new Set<string>();
    const nlri = (x: string | { nlri: string }): string => (typeof x === 'string' ? x : x.nlri);
    for (const m of this.forPeer(peer)) {
      const u = m.neighbor?.message?.update;
      if (m.type !== 'update' || u === undefined) continue;
      for (const list of Object.values(u.withdraw ?? {})) for (const x of list) held.delete(nlri(x));
      for (const byNextHop of Object.values(u.announce ?? {})) for (const list of Object.values(byNextHop)) for (const x of list) held.add(nlri(x));
    }
    return held;
  }
}
