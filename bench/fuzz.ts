/**
 * `npm run fuzz -- --messages N [--seed S] [--live N] [--live-resets N]
 * [--timeout S] [--crash-dir DIR]`: the BGP fuzzer (test/hardening/fuzz.ts)
 * from the command line. Prints both phases' figures; exits 1 on any crash,
 * hang or divergence, with every such input kept in the crash directory.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { runFuzz } from '../test/hardening/fuzz.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '100000' },
    seed: { type: 'string', default: '20261204' },
    live: { type: 'string' },
    'live-resets': { type: 'string', default: '200' },
    timeout: { type: 'string', default: '20' },
    'crash-dir': { type: 'string', default: fileURLToPath(new URL('../../test/hardening/fuzz-crashes/', import.meta.url)) },
  },
});
const messages = Number(values.messages);
if (!(Number.isInteger(messages) && messages > 0)) {
  console.error('--messages must be a positive integer');
  process.exit(2);
}
const report = await runFuzz({
  messages,
  seed: Number(values.seed),
  liveMessages: values.live !== undefined ? Number(values.live) : Math.min(20_000, Math.ceil(messages / 10)),
  maxResets: Number(values['live-resets']),
  timeoutSeconds: Number(values.timeout),
  crashDir: values['crash-dir'],
  progress: (line) => console.error(line),
});
console.log(report.text);
process.exit(report.ok ? 0 : 1);
