/**
 * Peers joining an update group together (group-join.ts) get exactly what
 * each would have got alone from `UpdateGroup.fullTable`: the same octets,
 * less the routes the member originated (split horizon), and End-of-RIB.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CONTEXT, encodeMessage, messageFromJson } from '../../../src/bgp/packet/index.js';
import { AttrTable } from '../../../src/bgp/rib/intern.js';
import { ipv4Key } from '../../../src/bgp/rib/prefix-key.js';
import { UpdateGroup, type GroupMember } from '../../../src/bgp/speaker/update-group.js';
import { PendingJoins, originatorOfMessage } from '../../../src/bgp/speaker/group-join.js';

const CLIENTS = ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4'];

class Recorder implements GroupMember {
  readonly written: Buffer[] = [];
  constructor(readonly negotiated: { peerId: string } | null) {}
  writeUpdates(messages: readonly Buffer[]): boolean {
    this.written.push(...messages);
    return true;
  }
}

/** A reflector's group holding two /26s from each client, reflected (ORIGINATOR_ID = the client). */
function reflectorGroup(): UpdateGroup {
  const table = new AttrTable();
  const cls = { family: 4 as const, peerType: 'internal' as const, localAs: 64512, reflector: true, clusterId: '1.1.1.1', rrClient: true, nextHop: 'keep' as const, selfAddress: '192.0.2.100' };
  const group = new UpdateGroup('test', cls, DEFAULT_CONTEXT, table);
  CLIENTS.forEach((client, i) => {
    const attrs = table.intern({ origin: 0, asPath: [], nextHop: client, localPref: 100, originatorId: client, clusterList: ['1.1.1.1'] });
    for (let b = 0; b < 2; b++) group.setPrefix(ipv4Key((0x0a000000 + (i * 2 + b) * 64) >>> 0, 26), table.retain(attrs));
    table.release(attrs);
  });
  group.publish();
  return group;
}

test('originatorOfMessage reads ORIGINATOR_ID from an encoded UPDATE, and nothing from others', () => {
  const update = encodeMessage(messageFromJson({ type: 'UPDATE', nlri: ['10.0.0.0/26'], attributes: { origin: 'igp', asPath: [], nextHop: '192.0.2.9', localPref: 100, originatorId: '192.0.2.9', clusterList: ['1.1.1.1'] } }), DEFAULT_CONTEXT);
  assert.equal(originatorOfMessage(update), '192.0.2.9');
  const plain = encodeMessage(messageFromJson({ type: 'UPDATE', nlri: ['10.0.0.0/26'], attributes: { origin: 'igp', asPath: [], nextHop: '192.0.2.9', localPref: 100 } }), DEFAULT_CONTEXT);
  assert.equal(originatorOfMessage(plain), undefined);
  assert.equal(originatorOfMessage(encodeMessage({ type: 'KEEPALIVE' }, DEFAULT_CONTEXT)), undefined);
  // A truncated attribute section is not read past its end.
  assert.equal(originatorOfMessage(update.subarray(0, 26)), undefined);
});

test('members admitted together each get the table less their own routes, octet for octet as alone', () => {
  const group = reflectorGroup();
  const joins = new PendingJoins();
  const members = [...CLIENTS.slice(0, 3).map((id) => new Recorder({ peerId: id })), new Recorder({ peerId: '192.0.2.50' })];
  for (const m of members) joins.add(group, m);
  assert.equal(joins.waitingFor(group), true);
  joins.admit();
  assert.equal(joins.waitingFor(group), false);
  assert.equal(group.members.size, members.length);
  for (const m of members) {
    const alone = Buffer.concat(group.fullTable(m, true));
    assert.deepEqual(Buffer.concat(m.written), alone, `member ${m.negotiated?.peerId}`);
  }
  // The non-client got every route: its table is longer than a client's.
  assert.ok(Buffer.concat(members[3]!.written).length > Buffer.concat(members[0]!.written).length);
});

test('a member that went down before the flush is not admitted', () => {
  const group = reflectorGroup();
  const joins = new PendingJoins();
  const gone = new Recorder({ peerId: CLIENTS[0]! });
  const stays = new Recorder({ peerId: CLIENTS[1]! });
  joins.add(group, gone);
  joins.add(group, stays);
  joins.remove(group, gone);
  joins.admit();
  assert.deepEqual([...group.members], [stays]);
  assert.equal(gone.written.length, 0);
  assert.deepEqual(Buffer.concat(stays.written), Buffer.concat(group.fullTable(stays, true)));
});
