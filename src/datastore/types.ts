/**
 * The contract every datastore backend fulfils (see ../shared/design.md):
 * whatever it reads (etcd legacy keys, etcd v3 resources, Kubernetes CRDs,
 * YAML files), it presents the same legacy key view
 * (`/calico/bgp/v1/...`, `/calico/v1/ipam/...`, `/calico/ipam/v2/host/...`,
 * `/calico/staticroutes/...`, `/calico/rejectcidrs/...`) plus an explicit
 * in-sync signal, and reports changes as batches of key diffs.
 */

/** One key's new value; `null` means the key was deleted. */
export interface KeyChange {
  key: string;
  value: string | null;
}

/**
 * Connection/sync status of a backend.
 * - `connecting`: no complete snapshot yet; consumers must not act.
 * - `in-sync`: the snapshot is complete and current.
 * - `resyncing`: connection lost or watch broken; the snapshot is the last
 *   complete one, consumers must not render from it until `in-sync` again.
 */
export type SyncStatus = 'connecting' | 'in-sync' | 'resyncing';

export interface DatastoreListener {
  /** A batch of key changes, already applied to the snapshot. */
  changes?(batch: KeyChange[]): void;
  status?(status: SyncStatus, detail?: string): void;
}

export interface Datastore {
  /** Starts listing and watching; resolves once started (not necessarily in sync). */
  start(): Promise<void>;
  /** Stops watching and releases connections. Idempotent. */
  stop(): Promise<void>;
  /** Current key view (the last complete one). */
  snapshot(): ReadonlyMap<string, string>;
  status(): SyncStatus;
  /** Registers a listener; returns a function that removes it. */
  subscribe(listener: DatastoreListener): () => void;
}

/**
 * A projectcalico.org/v3 (or crd.projectcalico.org/v1, or core Kubernetes)
 * resource as parsed from YAML/JSON. Backends that hold resources convert a
 * set of these into the key view with one pure function.
 */
export interface Resource {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    [extra: string]: unknown;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  data?: Record<string, string>;
  [extra: string]: unknown;
}
