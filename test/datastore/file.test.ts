import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileDatastore, looksUnfinished, parseFileText } from '../../src/datastore/file.js';
import type { KeyChange } from '../../src/datastore/types.js';
import { setLogLevel } from '../../src/log.js';

setLogLevel('silent');

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'file-ds-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const NODES = `apiVersion: v1
kind: Node
metadata:
  name: n1
  labels:
    zone: a
  annotations:
    projectcalico.org/IPv4Address: 192.0.2.1/24
spec:
  podCIDR: 10.244.1.0/24
---
apiVersion: projectcalico.org/v3
kind: Node
metadata:
  name: n1
  labels:
    routeReflector: true
spec:
  bgp:
    ipv4Address: 192.0.2.11/24
    routeReflectorClusterID: 224.0.0.1
---
apiVersion: v1
kind: Node
metadata:
  name: n2
  annotations:
    projectcalico.org/IPv4Address: 192.0.2.2/24
    projectcalico.org/ASNumber: "65010"
`;

const LEGACY = `/calico/bgp/v1/global/as_num: "64999"
/calico/bgp/v1/global/peer_v4/198.51.100.1:
  ip: 198.51.100.1
  as_num: "65001"
`;

function waitForChanges(ds: FileDatastore, ms = 5000): Promise<KeyChange[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error('no change event'));
    }, ms);
    const off = ds.subscribe({
      changes: (batch) => {
        clearTimeout(timer);
        off();
        resolve(batch);
      },
    });
  });
}

test('a directory of resources and legacy keys becomes one key view; a v3 Node merges onto the Kubernetes Node', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, '10-nodes.yaml'), NODES);
  writeFileSync(join(dir, '20-legacy.yaml'), LEGACY);
  writeFileSync(join(dir, 'ignored.txt'), 'not yaml: [');
  const ds = new FileDatastore({ paths: [dir], watch: false });
  assert.equal(ds.status(), 'connecting');
  await ds.start();
  assert.equal(ds.status(), 'in-sync');
  const keys = ds.snapshot();
  assert.equal(keys.get('/calico/bgp/v1/host/n1/ip_addr_v4'), '192.0.2.11', 'v3 spec.bgp replaces the annotations');
  assert.equal(keys.get('/calico/bgp/v1/host/n1/rr_cluster_id'), '224.0.0.1');
  assert.equal(keys.get('/calico/bgp/v1/host/n2/ip_addr_v4'), '192.0.2.2');
  assert.equal(keys.get('/calico/bgp/v1/host/n2/as_num'), '65010');
  assert.equal(keys.get('/calico/bgp/v1/host/n2/network_v4'), '192.0.2.0/24');
  assert.equal(keys.get('/calico/bgp/v1/global/as_num'), '64999');
  assert.deepEqual(JSON.parse(keys.get('/calico/bgp/v1/global/peer_v4/198.51.100.1')!), { ip: '198.51.100.1', as_num: '65001' });
  assert.deepEqual(ds.problems(), []);
  await ds.stop();
  await ds.stop();
});

test('labels of both Node objects are used by selectors (YAML booleans become strings)', async (t) => {
  const dir = tempDir(t);
  writeFileSync(
    join(dir, 'a.yaml'),
    NODES +
      `---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: to-rr}
spec:
  nodeSelector: "!has(routeReflector)"
  peerSelector: "routeReflector == 'true' && zone == 'a'"
`,
  );
  const ds = new FileDatastore({ paths: [dir], watch: false });
  await ds.start();
  const keys = ds.snapshot();
  assert.ok(keys.has('/calico/bgp/v1/host/n2/peer_v4/192.0.2.11'));
  assert.ok(keys.has('/calico/bgp/v1/host/n1/peer_v4/192.0.2.2'), 'reverse peering on the reflector');
  await ds.stop();
});

test('kind List items are resources, each with its own line', () => {
  const text = `apiVersion: v1
kind: List
items:
- apiVersion: projectcalico.org/v3
  kind: IPPool
  metadata: {name: p1}
  spec: {cidr: 10.1.0.0/16}
- apiVersion: projectcalico.org/v3
  kind: IPPool
  metadata: {}
  spec: {cidr: 10.2.0.0/16}
`;
  const { contents, problems } = parseFileText('/x.yaml', text);
  assert.equal(contents.resources.length, 1);
  assert.equal(contents.resources[0]!.line, 4);
  assert.deepEqual(problems, [{ resource: 'IPPool/<unnamed>', message: 'resource needs kind and metadata.name; skipped', file: '/x.yaml', line: 8 }]);
});

test('invalid YAML names file and line, and the last good contents of that file stay in force', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'pool.yaml');
  writeFileSync(file, 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p1}\nspec: {cidr: 10.1.0.0/16}\n');
  const ds = new FileDatastore({ paths: [dir], watch: false });
  await ds.start();
  assert.ok(ds.snapshot().has('/calico/v1/ipam/v4/pool/10.1.0.0-16'));
  writeFileSync(file, 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p1\nspec: {cidr: 10.9.0.0/16}\n');
  const changes = ds.reloadFiles([file]);
  assert.deepEqual(changes, []);
  assert.ok(ds.snapshot().has('/calico/v1/ipam/v4/pool/10.1.0.0-16'));
  const [p] = ds.problems();
  assert.equal(p!.file, file);
  assert.equal(typeof p!.line, 'number');
  assert.match(p!.message, /invalid YAML.*last good contents kept/);
  await ds.stop();
});

test('an invalid resource is reported with file, line and name, and its previous version stays in force', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'peers.yaml');
  const peer = (ip: string) => `# peers\napiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: tor\nspec:\n  peerIP: ${ip}\n  asNumber: 65001\n`;
  writeFileSync(file, peer('198.51.100.1'));
  const ds = new FileDatastore({ paths: [dir], watch: false });
  await ds.start();
  assert.ok(ds.snapshot().has('/calico/bgp/v1/global/peer_v4/198.51.100.1'));
  const changes = ds.reloadFiles([file].concat([]));
  assert.deepEqual(changes, []);
  writeFileSync(file, peer('198.51.100.999'));
  assert.deepEqual(ds.reloadFiles([file]), []);
  assert.ok(ds.snapshot().has('/calico/bgp/v1/global/peer_v4/198.51.100.1'));
  assert.deepEqual(ds.problems(), [
    { resource: 'BGPPeer/tor', message: 'peerIP "198.51.100.999" is not an IP address; peer skipped (previous version kept)', file, line: 2 },
  ]);
  writeFileSync(file, peer('198.51.100.2'));
  const fixed = ds.reloadFiles([file]);
  assert.deepEqual(fixed.map((c) => [c.key, c.value === null]).sort(), [
    ['/calico/bgp/v1/global/peer_v4/198.51.100.1', true],
    ['/calico/bgp/v1/global/peer_v4/198.51.100.2', false],
  ]);
  assert.deepEqual(ds.problems(), []);
  await ds.stop();
});

test('the watcher applies a file change as a diff of the changed keys only', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'nodes.yaml'), NODES);
  const legacy = join(dir, 'legacy.yaml');
  writeFileSync(legacy, LEGACY);
  const ds = new FileDatastore({ paths: [dir], debounceMs: 20 });
  await ds.start();
  try {
    const next = waitForChanges(ds);
    writeFileSync(legacy, LEGACY.replace('64999', '65000'));
    assert.deepEqual(await next, [{ key: '/calico/bgp/v1/global/as_num', value: '65000' }]);

    const removed = waitForChanges(ds);
    unlinkSync(legacy);
    const batch = await removed;
    assert.deepEqual(
      batch.map((c) => c.key).sort(),
      ['/calico/bgp/v1/global/as_num', '/calico/bgp/v1/global/peer_v4/198.51.100.1'],
    );
    assert.ok(batch.every((c) => c.value === null));

    const added = waitForChanges(ds);
    writeFileSync(join(dir, 'pool.yaml'), 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.5.0.0/16}\n');
    const b = await added;
    assert.deepEqual(b.map((c) => c.key), ['/calico/v1/ipam/v4/pool/10.5.0.0-16']);
  } finally {
    await ds.stop();
  }
});

test('a missing path is a configuration error at start', async () => {
  const ds = new FileDatastore({ paths: ['/nonexistent/calico-bgpd-test.yaml'], watch: false });
  await assert.rejects(ds.start(), /ENOENT/);
});

test('a file cut mid-line looks half-written; JSON and files ending in a line break do not', () => {
  assert.match(looksUnfinished('/d/c.yaml', 'kind: Node\nmetadata:\n  na') ?? '', /half-written/);
  assert.equal(looksUnfinished('/d/c.yaml', 'kind: Node\n'), null);
  assert.equal(looksUnfinished('/d/c.yaml', ''), null);
  assert.equal(looksUnfinished('/d/c.json', '{"kind": "Node"}'), null);
});

test('a truncated rewrite of a watched file keeps its last good contents until the file is whole again', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'cluster.yaml');
  writeFileSync(file, NODES);
  const ds = new FileDatastore({ paths: [dir], debounceMs: 20, writeFinishMs: 20 });
  await ds.start();
  try {
    const before = new Map(ds.snapshot());
    assert.ok(before.has('/calico/bgp/v1/host/n1/ip_addr_v4'));
    // What `head -c 412 good.yaml > cluster.yaml` leaves: it still parses, and loses documents.
    const cut = NODES.slice(0, NODES.indexOf('192.0.2.11/24') + 'ipv4Address: 192.0.2.1'.length - 'ipv4Address: '.length);
    assert.ok(!cut.endsWith('\n') && NODES.length - cut.length > 100);
    assert.doesNotThrow(() => parseFileText(file, cut), 'the cut text is valid YAML');
    writeFileSync(file, cut);
    const deadline = Date.now() + 10_000;
    while (!ds.problems().some((p) => /half-written/.test(p.message)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(ds.problems().some((p) => p.file === file && /last good contents stay in force/.test(p.message)), 'the problem names the file');
    assert.deepEqual(new Map(ds.snapshot()), before, 'nothing of the good state was lost');

    // The complete file (a real change) is applied.
    const next = waitForChanges(ds);
    writeFileSync(file, NODES.replace('192.0.2.11/24', '192.0.2.12/24'));
    assert.ok((await next).some((c) => c.key === '/calico/bgp/v1/host/n1/ip_addr_v4' && c.value === '192.0.2.12'));
    assert.ok(!ds.problems().some((p) => /half-written/.test(p.message)));
  } finally {
    await ds.stop();
  }
});

test('a change cut right after a line break inside a document (fewer entries, problems in what is left) is not applied; a clean removal is', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'cluster.yaml');
  const node = (n: string, ip: string) => `apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: ${n}\nspec:\n  bgp:\n    ipv4Address: ${ip}/24\n`;
  const pool = 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p1\nspec:\n  cidr: 10.1.0.0/16\n';
  const good = [node('n1', '192.0.2.1'), node('n2', '192.0.2.2'), pool].join('---\n');
  writeFileSync(file, good);
  const ds = new FileDatastore({ paths: [dir], watch: false });
  await ds.start();
  const before = new Map(ds.snapshot());
  assert.ok(before.has('/calico/v1/ipam/v4/pool/10.1.0.0-16'));

  // Cut after "metadata:\n" of the second document: it ends with a line break and parses, but n2 lost its name and the pool is gone.
  writeFileSync(file, good.slice(0, good.indexOf('metadata:\n  name: n2')) + 'metadata:\n');
  assert.deepEqual(ds.reloadFiles([file]), [], 'nothing applied');
  assert.deepEqual(new Map(ds.snapshot()), before);
  assert.match(ds.problems().map((p) => p.message).join('\n'), /2 of 3 entries gone and what is left has problems: it looks cut short; the last good contents stay in force/);

  // A whole, clean file with one resource fewer is a removal: applied.
  writeFileSync(file, [node('n1', '192.0.2.1'), node('n2', '192.0.2.2')].join('---\n'));
  const removed = ds.reloadFiles([file]);
  assert.deepEqual(removed.map((c) => [c.key, c.value]), [['/calico/v1/ipam/v4/pool/10.1.0.0-16', null]]);
  assert.deepEqual(ds.problems(), []);
  await ds.stop();
});
