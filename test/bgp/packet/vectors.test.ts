/**
 * Wire vectors captured from real BGP implementations (BIRD, GoBGP, FRR,
 * ExaBGP; see test/vectors/README.md and scripts/capture-vectors.sh).
 *
 * Each vector is one direction of a real session: raw concatenated BGP
 * messages. For every vector the test
 *   1. decodes it with our CLI (`calico-bgpd decode`) and requires no ERROR
 *      line and exit status 0, and
 *   2. dissects the same bytes with tshark (each message wrapped in its own
 *      fake TCP packet by text2pcap) and compares the two readings message by
 *      message: type, OPEN fields and capability codes, UPDATE prefixes
 *      (IPv4 and MP_REACH/MP_UNREACH, with ADD-PATH ids), next hops, AS_PATH,
 *      communities (standard, large, extended types), MED, LOCAL_PREF,
 *      ORIGIN and the other attributes, NOTIFICATION and ROUTE-REFRESH fields.
 *
 * Both readings are reduced to the same small "view" per message; the views
 * must be equal. tshark is a hard requirement (installed by scripts/setup.sh).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// ---------------------------------------------------------------------------
// Locations
// ---------------------------------------------------------------------------

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'calico-bgpd') return dir;
    dir = dirname(dir);
  }
  throw new Error('repository root (package.json of calico-bgpd) not found');
}

const ROOT = findRepoRoot();
const VECTORS = join(ROOT, 'test', 'vectors');
const CLI = join('dist', 'src', 'cli.js');

/** Metadata written next to each vector by scripts/capture-vectors.sh. */
interface VectorMeta {
  session: string;
  sender: string;
  receiver: string;
  senderAddress: string;
  receiverAddress: string;
  transport: 'ipv4' | 'ipv6';
  fourOctetAs: boolean;
  addPath: string[];
  bytes: number;
  messages: number;
}

interface Vector {
  name: string;
  bin: string;
  meta: VectorMeta;
}

const vectors: Vector[] = readdirSync(VECTORS)
  .filter((f) => f.endsWith('.bin'))
  .sort()
  .map((f) => {
    const name = f.slice(0, -'.bin'.length);
    return { name, bin: join(VECTORS, f), meta: JSON.parse(readFileSync(join(VECTORS, `${name}.json`), 'utf8')) as VectorMeta };
  });

// ---------------------------------------------------------------------------
// The common view of one message
// ---------------------------------------------------------------------------

/** What both readings must agree on. Lists of prefixes are sorted. */
interface View {
  type: string;
  open?: { myAs: number; holdTime: number; bgpId: string; capabilities: number[]; as4: number[] };
  update?: {
    withdrawn: string[];
    nlri: string[];
    /** Path attribute type codes, sorted. */
    attributeTypes: number[];
    origin?: string;
    asPath?: { type: string; asns: number[] }[];
    nextHop?: string;
    med?: number;
    localPref?: number;
    aggregator?: { as: number; address: string };
    communities?: string[];
    largeCommunities?: string[];
    /** High-order type octet of each extended community, in order. */
    extendedCommunityTypes?: number[];
    originatorId?: string;
    clusterList?: string[];
    mpReach?: { afi: number; safi: number; nextHops: string[]; nlri: string[] };
    mpUnreach?: { afi: number; safi: number; withdrawn: string[] };
  };
  notification?: { code: number; subcode: number; shutdownMessage?: string };
  routeRefresh?: { afi: number; safi: number; subtype: number };
}

const TYPE_NAMES: Record<number, string> = { 1: 'OPEN', 2: 'UPDATE', 3: 'NOTIFICATION', 4: 'KEEPALIVE', 5: 'ROUTE-REFRESH' };
const ORIGINS = ['igp', 'egp', 'incomplete'];
const SEGMENT_TYPES: Record<number, string> = { 1: 'set', 2: 'sequence', 3: 'confedSequence', 4: 'confedSet' };

/** RFC 5952 text of an IPv6 address (the WHATWG URL serializer implements it). */
function canonicalIp(addr: string): string {
  if (!addr.includes(':')) return addr;
  return new URL(`http://[${addr}]/`).hostname.slice(1, -1);
}

function prefixText(prefix: string, pathId?: number): string {
  return pathId === undefined ? prefix : `${prefix}#${pathId}`;
}

// ---------------------------------------------------------------------------
// Our reading: calico-bgpd decode
// ---------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const ATTRIBUTE_CODES: Record<string, number> = {
  origin: 1, asPath: 2, nextHop: 3, med: 4, localPref: 5, atomicAggregate: 6, aggregator: 7,
  communities: 8, originatorId: 9, clusterList: 10, mpReach: 14, mpUnreach: 15,
  extendedCommunities: 16, largeCommunities: 32,
};

function ourPrefixes(list: Json | undefined): string[] {
  return ((list ?? []) as Json[])
    .map((p) => (typeof p === 'string' ? p : prefixText((p as JsonObject).prefix as string, (p as JsonObject).pathId as number)))
    .sort();
}

function ourView(m: JsonObject): View {
  const view: View = { type: m.type as string };
  switch (m.type) {
    case 'OPEN': {
      const caps = m.capabilities as JsonObject[];
      view.open = {
        myAs: m.myAs as number,
        holdTime: m.holdTime as number,
        bgpId: m.bgpId as string,
        capabilities: caps.map((c) => c.code as number),
        as4: caps.filter((c) => c.code === 65).map((c) => c.asn as number),
      };
      break;
    }
    case 'UPDATE': {
      const a = m.attributes as JsonObject;
      const u: NonNullable<View['update']> = {
        withdrawn: ourPrefixes(m.withdrawn),
        nlri: ourPrefixes(m.nlri),
        attributeTypes: [],
      };
      for (const [key, value] of Object.entries(a)) {
        if (key === 'unknown') {
          for (const x of value as JsonObject[]) u.attributeTypes.push(x.type as number);
        } else {
          // An attribute key outside the documented set shows up as NaN and fails the comparison.
          u.attributeTypes.push(ATTRIBUTE_CODES[key] ?? Number.NaN);
        }
      }
      u.attributeTypes.sort((x, y) => x - y);
      if (a.origin !== undefined) u.origin = a.origin as string;
      if (a.asPath !== undefined) {
        u.asPath = (a.asPath as JsonObject[]).map((s) => ({ type: s.type as string, asns: s.asns as number[] }));
      }
      if (a.nextHop !== undefined) u.nextHop = a.nextHop as string;
      if (a.med !== undefined) u.med = a.med as number;
      if (a.localPref !== undefined) u.localPref = a.localPref as number;
      if (a.aggregator !== undefined) {
        const g = a.aggregator as JsonObject;
        u.aggregator = { as: g.as as number, address: g.address as string };
      }
      if (a.communities !== undefined) u.communities = [...(a.communities as string[])].sort();
      if (a.largeCommunities !== undefined) u.largeCommunities = [...(a.largeCommunities as string[])].sort();
      if (a.extendedCommunities !== undefined) {
        u.extendedCommunityTypes = (a.extendedCommunities as string[]).map((hex) => parseInt(hex.slice(0, 2), 16));
      }
      if (a.originatorId !== undefined) u.originatorId = a.originatorId as string;
      if (a.clusterList !== undefined) u.clusterList = a.clusterList as string[];
      if (a.mpReach !== undefined) {
        const r = a.mpReach as JsonObject;
        u.mpReach = { afi: r.afi as number, safi: r.safi as number, nextHops: r.nextHops as string[], nlri: ourPrefixes(r.nlri) };
      }
      if (a.mpUnreach !== undefined) {
        const r = a.mpUnreach as JsonObject;
        u.mpUnreach = { afi: r.afi as number, safi: r.safi as number, withdrawn: ourPrefixes(r.withdrawn) };
      }
      view.update = u;
      break;
    }
    case 'NOTIFICATION': {
      view.notification = { code: m.code as number, subcode: m.subcode as number };
      // RFC 9003 shutdown communication: a length octet, then UTF-8 text.
      const data = Buffer.from(m.data as string, 'hex');
      if (m.code === 6 && (m.subcode === 2 || m.subcode === 4) && data.length > 0 && data[0] === data.length - 1) {
        view.notification.shutdownMessage = data.subarray(1).toString('utf8');
      }
      break;
    }
    case 'ROUTE-REFRESH':
      view.routeRefresh = { afi: m.afi as number, safi: m.safi as number, subtype: m.subtype as number };
      break;
  }
  return view;
}

interface DecodeRun {
  status: number | null;
  stderr: string;
  messages: JsonObject[];
}

function decodeWithCli(v: Vector): DecodeRun {
  const args = [CLI, 'decode', v.bin];
  if (v.meta.addPath.length > 0) args.push('--add-path', ...v.meta.addPath);
  if (!v.meta.fourOctetAs) args.push('--two-octet-as');
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
  const messages = r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as JsonObject);
  return { status: r.status, stderr: r.stderr, messages };
}

// ---------------------------------------------------------------------------
// tshark's reading
// ---------------------------------------------------------------------------

/** tshark -T json --no-duplicate-keys: repeated fields become arrays. */
type Tree = { [k: string]: TreeValue };
type TreeValue = string | Tree | TreeValue[];

/** Every value stored under `key` anywhere below `node`, arrays flattened, in order. */
function findAll(node: TreeValue, key: string): TreeValue[] {
  const out: TreeValue[] = [];
  const visit = (n: TreeValue): void => {
    if (Array.isArray(n)) {
      n.forEach(visit);
      return;
    }
    if (typeof n !== 'object') return;
    for (const [k, v] of Object.entries(n)) {
      if (k === key) {
        if (Array.isArray(v)) out.push(...v);
        else out.push(v);
      } else {
        visit(v);
      }
    }
  };
  visit(node);
  return out;
}

function findFirst(node: TreeValue, key: string): string | undefined {
  const v = findAll(node, key)[0];
  return typeof v === 'string' ? v : undefined;
}

function must(node: TreeValue, key: string): string {
  const v = findFirst(node, key);
  if (v === undefined) throw new Error(`tshark output lacks ${key}`);
  return v;
}

/** Prefix entries below node: objects with bgp.prefix_length and a *_prefix field. */
function tsharkPrefixes(node: TreeValue | undefined): string[] {
  if (node === undefined) return [];
  const out: string[] = [];
  const visit = (n: TreeValue): void => {
    if (Array.isArray(n)) {
      n.forEach(visit);
      return;
    }
    if (typeof n !== 'object') return;
    const len = n['bgp.prefix_length'];
    const addrKey = Object.keys(n).find((k) => k.endsWith('_prefix') && k !== 'bgp.prefix_length');
    if (typeof len === 'string' && addrKey !== undefined) {
      const pathId = n['bgp.nlri_path_id'];
      out.push(prefixText(`${canonicalIp(n[addrKey] as string)}/${len}`, typeof pathId === 'string' ? Number(pathId) : undefined));
      return;
    }
    Object.values(n).forEach(visit);
  };
  visit(node);
  return out.sort();
}

const PA = 'bgp.update.path_attribute';

function tsharkCommunities(attr: Tree): string[] {
  const out: string[] = [];
  for (const c of findAll(attr, `${PA}.community`)) {
    out.push(`${must(c, `${PA}.community_as`)}:${must(c, `${PA}.community_value`)}`);
  }
  // Well-known communities (NO_EXPORT, ...) are shown as one 32-bit value.
  for (const w of findAll(attr, `${PA}.community_wellknown`)) {
    const n = Number(w as string);
    out.push(`${n >>> 16}:${n & 0xffff}`);
  }
  return out.sort();
}

type Segment = { type: string; asns: number[] };

/** ASNs a path counts for RFC 6793's merge: a set counts one, confederation segments none. */
function pathCount(path: Segment[]): number {
  return path.reduce((n, s) => n + (s.type === 'sequence' ? s.asns.length : s.type === 'set' ? 1 : 0), 0);
}

/**
 * RFC 6793 section 4.2.3, done here independently of the codec: "If the
 * number of AS numbers in the AS_PATH attribute is less than the number of
 * AS numbers in the AS4_PATH attribute, then the AS4_PATH attribute SHALL be
 * ignored"; otherwise the leading AS numbers of AS_PATH that AS4_PATH does
 * not cover are kept, followed by AS4_PATH.
 */
function mergeAs4Path(asPath: Segment[], as4Path: Segment[]): Segment[] {
  let keep = pathCount(asPath) - pathCount(as4Path);
  if (keep < 0) return asPath;
  const out: Segment[] = [];
  for (const seg of asPath) {
    if (seg.type === 'confedSequence' || seg.type === 'confedSet') {
      out.push(seg);
    } else if (keep > 0 && seg.type === 'set') {
      out.push(seg);
      keep -= 1;
    } else if (keep > 0) {
      const n = Math.min(keep, seg.asns.length);
      out.push({ type: seg.type, asns: seg.asns.slice(0, n) });
      keep -= n;
    }
  }
  return [...out, ...as4Path];
}

function tsharkSegments(attr: Tree): Segment[] {
  return findAll(attr, `${PA}.as_path_segment`).map((seg) => ({
    type: SEGMENT_TYPES[Number(must(seg, `${PA}.as_path_segment.type`))] ?? 'unknown',
    asns: [...findAll(seg, `${PA}.as_path_segment.as4`), ...findAll(seg, `${PA}.as_path_segment.as2`)].map(Number),
  }));
}

const AS_TRANS = 23456;

/**
 * tshark's reading of one message. For a 2-octet session, AS4_PATH and
 * AS4_AGGREGATOR are folded into AS_PATH and AGGREGATOR (RFC 6793), because
 * that is what the decoder reports.
 */
function tsharkView(bgp: Tree, fourOctetAs: boolean): View {
  const type = Number(must(bgp, 'bgp.type'));
  const view: View = { type: TYPE_NAMES[type] ?? `type ${type}` };
  switch (type) {
    case 1:
      view.open = {
        myAs: Number(must(bgp, 'bgp.open.myas')),
        holdTime: Number(must(bgp, 'bgp.open.holdtime')),
        bgpId: must(bgp, 'bgp.open.identifier'),
        capabilities: findAll(bgp, 'bgp.cap.type').map(Number),
        as4: findAll(bgp, 'bgp.cap.4as').map(Number),
      };
      break;
    case 2: {
      const u: NonNullable<View['update']> = {
        withdrawn: tsharkPrefixes(bgp['bgp.update.withdrawn_routes']),
        nlri: tsharkPrefixes(bgp['bgp.update.nlri']),
        attributeTypes: [],
      };
      let as4Path: Segment[] | undefined;
      let as4Aggregator: { as: number; address: string } | undefined;
      for (const attr of findAll(bgp, PA) as Tree[]) {
        const code = Number(must(attr, `${PA}.type_code`));
        u.attributeTypes.push(code);
        switch (code) {
          case 1:
            u.origin = ORIGINS[Number(must(attr, `${PA}.origin`))];
            break;
          case 2:
            u.asPath = tsharkSegments(attr);
            break;
          case 17:
            as4Path = tsharkSegments(attr);
            break;
          case 18:
            as4Aggregator = { as: Number(must(attr, `${PA}.aggregator_as`)), address: must(attr, `${PA}.aggregator_origin`) };
            break;
          case 3:
            u.nextHop = must(attr, `${PA}.next_hop`);
            break;
          case 4:
            u.med = Number(must(attr, `${PA}.multi_exit_disc`));
            break;
          case 5:
            u.localPref = Number(must(attr, `${PA}.local_pref`));
            break;
          case 7:
            u.aggregator = { as: Number(must(attr, `${PA}.aggregator_as`)), address: must(attr, `${PA}.aggregator_origin`) };
            break;
          case 8:
            u.communities = tsharkCommunities(attr);
            break;
          case 9:
            u.originatorId = must(attr, `${PA}.originator_id`);
            break;
          case 10:
            u.clusterList = findAll(attr, 'bgp.path_attribute.cluster_id') as string[];
            break;
          case 14: {
            const tree = findAll(attr, `${PA}.mp_reach_nlri.next_hop_tree`)[0];
            const nextHops = tree === undefined ? [] : Object.values(tree as Tree).filter((x): x is string => typeof x === 'string');
            u.mpReach = {
              afi: Number(must(attr, `${PA}.mp_reach_nlri.afi`)),
              safi: Number(must(attr, `${PA}.mp_reach_nlri.safi`)),
              nextHops: nextHops.map(canonicalIp),
              nlri: tsharkPrefixes(attr),
            };
            break;
          }
          case 15:
            u.mpUnreach = {
              afi: Number(must(attr, `${PA}.mp_unreach_nlri.afi`)),
              safi: Number(must(attr, `${PA}.mp_unreach_nlri.safi`)),
              withdrawn: tsharkPrefixes(attr),
            };
            break;
          case 16:
            u.extendedCommunityTypes = findAll(attr, 'bgp.ext_community').map((c) => Number(must(c, 'bgp.ext_com.type')));
            break;
          case 32:
            u.largeCommunities = findAll(attr, 'bgp.large_communities_tree')
              .map((c) => `${must(c, 'bgp.large_communities.ga')}:${must(c, 'bgp.large_communities.ldp1')}:${must(c, 'bgp.large_communities.ldp2')}`)
              .sort();
            break;
        }
      }
      if (!fourOctetAs) {
        u.attributeTypes = u.attributeTypes.filter((c) => c !== 17 && c !== 18);
        // "If the AS number in the AGGREGATOR attribute is not AS_TRANS, then
        // ... the AS4_AGGREGATOR attribute and the AS4_PATH attribute SHALL be ignored."
        const ignoreAs4 = u.aggregator !== undefined && u.aggregator.as !== AS_TRANS;
        if (!ignoreAs4 && as4Aggregator !== undefined && u.aggregator !== undefined) u.aggregator = as4Aggregator;
        if (!ignoreAs4 && as4Path !== undefined && u.asPath !== undefined) u.asPath = mergeAs4Path(u.asPath, as4Path);
      }
      u.attributeTypes.sort((x, y) => x - y);
      view.update = u;
      break;
    }
    case 3: {
      const minorKey = Object.keys(bgp).find((k) => k.startsWith('bgp.notify.minor'));
      view.notification = {
        code: Number(must(bgp, 'bgp.notify.major_error')),
        subcode: minorKey === undefined ? 0 : Number(bgp[minorKey] as string),
      };
      const text = findFirst(bgp, 'bgp.notify.communication');
      if (text !== undefined) view.notification.shutdownMessage = text;
      break;
    }
    case 5:
      view.routeRefresh = {
        afi: Number(must(bgp, 'bgp.route_refresh.afi')),
        safi: Number(must(bgp, 'bgp.route_refresh.safi')),
        subtype: Number(findFirst(bgp, 'bgp.route_refresh.subtype') ?? '0'),
      };
      break;
  }
  return view;
}

/** Splits a byte stream into messages by the header's length field. */
function splitMessages(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i + 19 <= data.length) {
    const len = data.readUInt16BE(i + 16);
    if (len < 19 || i + len > data.length) throw new Error(`bad framing at offset ${i}`);
    out.push(data.subarray(i, i + len));
    i += len;
  }
  if (i !== data.length) throw new Error(`${data.length - i} trailing bytes`);
  return out;
}

let workDir = '';

/** Runs tshark over the vector, one message per fake TCP packet; returns each frame's bgp tree. */
function dissectWithTshark(v: Vector): Tree[] {
  const messages = splitMessages(readFileSync(v.bin));
  // text2pcap's input: an offset, then hex octets; offset 0 starts a new packet.
  const lines: string[] = [];
  for (const m of messages) {
    for (let o = 0; o < m.length; o += 16) {
      const hex = [...m.subarray(o, o + 16)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
      lines.push(`${o.toString(16).padStart(6, '0')} ${hex}`);
    }
  }
  const text = join(workDir, `${v.name}.txt`);
  const pcap = join(workDir, `${v.name}.pcap`);
  writeFileSync(text, lines.join('\n') + '\n');
  const ipOpt = v.meta.transport === 'ipv6' ? '-6' : '-4';
  const t2p = spawnSync('text2pcap', ['-q', '-T', '40000,179', ipOpt, `${v.meta.senderAddress},${v.meta.receiverAddress}`, text, pcap], {
    encoding: 'utf8',
  });
  if (t2p.error !== undefined || t2p.status !== 0) throw new Error(`text2pcap failed: ${t2p.error?.message ?? t2p.stderr}`);
  const ts = spawnSync(
    'tshark',
    ['-r', pcap, '-n', '-o', `bgp.asn_len:${v.meta.fourOctetAs ? 4 : 2}`, '-T', 'json', '--no-duplicate-keys'],
    { encoding: 'utf8', maxBuffer: 256 << 20 },
  );
  if (ts.error !== undefined || ts.status !== 0) throw new Error(`tshark failed: ${ts.error?.message ?? ts.stderr}`);
  const frames = JSON.parse(ts.stdout) as { _source: { layers: Tree } }[];
  return frames.map((f, i) => {
    const layers = f._source.layers;
    if (JSON.stringify(layers).includes('_ws.malformed')) throw new Error(`tshark marks message ${i + 1} as malformed`);
    const bgp = layers.bgp;
    if (bgp === undefined || Array.isArray(bgp) || typeof bgp !== 'object') {
      throw new Error(`tshark did not see exactly one BGP message in frame ${i + 1}`);
    }
    return bgp;
  });
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

before(() => {
  workDir = mkdtempSync(join(tmpdir(), 'cbv-vectors-'));
});

after(() => {
  if (workDir !== '') rmSync(workDir, { recursive: true, force: true });
});

test('the captured vector set is present and each vector has metadata', () => {
  assert.ok(vectors.length >= 10, `expected at least 10 vectors in ${VECTORS}, found ${vectors.length}`);
  for (const v of vectors) {
    assert.equal(readFileSync(v.bin).length, v.meta.bytes, `${v.name}: size differs from its metadata`);
    assert.equal(splitMessages(readFileSync(v.bin)).length, v.meta.messages, `${v.name}: message count differs from its metadata`);
  }
});

for (const v of vectors) {
  const who = `${v.meta.sender} to ${v.meta.receiver}`;
  describe(`vector ${v.name} (${who})`, () => {
    let ours: DecodeRun;

    test('calico-bgpd decodes every message without an error', () => {
      ours = decodeWithCli(v);
      const errors = ours.messages.filter((m) => m.type === 'ERROR');
      assert.deepEqual(errors, [], 'no ERROR lines');
      assert.equal(ours.status, 0, `exit status 0 (stderr: ${ours.stderr.trim()})`);
      assert.equal(ours.messages.length, v.meta.messages, 'one JSON line per message');
    });

    test('tshark reads the same messages, fields and prefixes as calico-bgpd', () => {
      ours ??= decodeWithCli(v);
      const theirs = dissectWithTshark(v);
      assert.equal(ours.messages.length, theirs.length, 'message count');
      for (let i = 0; i < theirs.length; i++) {
        assert.deepEqual(ourView(ours.messages[i]!), tsharkView(theirs[i]!, v.meta.fourOctetAs), `message ${i + 1} of ${v.name}`);
      }
    });
  });
}
