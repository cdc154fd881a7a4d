/**
 * BIRD 1.6's control-socket text from plain views, without a socket: the
 * framing rules, the column layout calicoctl and calico-node split, the
 * labels bird_exporter matches, and BIRD's error replies. Expected lines are
 * what BIRD 1.6.8 printed for the same states (captured by hand from
 * `bird -s` with a Calico-style config).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { frameReply } from '../../src/control/bird/reply.js';
import { birdSince, formatProtocols, formatStatus } from '../../src/control/bird/format.js';
import { answer, patternMatches, splitWords } from '../../src/control/bird/commands.js';
import type { BirdDaemonView, BirdProtocolView } from '../../src/control/bird/view.js';
import { endsReply, parseExporterProtocols, parseGracefulRestart, parsePeers } from '../support/bird-client.js';

const at = (hms: string): Date => new Date(`2026-12-04T${hms}`);
const now = at('20:35:36');

const active: BirdProtocolView = {
  name: 'Mesh_127_0_0_2', state: 'start', since: at('20:35:33'), bgpState: 'Active', lastError: 'Socket: Connection closed',
  neighborAddress: '127.0.0.2', neighborAs: 64512, imported: 0, exported: 0, preferred: 0, received: 0, session: null,
};
const passive: BirdProtocolView = { ...active, name: 'Node_127_0_0_3', bgpState: 'Passive', lastError: '', neighborAddress: '127.0.0.3', neighborAs: 64513 };
const up: BirdProtocolView = {
  ...active, name: 'Global_192_0_2_9', state: 'up', bgpState: 'Established', lastError: '', imported: 3, exported: 2, preferred: 1, received: 4,
  session: { neighborId: '192.0.2.9', neighborCaps: ['refresh', 'AS4'], session: ['external', 'AS4'], sourceAddress: '192.0.2.1', holdTime: 90, keepaliveTime: 30 },
};

const view = (protocols: BirdProtocolView[], gr = false): BirdDaemonView => ({
  version: '1.6.8', routerId: '192.0.2.1', now, bootedAt: at('20:35:33'), reconfiguredAt: at('20:35:33'),
  gracefulRestart: gr ? { waiting: 2, remaining: 215, wait: 240 } : null, protocols, routes: { paths: 5, networks: 4 },
});

test('a reply continues with CODE- on a code change, a space while the code stays, and ends with CODE space', () => {
  assert.equal(
    frameReply([{ code: 2002, text: 'h' }, { code: 1002, text: 'a' }, { code: 1002, text: 'b' }, { code: 1006, text: 'x' }, { code: 1002, text: 'c' }, { code: 0, text: '' }]),
    '2002-h\n1002-a\n b\n1006-x\n1002-c\n0000 \n',
  );
});

test('show protocols rows are laid out as BIRD 1.6 lays them out', () => {
  const text = frameReply(formatProtocols([active, passive], false, now));
  assert.equal(
    text,
    [
      '2002-name     proto    table    state  since       info',
      '1002-Mesh_127_0_0_2 BGP      master   start  20:35:33    Active        Socket: Connection closed',
      ' Node_127_0_0_3 BGP      master   start  20:35:33    Passive       ',
      '0000 ',
      '',
    ].join('\n'),
  );
});

test('show protocols all gives the blocks bird_exporter reads, each ended by an empty line', () => {
  const lines = frameReply(formatProtocols([up, active], true, now)).split('\n').slice(0, -1);
  assert.ok(lines.includes('   Routes:         3 imported, 2 exported, 1 preferred'));
  assert.ok(lines.includes('     Import updates:              4          0          1          0          3'));
  assert.ok(lines.includes('     Export withdraws:            0        ---        ---        ---          0'));
  assert.ok(lines.includes('     Hold timer:       90/90'));
  assert.ok(lines.includes('     Last error:       Socket: Connection closed'));
  assert.equal(lines.filter((l) => l === ' ').length, 2, 'one empty continuation line per protocol');
  const exported = parseExporterProtocols(lines);
  assert.deepEqual(exported.map((p) => [p.name, p.proto, p.up, p.imported, p.exported, p.preferred]), [
    ['Global_192_0_2_9', 'BGP', true, 3, 2, 1],
    ['Mesh_127_0_0_2', 'BGP', false, 0, 0, 0],
  ]);
});

test('calicoctl\'s parser reads our rows as the peers and states they stand for', () => {
  const lines = ['0001 BIRD 1.6.8 ready.', ...frameReply(formatProtocols([up, active, passive], false, now)).split('\n').slice(0, -1)];
  assert.deepEqual(parsePeers(lines, 4).map((p) => [p.peerIp, p.peerType, p.state, p.bgpState, p.info]), [
    ['192.0.2.9', 'global', 'up', 'Established', ''],
    ['127.0.0.2', 'node-to-node mesh', 'start', 'Active', 'Socket: Connection closed'],
    ['127.0.0.3', 'node specific', 'start', 'Passive', ''],
  ]);
});

test('show status reports graceful-restart recovery with 0024 only while it lasts', () => {
  const quiet = frameReply(formatStatus(view([]))).split('\n').slice(0, -1);
  assert.deepEqual(quiet, [
    '1000-BIRD 1.6.8',
    '1011-Router ID is 192.0.2.1',
    ' Current server time is 2026-12-04 20:35:36',
    ' Last reboot on 2026-12-04 20:35:33',
    ' Last reconfiguration on 2026-12-04 20:35:33',
    '0013 Daemon is up and running',
  ]);
  assert.equal(parseGracefulRestart(quiet), false);
  const recovering = frameReply(formatStatus(view([], true))).split('\n').slice(0, -1);
  assert.deepEqual(recovering.slice(5), ['0024-Graceful restart recovery in progress', '   Waiting for 2 protocols to recover', '   Wait timer is 215/240', '0013 Daemon is up and running']);
  assert.equal(parseGracefulRestart(recovering), true);
});

test('since is the time of day within 20 hours and the date before that', () => {
  assert.equal(birdSince(at('01:02:03'), now), '01:02:03');
  assert.equal(birdSince(new Date(now.getTime() - 21 * 3600 * 1000), now), birdSince(new Date(now.getTime() - 21 * 3600 * 1000), now).slice(0, 10));
  assert.match(birdSince(new Date(now.getTime() - 21 * 3600 * 1000), now), /^\d{4}-\d{2}-\d{2}$/);
});

test('commands get BIRD\'s replies, errors included, each ending the reply', async () => {
  const v = (): BirdDaemonView => view([active, passive]);
  const cases: [string, string][] = [
    ['foo', '9001 syntax error\n'],
    ['', '9001 syntax error\n'],
    ['sh pro', '9001 syntax error\n'],
    ['show route', '9001 syntax error\n'],
    ['show protocols all nosuch', '9002 nosuch is not a protocol\n'],
    ['show protocols "zz*"', '8003 No protocols match\n'],
    ['configure', '8007 Access denied\n'],
    ['down', '8007 Access denied\n'],
    ['restrict', '0016 Access restricted\n'],
    ['show route count', '0014 5 of 5 routes for 4 networks\n'],
  ];
  for (const [cmd, want] of cases) assert.equal(await answer(cmd, v), want, cmd);
  const one = (await answer('show protocols "Mesh*"', v)).split('\n');
  assert.equal(one.length, 4);
  assert.match(one[1]!, /^1002-Mesh_127_0_0_2 /);
  for (const cmd of ['show status', 'show protocols', 'show protocols all', 'show protocols all Node_127_0_0_3']) {
    const lines = (await answer(cmd, v)).split('\n').slice(0, -1);
    assert.ok(lines.slice(0, -1).every((l) => !endsReply(l)) && endsReply(lines.at(-1)!), `${cmd}: only the last line ends the reply`);
  }
});

test('words and patterns are split and matched as BIRD does', () => {
  assert.deepEqual(splitWords('show protocols all "Mesh_*"'), [
    { word: 'show', quoted: false }, { word: 'protocols', quoted: false }, { word: 'all', quoted: false }, { word: 'Mesh_*', quoted: true },
  ]);
  assert.equal(splitWords('show "unterminated'), null);
  assert.ok(patternMatches('Mesh_*', 'Mesh_10_0_0_1'));
  assert.ok(patternMatches('?ode_*', 'Node_1'));
  assert.ok(!patternMatches('Mesh.*', 'Mesh_1'));
});
