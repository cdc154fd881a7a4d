/**
 * The confd daemon with an in-memory datastore and a stub renderer: when it
 * renders (only in sync, only for watched keys, only when the model
 * changed), what it writes (only changed bytes), how often it reloads (once
 * per batch and target), and what happens when a check or a reload fails.
 * The write path runs for real in a temp directory; checks and reloads are
 * stubs here (real BIRD in write-path.test.ts and bird-e2e.test.ts).
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ConfdDaemon, sameInputForFamily, type ConfdOptions, type Renderer } from '../../src/confd/daemon.js';
import { flavorFiles, renderFile } from '../../src/confd/render.js';
import { buildNodeBgpConfig } from '../../src/model/build.js';
import { defaultResources, type FlavorFile, type TemplateResource } from '../../src/confd/resources.js';
import type { CommandRunner } from '../../src/confd/writer.js';
import type { NodeBgpConfig } from '../../src/model/types.js';
import { waitFor } from '../support/etcd.js';
import { MemoryDatastore } from '../support/memory-datastore.js';

const H = '/calico/bgp/v1/host/';
const BLOCKS = '/calico/ipam/v2/host/';

function seed(ds: MemoryDatastore): void {
  ds.keys.set(`${H}a/ip_addr_v4`, '192.0.2.1');
  ds.keys.set(`${H}b/ip_addr_v4`, '192.0.2.2');
  ds.keys.set(`${H}c/ip_addr_v4`, '192.0.2.3');
  ds.keys.set(`${BLOCKS}a/ipv4/block/198.51.100.0-26`, '{"state":"confirmed"}');
  ds.keys.set(`${BLOCKS}b/ipv4/block/198.51.100.64-26`, '{"state":"confirmed"}');
}

/** Two files like a BIRD flavor: a main file (peers) and an included one (blocks). */
const FILES: FlavorFile[] = [
  { name: 'bird.cfg', template: 't/bird.cfg.hbs', dependsOn: ['global', 'peers'] },
  { name: 'bird_aggr.cfg', template: 't/bird_aggr.cfg.hbs', dependsOn: ['aggr'] },
];

function stubRenderer(counter: { renders: number }): Renderer {
  return {
    files: () => FILES,
    render: (name: string, _flavor, m: NodeBgpConfig) => {
      counter.renders++;
      if (name === 'bird.cfg') return `router id ${m.routerId};\n${m.ipv4.peers.map((p) => `peer ${p.name} ${p.address}\n`).join('')}`;
      return m.ipv4.blocks.map((b) => `blackhole ${b.cidr}\n`).join('');
    },
  };
}

const dirs: string[] = [];
const daemons: ConfdDaemon[] = [];
afterEach(async () => {
  while (daemons.length > 0) await daemons.pop()!.stop();
  while (dirs.length > 0) rmSync(dirs.pop()!, { recursive: true, force: true });
});

function captureLog() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, lines, errors: () => lines.filter((l) => (l.level as number) >= 50).map((l) => String(l.msg)) };
}

function setup(extra: Partial<ConfdOptions> = {}, checkCmd: string | null = 'check {{src}}') {
  const dir = mkdtempSync(join(tmpdir(), 'bgpd-confd-'));
  dirs.push(dir);
  const ds = new MemoryDatastore();
  seed(ds);
  const counter = { renders: 0 };
  const resources: TemplateResource[] = defaultResources(FILES, { flavor: 'bird1', nodeName: 'a', configDir: dir, birdSocket: '/bird.ctl', birdCheck: checkCmd });
  const calls = { checks: [] as string[], reloads: 0, checkFails: false, reloadFails: false, notRunning: false };
  const runCommand: CommandRunner = async (cmd) => {
    calls.checks.push(cmd);
    return calls.checkFails ? { code: 1, output: 'bird.cfg:3:1 syntax error' } : { code: 0, output: '' };
  };
  const birdConfigure = async () => {
    calls.reloads++;
    if (calls.notRunning) return { ok: false, message: 'connect ENOENT /bird.ctl', notRunning: true };
    return calls.reloadFails ? { ok: false, message: '8002 bird.cfg:1:1 syntax error', notRunning: false } : { ok: true, message: 'Reconfigured', notRunning: false };
  };
  const cap = captureLog();
  const d = new ConfdDaemon({
    datastore: ds,
    nodeName: 'a',
    flavor: 'bird1',
    renderer: stubRenderer(counter),
    resources,
    quietMs: 10,
    maxDelayMs: 1000,
    backoff: { initialMs: 30, maxMs: 60 },
    log: cap.log,
    write: { runCommand, birdConfigure },
    ...extra,
  });
  daemons.push(d);
  const file = (n: string) => readFileSync(join(dir, n), 'utf8');
  return { dir, ds, d, counter, calls, cap, file, resources };
}

const settle = (ms = 60) => new Promise((r) => setTimeout(r, ms));

test('nothing is rendered before the datastore is in sync; then every file is written and BIRD reloaded once', async () => {
  const { ds, d, dir, calls, counter, file, cap } = setup();
  writeFileSync(join(dir, 'bird.cfg'), 'old config\n');
  d.start();
  await settle();
  assert.equal(counter.renders, 0);
  assert.equal(file('bird.cfg'), 'old config\n', 'existing file untouched while connecting');
  assert.ok(cap.lines.some((l) => /left untouched/.test(String(l.msg))), 'the log says the files are kept');
  ds.setStatus('in-sync');
  await waitFor(() => d.stats.batches === 1, 'first batch');
  assert.equal(file('bird.cfg'), 'router id 192.0.2.1;\npeer Mesh_192_0_2_2 192.0.2.2\npeer Mesh_192_0_2_3 192.0.2.3\n');
  assert.equal(file('bird_aggr.cfg'), 'blackhole 198.51.100.0/26\n');
  assert.equal(statSync(join(dir, 'bird.cfg')).mode & 0o777, 0o644);
  assert.equal(calls.reloads, 1, 'one configure for two files of the same BIRD');
  assert.equal(calls.checks.length, 1, 'only the main file has a check command');
  assert.match(calls.checks[0]!, /\.calico-bgpd-stage-[^/]+\/bird\.cfg'$/, 'the check runs on the staged file');
  assert.deepEqual(readdirSync(dir).sort(), ['bird.cfg', 'bird_aggr.cfg'], 'no stage files left behind');
});

test('unchanged bytes: no write, no reload; an unrelated key: no model build, no render', async () => {
  const { ds, d, dir, calls, counter } = setup();
  ds.setStatus('in-sync');
  d.start();
  await waitFor(() => d.stats.batches === 1, 'first batch');
  const ino = statSync(join(dir, 'bird.cfg')).ino;
  const before = { renders: counter.renders, batches: d.stats.batches };
  ds.apply([{ key: `${BLOCKS}b/ipv4/block/198.51.100.128-26`, value: '{"state":"confirmed"}' }]);
  ds.apply([{ key: '/calico/felix/v1/whatever', value: 'x' }]);
  await settle();
  assert.equal(d.stats.ignoredChanges, 2, 'another node\'s block is not watched by any file');
  ds.apply([{ key: `${H}b/network_v4`, value: '192.0.2.0/24' }]);
  await settle();
  assert.equal(counter.renders, before.renders, 'watched key, but the model did not change: nothing is rendered');
  assert.equal(d.stats.batches, before.batches);
  // Same output from a changed model: rendered, compared, not written.
  ds.apply([{ key: `${BLOCKS}a/ipv4/block/198.51.100.0-26`, value: '{"state":""}' }]);
  await settle();
  assert.equal(counter.renders, before.renders + 1, 'only bird_aggr.cfg watches this node\'s blocks');
  assert.equal(calls.reloads, 1);
  assert.equal(d.stats.writes, 2);
  assert.equal(statSync(join(dir, 'bird.cfg')).ino, ino, 'the live file was not replaced');
});

test('a burst of 1,000 key changes in 100 ms gives one write per changed file and one reload', async () => {
  // A wider quiet window than the default 10 ms: this machine is shared, timers run late.
  const { ds, d, calls, file } = setup({ quietMs: 30 });
  ds.setStatus('in-sync');
  d.start();
  await waitFor(() => d.stats.batches === 1, 'first batch');
  const writes0 = d.stats.writes;
  const t0 = Date.now();
  // 100 change batches of 10 keys, in 20 groups 5 ms apart (a datastore batches its watch events).
  for (let i = 0; i < 1000; i += 10) {
    ds.apply(Array.from({ length: 10 }, (_, j) => ({ key: `${H}n${i + j}/ip_addr_v4`, value: `203.0.113.${(i + j) % 250}` })));
    if (i % 50 === 40) await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok(Date.now() - t0 < 900, `the burst took ${Date.now() - t0} ms`);
  await waitFor(() => d.stats.batches === 2, 'second batch');
  await settle(80);
  assert.equal(d.stats.batches, 2, 'one batch for the burst');
  assert.equal(d.stats.writes - writes0, 1, 'bird.cfg written once (bird_aggr.cfg did not change)');
  assert.equal(calls.reloads, 2);
  assert.equal(file('bird.cfg').split('\n').filter((l) => l.startsWith('peer ')).length, 1002);
});

test('a failing check keeps the live files and BIRD as they are, logs the checker output, and is retried', async () => {
  const { ds, d, calls, file, cap } = setup();
  ds.setStatus('in-sync');
  d.start();
  await waitFor(() => d.stats.batches === 1, 'first batch');
  const good = file('bird.cfg');
  calls.checkFails = true;
  ds.apply([{ key: `${H}d/ip_addr_v4`, value: '192.0.2.4' }]);
  await waitFor(() => d.stats.checkFailures >= 2, 'a retry after the first failure', 3000);
  assert.equal(file('bird.cfg'), good, 'live file unchanged');
  assert.equal(calls.reloads, 1, 'no reload');
  assert.ok(cap.errors().some((m) => m.includes('bird.cfg:3:1 syntax error')), 'checker output in the log');
  calls.checkFails = false;
  await waitFor(() => file('bird.cfg').includes('192.0.2.4'), 'installed once the check passes', 3000);
  await waitFor(() => calls.reloads === 2, 'reloaded');
});

test('a failing reload is logged as an error and retried until BIRD takes it', async () => {
  const { ds, d, calls, cap } = setup();
  calls.reloadFails = true;
  ds.setStatus('in-sync');
  d.start();
  await waitFor(() => calls.reloads >= 3, 'reload retried', 3000);
  assert.ok(cap.errors().some((m) => m.startsWith('RELOAD FAILED')));
  calls.reloadFails = false;
  const n = calls.reloads;
  await waitFor(() => calls.reloads > n && d.stats.reloads === 1, 'a successful retry', 3000);
  const after = calls.reloads;
  await settle(150);
  assert.equal(calls.reloads, after, 'no more retries after success');
});

test('a BIRD that is not running is a warning, not a retry loop: it reads the files when it starts', async () => {
  const { ds, d, calls, cap } = setup();
  calls.notRunning = true;
  ds.setStatus('in-sync');
  d.start();
  await waitFor(() => d.stats.notRunning === 1, 'reload attempted');
  await settle(150);
  assert.equal(calls.reloads, 1, 'not retried');
  assert.equal(d.stats.reloadFailures, 0);
  assert.ok(cap.lines.some((l) => l.level === 40 && /not running/.test(String(l.msg))));
});

test('while the datastore resyncs nothing is rendered; back in sync, the changes are written', async () => {
  const { ds, d, file, cap } = setup();
  ds.setStatus('in-sync');
  d.start();
  await waitFor(() => d.stats.batches === 1, 'first batch');
  ds.setStatus('resyncing');
  ds.apply([{ key: `${H}c/ip_addr_v4`, value: null }]);
  await settle();
  assert.match(file('bird.cfg'), /192\.0\.2\.3/, 'not rendered from a partial view');
  assert.ok(cap.lines.some((l) => /connection lost/.test(String(l.msg))));
  ds.setStatus('in-sync');
  await waitFor(() => !file('bird.cfg').includes('192.0.2.3'), 'rendered after resync');
});

test('--noop renders and checks but writes nothing; --sync-only writes without check or reload', async () => {
  const a = setup({ noop: true });
  a.ds.setStatus('in-sync');
  a.d.start();
  await waitFor(() => a.d.stats.batches === 1, 'noop batch');
  assert.deepEqual(readdirSync(a.dir), []);
  assert.equal(a.calls.checks.length, 1);
  assert.equal(a.calls.reloads, 0);
  const b = setup({ syncOnly: true });
  b.ds.setStatus('in-sync');
  b.d.start();
  await waitFor(() => b.d.stats.batches === 1, 'sync-only batch');
  assert.ok(existsSync(join(b.dir, 'bird.cfg')));
  assert.equal(b.calls.checks.length, 0);
  assert.equal(b.calls.reloads, 0);
});

test('--onetime: exit status follows the check; a datastore that never syncs leaves the files alone', async () => {
  const a = setup();
  a.ds.setStatus('in-sync');
  assert.deepEqual(await a.d.runOnce(1000), { ok: true });
  const b = setup();
  b.calls.checkFails = true;
  b.ds.setStatus('in-sync');
  assert.equal((await b.d.runOnce(1000)).ok, false);
  assert.deepEqual(readdirSync(b.dir), []);
  // A model the templates cannot express (no router id): no file is written
  // (not even the ones that did render), exit non-zero.
  const e = setup();
  e.ds.keys.delete(`${H}a/ip_addr_v4`);
  e.ds.setStatus('in-sync');
  const throwing = new ConfdDaemon({
    datastore: e.ds, nodeName: 'a', flavor: 'bird1', resources: e.resources, log: e.cap.log,
    renderer: { files: () => FILES, render: (n, _f, m) => { if (n === 'bird.cfg' && m.routerId === '') throw new Error('no router id'); return 'x\n'; } },
  });
  daemons.push(throwing);
  assert.deepEqual(await throwing.runOnce(1000), { ok: false, reason: 'render failed' });
  assert.deepEqual(readdirSync(e.dir), []);
  const c = setup();
  writeFileSync(join(c.dir, 'bird.cfg'), 'kept\n');
  const r = await c.d.runOnce(100);
  assert.deepEqual(r, { ok: false, reason: 'datastore not in sync' });
  assert.equal(c.file('bird.cfg'), 'kept\n');
});

test('per-family files: an IPv4 change does not render the bird6 files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bgpd-confd-'));
  dirs.push(dir);
  const ds = new MemoryDatastore();
  seed(ds);
  ds.keys.set(`${H}a/ip_addr_v6`, '2001:db8::1');
  ds.keys.set(`${H}b/ip_addr_v6`, '2001:db8::2');
  const files: FlavorFile[] = [
    { name: 'bird.cfg', template: 't', dependsOn: ['global', 'peers'], family: 4 },
    { name: 'bird6.cfg', template: 't', dependsOn: ['global', 'peers'], family: 6 },
  ];
  const rendered: string[] = [];
  const renderer: Renderer = {
    files: () => files,
    render: (name, _f, m) => {
      rendered.push(name);
      const fam = name === 'bird.cfg' ? m.ipv4 : m.ipv6;
      return fam.peers.map((p) => `${p.name}\n`).join('');
    },
  };
  const resources = defaultResources(files, { flavor: 'bird1', nodeName: 'a', configDir: dir, birdCheck: null, bird6Check: null });
  const d = new ConfdDaemon({
    datastore: ds, nodeName: 'a', flavor: 'bird1', renderer, resources, quietMs: 5, log: captureLog().log,
    write: { birdConfigure: async () => ({ ok: true, message: 'Reconfigured', notRunning: false }) },
  });
  daemons.push(d);
  ds.setStatus('in-sync');
  d.start();
  await waitFor(() => d.stats.batches === 1, 'first batch');
  rendered.length = 0;
  ds.apply([{ key: `${H}c/ip_addr_v4`, value: '192.0.2.33' }]);
  await waitFor(() => d.stats.batches === 2, 'second batch');
  assert.deepEqual(rendered, ['bird.cfg']);
  rendered.length = 0;
  ds.apply([{ key: `${H}c/ip_addr_v6`, value: '2001:db8::3' }]);
  await waitFor(() => d.stats.batches === 3, 'third batch');
  assert.deepEqual(rendered, ['bird6.cfg']);
});

test('the BIRD 1.6 templates of a family read nothing of the other family (what the skip above relies on)', () => {
  const keys = new Map<string, string>([
    ['/calico/bgp/v1/global/as_num', '64512'],
    [`${H}a/ip_addr_v4`, '192.0.2.1'],
    [`${H}a/ip_addr_v6`, '2001:db8::1'],
    [`${H}b/ip_addr_v4`, '192.0.2.2'],
    [`${H}b/ip_addr_v6`, '2001:db8::2'],
    ['/calico/v1/ipam/v4/pool/198.51.100.0-24', '{"cidr":"198.51.100.0/24","ipip":"tunl0","ipip_mode":"always"}'],
    ['/calico/v1/ipam/v6/pool/2001:db8:1::-48', '{"cidr":"2001:db8:1::/48"}'],
    [`${BLOCKS}a/ipv4/block/198.51.100.0-26`, '{"state":"confirmed"}'],
    [`${BLOCKS}a/ipv6/block/2001:db8:1::-122`, '{"state":"confirmed"}'],
    ['/calico/staticroutes/203.0.113.0-24', '203.0.113.0/24'],
  ]);
  const m = buildNodeBgpConfig(keys, 'a').config;
  const other = buildNodeBgpConfig(new Map([[`${H}a/ip_addr_v4`, '192.0.2.1']]), 'a').config;
  for (const flavor of ['calico', 'bird1'] as const) {
    for (const f of flavorFiles(flavor)) {
      assert.ok(f.family === 4 || f.family === 6, `${flavor} ${f.name} is per family`);
      const altered = f.family === 4 ? { ...m, ipv6: other.ipv6 } : { ...m, ipv4: other.ipv4 };
      assert.ok(sameInputForFamily(m, altered, f.family));
      assert.equal(renderFile(f.name, flavor, altered), renderFile(f.name, flavor, m), `${flavor} ${f.name}`);
    }
  }
  assert.equal(sameInputForFamily(m, { ...m, ipv4: other.ipv4 }, 4), false);
});

test('a file that fails to render holds back its whole batch; once it renders, every file moves together', async () => {
  const counter = { renders: 0 };
  const base = stubRenderer(counter);
  // bird.cfg cannot be rendered while node d (192.0.2.9) is a peer.
  const renderer: Renderer = {
    files: base.files,
    render: (name, flavor, m) => {
      if (name === 'bird.cfg' && m.ipv4.peers.some((p) => p.address === '192.0.2.9')) throw new Error('cannot render this peer');
      return base.render(name, flavor, m);
    },
  };
  const { ds, d, file, cap } = setup({ renderer });
  ds.setStatus('in-sync');
  d.start();
  await waitFor(() => d.stats.batches === 1, 'first batch');
  const before = { main: file('bird.cfg'), aggr: file('bird_aggr.cfg') };

  // One change that touches both files: a new peer (bird.cfg, fails) and a new block (bird_aggr.cfg, fine).
  ds.apply([
    { key: `${H}d/ip_addr_v4`, value: '192.0.2.9' },
    { key: `${BLOCKS}a/ipv4/block/198.51.100.192-26`, value: '{"state":"confirmed"}' },
  ]);
  await waitFor(() => d.stats.renderFailures >= 2, 'the failed render and its retry');
  assert.equal(file('bird_aggr.cfg'), before.aggr, 'bird_aggr.cfg did not move ahead of bird.cfg');
  assert.equal(file('bird.cfg'), before.main);
  assert.ok(cap.errors().some((m) => /nothing in this batch was installed/.test(m)));

  // An unrelated later change to bird_aggr.cfg alone must not slip through either.
  ds.apply([{ key: `${BLOCKS}a/ipv4/block/198.51.100.0-26`, value: '{"state":""}' }]);
  const failures = d.stats.renderFailures;
  await waitFor(() => d.stats.renderFailures > failures, 'the next batch failed too');
  assert.equal(file('bird_aggr.cfg'), before.aggr);

  // Node d goes: both files move to the newest model at once.
  ds.apply([{ key: `${H}d/ip_addr_v4`, value: null }]);
  await waitFor(() => file('bird_aggr.cfg').includes('198.51.100.192/26'), 'bird_aggr.cfg follows');
  assert.equal(file('bird.cfg'), before.main, 'bird.cfg renders as before (d is gone again)');
});
