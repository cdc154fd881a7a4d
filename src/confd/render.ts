/**
 * BIRD configuration rendering: the peering model in, the text of the BIRD
 * files out, for three flavors of BIRD:
 *
 * - `calico`: Calico's fork of BIRD 1.6 (what calico-node runs). One daemon
 *   per family, six files, semantically identical to what Calico's confd
 *   renders for the same data (including the fork-only `krt_tunnel`).
 * - `bird1`: stock BIRD 1.6. The same six files without `krt_tunnel`, which
 *   stock BIRD rejects; IP-in-IP routes are then programmed without the
 *   tunnel device (see docs/bird-flavors.md).
 * - `bird2`: BIRD 2.x. One daemon for both families: one `bird.cfg` with an
 *   IPv4 and an IPv6 channel per protocol, the same peers, filters and
 *   behaviour.
 *
 * The templates (Handlebars, under `templates/`) only lay text out; every
 * decision (which peers, which routes, which pools reach the kernel and how)
 * is made here, in `familyView`, from the model. Rendering is pure; templates
 * are compiled on first use and cached, and so is each peer's block: a
 * change to one peer of a 5,000-node mesh renders one block, not 5,000.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import { helpers, RenderError } from './helpers.js';
import type { Block, Family, NodeBgpConfig, Peer, Pool, PrefixCommunities, SkippedPeer } from '../model/types.js';

export { RenderError } from './helpers.js';

// ---------------------------------------------------------------------------
// Flavors and their files
// ---------------------------------------------------------------------------

export type Flavor = 'calico' | 'bird1' | 'bird2';
export const FLAVORS: readonly Flavor[] = Object.freeze(['calico', 'bird1', 'bird2'] as const);

/**
 * The parts of the model a file can depend on:
 * - `global`: router id, local AS, listen port, bind mode, log level, mesh
 *   setting, route-reflector cluster id, ignored interfaces, communities;
 * - `peers`: the peers of both families (and this node's addresses);
 * - `aggr`: this node's blocks and the service (static) routes;
 * - `ipam`: pools, service routes, reject ranges, this node's subnet.
 * `modelParts` gives one comparable key per part.
 */
export type ModelPart = 'peers' | 'ipam' | 'aggr' | 'global';

/** One file a flavor renders. */
export interface FlavorFile {
  /** File name in the config directory, e.g. `bird.cfg`. */
  name: string;
  /** Template path under `templates/`. */
  template: string;
  /** The model parts the file's text depends on (for selective re-render). */
  dependsOn: readonly ModelPart[];
  /** For the per-family files of BIRD 1.6: the family the file configures; null = both. */
  family: Family | null;
  /** The BIRD process that reads the file (to check with `<daemon> -p -c <main file>` and reload). */
  daemon: 'bird' | 'bird6';
  /** The file given to `bird -c`; the others are included from the main file of the same daemon, by relative path. */
  main: boolean;
}

const ALL: readonly ModelPart[] = Object.freeze(['global', 'peers', 'aggr', 'ipam'] as const);
const bird16 = (fork: boolean): readonly InternalFile[] =>
  Object.freeze(
    ([4, 6] as const).flatMap((family) => {
      const s = family === 4 ? '' : '6';
      const daemon = family === 4 ? ('bird' as const) : ('bird6' as const);
      return [
        { name: `bird${s}.cfg`, template: 'bird-1.6/bird.cfg.hbs', dependsOn: Object.freeze(['global', 'peers'] as const), main: true },
        { name: `bird${s}_aggr.cfg`, template: 'bird-1.6/bird_aggr.cfg.hbs', dependsOn: Object.freeze(['aggr', 'peers'] as const), main: false },
        { name: `bird${s}_ipam.cfg`, template: 'bird-1.6/bird_ipam.cfg.hbs', dependsOn: Object.freeze(['ipam'] as const), main: false },
      ].map((f) => Object.freeze({ ...f, family, daemon, fork }));
    }),
  );

/** A file plus whether it may use the fork-only syntax. */
type InternalFile = FlavorFile & { fork?: boolean };

const FILES: Readonly<Record<Flavor, readonly InternalFile[]>> = Object.freeze({
  calico: bird16(true),
  bird1: bird16(false),
  bird2: Object.freeze([Object.freeze({ name: 'bird.cfg', template: 'bird-2/bird.cfg.hbs', dependsOn: ALL, family: null, daemon: 'bird' as const, main: true })]),
});

/** The files a flavor renders, in a stable order, with the model parts each depends on (for selective re-render). */
export function flavorFiles(flavor: Flavor): readonly FlavorFile[] {
  const files = FILES[flavor];
  if (files === undefined) throw new RenderError(`unknown BIRD flavor ${JSON.stringify(flavor)} (expected ${FLAVORS.join(', ')})`);
  return files;
}

/** One comparable string per model part: a file needs re-rendering when a part it depends on changed. */
export function modelParts(m: NodeBgpConfig): Record<ModelPart, string> {
  return {
    global: JSON.stringify([
      m.nodeName, m.routerId, m.asNumber, m.listenPort, m.bindMode, m.logLevel, m.meshEnabled,
      m.routeReflectorClusterId, m.ignoredInterfaces, m.ipv4.communities, m.ipv6.communities,
    ]),
    peers: JSON.stringify([m.ipv4.address, m.ipv6.address, m.ipv4.peers, m.ipv6.peers, m.ipv4.skipped, m.ipv6.skipped]),
    aggr: JSON.stringify([m.ipv4.blocks, m.ipv6.blocks, m.ipv4.staticRoutes, m.ipv6.staticRoutes]),
    ipam: JSON.stringify([
      m.ipv4.pools, m.ipv6.pools, m.ipv4.staticRoutes, m.ipv6.staticRoutes,
      m.ipv4.rejectCidrs, m.ipv6.rejectCidrs, m.ipv4.network, m.ipv6.network,
    ]),
  };
}

// ---------------------------------------------------------------------------
// The view: the model, with every template decision made
// ---------------------------------------------------------------------------

/** How routes of one pool are programmed into the kernel. */
interface KernelPool {
  cidr: string;
  /** `vxlan`: Felix programs them, reject. `tunnel`: via `tunnel` (may be ""). `cross-subnet`: direct inside `network`, else via `tunnel`. */
  mode: 'vxlan' | 'tunnel' | 'cross-subnet';
  tunnel: string;
  network: string | null;
  /** The IP-in-IP interface, or "" (for comments). */
  ipip: boolean;
}

/** What every file of a family needs: its names. */
interface FamilyNames {
  family: Family;
  /** `""` or `"6"`: the suffix of Calico's file names. */
  suffix: string;
  /** BIRD 2 names: `4` / `6`, and the channel `ipv4` / `ipv6`. */
  v: string;
  channel: string;
}

/** The sessions of a family (main files). */
interface PeersPart {
  /** This node's address; null = family disabled (no BGP template, no peers). */
  address: string | null;
  /** `reflector` (this node is a route reflector), `off` (mesh disabled) or `on`. */
  mesh: 'reflector' | 'off' | 'on';
  meshPeers: Peer[];
  globalPeers: Peer[];
  nodePeers: Peer[];
  skipped: SkippedPeer[];
  communities: Array<{ cidr: string; adds: CommunityAdd[] }>;
}

/** What the `static` protocol originates, and the aggregation function (`_aggr` files). */
interface AggrPart {
  /** Block blackholes (host-length blocks are left out, as Calico does). */
  blockRoutes: string[];
  staticRoutes: string[];
  /** Static routes towards peers that are only reachable through a given next hop. */
  peerRoutes: { prefix: string; via: string; peer: string }[];
  /** There is anything for the `static` protocol to hold. */
  hasStatic: boolean;
  blocks: Block[];
}

/** The export and kernel filters (`_ipam` files). */
interface IpamPart {
  staticRoutes: string[];
  /** Pools whose routes are exported, and pools kept back (disableBGPExport). */
  exportPools: Pool[];
  unexportedPools: Pool[];
  /** Pool rules of the kernel filter (IPv4 only, and only when the node's subnet is known, like Calico). */
  kernelPools: KernelPool[];
  rejectCidrs: string[];
}

/** One address family, ready to lay out. */
export interface FamilyView extends FamilyNames, PeersPart, AggrPart, IpamPart {}

function familyNames(family: Family): FamilyNames {
  return { family, suffix: family === 4 ? '' : '6', v: String(family), channel: family === 4 ? 'ipv4' : 'ipv6' };
}

function peersPart(m: NodeBgpConfig, family: Family): PeersPart {
  const f = family === 4 ? m.ipv4 : m.ipv6;
  const meshPeers: Peer[] = [];
  const globalPeers: Peer[] = [];
  const nodePeers: Peer[] = [];
  for (const p of f.peers) {
    if (p.invalid !== undefined) continue; // listed in the model's problems; BIRD cannot take it
    if (p.type === 'mesh') meshPeers.push(p);
    else if (p.type === 'global') globalPeers.push(p);
    else if (p.type === 'node') nodePeers.push(p);
  }
  return {
    address: f.address,
    mesh: m.routeReflectorClusterId !== null ? 'reflector' : m.meshEnabled ? 'on' : 'off',
    meshPeers,
    globalPeers,
    nodePeers,
    skipped: f.skipped,
    communities: f.communities.map(calicoCommunityOrder),
  };
}

/** One `bgp_community.add` / `bgp_large_community.add` line of `apply_communities`. */
interface CommunityAdd {
  large: boolean;
  value: string;
}

/**
 * Calico's syncer hands the template each prefix's communities as one list,
 * standard and large mixed, sorted as strings (Go's `sort.Strings`, byte
 * order), and the template adds them in that order. Same meaning in any
 * order, but the same text as Calico only in this one.
 */
function calicoCommunityOrder(c: PrefixCommunities): { cidr: string; adds: CommunityAdd[] } {
  const adds = [
    ...c.communities.map((value) => ({ large: false, value })),
    ...c.largeCommunities.map((value) => ({ large: true, value })),
  ];
  adds.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  return { cidr: c.cidr, adds };
}

function aggrPart(m: NodeBgpConfig, family: Family): AggrPart {
  const f = family === 4 ? m.ipv4 : m.ipv6;
  const hostLen = family === 4 ? '/32' : '/128';
  const peerRoutes: AggrPart['peerRoutes'] = [];
  for (const p of f.peers) {
    if (p.reachableBy !== null && p.type !== 'mesh' && p.invalid === undefined) peerRoutes.push({ prefix: `${p.address}${hostLen}`, via: p.reachableBy, peer: p.name });
  }
  return {
    blockRoutes: f.blocks.filter((b) => !b.cidr.endsWith(hostLen)).map((b) => b.cidr),
    staticRoutes: f.staticRoutes,
    peerRoutes,
    hasStatic: f.blocks.length > 0 || f.staticRoutes.length > 0 || peerRoutes.length > 0,
    blocks: f.blocks,
  };
}

function ipamPart(m: NodeBgpConfig, family: Family): IpamPart {
  const f = family === 4 ? m.ipv4 : m.ipv6;
  const kernelPools: KernelPool[] =
    family === 4 && f.network !== null
      ? f.pools.map((p) => ({
          cidr: p.cidr,
          mode: p.vxlanMode !== 'never' ? 'vxlan' : p.ipipMode === 'cross-subnet' ? 'cross-subnet' : 'tunnel',
          tunnel: p.ipipInterface,
          network: f.network,
          ipip: p.ipipInterface !== '',
        }))
      : [];
  return {
    staticRoutes: f.staticRoutes,
    exportPools: f.pools.filter((p) => !p.disableBGPExport),
    unexportedPools: f.pools.filter((p) => p.disableBGPExport),
    kernelPools,
    rejectCidrs: f.rejectCidrs,
  };
}

/** The view of one family of the model (everything; a file's context holds only what its template uses). */
export function familyView(m: NodeBgpConfig, family: Family): FamilyView {
  return { ...familyNames(family), ...peersPart(m, family), ...aggrPart(m, family), ...ipamPart(m, family) };
}

/** What a template is rendered with. */
interface TemplateContext {
  m: NodeBgpConfig;
  /** The family of a BIRD 1.6 file, with the part its template uses. */
  f: (FamilyNames & Partial<PeersPart & AggrPart & IpamPart>) | null;
  /** Both families (BIRD 2; empty for BIRD 1.6 files). */
  families: FamilyView[];
  /** Calico's BIRD fork: `krt_tunnel` is available. */
  fork: boolean;
  flavor: Flavor;
  /** Interfaces the `direct` protocol leaves out, Calico's two first. */
  directExcludes: string[];
}

const DIRECT_EXCLUDES = ['cali*', 'kube-ipvs*'];

/** The part of a family view each BIRD 1.6 template uses (a 5,000-peer mesh is not walked for `bird_ipam.cfg`). */
const FAMILY_PART: Readonly<Record<string, (m: NodeBgpConfig, family: Family) => object>> = {
  'bird-1.6/bird.cfg.hbs': peersPart,
  'bird-1.6/bird_aggr.cfg.hbs': aggrPart,
  'bird-1.6/bird_ipam.cfg.hbs': ipamPart,
};

function context(flavor: Flavor, file: InternalFile, m: NodeBgpConfig): TemplateContext {
  let f: TemplateContext['f'] = null;
  if (file.family !== null) {
    const part = FAMILY_PART[file.template];
    f = part ? { ...familyNames(file.family), ...part(m, file.family) } : familyView(m, file.family);
  }
  return {
    m,
    f,
    families: file.family === null ? [familyView(m, 4), familyView(m, 6)] : [],
    fork: file.fork === true,
    flavor,
    directExcludes: [...DIRECT_EXCLUDES, ...m.ignoredInterfaces.filter((i) => !DIRECT_EXCLUDES.includes(i))],
  };
}

// ---------------------------------------------------------------------------
// Templates: located once, compiled on first use
// ---------------------------------------------------------------------------

/** `templates/` of this checkout: next to `src/` when run from source, two levels above `dist/src/confd`. */
function findTemplatesDir(): string {
  if (process.env.CALICO_BGPD_TEMPLATES) return resolve(process.env.CALICO_BGPD_TEMPLATES);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'templates');
    if (existsSync(join(candidate, 'bird-1.6'))) return candidate;
    dir = dirname(dir);
  }
  throw new RenderError('cannot find the templates/ directory (set CALICO_BGPD_TEMPLATES)');
}

let templatesDir: string | undefined;
/** The directory the templates are read from. */
export function templatesDirectory(): string {
  return (templatesDir ??= findTemplatesDir());
}

type Compiled = Handlebars.TemplateDelegate<unknown>;
const envs = new Map<string, typeof Handlebars>();
const compiled = new Map<string, Compiled>();

/**
 * A Handlebars environment per template folder, holding that folder's
 * partials (`_name.hbs` -> `name`) and the `peers` helper, which renders
 * `_peer.hbs` of the same folder once per peer (see "Peer blocks" below).
 */
function envFor(folder: string): typeof Handlebars {
  let env = envs.get(folder);
  if (env) return env;
  env = Handlebars.create();
  env.registerHelper(helpers);
  env.registerHelper('peers', (list: unknown, channel: unknown, options: Handlebars.HelperOptions) => {
    const out = (options.data as { blocks?: BlockSink } | undefined)?.blocks;
    if (!out || out.folder !== folder) throw new Error('{{peers}} used outside renderFile');
    if (!Array.isArray(list) || typeof channel !== 'string') throw new Error('{{peers list channel}} takes a list of peers and a channel name');
    return out.defer(list as Peer[], channel);
  });
  const dir = join(templatesDirectory(), folder);
  for (const name of readdirSync(dir).sort()) {
    const m = /^_(.+)\.hbs$/.exec(name);
    if (m) env.registerPartial(m[1]!, readFileSync(join(dir, name), 'utf8'));
  }
  envs.set(folder, env);
  return env;
}

function template(path: string): Compiled {
  let t = compiled.get(path);
  if (t) return t;
  const env = envFor(dirname(path));
  t = env.compile(readFileSync(join(templatesDirectory(), path), 'utf8'), { noEscape: true, strict: true });
  compiled.set(path, t);
  return t;
}

// ---------------------------------------------------------------------------
// Layout: the text a template produced, tidied
// ---------------------------------------------------------------------------

/** The layout rule, applied to a whole text: no trailing blanks, no runs of blank lines, one newline at the end. */
function tidy(text: string): string {
  return `${text.replace(/[ \t]+$/gm, '').replace(/\n{3,}/g, '\n\n').trim()}\n`;
}

/**
 * A stretch of a file that starts at the beginning of a line, tidied on its
 * own: trailing blanks gone, runs of newlines at most two. The newlines at
 * either end are counted (`lead`, `trail`), as they join the runs of the
 * neighbouring stretches; `text` is the stretch without its leading
 * newlines, "" for a stretch of newlines only.
 */
interface Piece {
  lead: number;
  text: string;
  trail: number;
}

function piece(raw: string): Piece {
  const s = raw.replace(/[ \t]+$/gm, '');
  let lead = 0;
  while (lead < s.length && s.charCodeAt(lead) === 10) lead++;
  if (lead === s.length) return { lead, text: '', trail: 0 };
  let end = s.length;
  while (s.charCodeAt(end - 1) === 10) end--;
  const trail = s.length - end;
  // Joined rather than `+`: a flat string, not a rope that every join of the file would walk again.
  const text = [s.slice(lead, end).replace(/\n{3,}/g, '\n\n'), trail === 0 ? '' : trail === 1 ? '\n' : '\n\n'].join('');
  return { lead, text, trail };
}

/**
 * `tidy(texts.join(''))`, from the texts' pieces, when every text but the
 * last ends with a newline: trailing blanks never reach across such a
 * boundary, so each text can be stripped alone, and where two runs of
 * newlines meet they are one run, of at most two.
 */
function joinPieces(pieces: readonly Piece[]): string {
  const out: string[] = [];
  let run = 0; // newlines at the end so far ...
  let written = 0; // ... and how many of them are in `out` (at most two)
  for (const p of pieces) {
    run += p.lead;
    if (p.text === '') continue;
    const want = Math.min(run, 2);
    if (want > written) out.push(want - written === 1 ? '\n' : '\n\n');
    out.push(p.text);
    run = p.trail;
    written = Math.min(run, 2);
  }
  if (Math.min(run, 2) > written) out.push(Math.min(run, 2) - written === 1 ? '\n' : '\n\n');
  return `${out.join('').trim()}\n`;
}

// ---------------------------------------------------------------------------
// Peer blocks: each rendered once, kept while the peer is unchanged
// ---------------------------------------------------------------------------
//
// A full mesh of 5,000 nodes is a 1.2 MB `bird.cfg` of 5,000 `protocol bgp`
// blocks, and a change to one peer must not lay out the other 4,999 again.
// `{{peers list channel}}` (a line of its own in a main template) stands for
// `_peer.hbs` rendered for each peer of the list, one after the other, in
// place of that line. It leaves a marker; `renderFile` puts the blocks in,
// each tidied on its own and cached: by peer object (the model watcher hands
// back unchanged peers as the same objects; a shallow comparison with the
// values seen last time catches a peer changed in place), else by the peer's
// JSON. A block depends on its peer and channel only: `_peer.hbs` sees
// nothing else.

/** A per-process marker, so that no datastore value can pose as one. */
const MARK = `\u0000peers-${Math.random().toString(36).slice(2)}-`;
const markOf = (i: number): string => `${MARK}${i}\u0000`;

/** The peer lists a render deferred, in marker order. */
class BlockSink {
  readonly lists: Array<{ peers: readonly Peer[]; channel: string }> = [];
  constructor(readonly folder: string) {}
  defer(peers: readonly Peer[], channel: string): string {
    this.lists.push({ peers, channel });
    return markOf(this.lists.length - 1);
  }
}

/** Between two blocks of one `blockTexts` rendering. */
const SEP = `${MARK}sep\u0000`;

/**
 * The text of each peer's block, as `_peer.hbs` lays it out (untidied): one
 * template run for the whole list, the partial invoked per peer as any
 * `{{#each}}` would.
 */
function blockTexts(folder: string, peers: readonly Peer[], channel: string): string[] {
  const path = `${folder}/_peers`;
  let t = compiled.get(path);
  if (t === undefined) {
    t = envFor(folder).compile('{{#each peers}}{{> peer}}{{@root.sep}}{{/each}}', { noEscape: true, strict: true });
    compiled.set(path, t);
  }
  const texts = t({ peers: peers.map((p) => ({ ...p, channel })), sep: SEP }).split(SEP);
  if (texts.pop() !== '' || texts.length !== peers.length) throw new Error(`${folder}/_peer.hbs: cannot tell the blocks apart`);
  for (const text of texts) if (!text.endsWith('\n')) throw new Error(`${folder}/_peer.hbs must end with a newline`);
  return texts;
}

/** A peer's fields, in order. */
interface Snapshot {
  names: string[];
  values: unknown[];
}

/** What a peer object looked like when its block was cached. */
interface Seen extends Snapshot {
  piece: Piece;
}

/** The snapshot of a peer's fields, or null when one is not plain JSON data (then the block is not cached). */
function snapshot(peer: Peer): Snapshot | null {
  const names: string[] = [];
  const values: unknown[] = [];
  for (const k in peer) {
    const v = (peer as unknown as Record<string, unknown>)[k];
    const t = typeof v;
    if (!(v === null || t === 'string' || t === 'boolean' || (t === 'number' && Number.isFinite(v) && !Object.is(v, -0)))) return null;
    names.push(k);
    values.push(v);
  }
  return { names, values };
}

function unchanged(seen: Seen, peer: Peer): boolean {
  const { names, values } = seen;
  let i = 0;
  for (const k in peer) {
    if (names[i] !== k || values[i] !== (peer as unknown as Record<string, unknown>)[k]) return false;
    i++;
  }
  return i === names.length;
}

/** The cached blocks of one template folder and channel. */
class BlockCache {
  private byObject = new WeakMap<Peer, Seen>();
  /** By JSON, in two generations: a block unused for a whole generation is dropped. */
  private young = new Map<string, Piece>();
  private old = new Map<string, Piece>();
  private limit = 4096;

  constructor(
    private readonly folder: string,
    private readonly channel: string,
  ) {}

  /** Appends the blocks of `peers` to `out`, in order; the missing ones are rendered together. */
  blocks(peers: readonly Peer[], out: Piece[]): void {
    this.limit = Math.max(this.limit, 2 * peers.length);
    const missing: Array<{ at: number; peer: Peer; key: string | null; snap: Snapshot | null }> = [];
    for (const p of peers) {
      const seen = this.byObject.get(p);
      if (seen !== undefined && unchanged(seen, p)) {
        out.push(seen.piece);
        continue;
      }
      const snap = snapshot(p);
      const key = snap === null ? null : JSON.stringify(p);
      const pc = key === null ? undefined : (this.young.get(key) ?? this.old.get(key));
      if (pc === undefined) missing.push({ at: out.length, peer: p, key, snap });
      else this.keep(p, key!, snap!, pc);
      out.push(pc ?? NO_PIECE);
    }
    if (missing.length === 0) return;
    const texts = blockTexts(this.folder, missing.map((x) => x.peer), this.channel);
    missing.forEach(({ at, peer, key, snap }, i) => {
      const pc = piece(texts[i]!);
      if (key !== null) this.keep(peer, key, snap!, pc);
      out[at] = pc;
    });
  }

  private keep(peer: Peer, key: string, snap: Snapshot, pc: Piece): void {
    if (this.young.get(key) !== pc) {
      if (this.young.size >= this.limit) {
        this.old = this.young;
        this.young = new Map();
      }
      this.young.set(key, pc);
    }
    this.byObject.set(peer, { names: snap.names, values: snap.values, piece: pc }); // a literal: a spread here makes every check twice as slow
  }
}

const NO_PIECE: Piece = { lead: 0, text: '', trail: 0 };

const blockCaches = new Map<string, BlockCache>();
function blockCache(folder: string, channel: string): BlockCache {
  const k = `${folder}\u0000${channel}`;
  let c = blockCaches.get(k);
  if (c === undefined) blockCaches.set(k, (c = new BlockCache(folder, channel)));
  return c;
}

/**
 * The rendered text with each marker line of `sink` replaced by its blocks,
 * tidied: from cached pieces, or (`cached` false, the reference) by
 * rendering every block afresh and tidying the whole text at once.
 */
function assemble(text: string, sink: BlockSink, cached: boolean): string {
  const pieces: Piece[] = [];
  const parts: string[] = [];
  let at = 0;
  for (let i = 0; i < sink.lists.length; i++) {
    const { peers, channel } = sink.lists[i]!;
    const mark = markOf(i);
    const start = text.indexOf(mark, at);
    let end = start + mark.length;
    if (start < 0 || (start > 0 && text.charCodeAt(start - 1) !== 10) || (end < text.length && text.charCodeAt(end) !== 10)) {
      throw new Error(`{{peers}} must stand on a line of its own (templates/${sink.folder})`);
    }
    if (end < text.length) end++; // the marker's line ends here
    if (cached) {
      pieces.push(piece(text.slice(at, start)));
      blockCache(sink.folder, channel).blocks(peers, pieces);
    } else {
      parts.push(text.slice(at, start));
      if (peers.length > 0) for (const t of blockTexts(sink.folder, peers, channel)) parts.push(t);
    }
    at = end;
  }
  if (!cached) return tidy(parts.join('') + text.slice(at));
  pieces.push(piece(text.slice(at)));
  return joinPieces(pieces);
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

function render(name: string, flavor: Flavor, model: NodeBgpConfig, cached: boolean): string {
  const file: InternalFile | undefined = flavorFiles(flavor).find((f) => f.name === name);
  if (!file) throw new RenderError(`flavor ${flavor} has no file ${JSON.stringify(name)}`);
  if (file.main && model.routerId === '') {
    throw new RenderError(`no router id for node ${model.nodeName}: it has no IPv4 address and CALICO_ROUTER_ID is not set`);
  }
  const sink = new BlockSink(dirname(file.template));
  const text = template(file.template)(context(flavor, file, model), { data: { blocks: sink } });
  return assemble(text, sink, cached);
}

/**
 * Renders one file. Pure; templates compiled once and cached, and so is
 * each peer's `protocol bgp` block (a change to one peer renders one block).
 * Throws `RenderError` for an unknown file or flavor, and when the model
 * holds something BIRD cannot express (a `"` in a password, no router id);
 * the caller keeps the files it has.
 */
export function renderFile(name: string, flavor: Flavor, model: NodeBgpConfig): string {
  return render(name, flavor, model, true);
}

/** `renderFile` without the block cache: every block rendered afresh, the whole text tidied at once (the reference for tests). */
export function renderFileUncached(name: string, flavor: Flavor, model: NodeBgpConfig): string {
  return render(name, flavor, model, false);
}

/** Renders all files of a flavor. */
export function renderAll(flavor: Flavor, model: NodeBgpConfig): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of flavorFiles(flavor)) out.set(f.name, renderFile(f.name, flavor, model));
  return out;
}
