/**
 * Operating the daemons like calico-node: `health --ready|--live`, the
 * metrics endpoint (/metrics, /readiness, /liveness) of the speaker and of
 * confd, and cardinality: 100,000 routes add no series. Real processes on
 * loopback, a file datastore in a temp dir.
 */
import { connect } from 'node:net';
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanup, freePort, run, startProcess, tempDir, waitFor } from '../support/process.js';
import { httpGet, scrape, seriesOf, valueOf, type Sample } from '../support/prometheus.js';
import { MiniSpeaker } from '../support/mini-speaker.js';
import { meshedPair } from '../support/cluster-yaml.js';

const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const c = cleanup();
after(() => c.run());

function clusterYaml(port: number, n1: string, n2: string): string {
  return meshedPair(port, n1, n2);
}

function health(kind: 'ready' | 'live', sock: string): { status: number | null; line: string } {
  const r = run(process.execPath, [cli, 'health', `--${kind}`, '--control-socket', sock]);
  return { status: r.status, line: r.stdout.trim() };
}

/** Metrics of ours only: prom-client's process and runtime metrics come and go with GC kinds and handle types. */
function ours(samples: readonly Sample[]): Sample[] {
  return samples.filter((s) => !/^calico_bgpd_(process_|nodejs_)/.test(s.name));
}

test('the speaker reports health and metrics like calico-node, and a peer going down shows in both', { timeout: 120_000 }, async () => {
  const N1 = '127.0.44.1';
  const N2 = '127.0.44.2';
  const PEER = 'Mesh_127_0_44_2';
  const dir = tempDir(c, 'cbgpd-observe-');
  const port = await freePort(N1);
  const metricsPort = await freePort('127.0.0.1');
  const cluster = join(dir, 'cluster.yaml');
  writeFileSync(cluster, clusterYaml(port, N1, N2));
  const sock1 = join(dir, 'n1.ctl');
  const common = ['--datastore-file', cluster, '--hold-time', '9', '--no-kernel'];
  const s1 = startProcess(c, process.execPath, [cli, 'speaker', '--node', 'n1', '--listen-address', N1, '--control-socket', sock1, '--metrics-port', String(metricsPort), '--metrics-address', '127.0.0.1', ...common]);
  // n2 sends a Cease when it stops (no graceful restart): n1 counts that NOTIFICATION.
  const s2 = startProcess(c, process.execPath, [cli, 'speaker', '--node', 'n2', '--listen-address', N2, '--control-socket', join(dir, 'n2.ctl'), '--no-graceful-restart', ...common]);
  const url = `http://127.0.0.1:${metricsPort}`;

  const up = await waitFor('n1 established with n2 and holding its block', async () => {
    const m = await scrape(`${url}/metrics`);
    return valueOf(m, 'calico_bgpd_bgp_prefixes_accepted', { peer: PEER }) === 1 ? m : undefined;
  }, 60_000, 300).catch((e: Error) => assert.fail(`${e.message}\n${s1.output().slice(-2000)}`));
  const peerLabels = { peer: PEER, peer_type: 'mesh', afi: 'ipv4' };
  assert.equal(valueOf(up, 'calico_bgpd_bgp_session_up', peerLabels), 1);
  assert.equal(valueOf(up, 'calico_bgpd_bgp_session_state', peerLabels), 6);
  assert.ok((valueOf(up, 'calico_bgpd_bgp_session_established_timestamp_seconds', peerLabels) ?? 0) > 1.7e9);
  assert.equal(valueOf(up, 'calico_bgpd_bgp_prefixes_received', peerLabels), 1);
  assert.equal(valueOf(up, 'calico_bgpd_bgp_prefixes_advertised', peerLabels), 1, 'n1 advertises its own block');
  assert.equal(valueOf(up, 'calico_bgpd_bgp_messages_sent_total', { peer: PEER, type: 'OPEN' }), 1);
  assert.ok((valueOf(up, 'calico_bgpd_bgp_messages_received_total', { peer: PEER, type: 'UPDATE' }) ?? 0) >= 1);
  assert.equal(valueOf(up, 'calico_bgpd_rib_destinations', { afi: 'ipv4' }), 2);
  assert.equal(valueOf(up, 'calico_bgpd_datastore_in_sync'), 1);
  assert.ok(valueOf(up, 'calico_bgpd_process_cpu_seconds_total') !== undefined, 'prom-client process metrics');
  for (const s of ours(up)) assert.match(s.name, /^calico_bgpd_[a-z0-9_]+$/);
  assert.equal(valueOf(up, 'calico_bgpd_datastore_problems'), 0);
  assert.equal(valueOf(up, 'calico_bgpd_bgp_connections_refused_total'), 0);

  // A connection from an address that is no peer is refused and counted.
  const stranger = connect({ host: N1, port, localAddress: '127.0.44.9' });
  stranger.on('error', () => undefined);
  await waitFor('the refused connection counted', async () => (valueOf(await scrape(`${url}/metrics`), 'calico_bgpd_bgp_connections_refused_total') ?? 0) >= 1, 30_000, 200);
  stranger.destroy();

  const ready = health('ready', sock1);
  assert.deepEqual(ready, { status: 0, line: 'ready: all 1 BGP peers established' });
  assert.equal(health('live', sock1).status, 0);
  const probe = await httpGet(`${url}/readiness`);
  assert.deepEqual([probe.status, probe.body], [200, 'ready: all 1 BGP peers established\n']);
  assert.equal((await httpGet(`${url}/liveness`)).status, 200);

  s2.child.kill('SIGTERM');
  const down = await waitFor('n1 not ready once n2 is gone', () => {
    const h = health('ready', sock1);
    return h.status === 1 ? h : undefined;
  }, 30_000, 300);
  assert.match(down.line, /^not ready: BGP not established with 127\.0\.44\.2/);
  assert.equal((await httpGet(`${url}/readiness`)).status, 503);
  assert.equal(health('live', sock1).status, 0, 'a peer down does not make the speaker dead');
  const after = await scrape(`${url}/metrics`);
  assert.equal(valueOf(after, 'calico_bgpd_bgp_session_up', peerLabels), 0);
  assert.equal(valueOf(after, 'calico_bgpd_bgp_session_flaps_total', { peer: PEER }), 1);
  assert.equal(valueOf(after, 'calico_bgpd_bgp_notifications_received_total', { peer: PEER, code: '6' }), 1, 'the Cease of n2');
});

test('100,000 routes from a peer add no metric series', { timeout: 180_000 }, async () => {
  const N1 = '127.0.46.1';
  const N2 = '127.0.46.2';
  const dir = tempDir(c, 'cbgpd-observe-');
  const port = await freePort(N1);
  const metricsPort = await freePort('127.0.0.1');
  const cluster = join(dir, 'cluster.yaml');
  writeFileSync(cluster, clusterYaml(port, N1, N2));
  // n2 is a minimal speaker in this process, listening where n1 connects.
  const peer = new MiniSpeaker({
    name: 'n2', address: N1, port, passive: false, localAddress: N2, localAs: 64512, peerAs: 64512, routerId: N2,
    holdTime: 90, connectRetryTime: 5, capabilities: [{ code: 1, afi: 1, safi: 1 }],
  });
  await peer.listen(c, N2, port);
  peer.start(c);
  const s1 = startProcess(c, process.execPath, [cli, 'speaker', '--node', 'n1', '--listen-address', N1, '--control-socket', join(dir, 'n1.ctl'), '--metrics-port', String(metricsPort), '--metrics-address', '127.0.0.1', '--datastore-file', cluster, '--no-kernel']);
  const url = `http://127.0.0.1:${metricsPort}/metrics`;
  await waitFor('session up', () => peer.neighbor.state === 'Established', 60_000, 100).catch((e: Error) => assert.fail(`${e.message}\n${s1.output().slice(-2000)}`));
  const before = seriesOf(ours(await scrape(url)));

  const prefixes: string[] = [];
  for (let i = 0; i < 100_000; i++) prefixes.push(`${10 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`);
  peer.announce(prefixes, { origin: 0, asPath: [], nextHop: N2, localPref: 100 } as never);
  const loaded = await waitFor('100,000 routes accepted', async () => {
    const m = await scrape(url);
    return valueOf(m, 'calico_bgpd_bgp_prefixes_accepted', { peer: 'Mesh_127_0_46_2' }) === 100_000 ? m : undefined;
  }, 120_000, 500);
  assert.equal(valueOf(loaded, 'calico_bgpd_rib_destinations', { afi: 'ipv4' }), 100_001, 'the peer\'s routes and n1\'s own block');
  assert.deepEqual([...seriesOf(ours(loaded))].sort(), [...before].sort(), 'the same series before and after');
});

test('confd reports readiness (in sync, checked, loaded) and its metrics; a failed check makes it not ready', { timeout: 120_000 }, async () => {
  const dir = tempDir(c, 'cbgpd-observe-confd-');
  const cluster = join(dir, 'cluster.yaml');
  writeFileSync(cluster, clusterYaml(179, '127.0.47.1', '127.0.47.2'));
  const start = (name: string, check: string) => {
    const metricsPort = freePort('127.0.0.1');
    return metricsPort.then((mp) => {
      const sock = join(dir, `${name}.ctl`);
      const p = startProcess(c, process.execPath, [cli, 'confd', '--node', 'n1', '--datastore-file', cluster, '--flavor', 'bird1', '--dest-dir', join(dir, name),
        '--bird-socket', join(dir, `${name}-bird.ctl`), '--bird6-socket', join(dir, `${name}-bird6.ctl`), '--check-cmd', check, '--check6-cmd', check,
        '--control-socket', sock, '--metrics-port', String(mp), '--metrics-address', '127.0.0.1']);
      return { p, sock, url: `http://127.0.0.1:${mp}` };
    });
  };
  const good = await start('good', '');
  const ok = await waitFor('confd ready', () => {
    const h = health('ready', good.sock);
    return h.status === 0 ? h : undefined;
  }, 60_000, 300).catch((e: Error) => assert.fail(`${e.message}\n${good.p.output().slice(-2000)}`));
  assert.match(ok.line, /^ready: in sync with the datastore; \d+ file\(s\) current, checked and loaded$/);
  assert.equal(health('live', good.sock).status, 0);
  const m = await scrape(`${good.url}/metrics`);
  assert.ok((valueOf(m, 'calico_bgpd_confd_renders_total') ?? 0) >= 2);
  assert.ok((valueOf(m, 'calico_bgpd_confd_writes_total') ?? 0) >= 2);
  assert.equal(valueOf(m, 'calico_bgpd_confd_check_failures_total'), 0);
  assert.equal(valueOf(m, 'calico_bgpd_confd_ready'), 1);
  assert.equal(valueOf(m, 'calico_bgpd_datastore_in_sync'), 1);
  assert.equal((await httpGet(`${good.url}/readiness`)).status, 200);

  const bad = await start('bad', 'false');
  const refused = await waitFor('confd not ready after a failed check', async () => {
    const h = health('ready', bad.sock);
    const samples = await scrape(`${bad.url}/metrics`);
    return h.status === 1 && (valueOf(samples, 'calico_bgpd_confd_check_failures_total') ?? 0) >= 1 ? h : undefined;
  }, 60_000, 300).catch((e: Error) => assert.fail(`${e.message}\n${bad.p.output().slice(-2000)}`));
  assert.match(refused.line, /^not ready: check failed for /);
  const probe = await httpGet(`${bad.url}/readiness`);
  assert.equal(probe.status, 503);
  assert.match(probe.body, /check failed/);
});

test('exit codes: 0 ok, 1 failure, 2 usage; --version is the package version', () => {
  const pkg = run(process.execPath, ['-e', `process.stdout.write(require(${JSON.stringify(fileURLToPath(new URL('../../../package.json', import.meta.url)))}).version)`]);
  const v = run(process.execPath, [cli, '--version']);
  assert.deepEqual([v.status, v.stdout.trim()], [0, pkg.stdout]);
  assert.equal(run(process.execPath, [cli, '--no-such-option']).status, 2);
  assert.equal(run(process.execPath, [cli, 'no-such-command']).status, 2);
  assert.equal(run(process.execPath, [cli, 'health']).status, 2, 'neither --ready nor --live');
  assert.equal(run(process.execPath, [cli, 'speaker', '--metrics-port', 'many', '--control-socket', '/nonexistent/x.ctl']).status, 2);
  assert.equal(run(process.execPath, [cli, 'confd', '--metrics-port', '99999']).status, 2);
  assert.equal(run(process.execPath, [cli, '--log-format', 'xml', 'model']).status, 2);
  const unreachable = run(process.execPath, [cli, 'health', '--live', '--control-socket', '/nonexistent/bgpd.ctl']);
  assert.equal(unreachable.status, 1);
  assert.match(unreachable.stdout, /^not live: cannot reach calico-bgpd at \/nonexistent\/bgpd\.ctl/);
});

/** The environment without any datastore variable (the embedded example cluster applies). */
function envWithoutDatastore(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(CALICO_)?(DATASTORE_TYPE|DATASTORE_FILE|ETCD_ENDPOINTS|KUBECONFIG|K8S_API_ENDPOINT|NODENAME|CALICO_BGPD_LOG_FORMAT)$/.test(k)) env[k] = v;
  return { ...env, ...extra };
}

test('log lines are JSON when stderr is not a terminal, and one readable line each with --log-format text or CALICO_BGPD_LOG_FORMAT', { timeout: 60_000 }, async () => {
  const dir = tempDir(c, 'cbgpd-observe-log-');
  const cluster = join(dir, 'cluster.yaml');
  writeFileSync(cluster, clusterYaml(179, '127.0.48.1', '127.0.48.2'));
  // One control socket each: two processes racing for one socket path could stop the second before it logs.
  const args = (name: string, extra: string[]) => [cli, ...extra, 'speaker', '--node', 'nobody', '--datastore-file', cluster, '--no-kernel', '--bird-socket', '', '--bird6-socket', '', '--control-socket', join(dir, `${name}.ctl`)];
  const missing = /not in the datastore/;
  const json = startProcess(c, process.execPath, args('json', []), { env: envWithoutDatastore() });
  const text = startProcess(c, process.execPath, args('text', ['--log-format', 'text']), { env: envWithoutDatastore() });
  const fromEnv = startProcess(c, process.execPath, args('env', []), { env: envWithoutDatastore({ CALICO_BGPD_LOG_FORMAT: 'text' }) });
  for (const p of [json, text, fromEnv]) {
    await waitFor('the missing-node warning', () => missing.test(p.output()), 30_000, 100).catch((e: Error) => assert.fail(`${e.message}\n${p.output().slice(-2000)}`));
  }
  const jsonLine = json.output().split('\n').find((l) => missing.test(l))!;
  const rec = JSON.parse(jsonLine) as { level: number; component: string; time: number };
  assert.deepEqual([rec.level, rec.component, typeof rec.time], [40, 'speaker', 'number']);
  for (const p of [text, fromEnv]) {
    const line = p.output().split('\n').find((l) => missing.test(l))!;
    assert.match(line, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} WARN  speaker: .*node nobody is not in the datastore/);
    assert.ok(!p.output().includes('{"level"'), 'no JSON in text mode');
  }
});

test('misconfiguration is said at start and listed by model and status: example cluster, missing node, bad YAML', { timeout: 60_000 }, async () => {
  const dir = tempDir(c, 'cbgpd-observe-misconf-');
  // No datastore configured: the embedded example cluster, said loudly.
  const modelEnvFree = spawnModel(envWithoutDatastore());
  assert.equal(modelEnvFree.status, 0, modelEnvFree.stderr);
  assert.match(modelEnvFree.stdout, /no datastore configured .*embedded example cluster/);
  assert.match(modelEnvFree.stdout, /Node\/no-such-node: this node is not in the datastore/);
  const confd = runIn(envWithoutDatastore(), [cli, 'confd', '--onetime', '--node', 'node-a', '--flavor', 'bird1', '--dest-dir', join(dir, 'out'), '--check-cmd', '', '--check6-cmd', '',
    '--bird-socket', join(dir, 'b.ctl'), '--bird6-socket', join(dir, 'b6.ctl')]);
  assert.match(confd.stderr, /no datastore configured .*embedded example cluster/);

  // A datastore file that is not YAML is dropped, warned about, and listed by status.
  const data = join(dir, 'data');
  run('mkdir', [data]);
  writeFileSync(join(data, 'cluster.yaml'), clusterYaml(179, '127.0.49.1', '127.0.49.2'));
  writeFileSync(join(data, 'broken.yaml'), 'kind: Node\nmetadata: { name: [unclosed\n');
  const sock = join(dir, 'n1.ctl');
  const s1 = startProcess(c, process.execPath, [cli, 'speaker', '--node', 'n1', '--datastore-file', data, '--no-kernel', '--listen-address', '127.0.49.1', '--listen-port', String(await freePort('127.0.49.1')), '--control-socket', sock], { env: envWithoutDatastore() });
  const status = await waitFor('status with warnings', () => {
    const r = run(process.execPath, [cli, 'status', '--json', '--control-socket', sock]);
    return r.status === 0 ? (JSON.parse(r.stdout) as { warnings: string[] }) : undefined;
  }, 30_000, 200).catch((e: Error) => assert.fail(`${e.message}\n${s1.output().slice(-2000)}`));
  assert.equal(status.warnings.length, 1, status.warnings.join('\n'));
  assert.match(status.warnings[0]!, /broken\.yaml:\d+: .*invalid YAML/);
  await waitFor('the bad file warned about in the log', () => /invalid YAML/.test(s1.output()), 10_000, 50);
  const text = run(process.execPath, [cli, 'status', '--control-socket', sock]);
  assert.match(text.stdout, /Warnings:\n {2}.*broken\.yaml/);
});

function runIn(env: NodeJS.ProcessEnv, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { env, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function spawnModel(env: NodeJS.ProcessEnv): { status: number | null; stdout: string; stderr: string } {
  return runIn(env, [cli, 'model', '--node', 'no-such-node']);
}
