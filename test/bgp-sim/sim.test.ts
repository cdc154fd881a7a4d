/**
 * The Calico cluster simulation at CI size (issue 14 section 1): 200
 * simulated nodes x 2 blocks around 2 reflectors, for our
 * `speaker --role reflector` and for BIRD 2 configured by our confd, through
 * every phase (sessions, convergence, churn, a graceful restart of each
 * reflector). Correctness only: after every phase every node holds exactly
 * the other nodes' live blocks, each with its owner's next hop. The
 * simulation checks that itself (a full scan per phase) and reports the
 * counts, which this test asserts; no timing is asserted.
 *
 * A second, smaller run has the nodes listen and answer our reflectors'
 * dials (--listen on), and checks that every node's session came back to
 * each restarted reflector.
 *
 * A third is a dual-stack cluster (`--ipv6`): 30 nodes that
 * also announce IPv6 /122 blocks over IPv6 sessions, for our reflector,
 * BIRD 2 and BIRD 1.6 (bird and bird6), each node ending with every other
 * node's IPv4 and IPv6 blocks and their IPv6 next hops.
 *
 * The simulation runs as its own process in a namespace it creates and
 * deletes; the test stops it by its pid if it outlives its bound, and sweeps
 * namespaces its pid prefix left behind.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { netnsAvailable, sweepStaleNamespaces } from '../support/netns.js';
import { bird1Binaries, bird2Binary } from '../support/bird.js';
import type { SimResult } from './sim-run.js';

const SIM = fileURLToPath(new URL('./sim.js', import.meta.url));
const bird2 = bird2Binary();
const skip = !netnsAvailable() ? 'needs root and ip netns' : bird2 === null || !existsSync(bird2) ? 'needs BIRD 2 (scripts/install-bird2.sh)' : false;
const skip6 = skip !== false ? skip : bird1Binaries() === null ? 'needs BIRD 1.6 (bird and bird6)' : false;

let child: ChildProcess | undefined;

after(() => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null && child.pid !== undefined) child.kill('SIGTERM');
  sweepStaleNamespaces('cbsim');
});

interface SimOutput {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runSim(args: string[], timeoutMs: number): Promise<SimOutput> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [SIM, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(bird2 === null ? {} : { BIRD2_PREFIX: bird2.replace(/\/usr\/sbin\/bird$/, '') }) } });
    child = p;
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      p.kill('SIGTERM');
      reject(new Error(`simulation did not finish within ${timeoutMs} ms; stderr:\n${stderr.slice(-2000)}`));
    }, timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The run's result rows: the last stdout line (--json). */
function resultRows(code: number | null, stdout: string, stderr: string): SimResult[] {
  const last = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as SimResult[];
  } catch {
    return assert.fail(`no JSON result (exit ${code}); stderr:\n${stderr.slice(-3000)}`);
  }
}

test('200 simulated nodes, 2 reflectors: every node ends with every other node\'s blocks and next hops', { skip, timeout: 900_000 }, async () => {
  const { code, stdout, stderr } = await runSim(['--nodes', '200', '--blocks', '2', '--reflectors', '2', '--rrs', 'calico,bird2', '--events', '5', '--timeout', '300', '--json'], 850_000);
  const rows = resultRows(code, stdout, stderr);
  assert.deepEqual(rows.map((r) => r.rr), ['calico', 'bird2'], stderr.slice(-3000));
  for (const r of rows) {
    const who = `${r.rr}: ${r.error ?? ''}`;
    assert.equal(r.error, undefined, who);
    assert.notEqual(r.convergeS, undefined, who);
    assert.equal(r.churnMs.add.length, 5, who);
    assert.equal(r.churnMs.join.length, 5, who);
    assert.equal(r.restartS.length, 2, who);
    // Every node came back to each restarted reflector (the phase waits for it; this says so).
    assert.deepEqual(r.restartReconnected, [200, 200], who);
    assert.equal(r.missing, 0, who);
    assert.equal(r.extra, 0, who);
    assert.equal(r.badNextHop, 0, who);
    assert.equal(r.foreign, 0, who);
    // Graceful restart: with a second reflector up and stale routes kept, no node ever lost a route.
    assert.equal(r.restartLost, 0, who);
    // Every node got the other 199 nodes' 2 blocks from both reflectors at least once.
    assert.ok(r.updatesSent >= 200 * 199 * 2, `${who} only ${r.updatesSent} UPDATEs`);
  }
  assert.equal(code, 0, stderr.slice(-3000));
});

test('100 listening nodes answer our reflectors\' dials and every node comes back after each restart', { skip, timeout: 300_000 }, async () => {
  const { code, stdout, stderr } = await runSim(['--nodes', '100', '--blocks', '2', '--reflectors', '2', '--rrs', 'calico', '--events', '2', '--timeout', '120', '--listen', 'on', '--json'], 280_000);
  const rows = resultRows(code, stdout, stderr);
  const r = rows[0]!;
  const who = `${r.rr}: ${r.error ?? ''}`;
  assert.equal(r.error, undefined, who);
  assert.deepEqual(r.restartReconnected, [100, 100], who);
  assert.equal(r.missing + r.extra + r.badNextHop + r.foreign + r.restartLost, 0, who);
  // Our speaker dials every peer when it starts; the nodes answered and no dial was refused.
  assert.ok(r.dials !== undefined && r.dials.answered > 0, `${who} dials ${JSON.stringify(r.dials)}`);
  assert.equal(r.dials.rejected, 0, who);
  assert.equal(code, 0, stderr.slice(-3000));
});

test('dual stack, 30 simulated nodes, 2 reflectors: every node ends with every other node\'s IPv4 and IPv6 blocks and next hops', { skip: skip6, timeout: 600_000 }, async () => {
  const n = 30;
  const k = 2;
  const out = await runSim(['--ipv6', '--nodes', String(n), '--blocks', String(k), '--reflectors', '2', '--rrs', 'calico,bird2,bird1', '--events', '2', '--timeout', '120', '--json'], 550_000);
  const rows = resultRows(out.code, out.stdout, out.stderr);
  assert.deepEqual(rows.map((r) => r.rr), ['calico', 'bird2', 'bird1'], out.stderr.slice(-3000));
  for (const r of rows) {
    const who = `${r.rr}: ${r.error ?? ''}`;
    assert.equal(r.error, undefined, who);
    assert.deepEqual(r.families, [4, 6], who);
    // At convergence every node held the other nodes' K blocks in each family.
    assert.deepEqual(r.routesHeld, [n * (n - 1) * k, n * (n - 1) * k], who);
    // Every node's sessions of both families came back to each restarted reflector.
    assert.deepEqual(r.restartReconnected, [n, n], who);
    assert.equal(r.missing, 0, who);
    assert.equal(r.extra, 0, who);
    assert.equal(r.badNextHop, 0, who);
    assert.equal(r.foreign, 0, who);
    assert.equal(r.restartLost, 0, who);
  }
  assert.equal(out.code, 0, out.stderr.slice(-3000));
});
