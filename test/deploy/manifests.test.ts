/**
 * The Kubernetes manifests in deploy/kubernetes:
 * - every document parses, and every complete object validates against the
 *   Kubernetes API schemas (kubernetes-models, generated from Kubernetes'
 *   OpenAPI) and has no unknown field (./unknown-fields.ts);
 * - every kustomize overlay builds with `kubectl kustomize` to exactly the
 *   documents docs/deploy.md lists for it;
 * - the calico-node patches, applied with `kubectl patch --local` to a
 *   calico-node DaemonSet shaped like a manifest install's
 *   (fixtures/calico-node.yaml), give a valid DaemonSet wired as the docs
 *   say: shared volumes, the switches that turn calico-node's own confd or
 *   BIRD off, probes, capabilities, and only references to objects the
 *   overlays create.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { ConfigMap, Secret, ServiceAccount } from 'kubernetes-models/v1';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { modelName, unknownFields } from './unknown-fields.js';

/** The repository root, from this file (test/ or dist/test/). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!statSafe(join(dir, 'deploy', 'kubernetes')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}
function statSafe(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

const ROOT = repoRoot();
const K8S = join(ROOT, 'deploy', 'kubernetes');
const FIXTURE = join(ROOT, 'test', 'deploy', 'fixtures', 'calico-node.yaml');

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [k: string]: unknown;
};

interface Validator {
  validate(): void;
}
const MODELS: Record<string, new (o: never) => Validator> = {
  'v1/ServiceAccount': ServiceAccount as never,
  'v1/Secret': Secret as never,
  'v1/ConfigMap': ConfigMap as never,
  'apps/v1/DaemonSet': DaemonSet as never,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole as never,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding as never,
  'rbac.authorization.k8s.io/v1/Role': Role as never,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding as never,
};

/** Validates one object against its Kubernetes schema and rejects unknown fields; throws with the complaint. */
function validate(o: Obj): void {
  const Model = MODELS[`${o.apiVersion}/${o.kind}`];
  assert.ok(Model, `no schema for ${o.apiVersion} ${o.kind}`);
  new Model(o as never).validate();
  assert.deepEqual(unknownFields(o, modelName(o.apiVersion, o.kind)), [], `unknown fields in ${o.kind}/${o.metadata.name}`);
}

function parseYaml(text: string, what: string): unknown[] {
  return parseAllDocuments(text).map((d) => {
    assert.deepEqual(d.errors, [], `${what}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS() as unknown;
  });
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return yamlFiles(p);
    return n.endsWith('.yaml') ? [p] : [];
  });
}

function kubectl(args: string[], input?: string): string {
  return execFileSync('kubectl', args, { encoding: 'utf8', input, timeout: 60_000, stdio: ['pipe', 'pipe', 'pipe'] });
}

function kustomize(overlay: string): Obj[] {
  return parseYaml(kubectl(['kustomize', join(K8S, overlay)]), overlay) as Obj[];
}

/** `kubectl patch --local` of the fixture with each patch file in turn. */
function patched(...patches: string[]): Obj {
  let text = readFileSync(FIXTURE, 'utf8');
  for (const p of patches) {
    text = kubectl(['patch', '--local', '-f', '-', '--type', 'strategic', '--patch-file', join(K8S, p), '-o', 'json'], text);
  }
  return JSON.parse(text) as Obj;
}

const OVERLAYS = ['rbac', 'sidecar-account', 'confd-off', 'sidecar-bird', 'sidecar-native', 'reflector', 'etcd/reflector'];
const PATCHES = ['sidecar-bird/calico-node-patch.yaml', 'sidecar-native/calico-node-patch.yaml', 'etcd/calico-node-patch.yaml'];

// ---------------------------------------------------------------------------
// Parsing and schemas
// ---------------------------------------------------------------------------

test('every manifest parses and every complete object validates against the Kubernetes schemas', () => {
  const files = yamlFiles(K8S);
  assert.ok(files.length >= 10, `found ${files.length} files`);
  let objects = 0;
  for (const f of files) {
    const docs = parseYaml(readFileSync(f, 'utf8'), relative(ROOT, f));
    assert.ok(docs.length > 0, `${f} is empty`);
    const name = relative(K8S, f);
    if (name.endsWith('kustomization.yaml') || PATCHES.includes(name) || name === 'etcd/reflector/reflector-etcd.yaml') continue;
    for (const d of docs) {
      validate(d as Obj);
      objects++;
    }
  }
  assert.ok(objects >= 10, `validated ${objects} objects`);
});

test('the validation used here rejects a wrong type and an unknown (misspelt) field', () => {
  type Ds = { spec: { template: { spec: { containers: Record<string, unknown>[] } } } } & Obj;
  const ds = patched('sidecar-native/calico-node-patch.yaml') as Ds;
  ds.spec.template.spec.containers[1]!.ports = [{ containerPort: 'one-seven-nine' }];
  assert.throws(() => validate(ds), /containerPort must be integer/);
  const typo = patched('sidecar-native/calico-node-patch.yaml') as Ds;
  (typo.spec.template.spec.containers[1]!.securityContext as Record<string, unknown>).capabilites = { add: ['NET_RAW'] };
  typo.spec.template.spec.containers[1]!.imagePullPolcy = 'Always';
  assert.deepEqual(unknownFields(typo, 'V1DaemonSet'), [
    'spec.template.spec.containers[1].securityContext.capabilites',
    'spec.template.spec.containers[1].imagePullPolcy',
  ]);
  assert.throws(() => validate(typo), /unknown fields/);
});

// ---------------------------------------------------------------------------
// kustomize overlays = what docs/deploy.md shows
// ---------------------------------------------------------------------------

/** The ```text blocks of docs/deploy.md that start with `# kubectl kustomize deploy/kubernetes/DIR`. */
function documentedBuilds(): Map<string, string[]> {
  const md = readFileSync(join(ROOT, 'docs', 'deploy.md'), 'utf8');
  const out = new Map<string, string[]>();
  // Blocks may be indented (inside a list item).
  for (const m of md.matchAll(/^ *```text\n *# kubectl kustomize deploy\/kubernetes\/(\S+)\n([\s\S]*?)^ *```/gm)) {
    out.set(m[1]!, m[2]!.trim().split('\n').map((l) => l.trim()));
  }
  return out;
}

test('every kustomize overlay builds to the documents docs/deploy.md lists, each valid', () => {
  const docs = documentedBuilds();
  for (const overlay of ['sidecar-bird', 'sidecar-native', 'reflector', 'etcd/reflector', 'confd-off']) {
    const built = kustomize(overlay);
    for (const o of built) validate(o);
    assert.deepEqual(
      built.map((o) => `${o.kind}/${o.metadata.name}${o.metadata.namespace ? ` (${o.metadata.namespace})` : ''}`),
      docs.get(overlay),
      `docs/deploy.md's list for ${overlay}`,
    );
  }
  for (const overlay of OVERLAYS) assert.ok(kustomize(overlay).length > 0, overlay);
});

// ---------------------------------------------------------------------------
// calico-node patches
// ---------------------------------------------------------------------------

interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } } }[];
  volumeMounts?: { name: string; mountPath: string; subPath?: string }[];
  securityContext?: { runAsUser?: number; capabilities?: { add?: string[]; drop?: string[] }; allowPrivilegeEscalation?: boolean };
  livenessProbe?: { exec?: { command: string[] } };
  readinessProbe?: { exec?: { command: string[] } };
}
interface PodSpec {
  hostNetwork?: boolean;
  containers: Container[];
  volumes: { name: string; secret?: { secretName: string }; configMap?: { name: string }; emptyDir?: object; hostPath?: { path: string } }[];
}

function podSpec(ds: Obj): PodSpec {
  return (ds as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
}
function container(spec: PodSpec, name: string): Container {
  const c = spec.containers.find((x) => x.name === name);
  assert.ok(c, `container ${name}`);
  return c;
}
function env(c: Container, name: string): NonNullable<Container['env']>[number] | undefined {
  return c.env?.find((e) => e.name === name);
}

/** Every mount has a volume; every Secret and ConfigMap referenced is one the overlay creates (or calico-bgpd-etcd, made by the operator). */
function assertReferencesResolve(spec: PodSpec, created: Obj[], external: string[] = []): void {
  const volumes = new Set(spec.volumes.map((v) => v.name));
  for (const c of spec.containers) for (const m of c.volumeMounts ?? []) assert.ok(volumes.has(m.name), `${c.name} mounts missing volume ${m.name}`);
  const names = new Set([...created.map((o) => `${o.kind}/${o.metadata.name}`), ...external]);
  for (const v of spec.volumes) {
    if (v.secret) assert.ok(names.has(`Secret/${v.secret.secretName}`), `Secret ${v.secret.secretName}`);
    if (v.configMap) assert.ok(names.has(`ConfigMap/${v.configMap.name}`), `ConfigMap ${v.configMap.name}`);
  }
  for (const c of spec.containers) {
    for (const e of c.env ?? []) {
      const ref = e.valueFrom?.secretKeyRef;
      if (ref) assert.ok(names.has(`Secret/${ref.name}`), `Secret ${ref.name}`);
    }
  }
}

test('BIRD mode patch: calico-bgpd renders into the directory calico-node BIRD reads, and calico-node runs no confd', () => {
  const ds = patched('sidecar-bird/calico-node-patch.yaml');
  validate(ds);
  const spec = podSpec(ds);
  const node = container(spec, 'calico-node');
  const bgpd = container(spec, 'calico-bgpd');
  assert.equal(bgpd.args?.[0], 'confd');
  assert.equal(env(node, 'CALICO_NETWORKING_BACKEND')?.value, 'bird', 'BIRD still started by calico-node');
  const confdDir = (c: Container) => c.volumeMounts?.find((m) => m.mountPath === '/etc/calico/confd/config')?.name;
  assert.ok(confdDir(node) !== undefined && confdDir(node) === confdDir(bgpd), 'one shared config directory');
  assert.equal(spec.volumes.find((v) => v.name === confdDir(node))?.emptyDir !== undefined, true);
  const runDir = bgpd.volumeMounts?.find((m) => m.mountPath === '/var/run/calico')?.name;
  assert.equal(runDir, 'var-run-calico', "calico-node's BIRD control sockets");
  const off = node.volumeMounts?.find((m) => m.mountPath === '/etc/service/available/confd/run');
  assert.ok(off, "calico-node's confd run script is replaced");
  assert.equal(spec.volumes.find((v) => v.name === off.name)?.configMap?.name, 'calico-bgpd-confd-off');
  const script = (kustomize('confd-off')[0] as unknown as { data: { run: string } }).data.run;
  assert.match(script, /^#!\/bin\/sh\n[\s\S]*exec sleep infinity\n$/);
  assert.equal(env(bgpd, 'NODENAME')?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');
  assert.equal(env(bgpd, 'K8S_TOKEN')?.valueFrom?.secretKeyRef?.name, 'calico-bgpd-token', "calico-bgpd's own identity");
  assert.deepEqual(bgpd.securityContext?.capabilities, { drop: ['ALL'] });
  assert.deepEqual(bgpd.livenessProbe?.exec?.command, ['calico-bgpd', 'health', '--live']);
  assert.deepEqual(bgpd.readinessProbe?.exec?.command, ['calico-bgpd', 'health', '--ready']);
  assertReferencesResolve(spec, kustomize('sidecar-bird'));
});

test('native mode patch: the speaker replaces BIRD and confd, with NET_ADMIN and NET_BIND_SERVICE only', () => {
  const ds = patched('sidecar-native/calico-node-patch.yaml');
  validate(ds);
  const spec = podSpec(ds);
  assert.equal(spec.hostNetwork, true);
  const node = container(spec, 'calico-node');
  const bgpd = container(spec, 'calico-bgpd');
  assert.equal(env(node, 'CALICO_NETWORKING_BACKEND')?.value, 'vxlan', 'calico-node starts neither BIRD nor confd but still detects addresses');
  assert.equal(node.env?.filter((e) => e.name === 'CALICO_NETWORKING_BACKEND').length, 1);
  assert.deepEqual(node.livenessProbe?.exec?.command, ['/bin/calico-node', '-felix-live']);
  assert.deepEqual(node.readinessProbe?.exec?.command, ['/bin/calico-node', '-felix-ready']);
  assert.deepEqual(bgpd.args, ['speaker']);
  assert.deepEqual(bgpd.securityContext?.capabilities, { drop: ['ALL'], add: ['NET_ADMIN', 'NET_BIND_SERVICE'] });
  assert.equal(bgpd.securityContext?.allowPrivilegeEscalation, false);
  assert.equal(bgpd.volumeMounts?.find((m) => m.mountPath === '/var/run/calico')?.name, 'var-run-calico');
  assert.deepEqual(bgpd.livenessProbe?.exec?.command, ['calico-bgpd', 'health', '--live']);
  assertReferencesResolve(spec, kustomize('sidecar-native'));
});

test('etcd patch after either mode: etcd v3 from the calico-bgpd-etcd Secret, no Kubernetes token left', () => {
  for (const mode of ['sidecar-bird', 'sidecar-native']) {
    const ds = patched(`${mode}/calico-node-patch.yaml`, 'etcd/calico-node-patch.yaml');
    validate(ds);
    const spec = podSpec(ds);
    const bgpd = container(spec, 'calico-bgpd');
    assert.equal(env(bgpd, 'DATASTORE_TYPE')?.value, 'etcdv3');
    assert.equal(env(bgpd, 'ETCD_ENDPOINTS')?.valueFrom?.secretKeyRef?.name, 'calico-bgpd-etcd');
    for (const name of ['K8S_TOKEN', 'K8S_API_ENDPOINT', 'K8S_CA_FILE', 'NAMESPACE']) assert.equal(env(bgpd, name), undefined, `${mode}: ${name} removed`);
    assert.equal(spec.volumes.find((v) => v.name === 'calico-bgpd-token'), undefined);
    const certs = bgpd.volumeMounts?.find((m) => m.mountPath === '/calico-bgpd-etcd');
    assert.equal(spec.volumes.find((v) => v.name === certs?.name)?.secret?.secretName, 'calico-bgpd-etcd');
    for (const f of ['ETCD_CA_CERT_FILE', 'ETCD_CERT_FILE', 'ETCD_KEY_FILE']) assert.match(env(bgpd, f)?.value ?? '', /^\/calico-bgpd-etcd\//);
    const created = mode === 'sidecar-bird' ? kustomize('confd-off') : [];
    assertReferencesResolve(spec, created, ['Secret/calico-bgpd-etcd']);
  }
});

test('route reflector: labelled nodes, host network, --role reflector, its own service account bound read-only', () => {
  const built = kustomize('reflector');
  const ds = built.find((o) => o.kind === 'DaemonSet')!;
  assert.match(ds.metadata.name, /reflector/);
  const spec = podSpec(ds) as PodSpec & { serviceAccountName: string; nodeSelector: Record<string, string> };
  assert.equal(spec.hostNetwork, true);
  assert.equal(spec.nodeSelector['calico-bgpd/route-reflector'], 'true');
  const bgpd = container(spec, 'calico-bgpd');
  assert.deepEqual(bgpd.args, ['speaker', '--role', 'reflector']);
  assert.deepEqual(bgpd.securityContext?.capabilities, { drop: ['ALL'], add: ['NET_BIND_SERVICE'] });
  assert.ok(built.some((o) => o.kind === 'ServiceAccount' && o.metadata.name === spec.serviceAccountName));
  assert.notEqual(spec.serviceAccountName, 'calico-node');
  const bindings = built.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding') as unknown as {
    roleRef: { kind: string; name: string };
    subjects: { name: string }[];
  }[];
  assert.deepEqual(
    bindings.filter((b) => b.subjects.some((s) => s.name === spec.serviceAccountName)).map((b) => `${b.roleRef.kind}/${b.roleRef.name}`).sort(),
    ['ClusterRole/calico-bgpd', 'Role/calico-bgpd-secrets'],
  );
  assertReferencesResolve(spec, built);

  const etcd = kustomize('etcd/reflector');
  assert.deepEqual(etcd.filter((o) => o.kind.includes('Role')), [], 'no Kubernetes rules for an etcd client');
  const etcdSpec = podSpec(etcd.find((o) => o.kind === 'DaemonSet')!);
  assert.equal(env(container(etcdSpec, 'calico-bgpd'), 'DATASTORE_TYPE')?.value, 'etcdv3');
  assertReferencesResolve(etcdSpec, etcd, ['Secret/calico-bgpd-etcd']);
});
