/**
 * Both daemons started while their datastore is unreachable (etcd not
 * running, no Kubernetes API server listening) or holds nothing for this node
 * yet (an empty file datastore directory): they must stay up, keep retrying,
 * and do their job once the datastore comes. Each case first waits for the
 * daemon's own retry lines (proof that time passed with the datastore down),
 * checks the process is still alive, then brings the datastore up.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanup, freePort, run, startProcess, tempDir, waitFor } from '../support/process.js';
import { EtcdServer } from '../support/etcd.js';
import { FakeApiServer } from '../k8s-api-server/server.js';
import { shippedRbac } from '../k8s-api-server/rbac.js';

const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const c = cleanup();
after(() => c.run());

const N1 = '127.0.43.1';
const N2 = '127.0.43.2';
const MESH_PEER = 'Mesh_127_0_43_2';

/** A datastore that is down at first and can be brought up with n1 and n2 in it. */
interface DownDatastore {
  env: NodeJS.ProcessEnv;
  /** Extra daemon arguments. */
  args: string[];
  /** A log line the daemon writes for each failed attempt while the datastore is down. */
  retryMarker: RegExp;
  /** How many retry lines prove the daemon outlived the old exit (about 1.3 s). */
  retries: number;
  up(): Promise<void>;
}

async function etcdDown(): Promise<DownDatastore> {
  const etcd = await EtcdServer.create();
  c.add(() => etcd.stop());
  return {
    env: { DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: etcd.endpoint, CALICO_ETCD_LAYOUT: 'legacy' },
    args: [],
    retryMarker: /etcd watch broken/g,
    retries: 4,
    async up() {
      await etcd.restart();
      const client = etcd.client();
      try {
        await client.put('/calico/bgp/v1/global/as_num').value('64512');
        await client.put('/calico/bgp/v1/host/n1/ip_addr_v4').value(N1);
        await client.put('/calico/bgp/v1/host/n2/ip_addr_v4').value(N2);
      } finally {
        client.close();
      }
    },
  };
}

async function kubernetesDown(): Promise<DownDatastore> {
  const port = await freePort();
  // The shipped RBAC, enforced, as for every Kubernetes datastore test.
  const server = new FakeApiServer({ port, rbac: shippedRbac('kube-system') });
  c.add(() => server.stop());
  return {
    env: { DATASTORE_TYPE: 'kubernetes', K8S_API_ENDPOINT: `http://127.0.0.1:${port}`, NAMESPACE: 'kube-system' },
    args: [],
    retryMarker: /list\/watch failed, will relist/g,
    retries: 8,
    async up() {
      for (const [name, ip] of [['n1', N1], ['n2', N2]] as const) {
        server.put('api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name, annotations: { 'projectcalico.org/IPv4Address': `${ip}/8` } }, spec: {} });
      }
      await server.start();
    },
  };
}

function fileDown(dir: string): DownDatastore {
  const data = join(dir, 'datastore');
  mkdirSync(data);
  return {
    env: { DATASTORE_TYPE: 'file', CALICO_DATASTORE_FILE: data },
    args: [],
    retryMarker: /not in the datastore/g,
    retries: 1,
    async up() {
      const node = (name: string, ip: string) => `apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: { name: ${name} }\nspec: { bgp: { ipv4Address: ${ip}/8 } }\n`;
      writeFileSync(join(data, 'cluster.tmp'), `${node('n1', N1)}---\n${node('n2', N2)}`);
      // Replaced by rename, as docs/datastores.md asks of tools that write these files.
      run('mv', [join(data, 'cluster.tmp'), join(data, 'cluster.yaml')]);
    },
  };
}

const KINDS: Array<[string, (dir: string) => Promise<DownDatastore>]> = [
  ['etcdv3', () => etcdDown()],
  ['kubernetes', () => kubernetesDown()],
  ['file', async (dir) => fileDown(dir)],
];

function count(text: string, re: RegExp): number {
  return [...text.matchAll(re)].length;
}

for (const [kind, make] of KINDS) {
  test(`the speaker started while the ${kind} datastore is down waits, then peers once it is up`, { timeout: 120_000 }, async () => {
    const dir = tempDir(c, 'cbgpd-down-');
    const ds = await make(dir);
    const sock = join(dir, 'ctl');
    const port = await freePort(N1);
    const p = startProcess(c, process.execPath, [cli, '--log-level', 'debug', 'speaker', '--node', 'n1', '--no-kernel', '--listen-address', N1, '--listen-port', String(port), '--control-socket', sock, ...ds.args], {
      env: { ...process.env, ...ds.env },
    });
    await waitFor(`${ds.retries} retries logged`, () => count(p.output(), ds.retryMarker) >= ds.retries || p.child.exitCode !== null, 60_000, 100);
    assert.equal(p.child.exitCode, null, `the speaker exited while the datastore was down:\n${p.output().slice(-3000)}`);
    assert.ok(!existsSync(sock), 'no control socket before the model is there');

    await ds.up();
    const status = await waitFor(
      'the speaker configured its mesh peer',
      () => {
        const r = run(process.execPath, [cli, 'status', '--json', '--control-socket', sock]);
        if (r.status !== 0) return undefined;
        const s = JSON.parse(r.stdout) as { routerId: string; peers: Array<{ name: string }> };
        return s.peers.some((x) => x.name === MESH_PEER) ? s : undefined;
      },
      60_000,
      250,
    ).catch((e: Error) => assert.fail(`${e.message}\n${p.output().slice(-3000)}`));
    assert.equal(status.routerId, N1);
  });

  test(`confd started while the ${kind} datastore is down waits, then renders once it is up`, { timeout: 120_000 }, async () => {
    const dir = tempDir(c, 'cbgpd-down-');
    const ds = await make(dir);
    const dest = join(dir, 'out');
    mkdirSync(dest);
    const p = startProcess(
      c,
      process.execPath,
      [cli, '--log-level', 'debug', 'confd', '--node', 'n1', '--flavor', 'bird1', '--dest-dir', dest, '--check-cmd', '', '--check6-cmd', '', '--bird-socket', join(dir, 'none.ctl'), '--bird6-socket', join(dir, 'none6.ctl'), ...ds.args],
      { env: { ...process.env, ...ds.env } },
    );
    const marker = kind === 'file' ? /wrote \d+ file|not in the datastore|rendering/g : ds.retryMarker;
    await waitFor('retries logged', () => count(p.output(), marker) >= (kind === 'file' ? 1 : ds.retries) || p.child.exitCode !== null, 60_000, 100);
    assert.equal(p.child.exitCode, null, `confd exited while the datastore was down:\n${p.output().slice(-3000)}`);

    await ds.up();
    await waitFor(
      'bird.cfg with the mesh peer',
      () => existsSync(join(dest, 'bird.cfg')) && readFileSync(join(dest, 'bird.cfg'), 'utf8').includes(MESH_PEER),
      60_000,
      100,
    ).catch((e: Error) => assert.fail(`${e.message}\n${p.output().slice(-3000)}`));
  });
}
