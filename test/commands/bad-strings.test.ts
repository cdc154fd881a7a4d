/**
 * One value BIRD cannot express costs only its own object, in both daemons:
 * a BGPPeer whose password (from a Secret) holds a double quote. confd still
 * renders and BIRD still accepts bird.cfg with every other peer; the speaker
 * lists that peer as down with the reason and brings the others up; `model`
 * names the object.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanup, freePort, run, startProcess, tempDir, waitFor } from '../support/process.js';
import { bgpConfiguration, node, yamlDocs } from '../support/cluster-yaml.js';

const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const c = cleanup();
after(() => c.run());

const N1 = '127.0.44.1';
const N2 = '127.0.44.2';

function cluster(port: number): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return yamlDocs(
    bgpConfiguration(port, true, 'ignoredInterfaces: ["eth9", "bad\\"if"]'),
    node('n1', N1),
    node('n2', N2),
    `apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: tor-bad }
spec: { peerIP: 198.51.100.7, asNumber: 65007, password: { secretKeyRef: { name: bgp, key: bad } } }
`,
    `apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: tor-good }
spec: { peerIP: 198.51.100.8, asNumber: 65008, password: { secretKeyRef: { name: bgp, key: good } } }
`,
    `apiVersion: v1
kind: Secret
metadata: { name: bgp, namespace: kube-system }
data: { bad: ${b64('say "hi"')}, good: ${b64('fine-secret')} }
`,
  );
}

test('confd renders every file with the other peers when one password holds a quote, and BIRD accepts bird.cfg', async () => {
  const dir = tempDir(c, 'cbgpd-badstr-');
  const file = join(dir, 'cluster.yaml');
  writeFileSync(file, cluster(179));
  const out = join(dir, 'out');
  const r = run(process.execPath, [cli, 'confd', '--onetime', '--node', 'n1', '--flavor', 'bird1', '--datastore-file', file, '--dest-dir', out, '--bird-socket', join(dir, 'b.ctl'), '--bird6-socket', join(dir, 'b6.ctl')], 60_000);
  assert.equal(r.status, 0, `confd --onetime failed:\n${r.stderr.slice(-3000)}`);
  const bird = readFileSync(join(out, 'bird.cfg'), 'utf8');
  assert.match(bird, /Mesh_127_0_44_2/);
  assert.match(bird, /Global_198_51_100_8/);
  assert.doesNotMatch(bird, /Global_198_51_100_7/);
  assert.doesNotMatch(bird, /bad"if/);
  for (const f of ['bird_aggr.cfg', 'bird_ipam.cfg', 'bird6.cfg']) assert.ok(existsSync(join(out, f)), f);
  assert.match(r.stderr, /tor-bad|198\.51\.100\.7/, 'the log names the object');
  assert.doesNotMatch(r.stderr + r.stdout, /say "hi"/, 'the password is never logged');

  const m = run(process.execPath, [cli, 'model', '--json', '--node', 'n1', '--datastore-file', file]);
  const problems = (JSON.parse(m.stdout) as { problems: Array<{ resource: string; message: string }> }).problems;
  assert.ok(problems.some((p) => /198\.51\.100\.7/.test(p.resource) && /double quote/.test(p.message)), JSON.stringify(problems));
  assert.ok(problems.some((p) => /ignored_interfaces/.test(p.resource)), JSON.stringify(problems));
});

test('the speaker keeps the peer with the bad password down with the reason and brings the others up', { timeout: 120_000 }, async () => {
  const dir = tempDir(c, 'cbgpd-badstr-');
  const port = await freePort(N1);
  const file = join(dir, 'cluster.yaml');
  writeFileSync(file, cluster(port));
  const start = (node: string, addr: string) =>
    startProcess(c, process.execPath, [cli, 'speaker', '--node', node, '--datastore-file', file, '--listen-address', addr, '--control-socket', join(dir, `${node}.ctl`), '--hold-time', '9', '--no-kernel', '--bird-socket', '', '--bird6-socket', '']);
  const s1 = start('n1', N1);
  start('n2', N2);
  type Status = { peers: Array<{ name: string; state: string; info: string }> };
  const status = (): Status | undefined => {
    const r = run(process.execPath, [cli, 'status', '--json', '--control-socket', join(dir, 'n1.ctl')]);
    return r.status === 0 ? (JSON.parse(r.stdout) as Status) : undefined;
  };
  const st = await waitFor('the mesh peer Established', () => {
    const s = status();
    return s?.peers.find((p) => p.name === 'Mesh_127_0_44_2')?.state === 'Established' ? s : undefined;
  }, 60_000, 250).catch((e: Error) => assert.fail(`${e.message}\n${s1.output().slice(-3000)}`));
  const bad = st.peers.find((p) => p.name === 'Global_198_51_100_7');
  assert.ok(bad, 'the peer is listed');
  assert.equal(bad.state, 'Idle');
  assert.match(bad.info, /not configured: the password contains a double quote/);
  const good = st.peers.find((p) => p.name === 'Global_198_51_100_8');
  assert.ok(good && !/not configured/.test(good.info), 'the other external peer is configured (it has nobody to talk to here)');
  assert.doesNotMatch(s1.output(), /say "hi"/);
});
