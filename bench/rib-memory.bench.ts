/**
 * `npm run bench:rib`: Loc-RIB memory and insert rate at 1 million routes
 * (10 peers x 100,000 IPv4 prefixes, every peer advertising the same
 * prefixes with its own next hop, as a route reflector sees a mesh).
 * Memory is RSS growth over the empty RIB, after a forced GC.
 * Target (issue #6): <= 250 bytes per route.
 */
import { AttrTable } from '../src/bgp/rib/intern.js';
import { LocRib } from '../src/bgp/rib/loc-rib.js';
import { ipv4Key } from '../src/bgp/rib/prefix-key.js';
import type { PathSource } from '../src/bgp/rib/best-path.js';

const PEERS = Number(process.env.BENCH_PEERS ?? 10);
const PREFIXES = Number(process.env.BENCH_PREFIXES ?? 100_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('run with node --expose-gc (npm run bench:rib does)');
  process.exit(2);
}

const heap: number[] = [];
function rss(): number {
  gc!();
  gc!();
  const m = process.memoryUsage();
  heap.push(m.heapUsed);
  return m.rss;
}

const table = new AttrTable();
const rib = new LocRib(table);
const peers: PathSource[] = Array.from({ length: PEERS }, (_, i) => ({
  name: `peer${i}`,
  address: `192.0.2.${i + 1}`,
  routerId: 0xc0000200 + i + 1,
  peerType: 'internal',
  addressKey: 0xc0000200 + i + 1,
}));
const before = rss();
const t0 = process.hrtime.bigint();
for (const [i, p] of peers.entries()) {
  const attrs = { origin: 0 as const, asPath: [], nextHop: `192.0.2.${i + 1}`, localPref: 100 };
  const set = table.intern(attrs);
  for (let n = 0; n < PREFIXES; n++) {
    const addr = (10 << 24) + n * 256; // 10.x.y.0/24
    rib.announce(p, ipv4Key(addr, 24), 0, table.retain(set));
  }
  table.release(set);
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const after = rss();
const routes = PEERS * PREFIXES;
const perRoute = (after - before) / routes;
console.log(`Loc-RIB: ${PEERS} peers x ${PREFIXES} prefixes = ${routes} routes, ${rib.size} destinations`);
console.log(`insert: ${(routes / seconds / 1e6).toFixed(2)} M routes/s (${seconds.toFixed(2)} s, best path kept current)`);
console.log(`heap: ${((heap[1]! - heap[0]!) / routes).toFixed(0)} bytes/route live objects`);
console.log(`memory: ${((after - before) / 1048576).toFixed(1)} MiB RSS growth = ${perRoute.toFixed(0)} bytes/route (target <= 250)`);
