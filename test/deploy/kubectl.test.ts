/**
 * The local API server (test/k8s-api-server) checked with a real client:
 * Debian's kubectl gets, applies, pages and watches every resource type the
 * Kubernetes datastore reads, through discovery, as against a real API
 * server; with the shipped RBAC, kubectl sees the real 403.
 *
 * kubectl runs asynchronously: the server lives in this process.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeApiServer, type FakeApiServerOptions } from '../k8s-api-server/server.js';
import { RESOURCE_TYPES, type ResourceType } from '../k8s-api-server/discovery.js';
import { shippedRbac } from '../k8s-api-server/rbac.js';
import { cleanup, tempDir, waitFor } from '../support/process.js';

const c = cleanup();
afterEach(() => c.run());

interface Kubectl {
  server: FakeApiServer;
  dir: string;
  run(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** A server and a kubectl pointed at it (own kubeconfig and discovery cache). */
async function setup(opts: FakeApiServerOptions = {}): Promise<Kubectl> {
  const server = new FakeApiServer(opts);
  const url = await server.start();
  c.add(() => server.stop());
  const dir = tempDir(c, 'calico-bgpd-kubectl-');
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server: url } }],
      users: [{ name: 'test', user: {} }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'test' } }],
      'current-context': 'test',
    }),
  );
  const run = (args: string[], input?: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        'kubectl',
        ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), '--request-timeout', '20s', ...args],
        { timeout: 60_000 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      if (input !== undefined) child.stdin?.end(input);
    });
  return { server, dir, run };
}

/** A small valid object of each type, named `name`. */
function sample(t: ResourceType, name: string, generation: number): Record<string, unknown> {
  const metadata = { name, ...(t.namespaced ? { namespace: 'kube-system' } : {}), labels: { generation: String(generation) } };
  const apiVersion = t.group === '' ? t.version : `${t.group}/${t.version}`;
  return { apiVersion, kind: t.kind, metadata };
}

const ns = (t: ResourceType) => (t.namespaced ? ['-n', 'kube-system'] : []);

for (const t of RESOURCE_TYPES) {
  test(`kubectl apply, get, paging and watch of ${t.plural} behave as against a real API server`, async () => {
    const k = await setup();
    const collection = t.group === '' ? `api/${t.version}/${t.plural}` : `apis/${t.group}/${t.version}/${t.plural}`;

    // apply creates (discovery, OpenAPI, GET 404, POST).
    const docs = ['a', 'b', 'c'].map((n) => JSON.stringify(sample(t, `${t.singular}-${n}`, 1))).join('\n');
    const created = await k.run(['apply', '-f', '-'], docs);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, new RegExp(`${t.singular}-a created`));

    // get: the list, names only and as JSON.
    const names = await k.run(['get', t.plural, ...ns(t), '-o', 'name']);
    assert.equal(names.code, 0, names.stderr);
    assert.equal(names.stdout.trim().split('\n').length, 3);
    const one = await k.run(['get', t.plural, `${t.singular}-b`, ...ns(t), '-o', 'json']);
    assert.equal(one.code, 0, one.stderr);
    const obj = JSON.parse(one.stdout) as { kind: string; metadata: { resourceVersion: string; annotations: Record<string, string> } };
    assert.equal(obj.kind, t.kind);
    assert.ok(obj.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'], 'apply recorded its configuration');

    // paging: three pages of one, the continue token followed.
    const paged = await k.run(['get', t.plural, ...ns(t), '--chunk-size=1', '-o', 'name']);
    assert.equal(paged.code, 0, paged.stderr);
    assert.equal(paged.stdout.trim().split('\n').length, 3);
    assert.equal(k.server.requests.filter((r) => r.includes('limit=1') && r.includes('continue=')).length, 2);

    // apply again with a change: PATCH.
    const changed = await k.run(['apply', '-f', '-'], JSON.stringify(sample(t, `${t.singular}-a`, 2)));
    assert.equal(changed.code, 0, changed.stderr);
    assert.match(changed.stdout, /configured/);
    const labels = await k.run(['get', t.plural, `${t.singular}-a`, ...ns(t), '-o', 'jsonpath={.metadata.labels.generation}']);
    assert.equal(labels.stdout, '2');

    // get --watch: the list, then a live event for an object created afterwards.
    const watcher = spawn('kubectl', ['--kubeconfig', join(k.dir, 'kubeconfig'), '--cache-dir', join(k.dir, 'cache'), 'get', t.plural, ...ns(t), '--watch', '-o', 'name']);
    let watched = '';
    watcher.stdout.on('data', (b: Buffer) => (watched += b.toString()));
    c.add(() => void watcher.kill('SIGKILL'));
    await waitFor('kubectl to open its watch', () => k.server.openWatches > 0, 30_000);
    k.server.put(collection, sample(t, `${t.singular}-live`, 1) as never);
    await waitFor('the live object in kubectl --watch', () => watched.includes(`${t.singular}-live`), 30_000);
    assert.ok(watched.includes(`${t.singular}-a`), 'the watch starts with the list');

    // delete
    const deleted = await k.run(['delete', t.plural, `${t.singular}-c`, ...ns(t)]);
    assert.equal(deleted.code, 0, deleted.stderr);
    const missing = await k.run(['get', t.plural, `${t.singular}-c`, ...ns(t)]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /NotFound|not found/);
  });
}

test('kubectl under the shipped RBAC: reads allowed, writes refused with the real 403 Status', async () => {
  const k = await setup({ rbac: shippedRbac('kube-system') });
  k.server.put('api/v1/nodes', { metadata: { name: 'node-1' } });
  const list = await k.run(['get', 'nodes', '-o', 'name']);
  assert.equal(list.code, 0, list.stderr);
  assert.equal(list.stdout.trim(), 'node/node-1');
  // calico-bgpd never GETs one object: not granted.
  const get = await k.run(['get', 'node', 'node-1']);
  assert.notEqual(get.code, 0);
  assert.match(get.stderr, /Error from server \(Forbidden\): nodes "?node-1"? is forbidden|nodes is forbidden: User "system:serviceaccount:kube-system:calico-bgpd" cannot get resource "nodes"/);
  const del = await k.run(['delete', 'node', 'node-1']);
  assert.notEqual(del.code, 0);
  assert.match(del.stderr, /Forbidden/);
  assert.match(del.stderr, /cannot delete resource "nodes" in API group "" at the cluster scope/);
  const secrets = await k.run(['get', 'secrets', '-A']);
  assert.notEqual(secrets.code, 0, 'secrets only in the Role namespace');
  assert.match(secrets.stderr, /cannot list resource "secrets" in API group "" at the cluster scope/);
  const own = await k.run(['get', 'secrets', '-n', 'kube-system']);
  assert.equal(own.code, 0, own.stderr);
});
