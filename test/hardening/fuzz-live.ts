/**
 * Phase (b) of the fuzzer: a real `calico-bgpd speaker` process (file
 * datastore in a temp dir) on loopback, and a pool of hand-driven eBGP peers
 * that send it seeded mutated UPDATEs. For each UPDATE the codec, in
 * process, says what the session must do (fuzz-oracle.ts); the live speaker
 * must do just that: a NOTIFICATION with that code/subcode, or keep the
 * session (treat-as-withdraw, attribute-discard, accept), proven by a
 * ROUTE-REFRESH it answers with BoRR/EoRR. A speaker that exits, or neither
 * answers nor closes in time, is a crash or a hang; the UPDATEs since the
 * last answer are kept as crash files. After a NOTIFICATION the next peer of
 * the pool connects (each peer's idle-hold backoff grows with its resets).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { encodeMessage, messageFromJson, makeContext, afiSafiKey, type CodecContext, type NotificationMessage, type OpenMessage, type Capability } from '../../src/bgp/packet/index.js';
import { updateJson } from '../bgp/packet/arbitraries.js';
import { cleanup, freePort, startProcess, tempDir, waitFor } from '../support/process.js';
import { RawPeer } from '../support/raw-peer.js';
import { Rng, mutate, type Seed } from './fuzz-corpus.js';
import { FuzzStats, saveCrash, verdictOf, type Verdict } from './fuzz-oracle.js';

const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const PEER_AS = 65001;
const POOL = 32;

export interface LiveOptions {
  messages: number;
  seed: number;
  crashDir: string;
  /** Most sessions the fuzzer lets end in a NOTIFICATION; past it, UPDATEs that would reset are not sent. */
  maxResets: number;
  /** Seconds to wait for an answer (EoRR or NOTIFICATION) before calling it a hang. */
  timeoutSeconds: number;
  progress?: (line: string) => void;
}

export interface LiveStats extends FuzzStats {
  resets: number;
  /** UPDATEs not sent because the reset budget was spent. */
  skipped: number;
  /** Answers that were not what the codec said (wrong NOTIFICATION, or none). */
  divergences: string[];
}

function clusterYaml(speaker: string, port: number, peers: string[], peerPort: number): string {
  const peerDocs = peers.map((p, i) => `---\napiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: { name: fuzz-${i} }\nspec: { peerIP: "${p}:${peerPort}", asNumber: ${PEER_AS} }\n`).join('');
  return `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: { name: default }
spec: { asNumber: 64512, nodeToNodeMeshEnabled: false, listenPort: ${port} }
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: n1 }
spec: { bgp: { ipv4Address: ${speaker}/8 } }
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: { name: pool }
spec: { cidr: 198.51.100.0/24, blockSize: 26 }
---
apiVersion: crd.projectcalico.org/v1
kind: BlockAffinity
metadata: { name: n1-a }
spec: { node: n1, cidr: 198.51.100.0/26, state: confirmed, deleted: "false" }
${peerDocs}`;
}

const OUR_CAPS: Capability[] = [
  { code: 1, afi: 1, safi: 1 },
  { code: 1, afi: 2, safi: 1 },
  { code: 2 },
  { code: 70 },
  { code: 65, asn: PEER_AS },
  { code: 69, families: [{ afi: 1, safi: 1, mode: 'send' }] },
];

/** Our sending context from the speaker's OPEN: 4-octet AS and ADD-PATH as negotiated. */
function txContext(open: OpenMessage): CodecContext {
  const has = (code: number): boolean => open.capabilities.some((c) => c.code === code);
  const ap = open.capabilities.find((c): c is Extract<Capability, { code: 69 }> => c.code === 69);
  const recv = ap?.families.some((f) => f.afi === 1 && f.safi === 1 && f.mode !== 'send') === true;
  return makeContext({ fourOctetAs: has(65), addPath: recv ? new Set([afiSafiKey(1, 1)]) : new Set(), peerType: 'external' });
}

/** Valid UPDATEs for `ctx` from our encoder: what the mutations start from. */
function updateSeeds(seed: number, ctx: CodecContext): Seed[] {
  const out: Seed[] = [];
  for (const json of fc.sample(updateJson, { seed, numRuns: 400 })) {
    try {
      out.push({ bytes: encodeMessage(messageFromJson(json), ctx), ctx, from: 'encoder' });
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
    }
  }
  return out;
}

/** A mutated UPDATE as a session sees it: valid marker, type UPDATE, true length. */
function liveUpdate(seeds: Seed[], r: Rng): Buffer {
  let b = mutate(seeds, r, true).bytes;
  if (b.length < 23) b = Buffer.concat([b, Buffer.alloc(23 - b.length)]);
  b = Buffer.from(b);
  b.fill(0xff, 0, 16);
  b.writeUInt16BE(Math.min(b.length, 0xffff), 16);
  b[18] = 2;
  return b;
}

export async function fuzzLive(opts: LiveOptions): Promise<LiveStats> {
  const stats = Object.assign(new FuzzStats(), { resets: 0, skipped: 0, divergences: [] as string[] }) as LiveStats;
  const c = cleanup();
  try {
    const base = `127.${120 + (process.pid % 60)}.${(process.pid >> 6) % 250}`;
    const speakerAddr = `${base}.1`;
    const peers = Array.from({ length: POOL }, (_, i) => `${base}.${10 + i}`);
    const dir = tempDir(c, 'cbgpd-fuzz-');
    const port = await freePort(speakerAddr);
    const cluster = join(dir, 'cluster.yaml');
    // Nothing listens on the peers' port: the speaker's own connects are refused; ours are accepted.
    writeFileSync(cluster, clusterYaml(speakerAddr, port, peers, await freePort(peers[0]!)));
    const sock = join(dir, 'ctl');
    const proc = startProcess(c, process.execPath, [cli, 'speaker', '--node', 'n1', '--datastore-file', cluster, '--listen-address', speakerAddr, '--control-socket', sock, '--hold-time', '90', '--no-kernel']);
    await waitFor('speaker control socket', () => proc.child.exitCode === null && existsSync(sock), 30_000, 100);
    const dead = (): boolean => proc.child.exitCode !== null || proc.child.signalCode !== null;

    const r = new Rng(opts.seed ^ 0x5eed);
    let seeds: Seed[] = [];
    let peerIndex = 0;
    let session = null as { p: RawPeer; ctx: CodecContext; eorr: number } | null;
    const t0 = process.hrtime.bigint();
    const timeoutMs = opts.timeoutSeconds * 1000;

    const connect = async (): Promise<void> => {
      const deadline = Date.now() + 180_000;
      for (;;) {
        const from = peers[peerIndex % POOL]!;
        peerIndex++;
        try {
          const p = await RawPeer.connect(speakerAddr, port, from);
          c.add(() => p.close());
          await p.handshake({ as: PEER_AS, id: from, caps: OUR_CAPS });
          const open = p.received.find((m): m is OpenMessage => m.type === 'OPEN');
          if (!p.closed && open !== undefined && p.received.some((m) => m.type === 'KEEPALIVE')) {
            p.keepAlive(20);
            const ctx = txContext(open);
            if (seeds.length === 0 || seeds[0]!.ctx.addPath.size !== ctx.addPath.size) seeds = updateSeeds(opts.seed, ctx);
            session = { p, ctx, eorr: 0 };
            return;
          }
          p.close();
        } catch {
          // refused or reset: that peer is in its idle hold; try the next
        }
        if (dead()) throw new Error('speaker exited');
        if (Date.now() > deadline) throw new Error('no peer of the pool could establish a session within 180 s');
        await new Promise((res) => setTimeout(res, peerIndex % POOL === 0 ? 500 : 20));
      }
    };

    const eorrCount = (p: RawPeer): number => p.received.filter((m) => m.type === 'ROUTE-REFRESH' && m.subtype === 2).length;
    const keep = (batch: Buffer[], ctx: CodecContext, why: string): void => {
      for (const b of batch) stats.crashes.push({ file: saveCrash(opts.crashDir, b, ctx, new Error(why), 'live'), error: why });
    };

    await connect();
    let batch: Buffer[] = [];
    let verdicts: Verdict[] = [];
    let reported = 0;
    for (let sent = 0; sent < opts.messages && !dead(); ) {
      const s = session!;
      const bytes = liveUpdate(seeds, r);
      let v: Verdict;
      try {
        v = verdictOf(bytes, s.ctx);
      } catch (e) {
        // The codec itself crashed: kept, and not sent (phase (a) reports codec crashes).
        stats.crashes.push({ file: saveCrash(opts.crashDir, bytes, s.ctx, e, 'live (codec)'), error: String(e) });
        continue;
      }
      const resets = v.kind === 'notification';
      if (resets && stats.resets >= opts.maxResets) {
        stats.skipped++;
        continue;
      }
      s.p.sendRaw(bytes);
      batch.push(bytes);
      verdicts.push(v);
      sent++;
      if (!resets && batch.length < 100 && sent < opts.messages) continue;

      if (resets) {
        const expect = v as Extract<Verdict, { kind: 'notification' }>;
        const n = (await s.p.waitFor((m) => m.type === 'NOTIFICATION', timeoutMs)) as NotificationMessage | undefined;
        if (dead()) break;
        if (n === undefined && s.p.closed) {
          stats.divergences.push(`the speaker closed the session without a NOTIFICATION (expected ${expect.code}/${expect.subcode})`);
          keep([bytes], s.ctx, `divergence: closed without NOTIFICATION, expected ${expect.code}/${expect.subcode}`);
        } else if (n === undefined) {
          stats.hangs++;
          keep(batch, s.ctx, `no NOTIFICATION within ${opts.timeoutSeconds} s (expected ${expect.code}/${expect.subcode})`);
        } else {
          if (n.code !== expect.code || n.subcode !== expect.subcode) {
            stats.divergences.push(`sent an UPDATE the codec answers with ${expect.code}/${expect.subcode}; the speaker sent ${n.code}/${n.subcode}`);
            keep([bytes], s.ctx, `divergence: expected ${expect.code}/${expect.subcode}, got ${n.code}/${n.subcode}`);
          }
          verdicts.forEach((x) => stats.count(x));
        }
        stats.resets++;
        s.p.close();
        await connect();
      } else {
        // Probe: a ROUTE-REFRESH the speaker answers with BoRR ... EoRR (RFC 7313).
        const before = s.eorr;
        s.p.send({ type: 'ROUTE-REFRESH', afi: 1, safi: 1, subtype: 0 });
        const ok = await waitFor('EoRR', () => eorrCount(s.p) > before || s.p.closed, timeoutMs, 5).catch(() => false);
        if (dead()) break;
        if (ok === false) {
          stats.hangs++;
          keep(batch, s.ctx, `no EoRR within ${opts.timeoutSeconds} s after UPDATEs that keep the session`);
          s.p.close();
          await connect();
        } else if (s.p.closed) {
          const n = s.p.received.find((m): m is NotificationMessage => m.type === 'NOTIFICATION');
          stats.divergences.push(`the speaker closed the session (${n ? `NOTIFICATION ${n.code}/${n.subcode}` : 'no NOTIFICATION'}) after UPDATEs the codec keeps the session for`);
          keep(batch, s.ctx, 'divergence: session closed after UPDATEs that keep it');
          await connect();
        } else {
          s.eorr = eorrCount(s.p);
          verdicts.forEach((x) => stats.count(x));
          s.p.received.length = 0;
          s.eorr = 0;
        }
      }
      batch = [];
      verdicts = [];
      if (opts.progress !== undefined && sent - reported >= 5000) {
        reported = sent;
        opts.progress(`live: ${sent} UPDATEs, ${stats.resets} sessions reset`);
      }
    }
    if (dead()) {
      keep(batch, session?.ctx ?? makeContext(), `speaker exited (status ${proc.child.exitCode}, signal ${proc.child.signalCode})`);
      stats.crashes.push({ file: '-', error: `speaker process exited:\n${proc.output().slice(-3000)}` });
    }
    stats.seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    return stats;
  } finally {
    await c.run();
  }
}
