#!/usr/bin/env node
// Runs every compiled test file under dist/test with Node's built-in runner.
// Node 20's `--test` takes explicit files, so we collect them here rather than
// depending on shell globbing (which differs between sh and bash).
//
// Besides the usual spec output, the run writes a TAP copy of its results and
// reads it back to list every skipped or todo test in the summary: a test that
// did not run must never look like a pass. Strict mode (`--strict`, or
// CALICO_BGPD_TEST_STRICT=1 as .ci/run sets it, or CI=true) fails the run on any skip.
//
//   node scripts/run-tests.mjs [--strict] [FILTER...]
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

/**
 * Skipped and todo tests in a TAP stream, with their reasons. Node writes
 * `ok N - name # SKIP reason` (or `# TODO`) at any nesting depth.
 */
export function notRun(tap) {
  const out = [];
  for (const line of tap.split('\n')) {
    const m = /^\s*(?:not )?ok \d+ - (.*?) # (SKIP|TODO)\b ?(.*)$/.exec(line);
    if (m) out.push({ name: m[1], kind: m[2], reason: m[3] });
  }
  return out;
}

const args = process.argv.slice(2);
const strict = args.includes('--strict') || process.env.CALICO_BGPD_TEST_STRICT === '1' || process.env.CI === 'true';
const filter = args.filter((a) => a !== '--strict');
let files = collect('dist/test');
if (filter.length > 0) files = files.filter((f) => filter.some((p) => f.includes(p)));
if (files.length === 0) {
  console.error('no test files found under dist/test (did the build run?)');
  process.exit(1);
}

const tapDir = mkdtempSync(join(tmpdir(), 'calico-bgpd-tests-'));
const tapFile = join(tapDir, 'results.tap');
const result = spawnSync(
  process.execPath,
  ['--test', '--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tapFile}`, ...files],
  { stdio: 'inherit' },
);
let skipped = [];
try {
  skipped = notRun(readFileSync(tapFile, 'utf8'));
} catch (e) {
  console.error(`run-tests: could not read the TAP results (${e.message})`);
  if (strict) process.exitCode = 1;
}
rmSync(tapDir, { recursive: true, force: true });

if (skipped.length > 0) {
  const bar = '!'.repeat(78);
  console.error(`\n${bar}\n${skipped.length} test(s) DID NOT RUN${strict ? ' (strict mode: this fails the run)' : ''}:`);
  for (const s of skipped) console.error(`  ${s.kind} ${s.name}${s.reason ? `: ${s.reason}` : ''}`);
  console.error(bar);
}
const status = result.status ?? 1;
if (status !== 0) process.exit(status);
process.exit(strict && skipped.length > 0 ? 1 : process.exitCode ?? 0);
