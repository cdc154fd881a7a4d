/**
 * The write path against real BIRD 1.6 (no network: `bird -p` parses, and a
 * BIRD with only a `device` protocol answers `configure` on a private
 * socket), and conf.d TOML resources.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { birdCommand, birdConfigure } from '../../src/confd/bird-control.js';
import { flavorFiles, renderFile } from '../../src/confd/render.js';
import { defaultResources, keyMatches, loadConfDir, parseTomlSubset, type TemplateResource } from '../../src/confd/resources.js';
import { writeBatch } from '../../src/confd/writer.js';
import { buildNodeBgpConfig } from '../../src/model/build.js';
import { waitFor } from '../support/etcd.js';

const dirs: string[] = [];
const procs: ChildProcess[] = [];
after(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'bgpd-write-'));
  dirs.push(d);
  return d;
}

const keys = new Map<string, string>([
  ['/calico/bgp/v1/host/a/ip_addr_v4', '192.0.2.1'],
  ['/calico/bgp/v1/host/b/ip_addr_v4', '192.0.2.2'],
  ['/calico/v1/ipam/v4/pool/198.51.100.0-24', '{"cidr":"198.51.100.0/24","ipip_mode":"never"}'],
  ['/calico/ipam/v2/host/a/ipv4/block/198.51.100.0-26', '{"state":"confirmed"}'],
]);
const model = buildNodeBgpConfig(keys, 'a').config;

function resources(dir: string): TemplateResource[] {
  return defaultResources(flavorFiles('bird1'), { flavor: 'bird1', nodeName: 'a', configDir: dir, birdSocket: join(dir, 'none.ctl'), bird6Socket: join(dir, 'none6.ctl') });
}

test('bird1 files pass `bird -p` on their staged copies and are installed with mode 0644', async () => {
  const dir = tmp();
  const rs = resources(dir);
  const res = await writeBatch(rs.map((r) => ({ resource: r, content: renderFile(r.file, 'bird1', model) })), { allResources: rs });
  assert.deepEqual(res.checkFailures, []);
  assert.equal(res.written.length, 6);
  assert.deepEqual(readdirSync(dir).sort(), ['bird.cfg', 'bird6.cfg', 'bird6_aggr.cfg', 'bird6_ipam.cfg', 'bird_aggr.cfg', 'bird_ipam.cfg']);
  for (const n of readdirSync(dir)) assert.equal(statSync(join(dir, n)).mode & 0o777, 0o644);
  // BIRD is not running: one configure per daemon, both "not running".
  assert.deepEqual(res.reloads.map((r) => [r.ok, r.notRunning]), [[false, true], [false, true]]);
  // Same bytes again: nothing to do at all.
  const again = await writeBatch(rs.map((r) => ({ resource: r, content: renderFile(r.file, 'bird1', model) })), { allResources: rs });
  assert.equal(again.changed.length, 0);
  assert.equal(again.reloads.length, 0);
});

test('a broken include fails the check of the main file that includes it; nothing is installed', async () => {
  const dir = tmp();
  const rs = resources(dir);
  await writeBatch(rs.map((r) => ({ resource: r, content: renderFile(r.file, 'bird1', model) })), { allResources: rs });
  const aggr = rs.find((r) => r.file === 'bird_aggr.cfg')!;
  const before = readFileSync(aggr.dest, 'utf8');
  const res = await writeBatch([{ resource: aggr, content: 'protocol static { route 198.51.100.0/26 nonsense; }\n' }], { allResources: rs });
  assert.equal(res.checkFailures.length, 1);
  assert.equal(res.checkFailures[0]!.resource.file, 'bird.cfg', 'the main file was checked with the staged include');
  assert.match(res.checkFailures[0]!.output, /bird_aggr\.cfg/);
  assert.equal(readFileSync(aggr.dest, 'utf8'), before, 'live include unchanged');
  assert.deepEqual(res.written, []);
  assert.deepEqual(res.reloads, []);
  assert.ok(!readdirSync(dir).some((n) => n.startsWith('.')), 'stage directory removed');
});

test('--noop never touches the destination; --keep-stage-file keeps a copy of what was staged', async () => {
  const dir = join(tmp(), 'not-yet');
  const rs = resources(dir);
  const res = await writeBatch(rs.map((r) => ({ resource: r, content: renderFile(r.file, 'bird1', model) })), { allResources: rs, noop: true });
  assert.equal(res.changed.length, 6);
  assert.deepEqual(res.checkFailures, []);
  assert.equal(existsSync(dir), false);
  const kept = await writeBatch(rs.map((r) => ({ resource: r, content: renderFile(r.file, 'bird1', model) })), { allResources: rs, keepStageFile: true, syncOnly: true });
  assert.equal(kept.written.length, 6);
  const stage = readdirSync(dir).find((n) => n.startsWith('.calico-bgpd-stage-'));
  assert.ok(stage !== undefined);
  assert.ok(existsSync(join(dir, stage, 'bird.cfg')));
});

test('configure through the control socket: BIRD keeps its PID; a rejected file is reported with BIRD\'s message', async () => {
  const dir = tmp();
  const cfg = join(dir, 'bird.cfg');
  const sock = join(dir, 'bird.ctl');
  // Only a device protocol: this BIRD touches neither the kernel table nor the network.
  writeFileSync(cfg, 'router id 192.0.2.9;\nprotocol device {}\n');
  const bird = spawn('/usr/sbin/bird', ['-f', '-c', cfg, '-s', sock], { stdio: 'ignore' });
  procs.push(bird);
  await waitFor(() => existsSync(sock), 'BIRD control socket', 5000);
  const ok = await birdConfigure(sock);
  assert.deepEqual(ok, { ok: true, message: `Reading configuration from ${cfg}\nReconfigured`, notRunning: false });
  writeFileSync(cfg, 'router id 192.0.2.9;\nprotocol device { nonsense; }\n');
  const bad = await birdConfigure(sock);
  assert.equal(bad.ok, false);
  assert.match(bad.message, /syntax error/);
  assert.equal(bird.exitCode, null, 'still running');
  const status = await birdCommand(sock, 'show status');
  assert.ok(status.lines.some((l) => /Daemon is up and running/.test(l)));
  bird.kill('SIGTERM');
  assert.equal((await birdConfigure(join(dir, 'missing.ctl'))).notRunning, true);
});

test('conf.d TOML: confd\'s fields, //NODENAME, {{.src}}, and clear errors', () => {
  const dir = tmp();
  mkdirSync(join(dir, 'conf.d'));
  writeFileSync(
    join(dir, 'conf.d', 'bird_aggr.toml'),
    [
      '[template]',
      'src = "bird_aggr.cfg.template"',
      'dest = "/etc/calico/confd/config/bird_aggr.cfg"',
      'prefix = "/calico/"',
      'keys = [',
      '    "/bgp/v1/host",  # comment',
      '    "/ipam/v2/host//NODENAME/ipv4/block",',
      ']',
      'mode = "0640"',
      "check_cmd = 'bird -p -c {{.src}}'",
      'reload_cmd = "sv hup bird || true"',
      '',
    ].join('\n'),
  );
  const [r] = loadConfDir(dir, flavorFiles('bird1'), 'node-1');
  assert.equal(r!.file, 'bird_aggr.cfg');
  assert.deepEqual(r!.keys, ['/calico/bgp/v1/host', '/calico/ipam/v2/host/node-1/ipv4/block']);
  assert.equal(r!.mode, 0o640);
  assert.equal(r!.reloadCmd, 'sv hup bird || true');
  assert.equal(r!.reloadBirdSocket, null);
  assert.throws(() => parseTomlSubset('[template]\nsrc = 12x\n', 'x.toml'), /x\.toml:2:/);
  writeFileSync(join(dir, 'conf.d', 'zz.toml'), '[template]\nsrc = "felix.cfg"\ndest = "/x"\nkeys = ["/a"]\n');
  assert.throws(() => loadConfDir(dir, flavorFiles('bird1'), 'n'), /not a template of this flavor/);
  assert.equal(keyMatches('/calico/staticroutesv6/x', '/calico/staticroutes'), false);
  assert.equal(keyMatches('/calico/bgp/v1/host/node-10/ip_addr_v4', '/calico/bgp/v1/host/node-1'), false);
  assert.equal(keyMatches('/calico/bgp/v1/host/node-1/ip_addr_v4', '/calico/bgp/v1/host/node-1'), true);
});
