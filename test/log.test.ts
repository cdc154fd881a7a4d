import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normaliseLevel } from '../src/log.js';

test('Calico log severities map to pino levels', () => {
  assert.equal(normaliseLevel('Warning'), 'warn');
  assert.equal(normaliseLevel('none'), 'silent');
  assert.equal(normaliseLevel('debug'), 'debug');
  assert.equal(normaliseLevel('loud'), undefined);
  assert.equal(normaliseLevel(undefined), undefined);
});
