import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CONTEXT, decodeMessage, encodeMessage, messageFromJson, messageToJson } from '../../../src/bgp/packet/index.js';

function open(capabilities: unknown): unknown {
  return { type: 'OPEN', version: 4, myAs: 65001, holdTime: 90, bgpId: '192.0.2.1', capabilities };
}

// Each bad capability, and the words the error must contain so the author
// of the JSON can find the field.
const badCapabilities: { name: string; cap: unknown; error: RegExp }[] = [
  { name: 'not an object', cap: 'route-refresh', error: /capabilities\[0\] must be an object/ },
  { name: 'an array', cap: [1], error: /capabilities\[0\] must be an object/ },
  { name: 'no code', cap: { afi: 1, safi: 1 }, error: /capabilities\[0\]\.code must be an unsigned integer/ },
  { name: 'code over one octet', cap: { code: 256, data: '' }, error: /code must be at most 255/ },
  { name: 'multiprotocol without safi', cap: { code: 1, afi: 1 }, error: /capabilities\[0\]\.safi must be an unsigned integer/ },
  { name: 'multiprotocol AFI over two octets', cap: { code: 1, afi: 70000, safi: 1 }, error: /afi must be at most 65535/ },
  { name: 'multiprotocol SAFI as text', cap: { code: 1, afi: 1, safi: 'unicast' }, error: /safi must be an unsigned integer/ },
  { name: '4-octet AS negative', cap: { code: 65, asn: -1 }, error: /asn must be an unsigned integer/ },
  { name: '4-octet AS fractional', cap: { code: 65, asn: 1.5 }, error: /asn must be an unsigned integer/ },
  { name: 'graceful restart time over 12 bits', cap: { code: 64, restartState: false, restartTime: 5000, families: [] }, error: /restartTime must be at most 4095/ },
  { name: 'graceful restart flag as a number', cap: { code: 64, restartState: 1, restartTime: 120, families: [] }, error: /restartState must be true or false/ },
  {
    name: 'graceful restart family without forwarding state',
    cap: { code: 64, restartState: false, restartTime: 120, families: [{ afi: 1, safi: 1 }] },
    error: /families\[0\]\.forwardingState must be true or false/,
  },
  { name: 'ADD-PATH families not an array', cap: { code: 69, families: { afi: 1 } }, error: /capabilities\[0\]\.families must be an array/ },
  { name: 'ADD-PATH unknown mode', cap: { code: 69, families: [{ afi: 1, safi: 1, mode: 'sideways' }] }, error: /families\[0\]\.mode must be one of receive, send, both/ },
  { name: 'extended next hop without nextHopAfi', cap: { code: 5, families: [{ afi: 1, safi: 1 }] }, error: /nextHopAfi must be an unsigned integer/ },
  { name: 'LLGR stale time over 24 bits', cap: { code: 71, families: [{ afi: 1, safi: 1, forwardingState: true, staleTime: 0x1000000 }] }, error: /staleTime must be at most 16777215/ },
  { name: 'FQDN hostname not text', cap: { code: 73, hostname: 7, domain: '' }, error: /hostname must be a string/ },
  { name: 'FQDN hostname over 255 bytes', cap: { code: 73, hostname: 'h'.repeat(256), domain: '' }, error: /hostname must be at most 255 bytes/ },
  { name: 'raw data not hex', cap: { code: 200, data: 'zz' }, error: /data must be hex octets/ },
  { name: 'raw data of odd length', cap: { code: 200, data: 'abc' }, error: /data must be hex octets/ },
  { name: 'raw data over 255 octets', cap: { code: 200, data: '00'.repeat(256) }, error: /data must be at most 255 octets/ },
  { name: 'unknown code without data', cap: { code: 200 }, error: /capability 200 needs its value as hex in 'data'/ },
];

for (const c of badCapabilities) {
  test(`a capability in JSON that is ${c.name} is refused with the field named`, () => {
    assert.throws(() => messageFromJson(open([c.cap])), (e: unknown) => e instanceof RangeError && c.error.test(e.message));
  });
}

test('the index of the bad capability is named when good ones come before it', () => {
  assert.throws(() => messageFromJson(open([{ code: 2 }, { code: 65, asn: 'x' }])), /capabilities\[1\]\.asn/);
});

test('capabilities that are not an array are refused', () => {
  assert.throws(() => messageFromJson(open({ code: 2 })), /capabilities must be an array/);
});

test('every capability kind read from JSON encodes and decodes back to the same JSON', () => {
  const caps = [
    { code: 1, afi: 2, safi: 1 },
    { code: 2 },
    { code: 5, families: [{ afi: 1, safi: 1, nextHopAfi: 2 }] },
    { code: 6 },
    { code: 64, restartState: true, notification: false, restartTime: 120, families: [{ afi: 1, safi: 1, forwardingState: true }] },
    { code: 65, asn: 4200000000 },
    { code: 69, families: [{ afi: 1, safi: 1, mode: 'both' }] },
    { code: 70 },
    { code: 71, families: [{ afi: 1, safi: 1, forwardingState: false, staleTime: 3600 }] },
    { code: 73, hostname: 'node-a', domain: 'example.net' },
    { code: 200, data: '0a0b' },
  ];
  const msg = messageFromJson(open(caps));
  const back = messageToJson(decodeMessage(encodeMessage(msg, DEFAULT_CONTEXT), DEFAULT_CONTEXT).message);
  assert.deepEqual(back, open(caps));
});

test('raw capability data is normalised to lower-case hex', () => {
  const msg = messageFromJson(open([{ code: 200, data: 'ABCD' }]));
  assert.deepEqual(messageToJson(msg), open([{ code: 200, data: 'abcd' }]));
});
