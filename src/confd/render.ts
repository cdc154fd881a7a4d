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
 * are compiled on first use and cached.
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

/** A peer as the templates see it. */
interface PeerView extends Peer {
  /** Bird 2 channel of this peer (`ipv4` / `ipv6`). */
  channel: string;
}

/** One address family, ready to lay out. */
export interface FamilyView {
  family: Family;
  /** `""` or `"6"`: the suffix of Calico's file names. */
  suffix: string;
  /** BIRD 2 names: `4` / `6`, and the channel `ipv4` / `ipv6`. */
  v: string;
  channel: string;
  /** This node's address; null = family disabled (no BGP template, no peers). */
  address: string | null;
  /** `reflector` (this node is a route reflector), `off` (mesh disabled) or `on`. */
  mesh: 'reflector' | 'off' | 'on';
  meshPeers: PeerView[];
  globalPeers: PeerView[];
  nodePeers: PeerView[];
  skipped: SkippedPeer[];
  /** Block blackholes (host-length blocks are left out, as Calico does). */
  blockRoutes: string[];
  staticRoutes: string[];
  /** Static routes towards peers that are only reachable through a given next hop. */
  peerRoutes: { prefix: string; via: string; peer: string }[];
  /** There is anything for the `static` protocol to hold. */
  hasStatic: boolean;
  blocks: Block[];
  /** Pools whose routes are exported, and pools kept back (disableBGPExport). */
  exportPools: Pool[];
  unexportedPools: Pool[];
  /** Pool rules of the kernel filter (IPv4 only, and only when the node's subnet is known, like Calico). */
  kernelPools: KernelPool[];
  rejectCidrs: string[];
  communities: PrefixCommunities[];
}

function peerView(p: Peer, channel: string): PeerView {
  return { ...p, channel };
}

/** The view of one family of the model. */
export function familyView(m: NodeBgpConfig, family: Family): FamilyView {
  const f = family === 4 ? m.ipv4 : m.ipv6;
  const channel = family === 4 ? 'ipv4' : 'ipv6';
  const hostLen = family === 4 ? '/32' : '/128';
  const byType = (t: Peer['type']) => f.peers.filter((p) => p.type === t).map((p) => peerView(p, channel));
  const peerRoutes = f.peers
    .filter((p) => p.reachableBy !== null && p.type !== 'mesh')
    .map((p) => ({ prefix: `${p.address}${hostLen}`, via: p.reachableBy!, peer: p.name }));
  const blockRoutes = f.blocks.filter((b) => !b.cidr.endsWith(hostLen)).map((b) => b.cidr);
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
    family,
    suffix: family === 4 ? '' : '6',
    v: String(family),
    channel,
    address: f.address,
    mesh: m.routeReflectorClusterId !== null ? 'reflector' : m.meshEnabled ? 'on' : 'off',
    meshPeers: byType('mesh'),
    globalPeers: byType('global'),
    nodePeers: byType('node'),
    skipped: f.skipped,
    blockRoutes,
    staticRoutes: f.staticRoutes,
    peerRoutes,
    hasStatic: f.blocks.length > 0 || f.staticRoutes.length > 0 || peerRoutes.length > 0,
    blocks: f.blocks,
    exportPools: f.pools.filter((p) => !p.disableBGPExport),
    unexportedPools: f.pools.filter((p) => p.disableBGPExport),
    kernelPools,
    rejectCidrs: f.rejectCidrs,
    communities: f.communities,
  };
}

/** What a template is rendered with. */
interface TemplateContext {
  m: NodeBgpConfig;
  /** The family of a BIRD 1.6 file. */
  f: FamilyView | null;
  /** Both families (BIRD 2). */
  families: FamilyView[];
  /** Calico's BIRD fork: `krt_tunnel` is available. */
  fork: boolean;
  flavor: Flavor;
  /** Interfaces the `direct` protocol leaves out, Calico's two first. */
  directExcludes: string[];
}

const DIRECT_EXCLUDES = ['cali*', 'kube-ipvs*'];

function context(flavor: Flavor, file: InternalFile, m: NodeBgpConfig): TemplateContext {
  const families = [familyView(m, 4), familyView(m, 6)];
  return {
    m,
    f: file.family === null ? null : families[file.family === 4 ? 0 : 1]!,
    families,
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

type Compiled = Handlebars.TemplateDelegate<TemplateContext>;
const envs = new Map<string, typeof Handlebars>();
const compiled = new Map<string, Compiled>();

/** A Handlebars environment per template folder, holding that folder's partials (`_name.hbs` -> `name`). */
function envFor(folder: string): typeof Handlebars {
  let env = envs.get(folder);
  if (env) return env;
  env = Handlebars.create();
  env.registerHelper(helpers);
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
  t = env.compile<TemplateContext>(readFileSync(join(templatesDirectory(), path), 'utf8'), { noEscape: true, strict: true });
  compiled.set(path, t);
  return t;
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

/**
 * Renders one file. Pure; templates compiled once and cached.
 * Throws `RenderError` for an unknown file or flavor, and when the model
 * holds something BIRD cannot express (a `"` in a password, no router id);
 * the caller keeps the files it has.
 */
export function renderFile(name: string, flavor: Flavor, model: NodeBgpConfig): string {
  const file: InternalFile | undefined = flavorFiles(flavor).find((f) => f.name === name);
  if (!file) throw new RenderError(`flavor ${flavor} has no file ${JSON.stringify(name)}`);
  if (file.main && model.routerId === '') {
    throw new RenderError(`no router id for node ${model.nodeName}: it has no IPv4 address and CALICO_ROUTER_ID is not set`);
  }
  const text = template(file.template)(context(flavor, file, model));
  // Layout only: no runs of blank lines, one newline at the end.
  return `${text.replace(/[ \t]+$/gm, '').replace(/\n{3,}/g, '\n\n').trim()}\n`;
}

/** Renders all files of a flavor. */
export function renderAll(flavor: Flavor, model: NodeBgpConfig): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of flavorFiles(flavor)) out.set(f.name, renderFile(f.name, flavor, model));
  return out;
}
