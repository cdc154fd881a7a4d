/**
 * Each daemon loads what its role uses (issue 14: cut what is loaded but
 * unused): the speaker never loads the BIRD renderer (Handlebars), confd
 * never loads the BGP speaker, and neither loads prom-client without a
 * metrics port. A module-load hook in the child records every module URL it
 * loads; a positive control in each test shows the record is live.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanup, freePort, run, startProcess, tempDir, waitFor } from '../support/process.js';
import { meshedPair } from '../support/cluster-yaml.js';

const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const c = cleanup();
after(() => c.run());

/** `--import` value that makes the child append each module URL it loads to $MODULE_TRACE_FILE. */
function traceImport(): string {
  const hook = `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) { appendFileSync(process.env.MODULE_TRACE_FILE, url + '\\n'); return next(url, context); }`;
  const register = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});`;
  return `data:text/javascript,${encodeURIComponent(register)}`;
}

const loaded = (trace: string): string[] => readFileSync(trace, 'utf8').split('\n').filter((l) => l !== '');
const has = (urls: string[], part: string): boolean => urls.some((u) => u.includes(part));

async function speakerModules(dir: string, extra: string[]): Promise<string[]> {
  const port = await freePort('127.0.44.1');
  const cluster = join(dir, 'cluster.yaml');
  writeFileSync(cluster, meshedPair(port, '127.0.44.1', '127.0.44.2'));
  const trace = join(dir, `trace-${extra.length}.txt`);
  writeFileSync(trace, '');
  const ctl = join(dir, `ctl-${extra.length}`);
  const p = startProcess(c, process.execPath, ['--import', traceImport(), cli, 'speaker', '--node', 'n1', '--datastore-file', cluster, '--listen-address', '127.0.44.1', '--control-socket', ctl, '--no-kernel', '--bird-socket', '', '--bird6-socket', '', ...extra], {
    env: { ...process.env, MODULE_TRACE_FILE: trace },
  });
  // Running: the control socket answers and the speaker has its model (so everything it loads at start is loaded).
  await waitFor('the speaker running', () => run(process.execPath, [cli, 'status', '--json', '--control-socket', ctl]).status === 0 && p.output().includes('BGP speaker listening'), 30_000, 200).catch((e: Error) => {
    throw new Error(`${e.message}\n${p.output().slice(-2000)}`);
  });
  p.child.kill('SIGTERM');
  await waitFor('the speaker stopped', () => p.child.exitCode !== null || p.child.signalCode !== null, 15_000);
  return loaded(trace);
}

test('the speaker loads neither the BIRD renderer nor prom-client unless metrics are asked for', { timeout: 90_000 }, async () => {
  const dir = tempDir(c, 'cbgpd-lazy-');
  const plain = await speakerModules(dir, []);
  assert.ok(has(plain, '/dist/src/bgp/speaker/speaker.js'), 'the trace records the speaker itself');
  assert.ok(!has(plain, '/node_modules/handlebars/'), 'no Handlebars');
  assert.ok(!has(plain, '/dist/src/confd/render.js') && !has(plain, '/dist/src/confd/daemon.js'), 'neither the renderer nor the confd daemon');
  assert.ok(!has(plain, '/node_modules/prom-client/'), 'no prom-client without --metrics-port');
  assert.ok(!has(plain, '/node_modules/etcd3/') && !has(plain, '/node_modules/@kubernetes/'), 'no etcd or Kubernetes client with the file datastore');
  const withMetrics = await speakerModules(dir, ['--metrics-port', '0', '--metrics-address', '127.0.44.1']);
  assert.ok(has(withMetrics, '/node_modules/prom-client/'), 'prom-client with --metrics-port');
});

test('confd loads neither the BGP speaker nor prom-client without a metrics port', { timeout: 60_000 }, () => {
  const dir = tempDir(c, 'cbgpd-lazy-confd-');
  const cluster = join(dir, 'cluster.yaml');
  writeFileSync(cluster, meshedPair(179, '127.0.44.1', '127.0.44.2'));
  const trace = join(dir, 'trace.txt');
  writeFileSync(trace, '');
  const r = spawnSync(process.execPath, ['--import', traceImport(), cli, 'confd', '--onetime', '--sync-only', '--node', 'n1', '--flavor', 'bird2', '--datastore-file', cluster, '--dest-dir', join(dir, 'out'), '--control-socket', join(dir, 'ctl')], {
    encoding: 'utf8',
    timeout: 45_000,
    env: { ...process.env, MODULE_TRACE_FILE: trace },
  });
  assert.equal(r.status, 0, r.stderr);
  const urls = loaded(trace);
  assert.ok(has(urls, '/node_modules/handlebars/'), 'confd renders with Handlebars (the trace is live)');
  assert.ok(!has(urls, '/dist/src/bgp/'), 'no BGP speaker module');
  assert.ok(!has(urls, '/node_modules/prom-client/'), 'no prom-client');
});
