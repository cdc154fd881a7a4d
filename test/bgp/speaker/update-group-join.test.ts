/**
 * Members joining an update group get the whole table and End-of-RIB at the
 * next publish, after the changes still pending, from one encoding shared by
 * every member joining in between (split horizon still applied per member).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CONTEXT, decodeMessage, type DecodedMessage, type DecodedUpdate, type PathAttributes } from '../../../src/bgp/packet/index.js';
import { AttrTable } from '../../../src/bgp/rib/intern.js';
import { keyFromString } from '../../../src/bgp/rib/prefix-key.js';
import { UpdateGroup, type GroupMember } from '../../../src/bgp/speaker/update-group.js';
import type { ExportClass } from '../../../src/bgp/speaker/export.js';

const cls: ExportClass = { family: 4, peerType: 'internal', localAs: 64512, reflector: true, clusterId: '1.1.1.1', rrClient: true, nextHop: 'auto', selfAddress: '192.0.2.1' };

class Member implements GroupMember {
  readonly chunks: Buffer[] = [];
  constructor(readonly negotiated: { peerId: string }) {}
  writeUpdates(messages: readonly Buffer[]): boolean {
    this.chunks.push(...messages);
    return true;
  }
  messages(): DecodedMessage[] {
    const out: DecodedMessage[] = [];
    for (const c of this.chunks) for (let at = 0; at < c.length; ) {
      const { message, length } = decodeMessage(c, DEFAULT_CONTEXT, at);
      out.push(message);
      at += length;
    }
    return out;
  }
  /** Prefixes announced to this member, and whether the last message is End-of-RIB. */
  routes(): { prefixes: string[]; endOfRib: boolean } {
    const ms = this.messages();
    const ups = ms.filter((m): m is DecodedUpdate => m.type === 'UPDATE');
    const last = ups.at(-1);
    const endOfRib = last !== undefined && last.nlri.toStrings().length === 0 && last.withdrawn.toStrings().length === 0 && last.attributes.mpUnreach === undefined;
    return { prefixes: ups.flatMap((u) => u.nlri.toStrings()).sort(), endOfRib };
  }
}

test('joining members get the table after the pending changes, encoded once, without their own routes', () => {
  const table = new AttrTable();
  const group = new UpdateGroup('sig', cls, DEFAULT_CONTEXT, table);
  const attrs = (nextHop: string, originatorId: string): PathAttributes => ({ origin: 0, asPath: [], nextHop, localPref: 100, originatorId, clusterList: ['1.1.1.1'] });
  group.setPrefix(keyFromString('198.51.100.0/26'), table.intern(attrs('192.0.2.11', '192.0.2.11')));
  group.setPrefix(keyFromString('198.51.100.64/26'), table.intern(attrs('192.0.2.12', '192.0.2.12')));
  group.publish();
  const old = new Member({ peerId: '192.0.2.99' });
  group.join(old);
  group.publish();
  assert.deepEqual(old.routes(), { prefixes: ['198.51.100.0/26', '198.51.100.64/26'], endOfRib: true });
  old.chunks.length = 0;

  // Two members join, then a route changes before the flush.
  const a = new Member({ peerId: '192.0.2.11' });
  const b = new Member({ peerId: '192.0.2.13' });
  group.join(a);
  group.join(b);
  assert.equal(group.hasJoining, true);
  group.setPrefix(keyFromString('198.51.100.128/26'), table.intern(attrs('192.0.2.13', '192.0.2.13')));
  group.publish();
  assert.equal(group.hasJoining, false);

  assert.deepEqual(old.routes(), { prefixes: ['198.51.100.128/26'], endOfRib: false }, 'a member that has the table gets only the change');
  assert.deepEqual(a.routes(), { prefixes: ['198.51.100.128/26', '198.51.100.64/26'], endOfRib: true }, 'A gets everything but its own route');
  assert.deepEqual(b.routes(), { prefixes: ['198.51.100.0/26', '198.51.100.64/26'], endOfRib: true }, 'B gets everything but its own route');
  // One encoding: the members' UPDATE chunks are views of the same memory.
  assert.equal(a.chunks[0]!.buffer, b.chunks[0]!.buffer);

  // Nothing is owed any more: the next publish writes nothing.
  a.chunks.length = 0;
  assert.equal(group.publish(), 0);
  assert.equal(a.chunks.length, 0);

  // A member that leaves before the flush is not written.
  const gone = new Member({ peerId: '192.0.2.14' });
  group.join(gone);
  group.leave(gone);
  group.publish();
  assert.equal(gone.chunks.length, 0);
});
