/**
 * Configuration mistakes an operator must hear about, said at start (a
 * warning each) and listed by `model` and `status`:
 * - no datastore configured, so the embedded example cluster is used;
 * - this node is not in the datastore (a mistyped NODENAME gives a daemon
 *   with no peers);
 * - a datastore file dropped because it is not valid YAML.
 */
import type { DatastoreConfig } from './config.js';
import type { Datastore } from './types.js';
import type { Problem } from './resources/problem.js';
import { nodeInKeyView } from '../model/build.js';

/** The message for a run on the embedded example cluster. */
export function exampleClusterProblem(config: DatastoreConfig): Problem | null {
  if (config.typeSource !== 'default') return null;
  return {
    resource: 'datastore',
    message: `no datastore configured (DATASTORE_TYPE, CALICO_DATASTORE_FILE, ETCD_ENDPOINTS and KUBECONFIG are unset): using the embedded example cluster ${config.files.join(', ')}`,
  };
}

/** Every configuration warning that holds now (see the module comment). */
export function configurationWarnings(config: DatastoreConfig, ds: Datastore): Problem[] {
  const out: Problem[] = [];
  const example = exampleClusterProblem(config);
  if (example !== null) out.push(example);
  if (ds.status() === 'in-sync' && !nodeInKeyView(ds.snapshot(), config.nodeName)) {
    out.push({ resource: `Node/${config.nodeName}`, message: 'this node is not in the datastore (set NODENAME or --node)' });
  }
  const fileProblems = (ds as { problems?: () => readonly Problem[] }).problems?.() ?? [];
  out.push(...fileProblems.filter((p) => p.message.startsWith('invalid YAML')));
  return out;
}
