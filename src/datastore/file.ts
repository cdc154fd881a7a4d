/**
 * The file backend: one or more YAML files or directories of them, watched
 * with chokidar. The embedded default when no datastore is configured.
 *
 * A file holds YAML documents (`---` separated), each one of:
 * - a resource: projectcalico.org/v3 or crd.projectcalico.org/v1 kinds
 *   (BGPConfiguration, BGPPeer, Node, IPPool, BlockAffinity), or core
 *   Kubernetes Node, Service, Endpoints, Secret; `kind: List` with `items`;
 * - a map of legacy keys (`/calico/bgp/v1/global/as_num: "64512"`), values
 *   as strings, or as YAML objects that are stored as their JSON text.
 *
 * Sources apply in order (files of a directory in name order); a later
 * resource of the same kind and name replaces an earlier one, and a
 * projectcalico.org/v3 Node merges onto the Kubernetes Node of the same name
 * (calicoctl semantics). Legacy keys are laid over the converted resources.
 *
 * Bad input never takes the daemon down and never wipes good state:
 * - a file that is not valid YAML is reported with file and line, and the
 *   last good contents of that file stay in force;
 * - a resource that fails conversion is reported with file, line and
 *   `Kind/name`; if an earlier version of it converted cleanly, that version
 *   stays in force, otherwise only the bad entry is skipped.
 *
 * Changes are applied as a diff: subscribers receive only the keys whose
 * values changed.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { LineCounter, parseAllDocuments, isMap, isSeq, type Node as YamlNode } from 'yaml';
import { logger } from '../log.js';
import { resourceName } from './resources/common.js';
import { formatProblem, type Problem } from './resources/problem.js';
import { resourcesToKeyView } from './resources/to-keys.js';
import type { Datastore, DatastoreListener, KeyChange, Resource, SyncStatus } from './types.js';

export interface FileDatastoreOptions {
  /** Files or directories, applied in this order. */
  paths: string[];
  /** This node (per-service routes depend on it). */
  nodeName?: string;
  usePodCidr?: boolean;
  advertiseClusterIps?: string;
  /** Watch for changes (default true). */
  watch?: boolean;
  /** Coalesce bursts of file events for this long (ms, default 50). */
  debounceMs?: number;
  /**
   * A changed file is read once its size has not moved for this long (ms,
   * default 100): a writer that is still appending is not read half-way.
   */
  writeFinishMs?: number;
}

/** What one file contributed, as last parsed successfully. */
export interface FileContents {
  resources: Array<{ resource: Resource; line: number }>;
  legacy: Array<{ key: string; value: string; line: number }>;
}

const YAML_EXT = /\.(ya?ml|json)$/i;

/**
 * Why a YAML file's text looks cut short, or null. YAML has no end marker,
 * and a file truncated mid-document often still parses, silently dropping
 * whatever came after the cut. Every editor and tool that writes YAML ends
 * the file with a line break; a file that stops mid-line was most likely
 * truncated (a partial copy, a full disk, `head -c`). JSON files are exempt:
 * they often end without one, and a truncated JSON document does not parse.
 */
export function looksUnfinished(file: string, text: string): string | null {
  if (/\.json$/i.test(file) || text.length === 0 || text.endsWith('\n')) return null;
  return 'the file does not end with a line break: it looks half-written';
}

/**
 * A cut that lands right after a line break passes `looksUnfinished`, and
 * YAML cut between lines often still parses: the last document loses its
 * name or spec and every document after it is gone. Why such a change looks
 * cut short, or null: fewer entries (resources + legacy keys) than the
 * file's last good contents *and* problems in what is left. A clean file
 * with fewer entries is a removal and is believed.
 */
export function lostEntriesWithProblems(previous: FileContents | undefined, next: FileContents, problems: readonly Problem[]): string | null {
  if (previous === undefined || problems.length === 0) return null;
  const before = previous.resources.length + previous.legacy.length;
  const after = next.resources.length + next.legacy.length;
  return after < before ? `${before - after} of ${before} entries gone and what is left has problems: it looks cut short` : null;
}

/** Parses one file's text. Throws a Problem-shaped error for invalid YAML. */
export function parseFileText(file: string, text: string): { contents: FileContents; problems: Problem[] } {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: false });
  const problems: Problem[] = [];
  const contents: FileContents = { resources: [], legacy: [] };
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    const err = doc.errors[0];
    if (err) {
      const line = err.linePos?.[0]?.line ?? lc.linePos(err.pos[0]).line;
      throw Object.assign(new Error(`${file}:${line}: invalid YAML: ${err.message.split('\n')[0]}`), {
        problem: { resource: file, message: `invalid YAML: ${err.message.split('\n')[0]}`, file, line } satisfies Problem,
      });
    }
  }
  for (const doc of list) {
    if (doc.contents === null) continue;
    const lineOf = (n: YamlNode | null | undefined): number => (n?.range ? lc.linePos(n.range[0]).line : 1);
    const docLine = lineOf(doc.contents as YamlNode);
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) {
      problems.push({ resource: file, message: 'document is neither a resource nor a map of /calico/ keys; skipped', file, line: docLine });
      continue;
    }
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj);
    if (keys.length > 0 && keys.every((k) => k.startsWith('/calico/'))) {
      const map = doc.contents;
      for (const k of keys) {
        let line = docLine;
        if (isMap(map)) {
          const pair = map.items.find((p) => (p.key as { value?: unknown } | null)?.value === k);
          if (pair) line = lineOf(pair.key as YamlNode);
        }
        const v = obj[k];
        const text = typeof v === 'string' ? v : v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
        contents.legacy.push({ key: k, value: text, line });
      }
      continue;
    }
    if (obj.kind === 'List' && Array.isArray(obj.items)) {
      const seq = isMap(doc.contents) ? doc.contents.get('items', true) : undefined;
      obj.items.forEach((item, i) => {
        const node = isSeq(seq) ? (seq.items[i] as YamlNode | undefined) : undefined;
        addResource(item, node ? lineOf(node) : docLine);
      });
      continue;
    }
    addResource(obj, docLine);
  }
  return { contents, problems };

  function addResource(item: unknown, line: number): void {
    const r = item as Partial<Resource> | null;
    if (!r || typeof r !== 'object' || typeof r.kind !== 'string' || typeof r.metadata !== 'object' || r.metadata === null || typeof r.metadata.name !== 'string' || r.metadata.name === '') {
      const kind = r && typeof r === 'object' && typeof r.kind === 'string' ? r.kind : 'Unknown';
      problems.push({ resource: `${kind}/<unnamed>`, message: 'resource needs kind and metadata.name; skipped', file, line });
      return;
    }
    if (typeof r.apiVersion !== 'string') r.apiVersion = 'projectcalico.org/v3';
    contents.resources.push({ resource: r as Resource, line });
  }
}

/** Lists the files behind a path: the file itself, or a directory's YAML/JSON files in name order (recursively). */
export function expandPath(path: string): string[] {
  const st = statSync(path);
  if (!st.isDirectory()) return [resolve(path)];
  const out: string[] = [];
  for (const name of readdirSync(path).sort()) {
    if (name.startsWith('.')) continue;
    const full = join(path, name);
    const s = statSync(full);
    if (s.isDirectory()) out.push(...expandPath(full));
    else if (YAML_EXT.test(name)) out.push(resolve(full));
  }
  return out;
}

/**
 * The whole pipeline without I/O: parsed files in order -> key view and
 * problems. `lastGood` carries resources that converted cleanly last time,
 * by `Kind/name`, and is updated in place.
 */
export function buildKeyView(
  files: Array<{ file: string; contents: FileContents }>,
  opts: { nodeName?: string; usePodCidr?: boolean; advertiseClusterIps?: string },
  lastGood: Map<string, Resource>,
): { keys: Map<string, string>; problems: Problem[] } {
  const located = new Map<string, { file: string; line: number }>();
  const resources: Resource[] = [];
  for (const f of files) {
    for (const { resource, line } of f.contents.resources) {
      resources.push(resource);
      located.set(resourceName(resource), { file: f.file, line });
    }
  }
  const convOpts = {
    ...(opts.nodeName !== undefined ? { nodeName: opts.nodeName } : {}),
    ...(opts.usePodCidr !== undefined ? { usePodCidr: opts.usePodCidr } : {}),
    ...(opts.advertiseClusterIps !== undefined ? { advertiseClusterIps: opts.advertiseClusterIps } : {}),
  };
  let result = resourcesToKeyView(resources, convOpts);
  const bad = new Set(result.problems.map((p) => p.resource));
  const problems = result.problems.map((p) => ({ ...p, ...(located.get(p.resource) ?? {}) }));

  // Put back the last clean version of each resource that now has problems.
  let substituted = false;
  const effective = resources.map((r) => {
    const name = resourceName(r);
    if (!bad.has(name)) return r;
    const prev = lastGood.get(name);
    if (prev && prev !== r && JSON.stringify(prev) !== JSON.stringify(r)) {
      substituted = true;
      const i = problems.findIndex((p) => p.resource === name);
      if (i >= 0) problems[i] = { ...problems[i]!, message: `${problems[i]!.message} (previous version kept)` };
      return prev;
    }
    return r;
  });
  if (substituted) result = resourcesToKeyView(effective, convOpts);
  const stillBad = new Set(result.problems.map((p) => p.resource));
  for (const r of effective) {
    const name = resourceName(r);
    if (!stillBad.has(name)) lastGood.set(name, r);
  }

  const keys = result.keys;
  for (const f of files) for (const l of f.contents.legacy) keys.set(l.key, l.value);
  return { keys, problems };
}

/** Computes the changes that turn `before` into `after`. */
export function diffKeys(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): KeyChange[] {
  const changes: KeyChange[] = [];
  for (const [k, v] of after) if (before.get(k) !== v) changes.push({ key: k, value: v });
  for (const k of before.keys()) if (!after.has(k)) changes.push({ key: k, value: null });
  return changes;
}

export class FileDatastore implements Datastore {
  private readonly opts: FileDatastoreOptions;
  private keys = new Map<string, string>();
  private syncStatus: SyncStatus = 'connecting';
  private readonly listeners = new Set<DatastoreListener>();
  private readonly contents = new Map<string, FileContents>();
  private readonly parseProblems = new Map<string, Problem[]>();
  private readonly lastGood = new Map<string, Resource>();
  private currentProblems: Problem[] = [];
  private readonly logged = new Set<string>();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly dirty = new Set<string>();
  private stopped = false;
  private readonly log = logger('file-datastore');

  constructor(opts: FileDatastoreOptions) {
    if (opts.paths.length === 0) throw new Error('file datastore needs at least one path');
    this.opts = opts;
  }

  async start(): Promise<void> {
    this.stopped = false;
    for (const p of this.opts.paths) statSync(p); // a missing path is a configuration error: throw now
    this.reloadAll();
    if (this.opts.watch !== false) {
      const stable = this.opts.writeFinishMs ?? 100;
      this.watcher = watch(this.opts.paths, {
        ignoreInitial: true,
        awaitWriteFinish: stable > 0 ? { stabilityThreshold: stable, pollInterval: Math.max(10, Math.min(50, stable / 2)) } : false,
        atomic: true,
      });
      const onEvent = (path: string): void => {
        if (!YAML_EXT.test(path)) return;
        this.dirty.add(resolve(path));
        if (this.timer) clearTimeout(this.timer);
        this.timer = setTimeout(() => this.flush(), this.opts.debounceMs ?? 50);
      };
      this.watcher.on('add', onEvent).on('change', onEvent).on('unlink', onEvent);
      this.watcher.on('error', (err) => this.log.error({ err }, 'file watcher error'));
      await new Promise<void>((res) => this.watcher!.once('ready', () => res()));
    }
    this.setStatus('in-sync');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const w = this.watcher;
    this.watcher = undefined;
    if (w) await w.close();
  }

  snapshot(): ReadonlyMap<string, string> {
    return this.keys;
  }

  status(): SyncStatus {
    return this.syncStatus;
  }

  /** Problems of the current state (parse errors and conversion problems), with file and line. */
  problems(): readonly Problem[] {
    return [...[...this.parseProblems.values()].flat(), ...this.currentProblems];
  }

  subscribe(listener: DatastoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Re-reads the given files now (the watcher calls this after debouncing; tests may call it directly). */
  reloadFiles(files: Iterable<string>): KeyChange[] {
    for (const f of files) this.readFile(resolve(f));
    return this.recompute();
  }

  // ---------------------------------------------------------------------------

  private flush(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const files = [...this.dirty];
    this.dirty.clear();
    this.reloadFiles(files);
  }

  private reloadAll(): void {
    const files = this.opts.paths.flatMap((p) => expandPath(p));
    for (const f of files) this.readFile(f);
    this.recompute();
  }

  private readFile(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.contents.delete(file);
        this.parseProblems.delete(file);
        return;
      }
      this.parseProblems.set(file, [{ resource: file, message: `cannot read: ${(err as Error).message}`, file }]);
      return;
    }
    const unfinished = looksUnfinished(file, text);
    if (unfinished !== null && this.contents.has(file)) {
      // A change that looks cut short: keep what the file said before.
      this.parseProblems.set(file, [{ resource: file, file, message: `${unfinished}; the last good contents stay in force until the file is complete (write such files whole and replace them by rename)` }]);
      return;
    }
    try {
      const { contents, problems } = parseFileText(file, text);
      if (unfinished !== null) problems.push({ resource: file, file, message: `${unfinished}; used as it is, since there is nothing earlier to keep` });
      const cut = lostEntriesWithProblems(this.contents.get(file), contents, problems);
      if (cut !== null) {
        this.parseProblems.set(file, [...problems, { resource: file, file, message: `${cut}; the last good contents stay in force until the file is complete (write such files whole and replace them by rename)` }]);
        return;
      }
      this.contents.set(file, contents);
      this.parseProblems.set(file, problems);
    } catch (err) {
      const p = (err as { problem?: Problem }).problem;
      if (!p) throw err;
      const kept = this.contents.has(file) ? '; last good contents kept' : '; file ignored';
      this.parseProblems.set(file, [{ ...p, message: p.message + kept }]);
    }
  }

  private orderedFiles(): Array<{ file: string; contents: FileContents }> {
    let order: string[];
    try {
      order = this.opts.paths.flatMap((p) => expandPath(p));
    } catch {
      order = [...this.contents.keys()];
    }
    const seen = new Set(order);
    for (const f of this.contents.keys()) if (!seen.has(f)) order.push(f);
    return order.filter((f) => this.contents.has(f)).map((f) => ({ file: f, contents: this.contents.get(f)! }));
  }

  private recompute(): KeyChange[] {
    const { keys, problems } = buildKeyView(this.orderedFiles(), this.opts, this.lastGood);
    this.currentProblems = problems;
    for (const p of this.problems()) {
      const line = formatProblem(p);
      if (this.logged.has(line)) continue;
      this.logged.add(line);
      this.log.warn({ resource: p.resource, file: p.file, line: p.line }, line);
    }
    const changes = diffKeys(this.keys, keys);
    this.keys = keys;
    if (changes.length > 0 && this.syncStatus === 'in-sync') {
      for (const l of this.listeners) l.changes?.(changes);
    }
    return changes;
  }

  private setStatus(s: SyncStatus, detail?: string): void {
    if (this.syncStatus === s) return;
    this.syncStatus = s;
    for (const l of this.listeners) l.status?.(s, detail);
  }
}
