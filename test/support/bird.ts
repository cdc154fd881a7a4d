/**
 * BIRD binaries for tests: the installed BIRD 1.6 (`bird`, `bird6`) and a
 * BIRD 2 unpacked from Debian's `bird2` package into a private prefix (the
 * `bird` and `bird2` packages conflict, both ship /usr/sbin/bird), and
 * `birdCheck`, which runs `bird -p -c` on a config.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIRD1 = process.env.BIRD_BIN ?? '/usr/sbin/bird';
export const BIRD6 = process.env.BIRD6_BIN ?? '/usr/sbin/bird6';

const repoRoot = (): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
};

/** Where BIRD 2 lives: $BIRD2_PREFIX, else /var/cache/calico-bgpd-test/bird2 if writable, else <repo>/.cache/bird2. */
function prefixes(): string[] {
  if (process.env.BIRD2_PREFIX) return [resolve(process.env.BIRD2_PREFIX)];
  return ['/var/cache/calico-bgpd-test/bird2', join(repoRoot(), '.cache/bird2')];
}

const binIn = (prefix: string): string => join(prefix, 'usr/sbin/bird');

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function writableParent(prefix: string): boolean {
  try {
    mkdirSync(dirname(prefix), { recursive: true });
    accessSync(dirname(prefix), constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** `apt-get download bird2` + `dpkg -x` into `prefix` (through a temp dir, renamed into place). */
function unpackBird2(prefix: string): void {
  const work = mkdtempSync(join(tmpdir(), 'bird2-deb-'));
  try {
    const download = () => execFileSync('apt-get', ['download', 'bird2'], { cwd: work, stdio: 'pipe', timeout: 120_000 });
    try {
      download();
    } catch (e) {
      // A fresh machine may have no package lists yet; only root can fetch them.
      if (process.getuid?.() !== 0) throw e;
      execFileSync('apt-get', ['update', '-q'], { stdio: 'pipe', timeout: 300_000 });
      download();
    }
    const deb = readdirSync(work).find((n) => /^bird2_.*\.deb$/.test(n));
    if (!deb) throw new Error('apt-get download bird2 produced no .deb');
    const staging = `${prefix}.tmp-${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    execFileSync('dpkg', ['-x', join(work, deb), staging], { stdio: 'pipe', timeout: 60_000 });
    rmSync(prefix, { recursive: true, force: true });
    renameSync(staging, prefix);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

let cached: string | null | undefined;

/**
 * The path of a BIRD 2 binary: $BIRD2_BIN, else an unpacked one under the
 * private prefixes, else unpacks `bird2` there (apt-get download + dpkg -x).
 * Returns null when none can be had (no apt, no network); the caller skips.
 */
export function bird2Binary(): string | null {
  if (cached !== undefined) return cached;
  if (process.env.BIRD2_BIN) return (cached = executable(process.env.BIRD2_BIN) ? process.env.BIRD2_BIN : null);
  for (const p of prefixes()) if (executable(binIn(p))) return (cached = binIn(p));
  for (const p of prefixes()) {
    if (!writableParent(p)) continue;
    try {
      unpackBird2(p);
      if (executable(binIn(p))) return (cached = binIn(p));
    } catch {
      // try the next prefix
    }
  }
  return (cached = null);
}

/** The BIRD 1.6 binaries if installed. */
export function bird1Binaries(): { bird: string; bird6: string } | null {
  return executable(BIRD1) && executable(BIRD6) ? { bird: BIRD1, bird6: BIRD6 } : null;
}

/** Result of `bird -p -c FILE`. */
export interface BirdCheck {
  ok: boolean;
  /** BIRD's complaint (`file:line:col message`), empty when ok. */
  output: string;
}

/**
 * Parses a config with `bird -p -c FILE` (parse only: no sockets, no kernel).
 * BIRD resolves relative includes against FILE's directory, not the working directory.
 */
export function birdCheck(binary: string, file: string): BirdCheck {
  // Run from / so that includes must resolve next to the file, as they do for the real daemon.
  const r = spawnSync(binary, ['-p', '-c', file], { encoding: 'utf8', timeout: 30_000, cwd: '/' });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim();
  return { ok: r.status === 0, output };
}
