/**
 * How the etcd backend connects: several endpoints (one dead), TLS with
 * client certificates (ETCD_CA_CERT_FILE / ETCD_CERT_FILE / ETCD_KEY_FILE),
 * username/password auth, and a member that loses its leader. Real etcd
 * servers, removed afterwards.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { pino } from 'pino';
import { EtcdDatastore, etcdOptionsFromEnv, type EtcdDatastoreOptions } from '../../src/datastore/etcd.js';
import { EtcdCluster, EtcdServer, freePort, makeTestCerts, waitFor } from '../support/etcd.js';

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function open(opts: EtcdDatastoreOptions) {
  const lines: string[] = [];
  const ds = new EtcdDatastore({
    layout: 'legacy',
    backoff: { initialMs: 20, maxMs: 200 },
    requestTimeoutMs: 2000,
    log: pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) }),
    ...opts,
  });
  cleanups.push(() => ds.stop());
  return { ds, lines };
}

test('ETCD_ENDPOINTS and the TLS/auth variables are read as Calico names them', () => {
  const o = etcdOptionsFromEnv({
    ETCD_ENDPOINTS: 'https://10.0.0.1:2379, https://10.0.0.2:2379',
    ETCD_CA_CERT_FILE: '/ca.pem',
    ETCD_CERT_FILE: '/c.pem',
    ETCD_KEY_FILE: '/c.key',
    ETCD_USERNAME: 'calico',
    ETCD_PASSWORD: 'pw',
    CALICO_ETCD_LAYOUT: 'v3',
  });
  assert.deepEqual(o.endpoints, ['https://10.0.0.1:2379', 'https://10.0.0.2:2379']);
  assert.equal(o.caFile, '/ca.pem');
  assert.equal(o.certFile, '/c.pem');
  assert.equal(o.keyFile, '/c.key');
  assert.equal(o.username, 'calico');
  assert.equal(o.password, 'pw');
  assert.equal(o.layout, 'v3');
  assert.throws(() => etcdOptionsFromEnv({ CALICO_ETCD_LAYOUT: 'v2' }), /legacy, v3 or auto/);
});

test('several endpoints: a dead one does not stop the sync', async () => {
  const etcd = await EtcdServer.start();
  cleanups.push(() => etcd.stop());
  const c = etcd.client();
  await c.put('/calico/bgp/v1/global/as_num').value('64512');
  c.close();
  const dead = `http://127.0.0.1:${await freePort()}`;
  const { ds } = open({ endpoints: [dead, etcd.endpoint, dead] });
  await ds.start();
  await waitFor(() => ds.status() === 'in-sync', 'in-sync with a dead endpoint listed', 20_000);
  assert.equal(ds.snapshot().get('/calico/bgp/v1/global/as_num'), '64512');
});

test('TLS with a client certificate and username/password auth; the password is never logged', async () => {
  const certs = makeTestCerts();
  cleanups.push(() => rmSync(certs.dir, { recursive: true, force: true }));
  const etcd = await EtcdServer.start({ tls: certs });
  cleanups.push(() => etcd.stop());

  const admin = etcd.client();
  await admin.put('/calico/bgp/v1/host/n1/ip_addr_v4').value('192.0.2.1');
  await admin.role('root').create();
  await admin.user('root').create('root-Secret-9');
  await admin.user('root').addRole('root');
  await admin.auth.authEnable({});
  admin.close();

  const tls = { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey };
  const good = open({ endpoints: [etcd.endpoint], ...tls, username: 'root', password: 'root-Secret-9' });
  await good.ds.start();
  await waitFor(() => good.ds.status() === 'in-sync', 'in-sync over TLS with auth', 20_000);
  assert.equal(good.ds.snapshot().get('/calico/bgp/v1/host/n1/ip_addr_v4'), '192.0.2.1');

  const bad = open({ endpoints: [etcd.endpoint], ...tls, username: 'root', password: 'wrong-Secret-7' });
  await bad.ds.start();
  await waitFor(() => bad.lines.some((l) => l.includes('will relist')), 'auth failure logged', 20_000);
  assert.equal(bad.ds.status(), 'connecting');
  for (const l of [...good.lines, ...bad.lines]) {
    assert.ok(!l.includes('root-Secret-9') && !l.includes('wrong-Secret-7'), 'password in a log line');
  }
});

test('a member that loses its leader ends the watch (require-leader): resyncing until quorum is back', async () => {
  const cluster = await EtcdCluster.start(3);
  cleanups.push(() => cluster.stop());
  const [m0, m1, m2] = cluster.members as [EtcdServer, EtcdServer, EtcdServer];
  const c = m0.client();
  await c.put('/calico/bgp/v1/global/as_num').value('64512');
  c.close();
  // Only m0 is configured, so the watch stream is on m0.
  const { ds } = open({ endpoints: [m0.endpoint] });
  const statuses: string[] = [];
  ds.subscribe({ status: (s) => statuses.push(s) });
  await ds.start();
  await waitFor(() => ds.status() === 'in-sync', 'in-sync', 20_000);

  await Promise.all([m1.kill9(), m2.kill9()]);
  // m0 is still up and reachable; only require-leader makes it drop the watch.
  await waitFor(() => ds.status() === 'resyncing', 'resyncing after leader loss', 20_000);

  await m1.launch();
  const c1 = m1.client();
  await c1.put('/calico/bgp/v1/global/as_num').value('64513');
  c1.close();
  await waitFor(() => ds.status() === 'in-sync' && ds.snapshot().get('/calico/bgp/v1/global/as_num') === '64513', 'in-sync with quorum back', 30_000);
  assert.deepEqual(statuses.slice(0, 3), ['in-sync', 'resyncing', 'in-sync']);
});
