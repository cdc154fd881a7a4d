import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ORIGIN_IGP, asPath4, attr, msg, nextHop, open, u16, u32, update } from '../bgp/packet/bytes.js';

const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

function run(args: string[], input?: Buffer): { lines: Record<string, unknown>[]; status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [cli, 'decode', ...args], { input, encoding: 'buffer', timeout: 30_000 });
  const out = r.stdout.toString('utf8').trim();
  return { lines: out === '' ? [] : out.split('\n').map((l) => JSON.parse(l) as Record<string, unknown>), status: r.status, stderr: r.stderr.toString('utf8') };
}

test('decode prints one JSON object per message from stdin and exits 0', () => {
  const stream = Buffer.concat([open(64512, 90, '192.0.2.1'), msg(4), update([], [ORIGIN_IGP, asPath4(64512), nextHop('192.0.2.1')], [24, 10, 0, 1])]);
  const r = run(['-'], stream);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.lines.map((l) => l.type), ['OPEN', 'KEEPALIVE', 'UPDATE']);
  assert.deepEqual(r.lines[2]!.nlri, ['10.0.1.0/24']);
});

test('decode reads a file and a --hex message', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cbgpd-decode-'));
  try {
    const file = join(dir, 'msgs.bin');
    writeFileSync(file, Buffer.concat([msg(4), msg(4)]));
    assert.deepEqual(run([file]).lines, [{ type: 'KEEPALIVE' }, { type: 'KEEPALIVE' }]);
    assert.deepEqual(run(['--hex', msg(5, u16(2), [1, 1]).toString('hex')]).lines, [{ type: 'ROUTE-REFRESH', afi: 2, safi: 1, subtype: 1 }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a malformed message prints the NOTIFICATION it deserves, decoding continues, exit status is 1', () => {
  const stream = Buffer.concat([msg(4), msg(9), open(65001, 1, '192.0.2.1'), msg(4)]);
  const r = run([], stream);
  assert.equal(r.status, 1);
  assert.equal(r.lines.length, 4);
  assert.deepEqual(r.lines[0], { type: 'KEEPALIVE' });
  assert.equal(r.lines[1]!.type, 'ERROR');
  assert.deepEqual([r.lines[1]!.code, r.lines[1]!.subcode], [1, 3]);
  assert.deepEqual([r.lines[2]!.code, r.lines[2]!.subcode], [2, 6]);
  assert.deepEqual(r.lines[3], { type: 'KEEPALIVE' });
});

test('a treat-as-withdraw UPDATE is printed with its RFC 7606 verdict and counts as malformed', () => {
  const r = run([], update([], [attr(0x40, 1, [9]), asPath4(1), nextHop('192.0.2.1')], [24, 10, 0, 1]));
  assert.equal(r.status, 1);
  assert.equal(r.lines[0]!.type, 'UPDATE');
  assert.equal((r.lines[0]!.rfc7606 as { action: string }).action, 'treat-as-withdraw');
});

test('a stream cut short reports the truncation', () => {
  const r = run([], msg(4).subarray(0, 10));
  assert.equal(r.status, 1);
  assert.equal(r.lines[0]!.type, 'ERROR');
});

test('--add-path and --two-octet-as change how NLRI and AS_PATH are read', () => {
  const addPath = update([], [ORIGIN_IGP, asPath4(1), nextHop('192.0.2.1')], [...u32(5), 24, 10, 0, 1]);
  assert.deepEqual(run(['--add-path', '1/1'], addPath).lines[0]!.nlri, [{ prefix: '10.0.1.0/24', pathId: 5 }]);
  const twoOctet = update([], [ORIGIN_IGP, attr(0x40, 2, [2, 2], u16(65001), u16(65002)), nextHop('192.0.2.1')], [24, 10, 0, 1]);
  const r = run(['--two-octet-as'], twoOctet);
  assert.equal(r.status, 0);
  assert.deepEqual((r.lines[0]!.attributes as { asPath: unknown }).asPath, [{ type: 'sequence', asns: [65001, 65002] }]);
});

test('--add-path with several families still leaves the file argument, - or a path', () => {
  const addPath = update([], [ORIGIN_IGP, asPath4(1), nextHop('192.0.2.1')], [...u32(5), 24, 10, 0, 1]);
  const stdin = run(['--add-path', '1/1', '2/1', '-'], addPath);
  assert.equal(stdin.status, 0, stdin.stderr);
  assert.deepEqual(stdin.lines[0]!.nlri, [{ prefix: '10.0.1.0/24', pathId: 5 }]);
  const dir = mkdtempSync(join(tmpdir(), 'cbgpd-decode-'));
  try {
    const file = join(dir, 'update.bin');
    writeFileSync(file, addPath);
    const fromFile = run(['--add-path', '2/1', '1/1', file]);
    assert.equal(fromFile.status, 0, fromFile.stderr);
    assert.deepEqual(fromFile.lines[0]!.nlri, [{ prefix: '10.0.1.0/24', pathId: 5 }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad options get a clear error and exit status 2', () => {
  const r = run(['--add-path', 'ipv4', '--hex', '00']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /AFI\/SAFI/);
  const h = run(['--hex', 'abc']);
  assert.equal(h.status, 2);
  assert.match(h.stderr, /hexadecimal/);
});
