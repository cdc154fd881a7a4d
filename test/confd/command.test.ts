/**
 * `calico-bgpd confd` as a command (runConfd): one-shot runs against the
 * embedded example cluster, an unreachable etcd (Calico issue #925: keep
 * the files), the daemon stopping on a signal, and the shipped conf.d
 * resources matching the built-in ones.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveResources, runConfd } from '../../src/commands/confd.js';
import { flavorFiles } from '../../src/confd/render.js';
import { defaultResources, loadConfDir, type TemplateResource } from '../../src/confd/resources.js';
import { defaultClusterPath } from '../../src/datastore/config.js';
import { pino } from 'pino';
import { logger, setLogLevel, setRootLogger } from '../../src/log.js';
import { EtcdServer, freePort, waitFor } from '../support/etcd.js';

setLogLevel('silent');
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'bgpd-confd-cmd-'));
  dirs.push(d);
  return d;
}

const common = (dir: string) => ({
  flavor: 'bird1',
  node: 'node-a',
  destDir: dir,
  birdSocket: join(dir, 'bird.ctl'),
  bird6Socket: join(dir, 'bird6.ctl'),
});

test('--onetime renders, checks with BIRD and installs all six files; BIRD not running is not a failure', async () => {
  const dir = tmp();
  const code = await runConfd({ ...common(dir), onetime: true, datastoreFile: [defaultClusterPath()] }, {});
  assert.equal(code, 0);
  assert.deepEqual(readdirSync(dir).sort(), ['bird.cfg', 'bird6.cfg', 'bird6_aggr.cfg', 'bird6_ipam.cfg', 'bird_aggr.cfg', 'bird_ipam.cfg']);
  assert.match(readFileSync(join(dir, 'bird.cfg'), 'utf8'), /protocol bgp Mesh_/);
});

test('--onetime with a check that fails exits 1 and leaves the live files alone', async () => {
  const dir = tmp();
  writeFileSync(join(dir, 'bird.cfg'), 'old\n');
  const code = await runConfd({ ...common(dir), onetime: true, checkCmd: 'echo "broken on purpose" >&2; false', datastoreFile: [defaultClusterPath()] }, {});
  assert.equal(code, 1);
  assert.deepEqual(readdirSync(dir), ['bird.cfg']);
  assert.equal(readFileSync(join(dir, 'bird.cfg'), 'utf8'), 'old\n');
});

test('etcd unreachable at start: --onetime gives up after its timeout without touching the files', async () => {
  const dir = tmp();
  writeFileSync(join(dir, 'bird.cfg'), 'keep me\n');
  const port = await freePort(); // nobody listens there
  const code = await runConfd({ ...common(dir), onetime: true, timeout: '1' }, { DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: `http://127.0.0.1:${port}`, CALICO_ETCD_LAYOUT: 'legacy' });
  assert.equal(code, 1);
  assert.deepEqual(readdirSync(dir), ['bird.cfg']);
  assert.equal(readFileSync(join(dir, 'bird.cfg'), 'utf8'), 'keep me\n');
});

test('Calico #925: etcd down at start keeps the files; rendering starts once etcd is up, pauses while it is down again', async () => {
  const dir = tmp();
  writeFileSync(join(dir, 'bird.cfg'), 'keep me\n');
  const lines: string[] = [];
  const previous = logger();
  setRootLogger(pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }));
  const etcd = await EtcdServer.create(); // ports and data dir, not running yet
  const ac = new AbortController();
  let done: Promise<number> | undefined;
  try {
    const env = { DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: etcd.endpoint, CALICO_ETCD_LAYOUT: 'legacy' };
    done = runConfd({ ...common(dir) }, env, ac.signal);
    await waitFor(() => lines.some((l) => l.includes('left untouched')), 'the log says the files are kept', 5000);
    // Two failed lists (the first and its retry) show confd has been
    // running without a datastore, not merely starting.
    await waitFor(() => lines.filter((l) => l.includes('will relist')).length >= 2, 'a list and its retry failed', 15_000);
    assert.deepEqual(readdirSync(dir), ['bird.cfg']);
    assert.equal(readFileSync(join(dir, 'bird.cfg'), 'utf8'), 'keep me\n');

    await etcd.launch();
    const c = etcd.client();
    try {
      await c.put('/calico/bgp/v1/global/as_num').value('64512');
      await c.put('/calico/bgp/v1/host/node-a/ip_addr_v4').value('192.0.2.1');
      await c.put('/calico/bgp/v1/host/node-b/ip_addr_v4').value('192.0.2.2');
    } finally {
      c.close();
    }
    await waitFor(() => readFileSync(join(dir, 'bird.cfg'), 'utf8').includes('Mesh_192_0_2_2'), 'rendered once etcd is up', 15_000);

    await etcd.kill9();
    await waitFor(() => lines.some((l) => l.includes('connection lost')), 'the log says rendering is paused', 15_000);
    const before = readFileSync(join(dir, 'bird.cfg'), 'utf8');
    await etcd.launch();
    const c2 = etcd.client();
    try {
      await c2.put('/calico/bgp/v1/host/node-c/ip_addr_v4').value('192.0.2.3');
    } finally {
      c2.close();
    }
    await waitFor(() => readFileSync(join(dir, 'bird.cfg'), 'utf8').includes('Mesh_192_0_2_3'), 'rendered after the outage', 15_000);
    assert.ok(before.includes('Mesh_192_0_2_2'));
  } finally {
    ac.abort();
    if (done) await done;
    setRootLogger(previous);
    await etcd.stop();
  }
});

test('the daemon runs until its signal aborts, and writes as soon as the datastore is in sync', async () => {
  const dir = tmp();
  const ac = new AbortController();
  const done = runConfd({ ...common(dir), datastoreFile: [defaultClusterPath()] }, {}, ac.signal);
  await waitFor(() => readdirSync(dir).filter((n) => n.endsWith('.cfg')).length === 6, 'files written', 10_000);
  ac.abort();
  assert.equal(await done, 0);
});

test('bad usage exits 2', async () => {
  assert.equal(await runConfd({ flavor: 'bird3' }, {}), 2);
  assert.equal(await runConfd({ confdir: '/nonexistent' }, {}), 2);
  assert.equal(await runConfd({ coalesceMs: 'soon', datastoreFile: [defaultClusterPath()] }, {}), 2);
});

test('deploy/calico-node/conf.d says exactly what the built-in calico resources say', () => {
  const norm = (rs: TemplateResource[]) => rs.map((r) => ({ ...r, id: '', keys: [...r.keys].sort() })).sort((a, b) => a.file.localeCompare(b.file));
  const shipped = loadConfDir('deploy/calico-node', flavorFiles('calico'), 'node-a');
  assert.deepEqual(norm(shipped), norm(defaultResources(flavorFiles('calico'), { flavor: 'calico', nodeName: 'node-a' })));
  assert.deepEqual(norm(resolveResources({ confdir: 'deploy/calico-node' }, 'calico', 'node-a')), norm(shipped));
});
