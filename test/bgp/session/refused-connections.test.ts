/**
 * Refused connections are counted every time but logged at most once per
 * source and interval; a connection whose address is gone before we read it
 * is not logged as a stranger with address "".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { BgpListener } from '../../../src/bgp/session/listener.js';

type Line = { level: string; msg: string; extra: Record<string, unknown> };

/** Opens a connection from `localAddress` and resolves once the listener has closed it. */
function refusedConnection(port: number, localAddress: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, localAddress });
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? undefined : reject(e)));
    s.on('close', () => resolve());
    s.resume();
  });
}

test('a connect flood from one stranger logs one line per interval and counts every attempt', async () => {
  const lines: Line[] = [];
  let now = 1_000_000;
  const listener = new BgpListener(
    { host: '127.0.0.1', port: 0, refusalLog: { intervalMs: 60_000, now: () => now } },
    () => undefined,
    (level, msg, extra) => lines.push({ level, msg, extra }),
  );
  const port = await listener.listen();
  try {
    for (let i = 0; i < 40; i++) await refusedConnection(port, '127.0.45.1');
    await refusedConnection(port, '127.0.45.2');
    assert.equal(listener.refusals.counts.refused, 41);
    assert.equal(listener.refusals.counts.suppressed, 39);
    assert.deepEqual(lines.map((l) => l.extra.address), ['127.0.45.1', '127.0.45.2'], 'one line per source');

    now += 60_000;
    await refusedConnection(port, '127.0.45.1');
    assert.equal(lines.length, 3);
    assert.match(lines[2]!.msg, /39 more from this source not logged/);
    assert.equal(lines[2]!.extra.notLogged, 39);
  } finally {
    await listener.close();
  }
});

test('a connection gone before its address is read is not reported as an unknown address ""', () => {
  const lines: Line[] = [];
  const listener = new BgpListener({ port: 0 }, () => undefined, (level, msg, extra) => lines.push({ level, msg, extra }));
  let destroyed = false;
  // What net.Server hands over for a socket already reset: no remote address.
  const gone = { remoteAddress: undefined, remotePort: undefined, destroy: () => (destroyed = true) } as unknown as Socket;
  (listener as unknown as { onConnection(s: Socket): void }).onConnection(gone);
  assert.ok(destroyed);
  assert.equal(lines.length, 1);
  assert.doesNotMatch(lines[0]!.msg, /not a configured peer/);
  assert.match(lines[0]!.msg, /closed by the other side before its address could be read/);
  assert.equal(lines[0]!.extra.address, undefined);
});
