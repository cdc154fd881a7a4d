/**
 * The container image (scripts/build-image.sh -> localhost/calico-bgpd:dev)
 * run as the Kubernetes manifests run it, with `buildah run --isolation
 * chroot` inside network namespaces of one lab LAN (192.0.2.0/24):
 *
 *   n1  the image's `speaker`, uid 0 with exactly NET_ADMIN and
 *       NET_BIND_SERVICE (native mode's capabilities): port 179, kernel
 *       routes, a TCP-MD5 + GTSM session;
 *   n2  the image's `confd` (no capability at all, BIRD mode's sidecar)
 *       rendering into a directory it shares with a stock BIRD 1.6 on the
 *       host side, which loads those files and is reloaded by confd;
 *   n3  an external BIRD peer of n1 and n4 with a password and ttl
 *       security, announcing 203.0.113.0/24;
 *   n4  the image's `speaker --role reflector` with NET_BIND_SERVICE only
 *       (the reflector's capability): TCP-MD5 and GTSM need no NET_ADMIN,
 *       and a reflector programs no kernel route.
 *
 * n1 and n2 form Calico's node-to-node mesh from one YAML datastore file:
 * each kernel gets the other's block from the other daemon. The test builds
 * the image itself (the base image is reused when present).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { birdBinaries, birdConfig } from '../support/daemons/bird.js';
import { type Lab, type LabProcess, type PeerStatus, clusterLab, control, netnsAvailable, peerName, until } from '../cluster/lab.js';
import { LAB_MESH_CONFIG, labPool } from '../support/cluster-yaml.js';

const BIRD = birdBinaries('bird1')!;
const skip = !netnsAvailable() || !existsSync(BIRD.bird) ? 'needs root, ip netns and BIRD 1.6' : false;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * buildah 1.28 ignores --cap-add after --cap-drop ALL (and a capability
 * both dropped and added stays dropped), so its default set is dropped by
 * name. Native mode keeps NET_BIND_SERVICE (port 179) and adds NET_ADMIN
 * (kernel routes); BIRD mode's confd keeps nothing.
 */
const BUILDAH_DEFAULT_CAPS = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'SYS_CHROOT', 'SETFCAP'];
const drop = (caps: string[]) => caps.flatMap((c) => ['--cap-drop', `CAP_${c}`]);
const NATIVE_CAPS = [...drop(BUILDAH_DEFAULT_CAPS), '--cap-add', 'CAP_NET_ADMIN'];
const NO_CAPS = drop([...BUILDAH_DEFAULT_CAPS, 'NET_BIND_SERVICE']);
const REFLECTOR_CAPS = drop(BUILDAH_DEFAULT_CAPS);

const BLOCK = { 1: '198.51.100.0/26', 2: '198.51.100.64/26' } as const;
const EXTERNAL = '203.0.113.0/24';

function clusterYaml(): string {
  const docs = [
    LAB_MESH_CONFIG,
    labPool(),
    `apiVersion: v1
kind: Secret
metadata: { name: bgp-password, namespace: kube-system }
stringData: { password: image-test-secret }`,
    `apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: external }
spec:
  node: n1
  peerIP: 192.0.2.3
  asNumber: 64513
  ttlSecurity: 1
  password: { secretKeyRef: { name: bgp-password, key: password } }`,
    `apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: external-rr }
spec:
  node: n4
  peerIP: 192.0.2.3
  asNumber: 64513
  ttlSecurity: 1
  password: { secretKeyRef: { name: bgp-password, key: password } }`,
    `apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: n4 }
spec: { bgp: { ipv4Address: 192.0.2.4/24, routeReflectorClusterID: 244.0.0.1 } }`,
  ];
  for (const i of [1, 2] as const) {
    docs.push(`apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: n${i} }
spec: { bgp: { ipv4Address: 192.0.2.${i}/24 } }`);
    docs.push(`apiVersion: crd.projectcalico.org/v1
kind: BlockAffinity
metadata: { name: n${i}-block }
spec: { node: n${i}, cidr: '${BLOCK[i]}', state: confirmed, deleted: "false" }`);
  }
  return docs.join('\n---\n') + '\n';
}

let image = '';
let buildLog = '';
let lab: Lab | undefined;
const containers: string[] = [];
const procs = new Map<string, LabProcess>();

/** Runs the image build script (bounded); the image name is its last line. */
function buildImage(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [join(ROOT, 'scripts', 'build-image.sh')], { cwd: ROOT, timeout: 15 * 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      buildLog = stderr.slice(-4000);
      if (err) return reject(new Error(`build-image.sh failed: ${err.message}\n${buildLog}`));
      resolve(stdout.trim().split('\n').pop() ?? '');
    });
  });
}

/** A working container of the image (removed after the tests). */
function container(name: string): string {
  const ctr = `cbgpd-img-${process.pid}-${name}`;
  const r = spawnSync('buildah', ['from', '--name', ctr, image], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`buildah from: ${r.stderr}`);
  containers.push(ctr);
  return ctr;
}

/** `buildah run` of the image in a lab host's namespace, the lab dir mounted at /lab. */
function runImage(host: string, caps: string[], args: string[]): LabProcess {
  const ctr = container(host);
  const p = lab!.spawn(host, 'buildah', ['run', '--isolation', 'chroot', '--user', '0:0', ...caps, '-v', `${lab!.dir}:/lab`, ctr, '--', 'calico-bgpd', ...args]);
  procs.set(host, p);
  return p;
}

/** PIDs of the processes in a lab host's namespace. */
function pidsIn(host: string): number[] {
  return spawnSync('ip', ['netns', 'pids', lab!.ns(host)], { encoding: 'utf8' }).stdout.split('\n').filter((s) => /^\d+$/.test(s)).map(Number);
}

/** Effective capabilities and uid of the image's node process in a host's namespace (from /proc). */
function daemonCreds(host: string): { capEff: bigint; uid: number } | undefined {
  for (const pid of pidsIn(host)) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'node') continue;
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const cap = /^CapEff:\s+([0-9a-f]+)$/m.exec(status)?.[1];
      const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
      if (cap !== undefined && uid !== undefined) return { capEff: BigInt(`0x${cap}`), uid: Number(uid) };
    } catch {
      // exited meanwhile
    }
  }
  return undefined;
}

const CAP_NET_BIND_SERVICE = 1n << 10n;
const CAP_NET_ADMIN = 1n << 12n;

before(async () => {
  if (skip) return;
  image = await buildImage();
  lab = clusterLab();
});

after(async () => {
  if (lab) {
    // buildah's chroot child outlives a killed buildah: end what runs in our namespaces by PID.
    for (const h of lab.hosts.keys()) {
      for (const pid of pidsIn(h)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone already
        }
      }
    }
    await lab.destroy();
  }
  for (const ctr of containers) spawnSync('buildah', ['rm', ctr], { timeout: 60_000 });
});

function explain(): string {
  const out = [...procs.entries()].map(([k, p]) => `${k}: ${p.output().slice(-1500)}`).join('\n');
  const kernels = [1, 2, 4].map((i) => `n${i} ${JSON.stringify(lab!.routes(`n${i}`))}`).join('\n');
  const birdc = (sock: string) => spawnSync(BIRD.birdc, ['-s', sock, 'show', 'protocols'], { encoding: 'utf8', timeout: 5000 }).stdout ?? '';
  return `${out}\n${kernels}\nn2 BIRD:\n${birdc(join(lab!.dir, 'n2', 'bird.ctl'))}\nn3 BIRD:\n${birdc(join(lab!.dir, 'n3.ctl'))}`;
}

test('the image: speaker, reflector and confd with their modes\' capabilities, against BIRD in namespaces', { skip, timeout: 20 * 60_000 }, async (t) => {
  assert.equal(image, 'localhost/calico-bgpd:dev');
  const size = spawnSync('buildah', ['images', '--format', '{{.Size}}', image], { encoding: 'utf8' }).stdout.trim();
  t.diagnostic(`image ${image}, ${size}`);
  const file = join(lab!.dir, 'cluster.yaml');
  lab!.writeAtomic(file, clusterYaml());
  for (const i of [1, 2, 3, 4]) lab!.addHost(`n${i}`, i);

  // n3: the external peer, MD5 + GTSM, eBGP.
  const n3conf = join(lab!.dir, 'n3.conf');
  writeFileSync(
    n3conf,
    birdConfig({
      as: 64513,
      routerId: '192.0.2.3',
      address: '192.0.2.3',
      port: 179,
      statics: [{ name: 'ext', routes: [EXTERNAL] }],
      neighbors: ['n1', 'n4'].map((name) => ({
        name,
        address: `192.0.2.${name.slice(1)}`,
        peerAs: 64512,
        password: 'image-test-secret',
        ttlSecurity: true,
        export: 'where source = RTS_STATIC',
      })),
    }),
  );
  procs.set('n3', lab!.spawn('n3', BIRD.bird, ['-f', '-c', n3conf, '-s', join(lab!.dir, 'n3.ctl')]));

  // n1: the image's speaker, as the native-mode sidecar runs it.
  const sock1 = join(lab!.dir, 'n1.ctl');
  runImage('n1', NATIVE_CAPS, ['speaker', '--node', 'n1', '--datastore-file', '/lab/cluster.yaml', '--control-socket', '/lab/n1.ctl', '--hold-time', '9']);

  // n4: the image's route reflector, as the reflector DaemonSet runs it.
  const sock4 = join(lab!.dir, 'n4.ctl');
  runImage('n4', REFLECTOR_CAPS, ['speaker', '--role', 'reflector', '--node', 'n4', '--datastore-file', '/lab/cluster.yaml', '--control-socket', '/lab/n4.ctl', '--hold-time', '9']);

  // n2: the image's confd (no capability) rendering for a BIRD that shares the directory.
  const dir2 = join(lab!.dir, 'n2');
  mkdirSync(dir2);
  runImage('n2', NO_CAPS, ['confd', '--flavor', 'bird1', '--node', 'n2', '--datastore-file', '/lab/cluster.yaml', '--dest-dir', '/lab/n2', '--bird-socket', '/lab/n2/bird.ctl', '--bird6-socket', '/lab/n2/bird6.ctl', '--check-cmd', '', '--check6-cmd', '']);
  await until('confd in the image rendered bird.cfg', 120_000, () => existsSync(join(dir2, 'bird.cfg')) && existsSync(join(dir2, 'bird_ipam.cfg')) && existsSync(join(dir2, 'bird_aggr.cfg')), explain);
  procs.set('n2-bird', lab!.spawn('n2', BIRD.bird, ['-f', '-c', join(dir2, 'bird.cfg'), '-s', join(dir2, 'bird.ctl')]));

  await t.test('the speaker in the image peers with BIRD (mesh) and with the MD5 + GTSM external peer', async () => {
    const status = (): PeerStatus[] => control<{ peers: PeerStatus[] }>(sock1, ['status'])?.peers ?? [];
    await until('n1 Established with n2 and n3', 120_000, () => {
      const ps = status();
      return ps.some((p) => p.name === peerName('Mesh', '192.0.2.2') && p.state === 'Established') && ps.some((p) => p.address === '192.0.2.3' && p.state === 'Established');
    }, explain);
  });

  await t.test('the reflector in the image, with NET_BIND_SERVICE only, peers over TCP-MD5 + GTSM and learns the external route', async () => {
    const status = (): PeerStatus[] => control<{ peers: PeerStatus[] }>(sock4, ['status'])?.peers ?? [];
    await until('n4 Established with n3', 120_000, () => status().some((p) => p.address === '192.0.2.3' && p.state === 'Established'), explain);
    const routes = (): { prefix: string }[] => control<{ routes: { prefix: string }[] }>(sock4, ['routes'])?.routes ?? [];
    await until('n4 holds the external route', 60_000, () => routes().some((r) => r.prefix === EXTERNAL), explain);
  });

  await t.test('the daemons ran as the manifests run them: uid 0, native mode with NET_ADMIN + NET_BIND_SERVICE, the reflector NET_BIND_SERVICE, confd none', () => {
    assert.deepEqual(daemonCreds('n1'), { capEff: CAP_NET_ADMIN | CAP_NET_BIND_SERVICE, uid: 0 });
    assert.deepEqual(daemonCreds('n4'), { capEff: CAP_NET_BIND_SERVICE, uid: 0 });
    assert.deepEqual(daemonCreds('n2'), { capEff: 0n, uid: 0 });
  });

  await t.test('routes are exchanged: each kernel holds the other node\'s block, n1 the external route', async () => {
    const has = (i: number, dst: string, gw: string): boolean => lab!.routes(`n${i}`).some((r) => r.dst === dst && r.gateway === gw);
    await until('n1 kernel: n2 block and external route (protocol 201)', 60_000, () => has(1, BLOCK[2], '192.0.2.2') && has(1, EXTERNAL, '192.0.2.3'), explain);
    await until('n2 kernel: n1 block via BIRD', 60_000, () => has(2, BLOCK[1], '192.0.2.1'), explain);
    assert.ok(lab!.routes('n1', '201').some((r) => r.dst === BLOCK[2]), 'installed by our speaker (protocol 201)');
    assert.ok(lab!.routes('n2', 'bird').some((r) => r.dst === BLOCK[1]), 'installed by BIRD from the files our confd rendered');
    assert.deepEqual(lab!.routes('n4', '201'), [], 'a reflector programs no kernel route');
  });

  await t.test('a datastore change is rendered by the image\'s confd and loaded by BIRD', async () => {
    const extra = '198.51.100.128/26';
    lab!.writeAtomic(file, clusterYaml() + `---
apiVersion: crd.projectcalico.org/v1
kind: BlockAffinity
metadata: { name: n2-block-2 }
spec: { node: n2, cidr: '${extra}', state: confirmed, deleted: "false" }
`);
    await until('the new n2 block reaches n1 through BIRD', 60_000, () => lab!.routes('n1').some((r) => r.dst === extra && r.gateway === '192.0.2.2'), explain);
  });
});
