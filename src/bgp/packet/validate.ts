/**
 * RFC 7606 revised error handling, applied after parsing. `decodeUpdate()`
 * only collects problems; this step decides, for the UPDATE as a whole:
 *
 *   session-reset      > a problem whose action is session-reset
 *   treat-as-withdraw  > a treat-as-withdraw problem, a missing mandatory
 *                        attribute, or a semantically invalid NEXT_HOP
 *   accept             > otherwise (attribute-discard problems are logged;
 *                        the attribute is already gone)
 */
import { AttrType } from './iana.js';
import type { CodecContext } from './context.js';
import type { DecodeError } from './errors.js';
import { parseIpv4 } from '../../net/ip.js';
import type { PrefixList } from './prefix.js';
import type { AttrIssue } from './attributes/index.js';
import type { DecodedUpdate, UpdateMessage } from './update.js';

export type UpdateVerdict =
  | { action: 'accept'; update: UpdateMessage; issues: AttrIssue[] }
  | {
      action: 'treat-as-withdraw';
      /** Every prefix the UPDATE announced or withdrew, to be withdrawn. */
      withdraw: PrefixList[];
      issues: AttrIssue[];
    }
  | { action: 'session-reset'; error: DecodeError; issues: AttrIssue[] };

/** A NEXT_HOP no router can forward to: 0/8, multicast, class E, broadcast. */
function unusableNextHop(text: string): boolean {
  const v = parseIpv4(text);
  return v === undefined || v >>> 24 === 0 || v >>> 24 >= 224;
}

export function validateUpdate(upd: DecodedUpdate, ctx: CodecContext): UpdateVerdict {
  const issues = upd.issues.length === 0 ? [] : [...upd.issues];
  const reset = issues.find((i) => i.action === 'session-reset');
  if (reset !== undefined) return { action: 'session-reset', error: reset.error, issues };

  let attrs = upd.attributes;
  // RFC 7606 section 7.5: "If the LOCAL_PREF attribute is received from an
  // external neighbor, it SHALL be discarded."
  if (ctx.peerType === 'external' && attrs.localPref !== undefined) {
    attrs = { ...attrs };
    delete attrs.localPref;
    issues.push({
      typeCode: AttrType.LOCAL_PREF,
      action: 'attribute-discard',
      reason: 'LOCAL_PREF from an external peer',
      error: { kind: 'malformedUpdate', reason: 'LOCAL_PREF from an external peer' },
    });
  }

  const v4Reach = upd.nlri.count > 0;
  const anyReach = v4Reach || (attrs.mpReach !== undefined && attrs.mpReach.nlri.count > 0);
  if (anyReach) {
    // RFC 7606 section 3 (d): "If any of the well-known mandatory attributes
    // are not present in an UPDATE message, then 'treat-as-withdraw' MUST be
    // used." NEXT_HOP is mandatory only for NLRI in the NLRI field (RFC 4760),
    // LOCAL_PREF only on internal sessions (RFC 4271 section 5.1.5).
    const missing: number[] = [];
    if (attrs.origin === undefined) missing.push(AttrType.ORIGIN);
    if (attrs.asPath === undefined) missing.push(AttrType.AS_PATH);
    if (v4Reach && attrs.nextHop === undefined) missing.push(AttrType.NEXT_HOP);
    if (ctx.peerType === 'internal' && attrs.localPref === undefined) missing.push(AttrType.LOCAL_PREF);
    for (const typeCode of missing) {
      // Only report what was not already reported as malformed.
      if (issues.some((i) => i.typeCode === typeCode)) continue;
      issues.push({
        typeCode,
        action: 'treat-as-withdraw',
        reason: `missing well-known attribute ${typeCode}`,
        error: { kind: 'missingWellKnownAttribute', typeCode },
      });
    }
    // RFC 4271 section 6.3: a semantically incorrect NEXT_HOP makes the route
    // unusable; RFC 7606 handles it as treat-as-withdraw.
    if (v4Reach && attrs.nextHop !== undefined && unusableNextHop(attrs.nextHop)) {
      issues.push({
        typeCode: AttrType.NEXT_HOP,
        action: 'treat-as-withdraw',
        reason: `NEXT_HOP ${attrs.nextHop} is not a usable unicast address`,
        error: { kind: 'invalidNextHop', attribute: Buffer.alloc(0) },
      });
    }
  }

  if (issues.some((i) => i.action === 'treat-as-withdraw')) {
    const withdraw: PrefixList[] = [];
    for (const list of [upd.withdrawn, upd.nlri, attrs.mpUnreach?.withdrawn, attrs.mpReach?.nlri]) {
      if (list !== undefined && list.count > 0) withdraw.push(list);
    }
    return { action: 'treat-as-withdraw', withdraw, issues };
  }
  return { action: 'accept', update: { type: 'UPDATE', withdrawn: upd.withdrawn, attributes: attrs, nlri: upd.nlri }, issues };
}
