import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionFsm, type FsmAction, type FsmConfig } from '../../../src/bgp/fsm/fsm.js';
import { negotiate } from '../../../src/bgp/fsm/negotiate.js';
import { afiSafiKey, shutdownCommunication, type NotificationMessage, type OpenMessage, PrefixList } from '../../../src/bgp/packet/index.js';

const base: FsmConfig = {
  localAs: 64512,
  routerId: '192.0.2.1',
  peerAs: 64512,
  holdTime: 90,
  connectRetryTime: 30,
  capabilities: [{ code: 1, afi: 1, safi: 1 }, { code: 2 }],
};

function peerOpen(over: Partial<OpenMessage> = {}): OpenMessage {
  return {
    type: 'OPEN', version: 4, myAs: 64512, holdTime: 60, bgpId: '192.0.2.2',
    capabilities: [{ code: 1, afi: 1, safi: 1 }, { code: 65, asn: 64512 }], ...over,
  };
}

const sent = (acts: FsmAction[]) => acts.flatMap((a) => (a.type === 'send' ? [a.message] : []));
const notification = (acts: FsmAction[]) => sent(acts).find((m) => m.type === 'NOTIFICATION') as NotificationMessage | undefined;
const timer = (acts: FsmAction[], name: string) => acts.find((a) => a.type === 'setTimer' && a.timer === name) as { seconds: number } | undefined;

/** Runs a session to OpenConfirm (or Established) and returns the FSM. */
function toState(target: 'OpenSent' | 'OpenConfirm' | 'Established', cfg: FsmConfig = base, open = peerOpen()): SessionFsm {
  const fsm = new SessionFsm(cfg, cfg.peerAs === cfg.localAs ? 'internal' : 'external', () => 1);
  fsm.process({ type: 'ManualStart' });
  fsm.process({ type: 'TcpConnectionConfirmed' });
  if (target === 'OpenSent') return fsm;
  fsm.process({ type: 'BGPOpen', open });
  if (target === 'OpenConfirm') return fsm;
  fsm.process({ type: 'KeepAliveMsg' });
  return fsm;
}

test('ManualStart connects and arms the connect-retry timer', () => {
  const fsm = new SessionFsm(base, 'internal', () => 1);
  const acts = fsm.process({ type: 'ManualStart' });
  assert.equal(fsm.state, 'Connect');
  assert.ok(acts.some((a) => a.type === 'connect'));
  assert.equal(timer(acts, 'connectRetry')?.seconds, 30);
});

test('a passive start waits in Active and never connects, even when the retry timer fires', () => {
  const fsm = new SessionFsm(base, 'internal', () => 1);
  const acts = [...fsm.process({ type: 'ManualStart_with_PassiveTcpEstablishment' }), ...fsm.process({ type: 'ConnectRetryTimer_Expires' })];
  assert.equal(fsm.state, 'Active');
  assert.ok(!acts.some((a) => a.type === 'connect'));
});

test('a confirmed connection sends our OPEN with the 4-octet AS capability and a 4-minute hold timer', () => {
  const fsm = new SessionFsm({ ...base, localAs: 4200000000, peerAs: 4200000000 }, 'internal', () => 1);
  fsm.process({ type: 'ManualStart' });
  const acts = fsm.process({ type: 'TcpConnectionConfirmed' });
  const open = sent(acts)[0] as OpenMessage;
  assert.equal(fsm.state, 'OpenSent');
  assert.equal(open.myAs, 23456, 'AS_TRANS in My AS for a 4-octet AS');
  assert.deepEqual(open.capabilities.find((c) => c.code === 65), { code: 65, asn: 4200000000 });
  assert.equal(timer(acts, 'hold')?.seconds, 240);
});

test('hold time negotiation uses the minimum and keepalives run at a third of it', () => {
  const fsm = new SessionFsm(base, 'internal', () => 1);
  fsm.process({ type: 'ManualStart' });
  fsm.process({ type: 'TcpConnectionConfirmed' });
  const acts = fsm.process({ type: 'BGPOpen', open: peerOpen({ holdTime: 60 }) });
  assert.equal(fsm.state, 'OpenConfirm');
  assert.deepEqual(sent(acts), [{ type: 'KEEPALIVE' }]);
  assert.equal(timer(acts, 'hold')?.seconds, 60);
  assert.equal(timer(acts, 'keepalive')?.seconds, 20);
  assert.equal(fsm.negotiated?.holdTime, 60);
});

test('keepalive timers are jittered between 75% and 100% of their value', () => {
  const fsm = new SessionFsm(base, 'internal', () => 0);
  fsm.process({ type: 'ManualStart' });
  fsm.process({ type: 'TcpConnectionConfirmed' });
  const acts = fsm.process({ type: 'BGPOpen', open: peerOpen({ holdTime: 60 }) });
  assert.equal(timer(acts, 'keepalive')?.seconds, 15);
});

test('hold time 0 means no hold timer and no keepalives', () => {
  const fsm = new SessionFsm({ ...base, holdTime: 0 }, 'internal', () => 1);
  fsm.process({ type: 'ManualStart' });
  fsm.process({ type: 'TcpConnectionConfirmed' });
  const acts = fsm.process({ type: 'BGPOpen', open: peerOpen({ holdTime: 90 }) });
  assert.equal(timer(acts, 'hold'), undefined);
  assert.equal(timer(acts, 'keepalive'), undefined);
  assert.ok(acts.some((a) => a.type === 'clearTimer' && a.timer === 'hold'));
});

test('KEEPALIVE in OpenConfirm establishes the session and reports what was negotiated', () => {
  const fsm = toState('OpenConfirm');
  const acts = fsm.process({ type: 'KeepAliveMsg' });
  assert.equal(fsm.state, 'Established');
  const est = acts.find((a) => a.type === 'established');
  assert.ok(est !== undefined && est.type === 'established');
  assert.equal(est.negotiated.fourOctetAs, true);
  assert.equal(est.negotiated.peerId, '192.0.2.2');
});

test('an OPEN from the wrong AS gets Bad Peer AS', () => {
  const fsm = toState('OpenSent');
  const acts = fsm.process({ type: 'BGPOpen', open: peerOpen({ capabilities: [{ code: 65, asn: 65000 }] }) });
  assert.deepEqual([notification(acts)?.code, notification(acts)?.subcode], [2, 2]);
  assert.equal(fsm.state, 'Idle');
});

test('an internal peer with our router id gets Bad BGP Identifier', () => {
  const fsm = toState('OpenSent');
  const acts = fsm.process({ type: 'BGPOpen', open: peerOpen({ bgpId: '192.0.2.1' }) });
  assert.deepEqual([notification(acts)?.code, notification(acts)?.subcode], [2, 3]);
});

test('a missing required capability gets Unsupported Capability listing it', () => {
  const fsm = toState('OpenSent', { ...base, capabilities: [{ code: 1, afi: 2, safi: 1 }], requiredCapabilities: [1] });
  const acts = fsm.process({ type: 'BGPOpen', open: peerOpen({ capabilities: [{ code: 65, asn: 64512 }] }) });
  const n = notification(acts)!;
  assert.deepEqual([n.code, n.subcode], [2, 7]);
  assert.equal(n.data.toString('hex'), '010400020001');
});

test('unexpected messages get the FSM error with the RFC 6608 subcode of the state', () => {
  const upd = { type: 'UpdateMsg' as const, verdict: { action: 'accept' as const, update: { type: 'UPDATE' as const, withdrawn: PrefixList.empty(1), attributes: {}, nlri: PrefixList.empty(1) }, issues: [] } };
  const inOpenSent = toState('OpenSent').process(upd);
  assert.deepEqual([notification(inOpenSent)?.code, notification(inOpenSent)?.subcode], [5, 1]);
  const inOpenConfirm = toState('OpenConfirm').process(upd);
  assert.deepEqual([notification(inOpenConfirm)?.code, notification(inOpenConfirm)?.subcode], [5, 2]);
  const inEstablished = toState('Established').process({ type: 'BGPOpen', open: peerOpen() });
  assert.deepEqual([notification(inEstablished)?.code, notification(inEstablished)?.subcode], [5, 3]);
  const keepaliveInOpenSent = toState('OpenSent').process({ type: 'KeepAliveMsg' });
  assert.deepEqual([notification(keepaliveInOpenSent)?.code, notification(keepaliveInOpenSent)?.subcode], [5, 1]);
});

test('hold timer expiry sends Hold Timer Expired and goes down', () => {
  const fsm = toState('Established');
  const acts = fsm.process({ type: 'HoldTimer_Expires' });
  assert.deepEqual([notification(acts)?.code, notification(acts)?.subcode], [4, 0]);
  const down = acts.find((a) => a.type === 'down');
  assert.ok(down?.type === 'down' && down.wasEstablished && down.reason.kind === 'holdTimerExpired');
});

test('ManualStop in Established sends Cease with the shutdown communication', () => {
  const fsm = toState('Established');
  const acts = fsm.process({ type: 'ManualStop', reason: 'node drained for maintenance' });
  const n = notification(acts)!;
  assert.deepEqual([n.code, n.subcode], [6, 2]);
  assert.equal(shutdownCommunication(n), 'node drained for maintenance');
  assert.equal(fsm.state, 'Idle');
  assert.equal(fsm.connectRetryCounter, 0);
});

test('a received NOTIFICATION closes the session and keeps its text for status', () => {
  const fsm = toState('Established');
  const acts = fsm.process({ type: 'NotifMsg', notification: { type: 'NOTIFICATION', code: 6, subcode: 2, data: Buffer.from('\x03bye') } });
  assert.equal(notification(acts), undefined, 'no NOTIFICATION in reply');
  const down = acts.find((a) => a.type === 'down');
  assert.ok(down?.type === 'down' && down.reason.kind === 'notificationReceived');
  assert.equal(down.reason.kind === 'notificationReceived' && down.reason.message, 'bye');
});

test('a collision dump sends Cease / Connection Collision Resolution', () => {
  const fsm = toState('OpenConfirm');
  const acts = fsm.process({ type: 'OpenCollisionDump' });
  assert.deepEqual([notification(acts)?.code, notification(acts)?.subcode], [6, 7]);
  assert.equal(fsm.state, 'Idle');
});

test('a malformed message gets the NOTIFICATION for its error', () => {
  const fsm = toState('Established');
  const acts = fsm.process({ type: 'MessageError', error: { kind: 'malformedAttributeList', reason: 'x' } });
  assert.deepEqual([notification(acts)?.code, notification(acts)?.subcode], [3, 1]);
});

test('an OPEN with a malformed body in Established gets the FSM error 5/3, not an OPEN error', () => {
  // RFC 4271 8.2.2, Established: Event 22 (BGPOpenMsgErr) is among "any other
  // event", answered with Finite State Machine Error; RFC 6608 subcode 3.
  const openErrors = [
    { kind: 'malformedOpen' as const, reason: 'optional parameters overrun the message' },
    { kind: 'unsupportedVersion' as const, version: 3 },
    { kind: 'unacceptableHoldTime' as const, holdTime: 2 },
  ];
  for (const error of openErrors) {
    const fsm = toState('Established');
    const acts = fsm.process({ type: 'MessageError', error });
    assert.deepEqual([notification(acts)?.code, notification(acts)?.subcode], [5, 3], error.kind);
    assert.equal(fsm.state, 'Idle');
  }
  // In OpenSent the same error is the OPEN error it names (RFC 4271 6.2).
  const inOpenSent = toState('OpenSent').process({ type: 'MessageError', error: { kind: 'unsupportedVersion', version: 3 } });
  assert.deepEqual([notification(inOpenSent)?.code, notification(inOpenSent)?.subcode], [2, 1]);
  // A header error in Established stays a Message Header Error (RFC 4271 6.1).
  const header = toState('Established').process({ type: 'MessageError', error: { kind: 'badMessageType', msgType: 9 } });
  assert.deepEqual([notification(header)?.code, notification(header)?.subcode], [1, 3]);
});

test('a TCP failure in Connect moves to Active and retries when the timer fires', () => {
  const fsm = new SessionFsm(base, 'internal', () => 1);
  fsm.process({ type: 'ManualStart' });
  fsm.process({ type: 'TcpConnectionFails', error: 'ECONNREFUSED' });
  assert.equal(fsm.state, 'Active');
  const acts = fsm.process({ type: 'ConnectRetryTimer_Expires' });
  assert.equal(fsm.state, 'Connect');
  assert.ok(acts.some((a) => a.type === 'connect'));
});

test('sending an UPDATE restarts the keepalive timer', () => {
  const fsm = toState('Established');
  assert.ok(timer(fsm.process({ type: 'UpdateSent' }), 'keepalive') !== undefined);
});

test('ADD-PATH is negotiated per direction and family', () => {
  const ours: OpenMessage = {
    type: 'OPEN', version: 4, myAs: 1, holdTime: 90, bgpId: '192.0.2.1',
    capabilities: [{ code: 1, afi: 1, safi: 1 }, { code: 1, afi: 2, safi: 1 }, { code: 69, families: [{ afi: 1, safi: 1, mode: 'both' }, { afi: 2, safi: 1, mode: 'receive' }] }],
  };
  const theirs: OpenMessage = {
    ...ours, bgpId: '192.0.2.2',
    capabilities: [{ code: 1, afi: 1, safi: 1 }, { code: 1, afi: 2, safi: 1 }, { code: 69, families: [{ afi: 1, safi: 1, mode: 'receive' }, { afi: 2, safi: 1, mode: 'both' }] }],
  };
  const n = negotiate(ours, theirs, 'internal');
  assert.deepEqual([...n.txCtx.addPath], [afiSafiKey(1, 1)]);
  assert.deepEqual([...n.rxCtx.addPath], [afiSafiKey(2, 1)]);
  assert.equal(n.fourOctetAs, false, 'neither side sent the 4-octet AS capability');
});

test('a peer without multiprotocol capabilities gets IPv4 unicast only', () => {
  const ours: OpenMessage = { type: 'OPEN', version: 4, myAs: 1, holdTime: 90, bgpId: '192.0.2.1', capabilities: [{ code: 1, afi: 1, safi: 1 }, { code: 1, afi: 2, safi: 1 }] };
  const n = negotiate(ours, { ...ours, capabilities: [] }, 'external');
  assert.deepEqual([...n.families], [afiSafiKey(1, 1)]);
});
