import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runModel, type ModelJson } from '../../src/commands/model.js';
import { setLogLevel } from '../../src/log.js';

setLogLevel('silent');

async function run(args: Parameters<typeof runModel>[0], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await runModel(args, env, (s) => (out += s));
  return { code, out };
}

test('model with no datastore configured shows the embedded example cluster', async () => {
  const { code, out } = await run({ node: 'node-b' });
  assert.equal(code, 0);
  assert.match(out, /router id {5}192\.0\.2\.11 \(node IPv4 address\)/);
  assert.match(out, /Mesh_192_0_2_10 +192\.0\.2\.10 +179 +64512\n/, 'node-a sorts before us: we connect');
  assert.match(out, /Mesh_192_0_2_12 +192\.0\.2\.12 +179 +64512 +passive/);
  assert.match(out, /Global_192_0_2_1 +192\.0\.2\.1 +179 +64500/);
  assert.match(out, /Mesh_2001_db8__c/);
  // Said loudly: an operator who forgot DATASTORE_TYPE must not mistake the example for their cluster.
  assert.match(out, /Problems \(1;.*\n  datastore: no datastore configured .*embedded example cluster .*examples\/cluster/);
});

test('model --json is the documented document; passwords are redacted unless asked for', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'model-cmd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'c.yaml'),
    `apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: n1}
spec: {bgp: {ipv4Address: 192.0.2.1/24}}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor}
spec:
  peerIP: 192.0.2.254
  asNumber: 65000
  password: {secretKeyRef: {name: bgp, key: tor}}
---
apiVersion: v1
kind: Secret
metadata: {name: bgp, namespace: kube-system}
stringData: {tor: hunter2}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: broken}
spec: {peerIP: not-an-ip, asNumber: 1}
`,
  );
  const { code, out } = await run({ json: true, node: 'n1', datastoreFile: [dir] });
  assert.equal(code, 0);
  const doc = JSON.parse(out) as ModelJson;
  assert.equal(doc.datastore.type, 'file');
  assert.equal(doc.datastore.status, 'in-sync');
  assert.equal(doc.model.nodeName, 'n1');
  const tor = doc.model.ipv4.peers.find((p) => p.name === 'Global_192_0_2_254')!;
  assert.equal(tor.password, '***');
  assert.ok(!out.includes('hunter2'));
  assert.equal(doc.problems.length, 1);
  assert.equal(doc.problems[0]!.resource, 'BGPPeer/broken');
  assert.equal(doc.problems[0]!.line, 19);

  const shown = await run({ json: true, node: 'n1', datastoreFile: [dir], showPasswords: true });
  assert.ok(shown.out.includes('hunter2'));

  const text = await run({ node: 'n1', datastoreFile: [dir] });
  assert.match(text.out, /Global_192_0_2_254 +192\.0\.2\.254 +179 +65000 +password/);
  assert.match(text.out, /c\.yaml:19: BGPPeer\/broken: peerIP "not-an-ip" is not an IP address/);
});

test('model reports a node that is not in the datastore, and bad configuration with exit 2', async () => {
  const { code, out } = await run({ node: 'nobody' });
  assert.equal(code, 0);
  assert.match(out, /Node\/nobody: this node is not in the datastore/);
  assert.equal((await run({ node: 'x' }, { DATASTORE_TYPE: 'zookeeper' })).code, 2);
  assert.equal((await run({ node: 'x', datastoreFile: ['/nonexistent/x.yaml'] })).code, 1);
});
