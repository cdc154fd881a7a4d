/**
 * Peers that reach Established wait here for the speaker's next flush and
 * then join their update group together, sharing one encoding of the
 * group's table.
 *
 * Why: a reflector that restarts is dialled by all of its clients within a
 * second or so. Encoding the whole Adj-RIB-Out once per client as each
 * session came up (thousands of small UPDATEs each, one per attribute set)
 * was most of the restarted process's work, and it kept the event loop from
 * accepting the clients still queued in the kernel, so the last sessions
 * came up seconds after the first. Joined at the flush, every member of one
 * batch gets slices of one Buffer: the table less the runs of routes that
 * member originated (split horizon, as `UpdateGroup.fullTable` does it).
 */
import { ipv4ToString } from '../packet/index.js';
import type { GroupMember, UpdateGroup } from './update-group.js';

/** Stands for "no member": `fullTable` then leaves nothing out. */
const NOBODY: GroupMember = { negotiated: null, writeUpdates: () => false };

const HEADER = 19;
const ORIGINATOR_ID = 9;
const EXTENDED_LENGTH = 0x10;

/**
 * The ORIGINATOR_ID of one encoded UPDATE as dotted quad, or undefined
 * (none, or not an UPDATE). Reads only the attribute headers.
 */
export function originatorOfMessage(msg: Buffer): string | undefined {
  if (msg.length < HEADER + 4 || msg[18] !== 2) return undefined;
  const withdrawn = msg.readUInt16BE(HEADER);
  let at = HEADER + 2 + withdrawn;
  if (at + 2 > msg.length) return undefined;
  const end = Math.min(msg.length, at + 2 + msg.readUInt16BE(at));
  at += 2;
  while (at + 3 <= end) {
    const flags = msg[at]!;
    const type = msg[at + 1]!;
    const extended = (flags & EXTENDED_LENGTH) !== 0;
    if (extended && at + 4 > end) return undefined;
    const len = extended ? msg.readUInt16BE(at + 2) : msg[at + 2]!;
    const value = at + (extended ? 4 : 3);
    if (type === ORIGINATOR_ID && len === 4 && value + 4 <= end) return ipv4ToString(msg.readUInt32BE(value));
    at = value + len;
  }
  return undefined;
}

/** One group's table for a batch of joining members: each gets it less its own routes. */
function sharedTable(group: UpdateGroup): (member: GroupMember) => Buffer[] {
  const msgs = group.fullTable(NOBODY, true);
  const all = Buffer.concat(msgs);
  /** Byte ranges, in order, of the messages carrying each originator's routes. */
  const skip = new Map<string, [number, number][]>();
  let at = 0;
  for (const m of msgs) {
    const originator = originatorOfMessage(m);
    if (originator !== undefined) {
      let ranges = skip.get(originator);
      if (ranges === undefined) skip.set(originator, (ranges = []));
      const last = ranges[ranges.length - 1];
      if (last !== undefined && last[1] === at) last[1] = at + m.length;
      else ranges.push([at, at + m.length]);
    }
    at += m.length;
  }
  return (member) => {
    const id = member.negotiated?.peerId;
    const ranges = id === undefined ? undefined : skip.get(id);
    if (ranges === undefined) return [all];
    const out: Buffer[] = [];
    let from = 0;
    for (const [start, end] of ranges) {
      if (start > from) out.push(all.subarray(from, start));
      from = end;
    }
    if (from < all.length) out.push(all.subarray(from));
    return out;
  };
}

export class PendingJoins {
  private readonly byGroup = new Map<UpdateGroup, Set<GroupMember>>();

  /** `member` joins `group` at the next `admit`. */
  add(group: UpdateGroup, member: GroupMember): void {
    let set = this.byGroup.get(group);
    if (set === undefined) this.byGroup.set(group, (set = new Set()));
    set.add(member);
  }

  /** `member` went down before it was admitted. */
  remove(group: UpdateGroup, member: GroupMember): void {
    const set = this.byGroup.get(group);
    if (set === undefined) return;
    set.delete(member);
    if (set.size === 0) this.byGroup.delete(group);
  }

  /** Whether members are waiting to join `group` (it must not be dropped as empty). */
  waitingFor(group: UpdateGroup): boolean {
    return this.byGroup.has(group);
  }

  get size(): number {
    return this.byGroup.size;
  }

  /**
   * Makes every waiting member a member of its group and writes it the
   * group's table and End-of-RIB. Call it right after the groups published
   * their queued changes, so the table is the one the members have.
   */
  admit(): void {
    for (const [group, members] of this.byGroup) {
      const tableFor = members.size === 1 ? (m: GroupMember) => group.fullTable(m, true) : sharedTable(group);
      for (const m of members) {
        group.members.add(m);
        m.writeUpdates(tableFor(m));
      }
    }
    this.byGroup.clear();
  }
}
