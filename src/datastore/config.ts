/**
 * Datastore selection from Calico's environment variables (and our flags).
 *
 * Every variable is also accepted with the `CALICO_` prefix, as Calico does
 * (`CALICO_DATASTORE_TYPE`, `CALICO_NODENAME`, `CALICO_ETCD_ENDPOINTS`, ...);
 * the unprefixed name wins when both are set. Flags override the environment.
 *
 * | variable | meaning |
 * | --- | --- |
 * | DATASTORE_TYPE | `etcdv3`, `kubernetes` or `file`; unset: `kubernetes` when KUBECONFIG or K8S_API_ENDPOINT is set, `etcdv3` when ETCD_ENDPOINTS is set, else `file` |
 * | CALICO_DATASTORE_FILE | file backend: a YAML file or a directory (default: the embedded example cluster) |
 * | NODENAME | this node (default: the host name) |
 * | CALICO_ROUTER_ID | router id: a dotted quad or `hash` |
 * | USE_POD_CIDR | `true`: Kubernetes podCIDRs are this node's blocks |
 * | CALICO_ADVERTISE_CLUSTER_IPS | overrides serviceClusterIPs |
 * | ETCD_ENDPOINTS, ETCD_CA_CERT_FILE, ETCD_CERT_FILE, ETCD_KEY_FILE, ETCD_USERNAME, ETCD_PASSWORD | etcd backend |
 * | KUBECONFIG, K8S_API_ENDPOINT, K8S_CERT_FILE, K8S_KEY_FILE, K8S_CA_FILE, K8S_TOKEN | Kubernetes backend |
 */
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resourcesToKeyView } from './resources/to-keys.js';
import type { Datastore } from './types.js';

export type DatastoreType = 'etcdv3' | 'kubernetes' | 'file';

/** Everything needed to open a datastore and build this node's model. */
export interface DatastoreConfig {
  type: DatastoreType;
  /** How `type` was decided, for diagnostics. */
  typeSource: 'flag' | 'env' | 'inferred' | 'default';
  nodeName: string;
  routerId?: string;
  usePodCidr: boolean;
  advertiseClusterIps?: string;
  /** file backend: paths applied in order. */
  files: string[];
  /** The environment the backend-specific options are read from (already un-prefixed). */
  env: Record<string, string>;
}

/** Flags that override the environment. */
export interface DatastoreFlags {
  datastoreType?: string;
  datastoreFile?: string | string[];
  nodeName?: string;
  routerId?: string;
}

const VARIABLES = [
  'DATASTORE_TYPE',
  'DATASTORE_FILE',
  'NODENAME',
  'ROUTER_ID',
  'USE_POD_CIDR',
  'ADVERTISE_CLUSTER_IPS',
  'ETCD_ENDPOINTS',
  'ETCD_CA_CERT_FILE',
  'ETCD_CERT_FILE',
  'ETCD_KEY_FILE',
  'ETCD_USERNAME',
  'ETCD_PASSWORD',
  'ETCD_LAYOUT',
  'KUBECONFIG',
  'K8S_API_ENDPOINT',
  'K8S_CERT_FILE',
  'K8S_KEY_FILE',
  'K8S_CA_FILE',
  'K8S_TOKEN',
  'NAMESPACE',
];

/**
 * Resolves Calico's variables, plain or `CALICO_`-prefixed. Our own names
 * that Calico spells with the prefix (`CALICO_DATASTORE_FILE`,
 * `CALICO_ROUTER_ID`, `CALICO_ADVERTISE_CLUSTER_IPS`, `CALICO_ETCD_LAYOUT`)
 * are returned under both spellings.
 */
export function calicoEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  for (const name of VARIABLES) {
    const plain = env[name];
    const prefixed = env[`CALICO_${name}`];
    const value = plain !== undefined && plain !== '' ? plain : prefixed;
    if (value !== undefined && value !== '') {
      out[name] = value;
      out[`CALICO_${name}`] = value;
    }
  }
  return out;
}

/** The embedded example cluster, used when no datastore is configured. */
export function defaultClusterPath(): string {
  // dist/src/datastore/config.js -> repo root is three levels up; src/datastore/config.ts -> two.
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../../..', '../..']) {
    const p = resolve(here, up, 'examples/cluster');
    if (existsSync(p)) return p;
  }
  return resolve(here, '../../../examples/cluster');
}

/** Parses environment + flags into a typed config. Throws with a clear message on bad values. */
export function datastoreConfig(env: NodeJS.ProcessEnv, flags: DatastoreFlags = {}): DatastoreConfig {
  const e = calicoEnv(env);
  const fileFlag = flags.datastoreFile === undefined ? [] : Array.isArray(flags.datastoreFile) ? flags.datastoreFile : [flags.datastoreFile];
  let type: DatastoreType;
  let typeSource: DatastoreConfig['typeSource'];
  const raw = flags.datastoreType ?? e.DATASTORE_TYPE;
  if (raw !== undefined && raw !== '') {
    const t = raw.toLowerCase();
    if (t !== 'etcdv3' && t !== 'kubernetes' && t !== 'file') {
      throw new Error(`DATASTORE_TYPE must be etcdv3, kubernetes or file, not "${raw}"`);
    }
    type = t;
    typeSource = flags.datastoreType !== undefined ? 'flag' : 'env';
  } else if (fileFlag.length > 0 || e.DATASTORE_FILE) {
    type = 'file';
    typeSource = 'inferred';
  } else if (e.KUBECONFIG || e.K8S_API_ENDPOINT) {
    type = 'kubernetes';
    typeSource = 'inferred';
  } else if (e.ETCD_ENDPOINTS) {
    type = 'etcdv3';
    typeSource = 'inferred';
  } else {
    type = 'file';
    typeSource = 'default';
  }
  const files = fileFlag.length > 0 ? fileFlag : e.DATASTORE_FILE ? e.DATASTORE_FILE.split(',').filter((s) => s !== '') : [defaultClusterPath()];
  const usePodRaw = (e.USE_POD_CIDR ?? '').toLowerCase();
  if (usePodRaw !== '' && usePodRaw !== 'true' && usePodRaw !== 'false') {
    throw new Error(`USE_POD_CIDR must be true or false, not "${e.USE_POD_CIDR}"`);
  }
  const nodeName = flags.nodeName ?? e.NODENAME ?? hostname();
  const routerId = flags.routerId ?? e.ROUTER_ID;
  return {
    type,
    typeSource,
    nodeName,
    ...(routerId !== undefined && routerId !== '' ? { routerId } : {}),
    usePodCidr: usePodRaw === 'true',
    ...(e.ADVERTISE_CLUSTER_IPS ? { advertiseClusterIps: e.ADVERTISE_CLUSTER_IPS } : {}),
    files,
    env: e,
  };
}

/**
 * Opens (but does not start) the configured backend. The etcd and
 * Kubernetes clients are loaded only when chosen: the Kubernetes client
 * library alone adds tens of megabytes to a process that never uses it.
 */
export async function createDatastore(config: DatastoreConfig, opts: { watch?: boolean } = {}): Promise<Datastore> {
  switch (config.type) {
    case 'file': {
      // Each backend loads with its client libraries only when chosen (YAML
      // and the file watcher here, etcd3 or the Kubernetes client below).
      const { FileDatastore } = await import('./file.js');
      return new FileDatastore({
        paths: config.files,
        nodeName: config.nodeName,
        usePodCidr: config.usePodCidr,
        ...(config.advertiseClusterIps !== undefined ? { advertiseClusterIps: config.advertiseClusterIps } : {}),
        ...(opts.watch !== undefined ? { watch: opts.watch } : {}),
      });
    }
    case 'etcdv3': {
      const { EtcdDatastore, etcdOptionsFromEnv } = await import('./etcd.js');
      return new EtcdDatastore({
        ...etcdOptionsFromEnv({ ...config.env, NODENAME: config.nodeName }),
        nodeName: config.nodeName,
        convert: (resources, o) =>
          resourcesToKeyView(resources, {
            ...o,
            usePodCidr: config.usePodCidr,
            ...(config.advertiseClusterIps !== undefined ? { advertiseClusterIps: config.advertiseClusterIps } : {}),
          }),
      });
    }
    case 'kubernetes': {
      const { KubernetesDatastore, kubernetesOptionsFromEnv } = await import('./kubernetes.js');
      return new KubernetesDatastore({
        ...kubernetesOptionsFromEnv({ ...config.env, NODENAME: config.nodeName }, (resources, o) =>
          resourcesToKeyView(resources, {
            ...o,
            ...(config.advertiseClusterIps !== undefined ? { advertiseClusterIps: config.advertiseClusterIps } : {}),
          }),
        ),
        nodeName: config.nodeName,
        usePodCidr: config.usePodCidr,
      });
    }
    default: {
      const never: never = config.type;
      throw new Error(`unknown datastore type ${String(never)}`);
    }
  }
}
