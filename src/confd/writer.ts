/**
 * The safe write path for one batch of rendered files.
 *
 *   1. compare the new bytes (and mode) with the live file: equal -> nothing;
 *   2. stage every changed file in a fresh directory *inside* its destination
 *      directory (same filesystem, so the final rename is atomic), with its
 *      mode set, fsynced;
 *   3. run each check command on the staged file. The stage directory also
 *      holds hard links to the live files next to it, so BIRD's relative
 *      `include "bird_aggr.cfg";` resolves to the *new* include files of the
 *      same batch; that is also why a main file is checked again when only a
 *      file it includes changed;
 *   4. any check fails -> install nothing (the live files stay as they are);
 *   5. rename each staged file over its destination, fsync the directory;
 *   6. reload once per reload target for the whole batch (two files for the
 *      same BIRD -> one `configure`).
 *
 * Not atomic across files: a BIRD that restarts between two renames reads a
 * mix. A running BIRD only reads on reload, which comes after all renames.
 */
import { spawn } from 'node:child_process';
import { constants as FS } from 'node:fs';
import { chmod, chown, link, copyFile, mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '../log.js';
import { birdConfigure, type ConfigureResult } from './bird-control.js';
import { expandCheckCmd, type TemplateResource } from './resources.js';
import { openStages, stagePrefix } from './stage-sweep.js';

/** Result of a shell command. */
export interface CommandResult {
  /** Exit status; null when killed (timeout). */
  code: number | null;
  /** stdout and stderr together, capped. */
  output: string;
}

export type CommandRunner = (cmd: string, opts: { cwd?: string; timeoutMs: number }) => Promise<CommandResult>;

const OUTPUT_CAP = 64 * 1024;

/** Runs `cmd` with /bin/sh, output captured (capped), killed after the timeout. */
export const runShell: CommandRunner = (cmd, opts) =>
  new Promise((resolve) => {
    const p = spawn('/bin/sh', ['-c', cmd], { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const add = (d: Buffer) => {
      if (out.length < OUTPUT_CAP) out += d.toString();
    };
    p.stdout.on('data', add);
    p.stderr.on('data', add);
    const timer = setTimeout(() => {
      out += `\n(killed after ${opts.timeoutMs} ms)`;
      p.kill('SIGKILL');
    }, opts.timeoutMs);
    p.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, output: `${out}${err.message}` });
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output: out.trimEnd() });
    });
  });

/** A rendered file waiting to be written. */
export interface PlannedFile {
  resource: TemplateResource;
  content: string;
}

export interface WriteOptions {
  /** Render and check, never touch the destination or reload. */
  noop?: boolean;
  /** Write, but neither check nor reload. */
  syncOnly?: boolean;
  /** Leave the stage directory (with a copy of each staged file) in place. */
  keepStageFile?: boolean;
  /** Every resource, so that unchanged main files next to a changed include are checked again. */
  allResources?: readonly TemplateResource[];
  runCommand?: CommandRunner;
  birdConfigure?: (socket: string) => Promise<ConfigureResult>;
  checkTimeoutMs?: number;
  reloadTimeoutMs?: number;
  log?: Logger;
}

export interface CheckFailure {
  resource: TemplateResource;
  command: string;
  output: string;
}

/** One reload target: a shell command or a BIRD socket. */
export type ReloadTarget = { kind: 'cmd'; cmd: string } | { kind: 'bird'; socket: string };

export interface ReloadOutcome {
  target: ReloadTarget;
  ok: boolean;
  message: string;
  /** The BIRD socket does not exist or refuses connections: BIRD is not running (it reads the files when it starts). */
  notRunning: boolean;
}

export interface BatchResult {
  /** Destinations whose bytes differed (written, or would be with noop). */
  changed: TemplateResource[];
  unchanged: TemplateResource[];
  /** Files installed (renamed into place). */
  written: TemplateResource[];
  checkFailures: CheckFailure[];
  reloads: ReloadOutcome[];
}

export function reloadTargets(resources: readonly TemplateResource[]): ReloadTarget[] {
  const out: ReloadTarget[] = [];
  const seen = new Set<string>();
  for (const r of resources) {
    if (r.reloadBirdSocket !== null && !seen.has(`bird:${r.reloadBirdSocket}`)) {
      seen.add(`bird:${r.reloadBirdSocket}`);
      out.push({ kind: 'bird', socket: r.reloadBirdSocket });
    }
    if (r.reloadCmd !== null && r.reloadCmd.trim() !== '' && !seen.has(`cmd:${r.reloadCmd}`)) {
      seen.add(`cmd:${r.reloadCmd}`);
      out.push({ kind: 'cmd', cmd: r.reloadCmd });
    }
  }
  return out;
}

export function describeTarget(t: ReloadTarget): string {
  return t.kind === 'bird' ? `BIRD configure via ${t.socket}` : t.cmd;
}

/** Runs the reload targets one after the other (each once). */
export async function runReloads(targets: readonly ReloadTarget[], opts: WriteOptions): Promise<ReloadOutcome[]> {
  const run = opts.runCommand ?? runShell;
  const configure = opts.birdConfigure ?? ((s: string) => birdConfigure(s, opts.reloadTimeoutMs ?? 10_000));
  const out: ReloadOutcome[] = [];
  for (const t of targets) {
    if (t.kind === 'bird') {
      const r = await configure(t.socket);
      out.push({ target: t, ok: r.ok, message: r.message, notRunning: r.notRunning });
    } else {
      const r = await run(t.cmd, { timeoutMs: opts.reloadTimeoutMs ?? 30_000 });
      out.push({ target: t, ok: r.code === 0, message: r.code === 0 ? r.output : `exit ${r.code ?? 'killed'}: ${r.output}`, notRunning: false });
    }
  }
  return out;
}

async function readLive(path: string): Promise<{ content: Buffer; mode: number; uid: number; gid: number } | null> {
  try {
    const [content, st] = await Promise.all([readFile(path), stat(path)]);
    return { content, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function writeStaged(path: string, content: Buffer, r: TemplateResource): Promise<void> {
  const fh = await open(path, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL, r.mode);
  try {
    await fh.writeFile(content);
    await fh.chmod(r.mode); // the umask applied at open
    if (r.uid !== null || r.gid !== null) await fh.chown(r.uid ?? -1, r.gid ?? -1);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, FS.O_RDONLY | FS.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Links (or copies, across filesystems) the live regular files of `dir` that are not staged into `stage`. */
async function linkSiblings(dir: string, stage: string, staged: ReadonlySet<string>): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (n.startsWith('.') || staged.has(n)) continue;
    const src = join(dir, n);
    try {
      const st = await stat(src);
      if (!st.isFile()) continue;
      await link(src, join(stage, n)).catch(() => copyFile(src, join(stage, n)));
    } catch {
      // vanished meanwhile: the checker will say so if it mattered
    }
  }
}

/**
 * Writes one batch (see the file comment). Never throws for check or reload
 * failures (they are in the result); throws for I/O errors (disk full,
 * permissions), after removing its stage directories.
 */
export async function writeBatch(files: readonly PlannedFile[], opts: WriteOptions = {}): Promise<BatchResult> {
  const result: BatchResult = { changed: [], unchanged: [], written: [], checkFailures: [], reloads: [] };
  const contents = new Map<TemplateResource, Buffer>();
  for (const f of files) {
    const bytes = Buffer.from(f.content);
    const live = await readLive(f.resource.dest);
    const r = f.resource;
    if (live !== null && live.content.equals(bytes)) {
      result.unchanged.push(r);
      // Same bytes but wrong mode/owner: fix in place; BIRD need not know.
      if (!opts.noop && live.mode !== r.mode) await chmod(r.dest, r.mode);
      if (!opts.noop && ((r.uid !== null && r.uid !== live.uid) || (r.gid !== null && r.gid !== live.gid))) await chown(r.dest, r.uid ?? -1, r.gid ?? -1);
      continue;
    }
    result.changed.push(r);
    contents.set(r, bytes);
  }
  if (result.changed.length === 0) return result;

  // ---- stage -------------------------------------------------------------
  const byDir = new Map<string, TemplateResource[]>();
  for (const r of result.changed) {
    const d = dirname(r.dest);
    byDir.set(d, [...(byDir.get(d) ?? []), r]);
  }
  const stages = new Map<string, string>();
  try {
    for (const [dir, rs] of byDir) {
      if (!opts.noop) await mkdir(dir, { recursive: true });
      // --noop must not leave anything in the destination: stage elsewhere.
      const stage = await mkdtemp(join(opts.noop ? tmpdir() : dir, stagePrefix()));
      openStages.add(stage);
      stages.set(dir, stage);
      for (const r of rs) await writeStaged(join(stage, basename(r.dest)), contents.get(r)!, r);
    }

    // ---- check -----------------------------------------------------------
    if (!opts.syncOnly) {
      const toCheck: TemplateResource[] = result.changed.filter((r) => r.checkCmd !== null);
      for (const r of opts.allResources ?? []) {
        if (r.checkCmd !== null && !contents.has(r) && stages.has(dirname(r.dest)) && !toCheck.includes(r)) {
          const live = await readLive(r.dest);
          if (live !== null) toCheck.push(r);
        }
      }
      const linked = new Set<string>();
      for (const r of toCheck) {
        const dir = dirname(r.dest);
        const stage = stages.get(dir)!;
        if (!linked.has(dir)) {
          linked.add(dir);
          await linkSiblings(dir, stage, new Set((byDir.get(dir) ?? []).map((x) => basename(x.dest))));
        }
        const cmd = expandCheckCmd(r.checkCmd!, join(stage, basename(r.dest)));
        const res = await (opts.runCommand ?? runShell)(cmd, { cwd: stage, timeoutMs: opts.checkTimeoutMs ?? 60_000 });
        if (res.code !== 0) result.checkFailures.push({ resource: r, command: cmd, output: res.output });
      }
      if (result.checkFailures.length > 0 || opts.noop) return result;
    } else if (opts.noop) return result;

    // ---- install ---------------------------------------------------------
    for (const [dir, rs] of byDir) {
      const stage = stages.get(dir)!;
      for (const r of rs) {
        await rename(join(stage, basename(r.dest)), r.dest);
        result.written.push(r);
        if (opts.keepStageFile) await link(r.dest, join(stage, basename(r.dest))).catch(() => undefined);
      }
      await fsyncDir(dir);
    }
  } finally {
    for (const stage of stages.values()) {
      if (!opts.keepStageFile || opts.noop) await rm(stage, { recursive: true, force: true });
      openStages.delete(stage);
    }
  }

  // ---- reload ------------------------------------------------------------
  if (!opts.syncOnly) result.reloads = await runReloads(reloadTargets(result.written), opts);
  return result;
}
