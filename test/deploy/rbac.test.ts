/**
 * The shipped RBAC (deploy/kubernetes/rbac/rbac.yaml) is exactly what the
 * Kubernetes datastore needs: the datastore syncs through the local API
 * server enforcing it with no refusal (nothing missing) and uses every
 * grant (nothing in excess); a role with one rule less or one rule more is
 * caught by the same checks.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { pino } from 'pino';
import { KubernetesDatastore } from '../../src/datastore/kubernetes.js';
import { kubeConfigFromEnv } from '../../src/datastore/kubernetes-http.js';
import type { KeyViewConverter } from '../../src/datastore/diff.js';
import { FakeApiServer } from '../k8s-api-server/server.js';
import { grantName, shippedRbac, shippedRbacPath, type RbacPolicy } from '../k8s-api-server/rbac.js';
import { cleanup, waitFor } from '../support/process.js';

const c = cleanup();
afterEach(() => c.run());

const NS = 'kube-system';
const noKeys: KeyViewConverter = () => ({ keys: new Map(), problems: [] });

interface RoleDoc {
  kind: string;
  rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
}

/** Runs the datastore (every default collection) against a server enforcing `rbac` until each collection listed and opened its watch. */
async function syncThrough(rbac: RbacPolicy): Promise<FakeApiServer> {
  const server = new FakeApiServer({ rbac });
  const url = await server.start();
  c.add(() => server.stop());
  server.put('api/v1/nodes', { metadata: { name: 'node-1' } });
  const ds = new KubernetesDatastore({
    convert: noKeys,
    kubeConfig: kubeConfigFromEnv({ K8S_API_ENDPOINT: url }),
    nodeName: 'node-1',
    secretsNamespaces: [NS],
    backoff: { initialMs: 10, maxMs: 100 },
    coalesceMs: 1,
    log: pino({ level: 'silent' }),
  });
  c.add(() => ds.stop());
  await ds.start();
  await waitFor('in-sync', () => ds.status() === 'in-sync');
  // Optional collections that were refused count as synced; wait for the
  // watches of the others, or for the refusal, whichever this role gives.
  const collections = ds.listWatches().length;
  await waitFor('every collection watching or refused', () => server.openWatches + new Set(server.denials.map((d) => d.path)).size >= collections);
  return server;
}

test('the shipped roles are read-only, name no wildcard, and grant only list and watch', () => {
  const docs = parseAllDocuments(readFileSync(shippedRbacPath(), 'utf8')).map((d) => d.toJS() as RoleDoc);
  assert.deepEqual(docs.map((d) => d.kind).sort(), ['ClusterRole', 'Role']);
  for (const rule of docs.flatMap((d) => d.rules)) {
    assert.deepEqual(rule.verbs, ['list', 'watch']);
    for (const word of [...rule.apiGroups, ...rule.resources]) assert.ok(!word.includes('*'), `wildcard in ${word}`);
  }
  const secrets = docs.find((d) => d.kind === 'Role')!;
  assert.deepEqual(secrets.rules.flatMap((r) => r.resources), ['secrets'], 'Secrets only through the namespaced Role');
});

test('the Kubernetes datastore syncs under the shipped roles with no refusal and uses every grant', async () => {
  const rbac = shippedRbac(NS);
  const server = await syncThrough(rbac);
  assert.deepEqual(server.denials, []);
  assert.deepEqual(rbac.unused().map(grantName), []);
  // What each grant is for, as the closing note lists it.
  assert.deepEqual(
    rbac.all().map(grantName).sort(),
    [
      ...['list', 'watch'].flatMap((v) => ['nodes', 'services', 'endpoints'].map((r) => `${v} core/${r} (cluster-wide)`)),
      ...['list', 'watch'].flatMap((v) => ['bgpconfigurations', 'bgppeers', 'ippools', 'blockaffinities'].map((r) => `${v} crd.projectcalico.org/${r} (cluster-wide)`)),
      ...['list', 'watch'].map((v) => `${v} core/secrets (namespace ${NS})`),
    ].sort(),
  );
});

test('a role missing a rule is caught: the datastore is refused with the real 403 Status', async () => {
  const rbac = shippedRbac(NS, (docs) =>
    (docs as RoleDoc[]).map((d) => ({ ...d, rules: d.rules.map((r) => ({ ...r, resources: r.resources.filter((x) => x !== 'endpoints') })) })),
  );
  const server = await syncThrough(rbac);
  assert.deepEqual(
    server.denials.map((d) => `${d.verb} ${d.resource}`),
    ['list endpoints'],
  );
  assert.equal(
    server.denials[0]!.message,
    'endpoints is forbidden: User "system:serviceaccount:kube-system:calico-bgpd" cannot list resource "endpoints" in API group "" at the cluster scope',
  );
  const res = await fetch(`${server.url}/api/v1/endpoints?limit=500`);
  assert.equal(res.status, 403);
  assert.deepEqual(await res.json(), {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: server.denials[0]!.message,
    reason: 'Forbidden',
    details: { kind: 'endpoints' },
    code: 403,
  });
});

test('a role with an excess rule is caught: the grant is never used', async () => {
  const rbac = shippedRbac(NS, (docs) =>
    (docs as RoleDoc[]).map((d) =>
      d.kind === 'ClusterRole' ? { ...d, rules: [...d.rules, { apiGroups: [''], resources: ['configmaps', 'nodes'], verbs: ['get'] }] } : d,
    ),
  );
  const server = await syncThrough(rbac);
  assert.deepEqual(server.denials, []);
  assert.deepEqual(rbac.unused().map(grantName), ['get core/configmaps (cluster-wide)', 'get core/nodes (cluster-wide)']);
});

test('a Role grant does not reach other namespaces or the cluster scope', () => {
  const rbac = shippedRbac(NS);
  assert.equal(rbac.authorize({ verb: 'list', group: '', resource: 'secrets', namespace: NS }), true);
  assert.equal(rbac.authorize({ verb: 'list', group: '', resource: 'secrets', namespace: 'default' }), false);
  assert.equal(rbac.authorize({ verb: 'list', group: '', resource: 'secrets', namespace: undefined }), false);
  assert.equal(rbac.authorize({ verb: 'get', group: '', resource: 'secrets', namespace: NS }), false);
  assert.equal(rbac.authorize({ verb: 'list', group: 'crd.projectcalico.org', resource: 'bgppeers', namespace: undefined }), true);
  assert.equal(rbac.authorize({ verb: 'list', group: '', resource: 'bgppeers', namespace: undefined }), false, 'the group must match');
});
