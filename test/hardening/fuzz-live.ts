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
import { type Cleanup, cleanup, freePort, startProcess, tempDir, waitFor } from '../support/process.js';
import { RawPeer } from '../support/raw-peer.js';
import { Rng, mutate, type Seed } from './fuzz-corpus.js';
import { FuzzStats, saveCrash, verdictOf, type Verdict } from './fuzz-oracle.js';
import { block, bgpConfiguration, node, POOL as IP_POOL, yamlDocs } from '../support/cluster-yaml.js';

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
  return `${yamlDocs(bgpConfiguration(port, false), node('n1', speaker), IP_POOL, block('n1', '198.51.100.0/26'))}${peerDocs}`;
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

/** The speaker process under test, on a loopback address, with POOL eBGP peers configured. */
async function startSpeaker(c: Cleanup): Promise<{ addr: string; port: number; peers: string[]; proc: ReturnType<typeof startProcess> }> {
  const base = `127.${120 + (process.pid % 60)}.${(process.pid >> 6) % 250}`;
  const addr = `${base}.1`;
  const peers = Array.from({ length: POOL }, (_, i) => `${base}.${10 + i}`);
  const dir = tempDir(c, 'cbgpd-fuzz-');
  const port = await freePort(addr);
  const cluster = join(dir, 'cluster.yaml');
  // Nothing listens on the peers' port: the speaker's own connects are refused; ours are accepted.
  writeFileSync(cluster, clusterYaml(addr, port, peers, await freePort(peers[0]!)));
  const sock = join(dir, 'ctl');
  const proc = startProcess(c, process.execPath, [cli, 'speaker', '--node', 'n1', '--datastore-file', cluster, '--listen-address', addr, '--control-socket', sock, '--hold-time', '90', '--no-kernel', '--bird-socket', '', '--bird6-socket', '']);
  await waitFor('speaker control socket', () => proc.child.exitCode === null && existsSync(sock), 30_000, 100);
  return { addr, port, peers, proc };
}

/** One fuzzing run against one speaker process: sessions from the pool, batches, answers checked. */
class LiveFuzzer {
  readonly stats: LiveStats = Object.assign(new FuzzStats(), { resets: 0, skipped: 0, divergences: [] as string[] });
  private seeds: Seed[] = [];
  private peerIndex = 0;
  private p: RawPeer | null = null;
  ctx: CodecContext = makeContext();
  private readonly timeoutMs: number;

  constructor(
    private readonly c: Cleanup,
    private readonly speaker: Awaited<ReturnType<typeof startSpeaker>>,
    private readonly opts: LiveOptions,
  ) {
    this.timeoutMs = opts.timeoutSeconds * 1000;
  }

  dead(): boolean {
    const ch = this.speaker.proc.child;
    return ch.exitCode !== null || ch.signalCode !== null;
  }

  /** Connects from the next peer of the pool whose idle hold allows it; bounded at 180 s. */
  async connect(): Promise<void> {
    const deadline = Date.now() + 180_000;
    for (;;) {
      const from = this.speaker.peers[this.peerIndex % POOL]!;
      this.peerIndex++;
      try {
        const p = await RawPeer.connect(this.speaker.addr, this.speaker.port, from);
        this.c.add(() => p.close());
        await p.handshake({ as: PEER_AS, id: from, caps: OUR_CAPS });
        const open = p.received.find((m): m is OpenMessage => m.type === 'OPEN');
        if (!p.closed && open !== undefined && p.received.some((m) => m.type === 'KEEPALIVE')) {
          p.keepAlive(20);
          this.ctx = txContext(open);
          if (this.seeds.length === 0 || this.seeds[0]!.ctx.addPath.size !== this.ctx.addPath.size) this.seeds = updateSeeds(this.opts.seed, this.ctx);
          p.received.length = 0;
          this.p = p;
          return;
        }
        p.close();
      } catch {
        // refused or reset: that peer is in its idle hold; try the next
      }
      if (this.dead()) throw new Error('speaker exited');
      if (Date.now() > deadline) throw new Error('no peer of the pool could establish a session within 180 s');
      await new Promise((res) => setTimeout(res, this.peerIndex % POOL === 0 ? 500 : 20));
    }
  }

  /** The next mutated UPDATE and the codec's verdict for it; undefined if the codec crashed (kept). */
  next(r: Rng): { bytes: Buffer; v: Verdict } | undefined {
    const bytes = liveUpdate(this.seeds, r);
    try {
      return { bytes, v: verdictOf(bytes, this.ctx) };
    } catch (e) {
      // Phase (a) reports codec crashes; here the input is kept and not sent.
      this.stats.crashes.push({ file: saveCrash(this.opts.crashDir, bytes, this.ctx, e, 'live (codec)'), error: String(e) });
      return undefined;
    }
  }

  send(bytes: Buffer): void {
    this.p!.sendRaw(bytes);
  }

  keep(batch: Buffer[], why: string): void {
    for (const b of batch) this.stats.crashes.push({ file: saveCrash(this.opts.crashDir, b, this.ctx, new Error(why), 'live'), error: why });
  }

  /** The batch ended in an UPDATE that must reset: exactly that NOTIFICATION must come. Then the next session. */
  async expectNotification(batch: Buffer[], verdicts: Verdict[], expect: { code: number; subcode: number }): Promise<void> {
    const p = this.p!;
    const n = (await p.waitFor((m) => m.type === 'NOTIFICATION', this.timeoutMs)) as NotificationMessage | undefined;
    if (this.dead()) return;
    const want = `${expect.code}/${expect.subcode}`;
    const last = batch.slice(-1);
    if (n === undefined && p.closed) {
      this.stats.divergences.push(`the speaker closed the session without a NOTIFICATION (expected ${want})`);
      this.keep(last, `divergence: closed without NOTIFICATION, expected ${want}`);
    } else if (n === undefined) {
      this.stats.hangs++;
      this.keep(batch, `no NOTIFICATION within ${this.opts.timeoutSeconds} s (expected ${want})`);
    } else {
      if (n.code !== expect.code || n.subcode !== expect.subcode) {
        this.stats.divergences.push(`sent an UPDATE the codec answers with ${want}; the speaker sent ${n.code}/${n.subcode}`);
        this.keep(last, `divergence: expected ${want}, got ${n.code}/${n.subcode}`);
      }
      verdicts.forEach((x) => this.stats.count(x));
    }
    this.stats.resets++;
    p.close();
    await this.connect();
  }

  /** The batch keeps the session: a ROUTE-REFRESH must be answered with EoRR (RFC 7313) on the same session. */
  async probe(batch: Buffer[], verdicts: Verdict[]): Promise<void> {
    const p = this.p!;
    p.send({ type: 'ROUTE-REFRESH', afi: 1, safi: 1, subtype: 0 });
    const eorr = await p.waitFor((m) => m.type === 'ROUTE-REFRESH' && m.subtype === 2, this.timeoutMs);
    if (this.dead()) return;
    if (eorr !== undefined) {
      verdicts.forEach((x) => this.stats.count(x));
      p.received.length = 0;
      return;
    }
    if (p.closed) {
      const n = p.received.find((m): m is NotificationMessage => m.type === 'NOTIFICATION');
      this.stats.divergences.push(`the speaker closed the session (${n ? `NOTIFICATION ${n.code}/${n.subcode}` : 'no NOTIFICATION'}) after UPDATEs the codec keeps the session for`);
      this.keep(batch, 'divergence: session closed after UPDATEs that keep it');
    } else {
      this.stats.hangs++;
      this.keep(batch, `no EoRR within ${this.opts.timeoutSeconds} s after UPDATEs that keep the session`);
      p.close();
    }
    await this.connect();
  }
}

export async function fuzzLive(opts: LiveOptions): Promise<LiveStats> {
  const c = cleanup();
  try {
    const speaker = await startSpeaker(c);
    const f = new LiveFuzzer(c, speaker, opts);
    const stats = f.stats;
    const r = new Rng(opts.seed ^ 0x5eed);
    const t0 = process.hrtime.bigint();
    await f.connect();
    let batch: Buffer[] = [];
    let verdicts: Verdict[] = [];
    let reported = 0;
    for (let sent = 0; sent < opts.messages && !f.dead(); ) {
      const m = f.next(r);
      if (m === undefined) continue;
      const resets = m.v.kind === 'notification';
      if (resets && stats.resets >= opts.maxResets) {
        stats.skipped++;
        continue;
      }
      f.send(m.bytes);
      batch.push(m.bytes);
      verdicts.push(m.v);
      sent++;
      if (!resets && batch.length < 100 && sent < opts.messages) continue;
      if (m.v.kind === 'notification') await f.expectNotification(batch, verdicts, m.v);
      else await f.probe(batch, verdicts);
      batch = [];
      verdicts = [];
      if (opts.progress !== undefined && sent - reported >= 5000) {
        reported = sent;
        opts.progress(`live: ${sent} UPDATEs, ${stats.resets} sessions reset`);
      }
    }
    if (f.dead()) {
      const ch = speaker.proc.child;
      f.keep(batch, `speaker exited (status ${ch.exitCode}, signal ${ch.signalCode})`);
      stats.crashes.push({ file: '-', error: `speaker process exited:\n${speaker.proc.output().slice(-3000)}` });
    }
    stats.seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    return stats;
  } finally {
    await c.run();
  }
}
