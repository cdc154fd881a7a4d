/**
 * `npm run bench:codec-peers`: our codec's decode/ingest rate beside the
 * ingest rate of real BGP daemons (BIRD 1.6, GoBGP, FRR bgpd) fed the very
 * same UPDATE bytes, on the same machine, in the same run.
 *
 *   theirs  full daemon ingest: a sender written with our codec
 *           (support/bgp-sender.ts) opens an iBGP session to the daemon on
 *           loopback, writes N packed UPDATEs and an End-of-RIB; the time
 *           runs from the first UPDATE octet handed to the socket until the
 *           daemon's own CLI reports all N prefixes in its RIB (TCP receive,
 *           parse, validation, RIB insert, and whatever else it does).
 *   ours    codec only, in process, no TCP: decode + RFC 7606 validation of
 *           the same bytes ("decode"), and that plus a Map insert keyed by
 *           prefix as a stand-in for a RIB insert ("ingest").
 *
 * So the ratios say how much headroom the codec leaves. The native speaker
 * end to end (bytes on its socket to routes in its Loc-RIB) is one more
 * daemon row, `calico-bgpd`, measured exactly as the others: its control
 * socket's count of routes accepted from the sender.
 *
 *   node dist/bench/codec-peers.bench.js [--v4 N] [--v6 N] [--peers calico,bird,gobgp,frr]
 *                                        [--timeout S] [--runs N] [--rounds N]
 *
 * Daemons run with private configs, sockets and logs in temp dirs, on
 * 127.0.0.x / ::1 and kernel-assigned ports; everything is stopped and
 * removed at the end, on error and on Ctrl-C. Needs root only for what the
 * daemons themselves need (FRR runs as root instead of user frr).
 */
import {
  Afi,
  DEFAULT_CONTEXT,
  PrefixList,
  decodeMessage,
  packUpdates,
  validateUpdate,
  type AfiCode,
  type CodecContext,
  type DecodedUpdate,
  type PathAttributes,
} from '../src/bgp/packet/index.js';
import { BgpSender, chunkMessages } from './support/bgp-sender.js';
import { cleanup, sleep } from './support/lab.js';
import { PEER_AS, PEER_KINDS, type Family, type Peer, type PeerKind } from './support/peers.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}

const V4_N = Number(arg('--v4', '500000'));
const V6_N = Number(arg('--v6', '200000'));
const TIMEOUT_S = Number(arg('--timeout', '120'));
const RUNS = Number(arg('--runs', '3'));
const ROUNDS = Number(arg('--rounds', '5'));
const POLL_MS = Number(arg('--poll', '10'));
/** Pause between polls as a fraction of the time elapsed so far (at least POLL_MS). */
const POLL_FRACTION = 0.02;
const WANTED = arg('--peers', 'calico,bird,gobgp,frr').split(',');

// ---------------------------------------------------------------------------
// The UPDATE streams (the same attributes as codec.bench.ts, iBGP next hops)
// ---------------------------------------------------------------------------

const attrs: PathAttributes = {
  origin: 0,
  asPath: [{ type: 2, asns: [64512, 64513, 4200000000] }],
  nextHop: '192.0.2.1',
  localPref: 100,
  communities: [(64512 << 16) | 100],
};
const v6attrs: PathAttributes = { ...attrs };
delete v6attrs.nextHop;

/** n distinct IPv4 /24s from 11.0.0.0 up (n <= 2^24 - 2^16 * 11). */
function v4Prefixes(n: number): PrefixList {
  const words = new Uint32Array(n);
  for (let i = 0; i < n; i++) words[i] = (0x0b000000 + i * 256) >>> 0;
  return new PrefixList(Afi.IPV4, new Uint8Array(n).fill(24), words, null);
}

/** n distinct IPv6 /48s in fd00::/8. */
function v6Prefixes(n: number): PrefixList {
  const words = new Uint32Array(n * 4);
  for (let i = 0; i < n; i++) {
    words[4 * i] = (0xfd000000 | (i >>> 16)) >>> 0;
    words[4 * i + 1] = ((i & 0xffff) << 16) >>> 0;
  }
  return new PrefixList(Afi.IPV6, new Uint8Array(n).fill(48), words, null);
}

interface Stream {
  family: Family;
  afi: AfiCode;
  label: string;
  count: number;
  msgs: Buffer[];
  chunks: Buffer[];
  bytes: number;
}

function stream(family: Family, n: number): Stream {
  const ctx = DEFAULT_CONTEXT;
  const msgs = family === 'ipv4' ? packUpdates(v4Prefixes(n), attrs, ctx) : packUpdates(v6Prefixes(n), v6attrs, ctx, ['2001:db8::1']);
  const chunks = chunkMessages(msgs);
  return {
    family,
    afi: family === 'ipv4' ? Afi.IPV4 : Afi.IPV6,
    label: family === 'ipv4' ? 'IPv4 /24' : 'IPv6 /48',
    count: n,
    msgs,
    chunks,
    bytes: chunks.reduce((s, c) => s + c.length, 0),
  };
}

// ---------------------------------------------------------------------------
// Ours: codec decode (+ validate), and that plus a Map insert
// ---------------------------------------------------------------------------

function nlriOf(u: DecodedUpdate | { nlri: PrefixList; attributes: PathAttributes }): PrefixList {
  return u.nlri.count > 0 ? u.nlri : (u.attributes.mpReach?.nlri ?? u.nlri);
}

function decodeAll(msgs: readonly Buffer[], ctx: CodecContext): number {
  let n = 0;
  for (const m of msgs) {
    const v = validateUpdate(decodeMessage(m, ctx).message as DecodedUpdate, ctx);
    if (v.action !== 'accept') throw new Error('benchmark input must be valid');
    n += nlriOf(v.update).count;
  }
  return n;
}

/**
 * Decode + validate + insert every prefix into a Map (prefix -> attributes),
 * like a RIB would. IPv4: one Map per prefix length keyed by the address as
 * an int32 (a small integer to V8, no allocation per key); IPv6: one Map
 * keyed by a 9-character string of the address's 16-bit groups and length.
 */
function ingestAll(msgs: readonly Buffer[], ctx: CodecContext): number {
  const v4 = Array.from({ length: 33 }, () => new Map<number, PathAttributes>());
  const rib = new Map<string, PathAttributes>();
  for (const m of msgs) {
    const v = validateUpdate(decodeMessage(m, ctx).message as DecodedUpdate, ctx);
    if (v.action !== 'accept') throw new Error('benchmark input must be valid');
    const list = nlriOf(v.update);
    const a = v.update.attributes;
    const { words, lens } = list;
    if (list.afi === Afi.IPV4) {
      for (let i = 0; i < list.count; i++) v4[lens[i]!]!.set(words[i]! | 0, a);
    } else {
      for (let i = 0; i < list.count; i++) {
        const w = 4 * i;
        rib.set(
          String.fromCharCode(
            words[w]! >>> 16, words[w]! & 0xffff, words[w + 1]! >>> 16, words[w + 1]! & 0xffff,
            words[w + 2]! >>> 16, words[w + 2]! & 0xffff, words[w + 3]! >>> 16, words[w + 3]! & 0xffff, lens[i]!,
          ),
          a,
        );
      }
    }
  }
  return v4.reduce((n, byLen) => n + byLen.size, rib.size);
}

function bestRate(n: number, fn: () => number): number {
  if (fn() !== n) throw new Error(`codec counted a different number of prefixes than ${n}`);
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return n / best;
}

// ---------------------------------------------------------------------------
// Theirs: one daemon, one session, one stream
// ---------------------------------------------------------------------------

interface PeerResult {
  seconds: number;
  /** Time to hand every octet to the socket (the daemon's read rate bounds it). */
  sendSeconds: number;
  /** Gap between the last two polls: the reading's resolution. */
  pollSeconds: number;
}

async function measure(kind: PeerKind, s: Stream): Promise<{ peer: string; result: PeerResult }> {
  let peer: Peer | undefined;
  let sender: BgpSender | undefined;
  try {
    peer = await kind.start(s.family);
    const p = peer;
    sender = await BgpSender.establish({ host: p.host, port: p.port, localAddress: p.senderAddress, asn: PEER_AS, bgpId: '10.255.255.1' });
    if ((await p.count()) !== 0) throw new Error('daemon RIB not empty before the stream');
    const deadline = Date.now() + TIMEOUT_S * 1000;
    const sent = await sender.blast(s.chunks, s.afi, TIMEOUT_S * 1000);
    let lastPoll = process.hrtime.bigint();
    let prevPoll = sent.firstByteAt;
    let seen = 0;
    let cliError = '';
    for (;;) {
      try {
        seen = await p.count();
      } catch (err) {
        cliError = `; last CLI error: ${(err as Error).message}`; // a busy daemon may time a poll out: retry until the deadline
      }
      prevPoll = lastPoll;
      lastPoll = process.hrtime.bigint();
      if (seen >= s.count) break;
      if (sender.error !== undefined) throw new Error(`session failed at ${seen}/${s.count} prefixes: ${sender.error.message}; log: ${p.logTail()}`);
      if (Date.now() > deadline) throw new Error(`only ${seen}/${s.count} prefixes after ${TIMEOUT_S} s${cliError}`);
      // Every poll costs the daemon some work, so poll less often the longer
      // it takes: the reading stays within a few per cent of the true time.
      await sleep(Math.max(POLL_MS, (Number(lastPoll - sent.firstByteAt) / 1e6) * POLL_FRACTION));
    }
    if (seen !== s.count) throw new Error(`daemon reports ${seen} prefixes, sent ${s.count}`);
    return {
      peer: p.name,
      result: {
        seconds: Number(lastPoll - sent.firstByteAt) / 1e9,
        sendSeconds: Number(sent.flushedAt - sent.firstByteAt) / 1e9,
        pollSeconds: Number(lastPoll - prevPoll) / 1e9,
      },
    };
  } finally {
    sender?.close();
    await peer?.stop();
  }
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

const rate = (x: number): string => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M/s` : `${(x / 1e3).toFixed(0)} k/s`);
const ratio = (x: number): string => (x >= 10 ? `${x.toFixed(0)}x` : `${x.toFixed(1)}x`);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const kinds = PEER_KINDS.filter((k) => WANTED.includes(k.id));
  const versions = new Map<string, string>();
  for (const k of kinds) versions.set(k.id, k.missing() === undefined ? await k.version() : '-');

  console.log(`codec-peers benchmark: node ${process.version}, ${new Date().toISOString()}`);
  console.log('  theirs = full daemon ingest: TCP receive + parse + validation + RIB insert, from the first');
  console.log('           UPDATE octet sent until the daemon CLI reports all N prefixes (iBGP, loopback).');
  console.log(`  ours   = codec only, in process, no TCP: decode+validate of the same bytes (best of ${ROUNDS}),`);
  console.log('           and "ingest" = that + Map insert keyed by prefix (a stand-in for a RIB insert).');
  console.log('  Ratios are ours/theirs: codec headroom, NOT an end-to-end comparison. The calico-bgpd');
  console.log('  row is the end-to-end one: our speaker measured exactly as the other daemons (its Loc-RIB');
  console.log('  count of routes from the sender, asked over its control socket).');
  console.log(`  peers: ${kinds.map((k) => `${k.id} ${versions.get(k.id)}`).join(', ')}; ${RUNS} run(s) each, median shown\n`);

  const streams = [stream('ipv4', V4_N), stream('ipv6', V6_N)].filter((s) => s.count > 0);
  const summary: Record<string, unknown> = {};
  for (const s of streams) {
    const decode = bestRate(s.count, () => decodeAll(s.msgs, DEFAULT_CONTEXT));
    const ingest = bestRate(s.count, () => ingestAll(s.msgs, DEFAULT_CONTEXT));
    console.log(`${s.label}: ${s.count.toLocaleString('en')} prefixes in ${s.msgs.length} UPDATEs (${(s.bytes / 1e6).toFixed(1)} MB) + End-of-RIB`);
    console.log(`  ours    decode ${rate(decode)}, ingest ${rate(ingest)}`);
    console.log('  peer              version   ingest s   theirs      decode/theirs  ingest/theirs  (socket s, poll res s)');
    const rows: Record<string, unknown> = {};
    for (const k of kinds) {
      const why = k.missing();
      const name = k.id === 'calico' ? 'calico-bgpd' : k.id === 'bird' ? (s.family === 'ipv4' ? 'BIRD (bird)' : 'BIRD (bird6)') : k.id === 'gobgp' ? 'GoBGP' : 'FRR bgpd';
      if (why !== undefined) {
        console.log(`  ${name.padEnd(17)} skipped: ${why}`);
        continue;
      }
      const results: PeerResult[] = [];
      let failure: string | undefined;
      for (let r = 0; r < RUNS && failure === undefined; r++) {
        try {
          results.push((await measure(k, s)).result);
        } catch (err) {
          failure = (err as Error).message.replace(/\s+/g, ' ');
        }
      }
      if (results.length === 0) {
        console.log(`  ${name.padEnd(17)} FAILED: ${failure}`);
        rows[k.id] = { error: failure };
        continue;
      }
      const secs = median(results.map((x) => x.seconds));
      const theirs = s.count / secs;
      const res = results.find((x) => x.seconds === secs)!;
      console.log(
        `  ${name.padEnd(17)} ${versions.get(k.id)!.padEnd(9)} ${secs.toFixed(3).padStart(8)}   ${rate(theirs).padStart(10)}  ${ratio(decode / theirs).padStart(13)}  ${ratio(ingest / theirs).padStart(13)}  (${res.sendSeconds.toFixed(3)}, ±${res.pollSeconds.toFixed(3)})`,
      );
      if (failure !== undefined) console.log(`  ${''.padEnd(17)} (a later run failed: ${failure})`);
      rows[k.id] = { seconds: secs, rate: theirs, decodeRatio: decode / theirs, ingestRatio: ingest / theirs };
    }
    console.log('');
    summary[s.family] = { prefixes: s.count, decode, ingest, peers: rows };
  }
  if (process.env.BENCH_JSON !== undefined) console.log(JSON.stringify(summary));
}

try {
  await main();
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await cleanup();
}
