/**
 * Stage directories left by a confd that was killed mid-batch are removed
 * when confd starts again; those of live processes are left alone.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runConfd } from '../../src/commands/confd.js';
import { openStages, stageOwner, stagePrefix, sweepStaleStages, STAGE_PREFIX } from '../../src/confd/stage-sweep.js';
import { defaultClusterPath } from '../../src/datastore/config.js';
import { setLogLevel } from '../../src/log.js';

setLogLevel('silent');
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'bgpd-stage-sweep-'));
  dirs.push(d);
  return d;
}

/** The PID of a process that has exited (so no process has it, barring reuse within the test). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

/** A stage directory with a file in it, as a killed confd leaves it. */
function leaveStage(dir: string, name: string): string {
  const p = join(dir, name);
  mkdirSync(p);
  writeFileSync(join(p, 'bird.cfg'), '# half a batch\n');
  return p;
}

test('stage names carry the PID of the confd that made them', () => {
  assert.ok(stagePrefix().startsWith(STAGE_PREFIX));
  assert.equal(stageOwner(`${stagePrefix(4242)}abc123`), 4242);
  assert.equal(stageOwner(`${STAGE_PREFIX}abc123`), null);
});

test('the sweep removes stages of dead processes and of the old naming, keeps live ones and other files', () => {
  const dir = tmp();
  const dead = leaveStage(dir, `${stagePrefix(deadPid())}x1`);
  const old = leaveStage(dir, `${STAGE_PREFIX}Ab12Cd`);
  const live = leaveStage(dir, `${stagePrefix(process.ppid)}x2`);
  writeFileSync(join(dir, 'bird.cfg'), 'live file\n');
  const removed = sweepStaleStages([dir, join(dir, 'does-not-exist')]);
  assert.deepEqual(removed.sort(), [dead, old].sort());
  assert.ok(existsSync(live), 'a stage of a running process stays');
  assert.ok(existsSync(join(dir, 'bird.cfg')));
});

test('a stage with our own PID is stale unless this process has it open (confd is PID 1 again after a container restart)', () => {
  const dir = tmp();
  const earlierLife = leaveStage(dir, `${stagePrefix()}e1`);
  const open = leaveStage(dir, `${stagePrefix()}o1`);
  openStages.add(open);
  try {
    assert.deepEqual(sweepStaleStages([dir]), [earlierLife]);
    assert.ok(existsSync(open), 'the stage of a batch in progress stays');
  } finally {
    openStages.delete(open);
  }
});

test('confd removes the stages a killed run left in its destination directory at start', async () => {
  const dir = tmp();
  const stale = [leaveStage(dir, `${stagePrefix(deadPid())}k1`), leaveStage(dir, `${stagePrefix(deadPid())}k2`), leaveStage(dir, `${STAGE_PREFIX}zz99`)];
  const code = await runConfd(
    { flavor: 'bird1', node: 'node-a', destDir: dir, birdSocket: join(dir, 'bird.ctl'), bird6Socket: join(dir, 'bird6.ctl'), checkCmd: '', check6Cmd: '', onetime: true, datastoreFile: [defaultClusterPath()] },
    {},
  );
  assert.equal(code, 0);
  for (const s of stale) assert.ok(!existsSync(s), `${s} is gone`);
  assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith(STAGE_PREFIX)), [], 'no stage directory is left, ours included');
  assert.ok(existsSync(join(dir, 'bird.cfg')));
});
