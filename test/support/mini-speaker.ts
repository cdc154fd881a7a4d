/**
 * A minimal speaker around one `Neighbor` for session interop tests: listens,
 * keeps an Adj-RIB-In as a map of prefix text -> attributes, and can announce
 * prefixes. The real speaker (RIB, policy) is tested on its own.
 */
import { BgpListener } from '../../src/bgp/session/listener.js';
import { Neighbor, type NeighborConfig } from '../../src/bgp/session/neighbor.js';
import type { DownReason, FsmState } from '../../src/bgp/fsm/fsm.js';
import { Afi, PrefixList, attributesToJson, endOfRib, packUpdates, type PathAttributes } from '../../src/bgp/packet/index.js';
import type { Cleanup } from './process.js';

export class MiniSpeaker {
  readonly adjIn = new Map<string, Record<string, unknown>>();
  readonly states: FsmState[] = [];
  readonly downs: DownReason[] = [];
  readonly endOfRibs: string[] = [];
  established = 0;
  neighbor: Neighbor;
  private listener: BgpListener | null = null;

  constructor(config: NeighborConfig) {
    this.neighbor = new Neighbor(config, {
      state: (s) => this.states.push(s),
      established: () => this.established++,
      down: (r) => this.downs.push(r),
      update: (v) => {
        if (v.action === 'treat-as-withdraw') {
          for (const l of v.withdraw) for (const p of l.toStrings()) this.adjIn.delete(p);
          return;
        }
        const u = v.update;
        for (const p of u.withdrawn.toStrings()) this.adjIn.delete(p);
        for (const p of u.attributes.mpUnreach?.withdrawn.toStrings() ?? []) this.adjIn.delete(p);
        const attrs = attributesToJson({ ...u.attributes, mpReach: undefined, mpUnreach: undefined });
        for (const p of u.nlri.toStrings()) this.adjIn.set(p, attrs);
        for (const p of u.attributes.mpReach?.nlri.toStrings() ?? []) this.adjIn.set(p, { ...attrs, nextHops: u.attributes.mpReach!.nextHops });
        if (u.nlri.count === 0 && u.withdrawn.count === 0 && Object.values(u.attributes).every((x) => x === undefined)) this.endOfRibs.push('ipv4');
        if (u.attributes.mpUnreach !== undefined && u.attributes.mpUnreach.withdrawn.count === 0) this.endOfRibs.push('ipv6');
      },
    });
  }

  /** Listens on address:port for the peer's connections (port 0 picks one). */
  async listen(c: Cleanup, host: string, port: number): Promise<number> {
    this.listener = new BgpListener({ host, port }, (addr) => (addr === this.neighbor.config.address ? this.neighbor : undefined));
    const bound = await this.listener.listen();
    c.add(() => this.listener?.close());
    return bound;
  }

  start(c: Cleanup): void {
    this.neighbor.start();
    c.add(() => this.neighbor.stop('test finished'));
  }

  /** Announces prefixes with one attribute set, then End-of-RIB for the family. */
  announce(prefixes: string[], attrs: PathAttributes, nextHop6?: string[]): void {
    const afi = prefixes[0]?.includes(':') ? Afi.IPV6 : Afi.IPV4;
    const list = PrefixList.fromStrings(afi, prefixes);
    const ctx = this.neighbor.connection!.tx;
    this.neighbor.writeUpdates(packUpdates(list, attrs, ctx, nextHop6));
    this.neighbor.send(endOfRib(afi));
  }
}
