/**
 * `calico-bgpd speaker` as operators run it: two processes on loopback reading
 * one file datastore, `status` and `routes` through the control socket, a
 * live datastore change, and a graceful restart that keeps routes.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanup, freePort, run, startProcess, tempDir, waitFor } from '../support/process.js';
import { ask } from '../../src/control/client.js';
import { meshedPair } from '../support/cluster-yaml.js';

const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const c = cleanup();
after(() => c.run());

const N1 = '127.0.41.1';
const N2 = '127.0.41.2';

function clusterYaml(port: number, extraBlocks = ''): string {
  return `${meshedPair(port, N1, N2)}${extraBlocks}`;
}

function status(sock: string): { peers: { name: string; state: string; since: string; info: string }[] } | undefined {
  const r = run(process.execPath, [cli, 'status', '--json', '--control-socket', sock]);
  return r.status === 0 ? JSON.parse(r.stdout) : undefined;
}

function routes(sock: string, prefix: string): { routes: { prefix: string; from: string; best: boolean }[] } | undefined {
  const r = run(process.execPath, [cli, 'routes', '--json', '--prefix', prefix, '--control-socket', sock]);
  return r.status === 0 ? JSON.parse(r.stdout) : undefined;
}

test('two speaker processes mesh from one file datastore and follow its changes', { timeout: 120_000 }, async () => {
  const dir = tempDir(c, 'cbgpd-speaker-');
  const port = await freePort(N1);
  const cluster = join(dir, 'cluster.yaml');
  writeFileSync(cluster, clusterYaml(port));
  const start = (node: string, addr: string) =>
    startProcess(c, process.execPath, [cli, 'speaker', '--node', node, '--datastore-file', cluster, '--listen-address', addr, '--control-socket', join(dir, `${node}.ctl`), '--hold-time', '9', '--no-kernel', '--bird-socket', '', '--bird6-socket', '']);
  const s1 = start('n1', N1);
  let s2 = start('n2', N2);
  const sock1 = join(dir, 'n1.ctl');

  await waitFor('n1 Established with n2', () => status(sock1)?.peers[0]?.state === 'Established', 30_000, 300).catch((e: Error) => {
    throw new Error(`${e.message}\nn1: ${s1.output().slice(-2000)}\nn2: ${s2.output().slice(-2000)}`);
  });
  assert.equal(status(sock1)!.peers[0]!.name, 'Mesh_127_0_41_2');
  await waitFor('n1 learns n2\'s block', () => routes(sock1, '198.51.100.64/26')?.routes.some((r) => r.from === 'Mesh_127_0_41_2'), 20_000, 300);

  // A new block for n2 in the datastore reaches n1 through n2's session.
  writeFileSync(
    cluster,
    clusterYaml(port, `---
apiVersion: crd.projectcalico.org/v1
kind: BlockAffinity
metadata: { name: n2-b }
spec: { node: n2, cidr: 198.51.100.128/26, state: confirmed, deleted: "false" }
`),
  );
  await waitFor('n1 learns n2\'s new block', () => routes(sock1, '198.51.100.128/26')?.routes.length === 1, 20_000, 300);

  // SIGTERM: graceful restart, no Cease; n1 keeps n2's routes while n2 is away.
  s2.child.kill('SIGTERM');
  await waitFor('n2 to exit', () => s2.child.exitCode !== null, 10_000, 100);
  await waitFor('n1 to notice', () => status(sock1)?.peers[0]?.state !== 'Established', 15_000, 300);
  assert.equal(routes(sock1, '198.51.100.64/26')?.routes.length, 1, 'stale route kept during graceful restart');

  s2 = start('n2', N2);
  await waitFor('session back', () => status(sock1)?.peers[0]?.state === 'Established', 30_000, 300);
  await waitFor('routes still there after End-of-RIB', () => routes(sock1, '198.51.100.128/26')?.routes.length === 1, 10_000, 300);

  // Operator commands through the control socket.
  const refresh = run(process.execPath, [cli, 'refresh', 'Mesh_127_0_41_2', '--control-socket', sock1]);
  assert.equal(refresh.status, 0, refresh.stderr);
  assert.match(refresh.stdout, /route refresh sent to Mesh_127_0_41_2/);
  assert.equal(status(sock1)?.peers[0]?.state, 'Established', 'a refresh keeps the session');
  const unknown = run(process.execPath, [cli, 'reset', 'Mesh_192_0_2_99', '--control-socket', sock1]);
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /no peer named Mesh_192_0_2_99/);
  // The control socket itself answers an error, not {"ok":true,"result":{"reset":0}}.
  await assert.rejects(ask(sock1, { cmd: 'reset', peer: 'Mesh_192_0_2_99' }), /no peer named Mesh_192_0_2_99/);
  const upSince = status(sock1)!.peers[0]!.since;
  const reset = run(process.execPath, [cli, 'reset', 'Mesh_127_0_41_2', '--control-socket', sock1]);
  assert.equal(reset.status, 0, reset.stderr);
  assert.match(reset.stdout, /^1 session reset$/m);
  await waitFor('a new session after the reset', () => {
    const p = status(sock1)?.peers[0];
    return p?.state === 'Established' && p.since !== upSince;
  }, 30_000, 300);
});

test('status explains that nothing is running', () => {
  const r = run(process.execPath, [cli, 'status', '--control-socket', '/nonexistent/bgpd.ctl']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /is `calico-bgpd speaker` running\?/);
});
