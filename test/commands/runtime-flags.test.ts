/**
 * The Node.js flags the daemons run with are the same everywhere they are
 * started: the `calico-bgpd` executable's shebang, `npm start`, and the
 * benchmarks (which import DAEMON_NODE_FLAGS), so what is measured is what
 * operators run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { DAEMON_NODE_FLAGS } from '../../src/runtime-flags.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

test('the calico-bgpd executable starts Node with the daemon flags', () => {
  const shebang = readFileSync(cli, 'utf8').split('\n', 1)[0];
  assert.equal(shebang, `#!/usr/bin/env -S node ${DAEMON_NODE_FLAGS.join(' ')}`);
  // The shebang works as written: run the built file directly.
  const r = spawnSync(cli, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\d+\.\d+\.\d+/);
});

test('npm start passes the daemon flags', () => {
  const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.start!, new RegExp(`^node ${DAEMON_NODE_FLAGS.join(' ')} dist/src/cli\\.js `));
});
