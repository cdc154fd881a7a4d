import { test } from 'node:test';
import assert from 'node:assert/strict';
import { READY_GRACE_SECONDS, speakerReadiness, startingHealth } from '../../src/health/checks.js';
import { formatLogLine } from '../../src/log-text.js';

const up = { name: 'Mesh_192_0_2_2', address: '192.0.2.2', state: 'Established' };
const down = { name: 'Node_192_0_2_3', address: '192.0.2.3', state: 'Active' };

test('readiness with no peers is ready, as calico-node says', () => {
  assert.deepEqual(speakerReadiness({ peers: [], uptimeSeconds: 0, gracefulRestartInProgress: false }), { ok: true, reason: 'ready: no BGP peers configured' });
});

test('during the start-up grace period every peer must be up and no graceful restart may be in progress', () => {
  const early = READY_GRACE_SECONDS - 1;
  assert.deepEqual(speakerReadiness({ peers: [up, down], uptimeSeconds: early, gracefulRestartInProgress: false }), {
    ok: false,
    reason: 'not ready: BGP not established with 192.0.2.3 (start-up: all peers must be up)',
  });
  assert.deepEqual(speakerReadiness({ peers: [up], uptimeSeconds: early, gracefulRestartInProgress: true }), { ok: false, reason: 'not ready: graceful restart in progress' });
  assert.equal(speakerReadiness({ peers: [up], uptimeSeconds: early, gracefulRestartInProgress: false }).ok, true);
});

test('after the grace period one established peer is enough, none is not', () => {
  const late = READY_GRACE_SECONDS + 1;
  assert.deepEqual(speakerReadiness({ peers: [up, down], uptimeSeconds: late, gracefulRestartInProgress: false }), { ok: true, reason: 'ready: 1 of 2 BGP peers established' });
  assert.deepEqual(speakerReadiness({ peers: [down], uptimeSeconds: late, gracefulRestartInProgress: false }), { ok: false, reason: 'not ready: BGP not established with 192.0.2.3' });
});

test('a starting daemon is live and not ready', () => {
  assert.equal(startingHealth('live', 'waiting').ok, true);
  assert.equal(startingHealth('ready', 'waiting').ok, false);
});

test('a text log line has local time, level name, component, message and the fields', () => {
  const time = new Date(2026, 11, 4, 21, 3, 11, 123).getTime();
  const line = formatLogLine(JSON.stringify({ level: 40, time, svc: 'calico-bgpd', component: 'speaker', peer: 'Mesh_192_0_2_2', reason: { kind: 'holdTimerExpired' }, info: 'two words', msg: 'BGP session down' }));
  assert.equal(line, '2026-12-04 21:03:11.123 WARN  speaker: BGP session down peer=Mesh_192_0_2_2 reason={"kind":"holdTimerExpired"} info="two words"');
  assert.equal(formatLogLine('not json\n'), 'not json');
});
