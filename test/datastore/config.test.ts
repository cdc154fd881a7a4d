import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { calicoEnv, createDatastore, datastoreConfig } from '../../src/datastore/config.js';
import { FileDatastore } from '../../src/datastore/file.js';

test('with nothing configured the embedded example cluster is the file datastore', async () => {
  const c = datastoreConfig({ NODENAME: 'node-a' });
  assert.equal(c.type, 'file');
  assert.equal(c.typeSource, 'default');
  assert.equal(c.files.length, 1);
  assert.ok(existsSync(c.files[0]!), c.files[0]);
  assert.ok((await createDatastore(c)) instanceof FileDatastore);
});

test('DATASTORE_TYPE selects the backend, also with the CALICO_ prefix; the plain name wins', () => {
  assert.equal(datastoreConfig({ DATASTORE_TYPE: 'etcdv3' }).type, 'etcdv3');
  assert.equal(datastoreConfig({ CALICO_DATASTORE_TYPE: 'kubernetes' }).type, 'kubernetes');
  assert.equal(datastoreConfig({ DATASTORE_TYPE: 'file', CALICO_DATASTORE_TYPE: 'etcdv3' }).type, 'file');
  assert.equal(datastoreConfig({ DATASTORE_TYPE: 'Kubernetes' }).type, 'kubernetes');
  assert.throws(() => datastoreConfig({ DATASTORE_TYPE: 'consul' }), /etcdv3, kubernetes or file/);
});

test('flags override the environment', () => {
  const c = datastoreConfig(
    { DATASTORE_TYPE: 'etcdv3', NODENAME: 'a', CALICO_ROUTER_ID: '10.0.0.1' },
    { datastoreType: 'file', datastoreFile: '/tmp/x.yaml', nodeName: 'b', routerId: 'hash' },
  );
  assert.deepEqual([c.type, c.typeSource, c.files, c.nodeName, c.routerId], ['file', 'flag', ['/tmp/x.yaml'], 'b', 'hash']);
});

test('the backend is inferred from the variables that configure it', () => {
  assert.equal(datastoreConfig({ CALICO_DATASTORE_FILE: '/tmp/c.yaml' }).type, 'file');
  assert.deepEqual(datastoreConfig({ CALICO_DATASTORE_FILE: '/tmp/a.yaml,/tmp/b' }).files, ['/tmp/a.yaml', '/tmp/b']);
  assert.equal(datastoreConfig({ KUBECONFIG: '/root/.kube/config' }).type, 'kubernetes');
  assert.equal(datastoreConfig({ CALICO_ETCD_ENDPOINTS: 'http://127.0.0.1:2379' }).type, 'etcdv3');
});

test('NODENAME, CALICO_ROUTER_ID, USE_POD_CIDR and CALICO_ADVERTISE_CLUSTER_IPS are read', () => {
  const c = datastoreConfig({ CALICO_NODENAME: 'n7', CALICO_ROUTER_ID: 'hash', USE_POD_CIDR: 'true', CALICO_ADVERTISE_CLUSTER_IPS: '10.96.0.0/12' });
  assert.deepEqual([c.nodeName, c.routerId, c.usePodCidr, c.advertiseClusterIps], ['n7', 'hash', true, '10.96.0.0/12']);
  assert.throws(() => datastoreConfig({ USE_POD_CIDR: 'yes' }), /USE_POD_CIDR/);
});

test('calicoEnv exposes every Calico variable under both spellings', () => {
  const e = calicoEnv({ CALICO_ETCD_ENDPOINTS: 'http://e:2379', K8S_API_ENDPOINT: 'https://k' });
  assert.equal(e.ETCD_ENDPOINTS, 'http://e:2379');
  assert.equal(e.CALICO_K8S_API_ENDPOINT, 'https://k');
});
