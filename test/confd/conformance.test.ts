/**
 * The `calico` flavor against Calico's own confd cases
 * (../shared/conformance/calico-confd): every case, and its step 2 where
 * there is one, must render files that are semantically identical (same
 * directives in the same order, comments and layout aside) to the expected
 * ones, through each backend that holds Calico resources:
 *
 * - file: the case's YAML files, read by the file backend;
 * - etcd: a real etcd holding the resources in Calico's v3 layout (block
 *   affinities under their /calico/ipam/v2 keys); step 2 is written while the
 *   backend watches. Calico reads Services from the Kubernetes API even in
 *   etcd mode; here the case's Services/Endpoints are handed to the converter;
 * - kubernetes: the local list/watch API server holding Nodes (a v3 Node's
 *   BGP settings as the projectcalico.org/* annotations), the Calico CRDs,
 *   Services and Endpoints; step 2 is written while the backend watches.
 *
 * A failure prints the directive diff of every file that differs.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { FileDatastore } from '../../src/datastore/file.js';
import { EtcdDatastore } from '../../src/datastore/etcd.js';
import { KubernetesDatastore } from '../../src/datastore/kubernetes.js';
import { kubeConfigFromEnv } from '../../src/datastore/kubernetes-http.js';
import { V3_ROOT } from '../../src/datastore/etcd-keys.js';
import { resourcesToKeyView } from '../../src/datastore/resources/to-keys.js';
import type { KeyViewConverter } from '../../src/datastore/diff.js';
import type { Datastore, Resource } from '../../src/datastore/types.js';
import { buildNodeBgpConfig } from '../../src/model/build.js';
import { renderAll } from '../../src/confd/render.js';
import { compareBird } from '../../src/confd/bird-directives.js';
import { setLogLevel } from '../../src/log.js';
import { EtcdServer, waitFor } from '../support/etcd.js';
import { FakeApiServer, type K8sObject } from '../k8s-api-server/server.js';
import { shippedRbac } from '../k8s-api-server/rbac.js';
import { CONFORMANCE_ROOT, conformanceAvailable, conformanceSkip } from '../support/conformance.js';

const ROOT = CONFORMANCE_ROOT;
const available = conformanceAvailable;
const ETCD_BIN = process.env.ETCD_BIN ?? '/usr/bin/etcd';

// ---------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------

interface Step {
  label: string;
  /** YAML files in apply order (cumulative). */
  paths: string[];
  /** Resources of those files, in order. */
  resources: Resource[];
  /** What this step adds on top of the previous one (all of `resources` for the first). */
  delta: Resource[];
  expectedDir: string;
}

interface Case {
  name: string;
  node: string;
  routerId: string | undefined;
  steps: Step[];
}

function readResources(path: string): Resource[] {
  const out: Resource[] = [];
  for (const doc of parseAllDocuments(readFileSync(path, 'utf8'))) {
    const r = doc.toJS() as Resource | null;
    if (r && typeof r === 'object' && typeof r.kind === 'string') out.push(r);
  }
  return out;
}

function loadCases(): Case[] {
  const rows = readFileSync(join(ROOT, 'cases.tsv'), 'utf8').split('\n').slice(1).filter((l) => l.trim() !== '');
  return rows.map((row) => {
    const [name, envText] = row.split('\t') as [string, string | undefined];
    const env: Record<string, string> = {};
    for (const kv of (envText ?? '').trim().split(/\s+/)) {
      const i = kv.indexOf('=');
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    const dir = join(ROOT, 'cases', name);
    const paths = [join(ROOT, 'common/nodes.yaml'), join(ROOT, 'common/ipam.yaml'), join(dir, 'input.yaml')];
    if (existsSync(join(dir, 'kubectl-input.yaml'))) paths.push(join(dir, 'kubectl-input.yaml'));
    const first = paths.flatMap(readResources);
    const steps: Step[] = [{ label: name, paths, resources: first, delta: first, expectedDir: join(dir, 'expected') }];
    if (existsSync(join(dir, 'step2/input.yaml'))) {
      const delta = readResources(join(dir, 'step2/input.yaml'));
      steps.push({
        label: `${name} step2`,
        paths: [...paths, join(dir, 'step2/input.yaml')],
        resources: [...first, ...delta],
        delta,
        expectedDir: join(dir, 'step2/expected'),
      });
    }
    return { name, node: env.NODENAME ?? 'kube-master', routerId: env.CALICO_ROUTER_ID, steps };
  });
}

const cases = available ? loadCases() : [];

// ---------------------------------------------------------------------------
// Render and compare
// ---------------------------------------------------------------------------

/** Renders the calico flavor from a key view and lists the files that differ from `expectedDir`, with their diffs. */
function mismatches(c: Case, keys: ReadonlyMap<string, string>, expectedDir: string): string[] {
  const { config } = buildNodeBgpConfig(keys, c.node, c.routerId !== undefined ? { routerId: c.routerId } : {});
  let files: Map<string, string>;
  try {
    files = renderAll('calico', config);
  } catch (e) {
    return [`render failed: ${String(e)}`];
  }
  const out: string[] = [];
  // The union of both sides: a file Calico writes that we never render fails
  // as surely as a file we render differently.
  const expectedNames = readdirSync(expectedDir).filter((n) => n.endsWith('.cfg'));
  const names = [...new Set([...expectedNames, ...files.keys()])].sort();
  for (const name of names) {
    const text = files.get(name);
    const expectedFile = join(expectedDir, name);
    if (text === undefined) {
      out.push(`${name}: Calico renders this file; we do not`);
      continue;
    }
    if (!existsSync(expectedFile)) {
      out.push(`${name}: we render this file; Calico's expected output has no such file`);
      continue;
    }
    const diff = compareBird(readFileSync(expectedFile, 'utf8'), text);
    if (diff !== null) out.push(`${name}: directives differ (- expected, + ours)\n${diff}`);
  }
  return out;
}

/** Polls the backend's snapshot until the rendering matches (watches deliver asynchronously); fails with the diff. */
async function expectConverges(c: Case, ds: Datastore, step: Step, ms = 5_000): Promise<void> {
  let last: string[] = [];
  try {
    await waitFor(() => ds.status() === 'in-sync' && (last = mismatches(c, ds.snapshot(), step.expectedDir)).length === 0, step.label, ms);
  } catch {
    assert.fail(`${step.label}: ${ds.status()}; rendered files differ from Calico's:\n\n${last.join('\n\n')}`);
  }
}

test('conformance cases are present', { skip: conformanceSkip }, () => {
  assert.ok(cases.length >= 11);
  assert.ok(cases.some((c) => c.steps.length > 1), 'at least one case has a step 2');
});

// ---------------------------------------------------------------------------
// File backend
// ---------------------------------------------------------------------------

for (const c of cases) {
  test(`file backend: the calico flavor renders what Calico's confd renders for ${c.name}`, async () => {
    setLogLevel('silent');
    for (const step of c.steps) {
      const ds = new FileDatastore({ paths: step.paths, nodeName: c.node, watch: false });
      await ds.start();
      try {
        const diffs = mismatches(c, ds.snapshot(), step.expectedDir);
        if (diffs.length > 0) assert.fail(`${step.label}: rendered files differ from Calico's:\n\n${diffs.join('\n\n')}`);
      } finally {
        await ds.stop();
      }
    }
  });
}

// ---------------------------------------------------------------------------
// Resources as calicoctl would store them in each datastore
// ---------------------------------------------------------------------------

const CRD_PLURAL: Record<string, string> = {
  BGPConfiguration: 'bgpconfigurations',
  BGPPeer: 'bgppeers',
  IPPool: 'ippools',
  BlockAffinity: 'blockaffinities',
};

const isCoreNode = (r: Resource) => r.kind === 'Node' && r.apiVersion === 'v1';
const isCalicoNode = (r: Resource) => r.kind === 'Node' && r.apiVersion !== 'v1';
const isK8sService = (r: Resource) => r.kind === 'Service' || r.kind === 'Endpoints';
const stringLabels = (l: unknown): Record<string, string> =>
  Object.fromEntries(Object.entries((l as Record<string, unknown> | undefined) ?? {}).map(([k, v]) => [k, String(v)]));

/** Nodes by name: the Kubernetes Node with a v3 Node (calicoctl apply) merged on top: labels added, spec.bgp replaced. */
function mergedNodes(all: Resource[]): Map<string, { k8s: Resource | undefined; labels: Record<string, string>; bgp: Record<string, unknown> | undefined }> {
  const out = new Map<string, { k8s: Resource | undefined; labels: Record<string, string>; bgp: Record<string, unknown> | undefined }>();
  for (const r of all.filter(isCoreNode)) out.set(r.metadata.name, { k8s: r, labels: stringLabels(r.metadata.labels), bgp: undefined });
  for (const r of all.filter(isCalicoNode)) {
    const prev = out.get(r.metadata.name) ?? { k8s: undefined, labels: {}, bgp: undefined };
    const bgp = (r.spec as { bgp?: Record<string, unknown> } | undefined)?.bgp;
    out.set(r.metadata.name, { k8s: prev.k8s, labels: { ...prev.labels, ...stringLabels(r.metadata.labels) }, bgp: bgp ?? prev.bgp });
  }
  return out;
}

/** etcd keys (v3 layout) for a set of resources; node resources are merged from `all` for the names in `resources`. */
function etcdKeys(resources: Resource[], all: Resource[]): Map<string, string> {
  const kvs = new Map<string, string>();
  const nodes = mergedNodes(all);
  for (const r of resources) {
    if (r.kind === 'Node') {
      const n = nodes.get(r.metadata.name)!;
      kvs.set(
        `${V3_ROOT}nodes/${r.metadata.name}`,
        JSON.stringify({ kind: 'Node', apiVersion: 'projectcalico.org/v3', metadata: { name: r.metadata.name, labels: n.labels }, spec: n.bgp ? { bgp: n.bgp } : {} }),
      );
    } else if (r.kind === 'BlockAffinity') {
      const spec = r.spec as { node: string; cidr: string; state?: string };
      const family = spec.cidr.includes(':') ? 6 : 4;
      kvs.set(`/calico/ipam/v2/host/${spec.node}/ipv${family}/block/${spec.cidr.replace('/', '-')}`, JSON.stringify({ state: spec.state ?? '', deleted: false }));
    } else if (CRD_PLURAL[r.kind] !== undefined) {
      kvs.set(`${V3_ROOT}${CRD_PLURAL[r.kind]}/${r.metadata.name}`, JSON.stringify({ ...r, apiVersion: 'projectcalico.org/v3' }));
    }
  }
  return kvs;
}

/** The API server's collection and object for a resource (a Node comes back merged with its v3 Node from `all`). */
function k8sObject(r: Resource, all: Resource[]): [string, K8sObject] | undefined {
  if (r.kind === 'Node') {
    const n = mergedNodes(all).get(r.metadata.name)!;
    const annotations: Record<string, string> = { ...((n.k8s?.metadata.annotations as Record<string, string> | undefined) ?? {}) };
    const ann = (key: string, v: unknown) => {
      if (v !== undefined && v !== null && v !== '') annotations[`projectcalico.org/${key}`] = String(v);
    };
    ann('IPv4Address', n.bgp?.ipv4Address);
    ann('IPv6Address', n.bgp?.ipv6Address);
    ann('ASNumber', n.bgp?.asNumber);
    ann('RouteReflectorClusterID', n.bgp?.routeReflectorClusterID);
    const base = n.k8s ?? { metadata: { name: r.metadata.name }, spec: {} };
    return ['api/v1/nodes', { ...base, apiVersion: 'v1', kind: 'Node', metadata: { ...base.metadata, name: r.metadata.name, namespace: undefined, labels: n.labels, annotations } } as K8sObject];
  }
  if (isK8sService(r)) {
    const plural = r.kind === 'Service' ? 'services' : 'endpoints';
    return [`api/v1/${plural}`, { ...r, apiVersion: 'v1', metadata: { ...r.metadata, namespace: r.metadata.namespace ?? 'default' } } as K8sObject];
  }
  const plural = CRD_PLURAL[r.kind];
  if (plural === undefined) return undefined;
  const metadata: K8sObject['metadata'] = { name: r.metadata.name };
  if (r.metadata.labels) metadata.labels = stringLabels(r.metadata.labels);
  return [`apis/crd.projectcalico.org/v1/${plural}`, { apiVersion: 'crd.projectcalico.org/v1', kind: r.kind, metadata, spec: r.spec ?? {} }];
}

// ---------------------------------------------------------------------------
// etcd backend
// ---------------------------------------------------------------------------

const haveEtcd = available && existsSync(ETCD_BIN);
let etcd: EtcdServer | undefined;

before(async () => {
  if (haveEtcd) etcd = await EtcdServer.start();
});
after(async () => {
  await etcd?.stop();
});

for (const c of cases) {
  test(`etcd backend: the calico flavor renders what Calico's confd renders for ${c.name}`, { skip: haveEtcd ? false : `no etcd at ${ETCD_BIN}` }, async () => {
    setLogLevel('silent');
    const client = etcd!.client();
    let ds: EtcdDatastore | undefined;
    try {
      await client.delete().prefix('/calico/');
      // Calico reads Services and Endpoints from the Kubernetes API even with etcd; stand in for that source here.
      let services: Resource[] = [];
      const convert: KeyViewConverter = (resources, opts) => resourcesToKeyView([...resources, ...services], opts);
      for (const [i, step] of c.steps.entries()) {
        services = step.resources.filter(isK8sService);
        for (const [k, v] of etcdKeys(step.delta, step.resources)) await client.put(k).value(v);
        if (i === 0) {
          ds = new EtcdDatastore({ endpoints: [etcd!.endpoint], layout: 'v3', convert, nodeName: c.node, coalesceMs: 1, requestTimeoutMs: 5000 });
          await ds.start();
        }
        await expectConverges(c, ds!, step);
      }
    } finally {
      await ds?.stop();
      await client.delete().prefix('/calico/');
      client.close();
    }
  });
}

// ---------------------------------------------------------------------------
// Kubernetes backend
// ---------------------------------------------------------------------------

for (const c of cases) {
  test(`kubernetes backend: the calico flavor renders what Calico's confd renders for ${c.name}`, async () => {
    setLogLevel('silent');
    // The shipped RBAC, enforced: a request it does not allow fails the case.
    const server = new FakeApiServer({ rbac: shippedRbac('calico-system') });
    const url = await server.start();
    let ds: KubernetesDatastore | undefined;
    try {
      for (const [i, step] of c.steps.entries()) {
        for (const r of step.delta) {
          const o = k8sObject(r, step.resources);
          if (o) server.put(o[0], o[1]);
        }
        if (i === 0) {
          ds = new KubernetesDatastore({
            convert: resourcesToKeyView,
            kubeConfig: kubeConfigFromEnv({ K8S_API_ENDPOINT: url }),
            nodeName: c.node,
            secretsNamespaces: ['calico-system'],
            backoff: { initialMs: 10, maxMs: 100 },
            coalesceMs: 1,
          });
          await ds.start();
        }
        await expectConverges(c, ds!, step);
      }
      assert.deepEqual(server.denials, [], 'requests the shipped RBAC refused');
    } finally {
      await ds?.stop();
      await server.stop();
    }
  });
}
