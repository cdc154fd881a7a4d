/**
 * The speaker's two BIRD-compatible sockets (bird.ctl for IPv4 peers,
 * bird6.ctl for IPv6 peers), with the daemon facts they report: start time,
 * last reconfiguration, and graceful-restart recovery while it lasts.
 */
import type { Logger } from 'pino';
import { BirdSocketServer } from './server.js';
import { type SpeakerViews, speakerBirdView } from './speaker-view.js';
import type { BirdGracefulRestartView } from './view.js';

/** BIRD's default `graceful restart wait`: recovery ends after it even if peers are missing. */
export const GR_WAIT_SECONDS = 240;

/** Where the two sockets go and whether the speaker started in a graceful restart. */
export interface BirdSocketsOptions {
  /** Socket paths; '' turns that one off. */
  bird: string;
  bird6: string;
  /** We started with forwarding state kept from a previous run (RFC 4724 restart). */
  restarting: boolean;
  log: Logger;
}

/** The open sockets, with the events the speaker reports to them. */
export interface BirdSockets {
  /** The model changed: BIRD would call that a reconfiguration. */
  reconfigured(): void;
  /** Every peer sent End-of-RIB: graceful-restart recovery is over. */
  converged(): void;
  close(): Promise<void>;
}

/** Opens the sockets that have a path and answers on them from `speaker`. */
export async function openBirdSockets(speaker: SpeakerViews, o: BirdSocketsOptions): Promise<BirdSockets> {
  const bootedAt = new Date();
  let reconfiguredAt = bootedAt;
  let recovering = o.restarting;
  const gracefulRestart = (peers: number): BirdGracefulRestartView | null => {
    const remaining = GR_WAIT_SECONDS - Math.floor((Date.now() - bootedAt.getTime()) / 1000);
    if (!recovering || remaining <= 0) return null;
    // Until End-of-RIB from every peer, every protocol of the family counts as not yet recovered.
    return { waiting: peers, remaining, wait: GR_WAIT_SECONDS };
  };
  const servers: BirdSocketServer[] = [];
  const families: [string, 4 | 6][] = [
    [o.bird, 4],
    [o.bird6, 6],
  ];
  for (const [path, family] of families) {
    if (path === '') continue;
    const server = new BirdSocketServer(path, (detail) => speakerBirdView(speaker, family, { bootedAt, reconfiguredAt, gracefulRestart }, detail));
    try {
      await server.listen();
      servers.push(server);
    } catch (e) {
      // The BGP service goes on without this view of it; say so loudly.
      o.log.warn({ socket: path, err: (e as Error).message }, `BIRD-compatible socket for IPv${family} peers not opened`);
    }
  }
  o.log.info({ birdSocket: o.bird, bird6Socket: o.bird6, open: servers.map((x) => x.path) }, 'BIRD-compatible sockets ready');
  return {
    reconfigured: () => {
      reconfiguredAt = new Date();
    },
    converged: () => {
      recovering = false;
    },
    close: async () => {
      await Promise.all(servers.map((s) => s.close()));
    },
  };
}
