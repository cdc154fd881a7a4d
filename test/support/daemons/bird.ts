/**
 * A real BIRD 1.6 for session interop tests, on loopback addresses, with a
 * private config, control socket and log in a temp dir.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIRD1 } from '../bird.js';
import { type Cleanup, run, startProcess, tempDir, waitFor } from '../process.js';

export interface BirdNeighbor {
  /** Protocol name (`birdc show protocols <name>`). */
  name: string;
  address: string;
  peerAs: number;
  /** Our side's listening port (BIRD connects there). */
  remotePort: number;
  passive?: boolean;
  holdTime?: number;
  /** TCP-MD5 key. */
  password?: string;
  /** GTSM (`ttl security on`). */
  ttlSecurity?: boolean;
}

export interface BirdOptions {
  as: number;
  routerId: string;
  /** Address BIRD listens on and connects from. */
  address: string;
  port: number;
  neighbors: BirdNeighbor[];
}

export class Bird {
  private constructor(
    readonly socket: string,
    readonly logs: () => string,
  ) {}

  static async start(c: Cleanup, o: BirdOptions): Promise<Bird> {
    const dir = tempDir(c, 'cbgpd-bird-');
    const conf = join(dir, 'bird.conf');
    const socket = join(dir, 'bird.ctl');
    const lines = [
      `router id ${o.routerId};`,
      `listen bgp address ${o.address} port ${o.port};`,
      'protocol device { scan time 10; }',
    ];
    for (const n of o.neighbors) {
      const hold = n.holdTime ?? 9;
      lines.push(
        `protocol bgp ${n.name} {`,
        `  local ${o.address} as ${o.as};`,
        `  source address ${o.address};`,
        `  neighbor ${n.address} port ${n.remotePort} as ${n.peerAs};`,
        // Loopback peers are not on a directly connected LAN as BIRD sees it.
        ...(n.peerAs !== o.as ? ['  multihop 1;'] : []),
        `  hold time ${hold}; keepalive time ${Math.max(1, Math.floor(hold / 3))};`,
        '  connect retry time 1; connect delay time 1; error wait time 1, 2;',
        `  passive ${n.passive === true ? 'on' : 'off'};`,
        ...(n.password !== undefined ? [`  password "${n.password}";`] : []),
        ...(n.ttlSecurity === true ? ['  ttl security on;'] : []),
        '  import all; export none;',
        '}',
      );
    }
    writeFileSync(conf, lines.join('\n') + '\n');
    const p = startProcess(c, BIRD1, ['-f', '-c', conf, '-s', socket]);
    const b = new Bird(socket, p.output);
    await waitFor('BIRD control socket', () => b.cli('show', 'status').stdout.includes('Daemon is up'), 20_000, 100).catch((e: Error) => {
      throw new Error(`${e.message}\n${p.output().slice(-1500)}`);
    });
    return b;
  }

  cli(...args: string[]): { stdout: string; stderr: string; status: number | null } {
    return run('birdc', ['-s', this.socket, ...args]);
  }

  /** The BGP state BIRD reports for a protocol, lower case ("established", "active", "connect", ...). */
  state(protocol: string): string {
    const m = /BGP state:\s+(\w+)/.exec(this.cli('show', 'protocols', 'all', protocol).stdout);
    return m === null ? 'unknown' : m[1]!.toLowerCase();
  }

  /** BIRD's last error for a protocol ("Hold timer expired", ...), or ''. */
  lastError(protocol: string): string {
    return /Last error:\s+(.*)/.exec(this.cli('show', 'protocols', 'all', protocol).stdout)?.[1]?.trim() ?? '';
  }
}
