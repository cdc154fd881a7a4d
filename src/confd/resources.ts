/**
 * Template resources, the way confd's `conf.d/*.toml` describes them: which
 * file to render, where it goes, which datastore keys it depends on, how to
 * check it and how to make BIRD pick it up.
 *
 * Built-in defaults follow calico-node's layout (files in
 * `/etc/calico/confd/config`, BIRD control sockets in `/var/run/calico`).
 * `--confdir DIR` replaces them with `DIR/conf.d/*.toml`, in confd's format
 * plus two extensions of ours (`file`, `reload_bird_socket`):
 *
 * ```toml
 * [template]
 * src = "bird.cfg.template"          # or: file = "bird.cfg" (a file of the flavor)
 * dest = "/etc/calico/confd/config/bird.cfg"
 * prefix = "/calico/bgp/v1"          # joined in front of every key
 * keys = ["/host", "/global"]        # `//NODENAME` becomes `/<this node>`
 * mode = "0644"
 * check_cmd = "bird -p -c {{src}}"   # `{{.src}}` (confd's spelling) works too
 * reload_cmd = "sv hup bird"         # a shell command; success = exit status 0
 * reload_bird_socket = "/var/run/calico/bird.ctl"   # or: speak BIRD's control protocol
 * ```
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A file of a flavor, as the renderer lists it. */
export interface FlavorFile {
  name: string;
  template: string;
  dependsOn: readonly ('peers' | 'ipam' | 'aggr' | 'global')[];
  /** BIRD 1.x per-family files: the family; null/absent = both (or unknown). */
  family?: 4 | 6 | null;
}

/** One resource: one rendered file. */
export interface TemplateResource {
  /** Where the resource came from (TOML path, or `builtin:<file>`), for logs. */
  id: string;
  /** The flavor file to render (a `FlavorFile.name`). */
  file: string;
  /** Absolute destination path. */
  dest: string;
  /** Absolute key prefixes; a change to a key equal to one of these, or below it, makes the resource dirty. */
  keys: readonly string[];
  /** File mode of the destination. */
  mode: number;
  uid: number | null;
  gid: number | null;
  /** Shell command run on the staged file before it is installed; `{{src}}` is replaced by its path. */
  checkCmd: string | null;
  /** Shell command run once per batch after installing; success is exit status 0. */
  reloadCmd: string | null;
  /** BIRD control socket to send `configure` to after installing (checked by BIRD's reply codes). */
  reloadBirdSocket: string | null;
}

/** calico-node's paths. */
export const CALICO_CONFIG_DIR = '/etc/calico/confd/config';
export const CALICO_BIRD_SOCKET = '/var/run/calico/bird.ctl';
export const CALICO_BIRD6_SOCKET = '/var/run/calico/bird6.ctl';

export type FlavorName = 'calico' | 'bird1' | 'bird2';

export interface DefaultResourceOptions {
  flavor: FlavorName;
  nodeName: string;
  /** Destination directory (default `/etc/calico/confd/config`). */
  configDir?: string;
  /** BIRD (IPv4, or the only daemon for bird2) control socket. */
  birdSocket?: string;
  /** BIRD 1.x IPv6 daemon control socket. */
  bird6Socket?: string;
  /** Check command for the IPv4 (or bird2) main file; null disables checks. */
  birdCheck?: string | null;
  /** Check command for the IPv6 main file (BIRD 1.x); null disables checks. */
  bird6Check?: string | null;
}

const G = '/calico/bgp/v1/global';
const H = '/calico/bgp/v1/host';
const ROUTES = ['/calico/staticroutes', '/calico/staticroutesv6', '/calico/rejectcidrs', '/calico/rejectcidrsv6'];

/**
 * Key prefixes a default resource watches, from what its template depends on.
 * Deliberately generous: every file watches the global settings and this
 * node's own keys (router id, AS, communities can show up anywhere); a
 * change that turns out not to alter the file costs a render and a byte
 * comparison, never a write. What must stay out are other nodes' blocks
 * and, for files that do not list peers, other nodes' host keys: those are
 * the changes a large cluster sees all the time.
 */
export function keysFor(dependsOn: FlavorFile['dependsOn'], nodeName: string): string[] {
  const keys = new Set<string>([G, `${H}/${nodeName}`]);
  for (const d of dependsOn) {
    switch (d) {
      case 'global':
        break;
      case 'peers':
        keys.add(H);
        break;
      case 'ipam':
        keys.add('/calico/v1/ipam/v4/pool');
        keys.add('/calico/v1/ipam/v6/pool');
        for (const r of ROUTES) keys.add(r);
        break;
      case 'aggr':
        keys.add(`/calico/ipam/v2/host/${nodeName}`);
        for (const r of ROUTES) keys.add(r);
        break;
      default: {
        const never: never = d;
        throw new Error(`unknown template dependency ${String(never)}`);
      }
    }
  }
  // Drop prefixes that another one already covers (`/host/<node>` under `/host`).
  return [...keys].filter((k) => ![...keys].some((o) => o !== k && keyMatches(k, o)));
}

/** The IPv6 files of BIRD 1.x (`bird6*.cfg`) belong to the `bird6` daemon. */
function isV6File(flavor: FlavorName, f: FlavorFile): boolean {
  return flavor !== 'bird2' && (f.family === 6 || (f.family === undefined && f.name.startsWith('bird6')));
}

/** Files that BIRD is started with (the rest are included by them): these get the check command. */
function isMainFile(name: string): boolean {
  return name === 'bird.cfg' || name === 'bird6.cfg';
}

/** calico-node's resources for a flavor. */
export function defaultResources(files: readonly FlavorFile[], o: DefaultResourceOptions): TemplateResource[] {
  const dir = o.configDir ?? CALICO_CONFIG_DIR;
  const v4Check = o.birdCheck === undefined ? 'bird -p -c {{src}}' : o.birdCheck;
  const v6Check = o.bird6Check === undefined ? 'bird6 -p -c {{src}}' : o.bird6Check;
  return files.map((f) => {
    const v6 = isV6File(o.flavor, f);
    return {
      id: `builtin:${f.name}`,
      file: f.name,
      dest: join(dir, f.name),
      keys: keysFor(f.dependsOn, o.nodeName),
      mode: 0o644,
      uid: null,
      gid: null,
      checkCmd: isMainFile(f.name) ? (v6 ? v6Check : v4Check) : null,
      reloadCmd: null,
      reloadBirdSocket: v6 ? (o.bird6Socket ?? CALICO_BIRD6_SOCKET) : (o.birdSocket ?? CALICO_BIRD_SOCKET),
    };
  });
}

// ---------------------------------------------------------------------------
// Key matching
// ---------------------------------------------------------------------------

/** True when `key` is `prefix` or lies below it (`/calico/staticroutes` does not match `/calico/staticroutesv6/x`). */
export function keyMatches(key: string, prefix: string): boolean {
  if (!key.startsWith(prefix)) return false;
  return key.length === prefix.length || prefix.endsWith('/') || key.charCodeAt(prefix.length) === 47; /* '/' */
}

// ---------------------------------------------------------------------------
// conf.d TOML
// ---------------------------------------------------------------------------

type TomlValue = string | number | boolean | string[];

/**
 * The part of TOML that confd resources use: `[table]` headers, `key = value`
 * with basic/literal strings, integers, booleans and (multi-line) arrays of
 * strings, `#` comments. Anything else is an error with its line number.
 */
export function parseTomlSubset(text: string, where: string): Record<string, Record<string, TomlValue>> {
  const out: Record<string, Record<string, TomlValue>> = {};
  let table: Record<string, TomlValue> = (out[''] = {});
  let i = 0;
  let line = 1;
  const fail = (msg: string): never => {
    throw new Error(`${where}:${line}: ${msg}`);
  };
  const skipWs = (nl: boolean) => {
    for (;;) {
      const c = text[i];
      if (c === ' ' || c === '\t' || c === '\r') i++;
      else if (nl && c === '\n') {
        i++;
        line++;
      } else if (c === '#') {
        while (i < text.length && text[i] !== '\n') i++;
      } else return;
    }
  };
  const str = (): string => {
    const q = text[i];
    i++;
    let s = '';
    while (i < text.length && text[i] !== q) {
      const c = text[i]!;
      if (c === '\n') fail('unterminated string');
      if (q === '"' && c === '\\') {
        const e = text[i + 1];
        const map: Record<string, string> = { n: '\n', t: '\t', '"': '"', '\\': '\\', r: '\r' };
        if (e === undefined || map[e] === undefined) fail(`unsupported escape \\${e ?? ''}`);
        s += map[e!];
        i += 2;
        continue;
      }
      s += c;
      i++;
    }
    if (i >= text.length) fail('unterminated string');
    i++;
    return s;
  };
  const value = (): TomlValue => {
    const c = text[i];
    if (c === '"' || c === "'") return str();
    if (c === '[') {
      i++;
      const arr: string[] = [];
      for (;;) {
        skipWs(true);
        if (text[i] === ']') {
          i++;
          return arr;
        }
        if (text[i] !== '"' && text[i] !== "'") fail('only arrays of strings are supported');
        arr.push(str());
        skipWs(true);
        if (text[i] === ',') i++;
        else if (text[i] !== ']') fail('expected , or ] in array');
      }
    }
    const m = /^(true|false|[+-]?\d+)/.exec(text.slice(i, i + 32));
    if (!m) return fail('expected a string, an integer, a boolean or an array');
    i += m[0].length;
    return m[0] === 'true' ? true : m[0] === 'false' ? false : Number(m[0]);
  };
  for (;;) {
    skipWs(true);
    if (i >= text.length) return out;
    if (text[i] === '[') {
      const end = text.indexOf(']', i);
      if (end < 0) fail('unterminated table header');
      const name = text.slice(i + 1, end).trim();
      table = out[name] ??= {};
      i = end + 1;
    } else {
      const m = /^[A-Za-z0-9_-]+/.exec(text.slice(i, i + 64));
      if (!m) fail('expected a key');
      i += m![0].length;
      skipWs(false);
      if (text[i] !== '=') fail(`expected = after ${m![0]}`);
      i++;
      skipWs(false);
      table[m![0]] = value();
    }
    skipWs(false);
    if (i < text.length && text[i] !== '\n') fail('unexpected text after value');
  }
}

const TEMPLATE_FIELDS = new Set(['src', 'file', 'dest', 'prefix', 'keys', 'mode', 'uid', 'gid', 'owner', 'check_cmd', 'reload_cmd', 'reload_bird_socket']);

/** Maps a confd `src` (`bird.cfg.template`, `bird_aggr.cfg.template`) or a file name to a flavor file name. */
function flavorFileFor(src: string, files: readonly FlavorFile[]): string | undefined {
  const base = src.split('/').pop()!;
  for (const f of files) {
    const t = f.template.split('/').pop()!;
    if (base === f.name || base === t || base === `${f.name}.template`) return f.name;
  }
  return undefined;
}

/** Joins confd's prefix and key and substitutes `//NODENAME`. */
function absoluteKey(prefix: string, key: string, nodeName: string): string {
  let k = `${prefix.replace(/\/+$/, '')}/${key.replace(/^\/+/, '')}`;
  k = k.replace(/\/\/?NODENAME/g, `/${nodeName}`).replace(/\/+$/, '');
  return k === '' ? '/' : k;
}

/** Parses one conf.d TOML file into a resource. Throws with file and field on bad input. */
export function parseResource(text: string, where: string, files: readonly FlavorFile[], nodeName: string): TemplateResource {
  const doc = parseTomlSubset(text, where);
  const t = doc.template;
  if (!t) throw new Error(`${where}: no [template] table`);
  for (const k of Object.keys(t)) if (!TEMPLATE_FIELDS.has(k)) throw new Error(`${where}: unknown field "${k}" in [template]`);
  const s = (k: string): string | null => {
    const v = t[k];
    if (v === undefined) return null;
    if (typeof v !== 'string') throw new Error(`${where}: "${k}" must be a string`);
    return v;
  };
  const src = s('file') ?? s('src');
  if (src === null) throw new Error(`${where}: "src" (or "file") is required`);
  const file = flavorFileFor(src, files);
  if (file === undefined) throw new Error(`${where}: "${src}" is not a template of this flavor (have: ${files.map((f) => f.name).join(', ')})`);
  const dest = s('dest');
  if (dest === null || !dest.startsWith('/')) throw new Error(`${where}: "dest" must be an absolute path`);
  const keysRaw = t.keys ?? [];
  if (!Array.isArray(keysRaw)) throw new Error(`${where}: "keys" must be an array of strings`);
  const prefix = s('prefix') ?? '';
  const keys = keysRaw.map((k) => absoluteKey(prefix, k, nodeName));
  if (keys.length === 0) throw new Error(`${where}: "keys" is empty: the file would never be rendered again after the first time`);
  const modeRaw = t.mode ?? '0644';
  const mode = typeof modeRaw === 'string' ? parseInt(modeRaw, 8) : typeof modeRaw === 'number' ? parseInt(String(modeRaw), 8) : NaN;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new Error(`${where}: "mode" must be an octal string like "0644"`);
  const int = (k: string): number | null => {
    const v = t[k];
    if (v === undefined) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new Error(`${where}: "${k}" must be a non-negative integer`);
    return v;
  };
  if (t.owner !== undefined) throw new Error(`${where}: "owner" (a user name) is not supported; use "uid"`);
  const checkCmd = s('check_cmd');
  return {
    id: where,
    file,
    dest,
    keys,
    mode,
    uid: int('uid'),
    gid: int('gid'),
    checkCmd: checkCmd === null || checkCmd.trim() === '' ? null : checkCmd,
    reloadCmd: s('reload_cmd'),
    reloadBirdSocket: s('reload_bird_socket'),
  };
}

/** Loads `DIR/conf.d/*.toml` (sorted by name). */
export function loadConfDir(dir: string, files: readonly FlavorFile[], nodeName: string): TemplateResource[] {
  const confd = join(dir, 'conf.d');
  let names: string[];
  try {
    names = readdirSync(confd).filter((n) => n.endsWith('.toml')).sort();
  } catch (err) {
    throw new Error(`cannot read ${confd}: ${(err as Error).message}`);
  }
  if (names.length === 0) throw new Error(`${confd} has no *.toml resources`);
  const out = names.map((n) => parseResource(readFileSync(join(confd, n), 'utf8'), join(confd, n), files, nodeName));
  const seen = new Map<string, string>();
  for (const r of out) {
    const prev = seen.get(r.dest);
    if (prev !== undefined) throw new Error(`${r.id}: dest ${r.dest} is already written by ${prev}`);
    seen.set(r.dest, r.id);
  }
  return out;
}

/** `{{src}}` / `{{.src}}` -> the staged file path, shell-quoted. */
export function expandCheckCmd(cmd: string, src: string): string {
  const quoted = `'${src.replace(/'/g, `'\\''`)}'`;
  return cmd.replace(/\{\{\s*\.?src\s*\}\}/g, quoted);
}
