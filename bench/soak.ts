/**
 * `npm run soak -- --minutes N [--sample S] [--step S]`: the speaker soak
 * (test/hardening/soak.ts) from the command line. Prints the sample tables,
 * the trend per speaker and the verdict; exits 1 on a failed verdict.
 */
import { parseArgs } from 'node:util';
import { runSoak } from '../test/hardening/soak.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    sample: { type: 'string', default: '5' },
    step: { type: 'string', default: '3' },
  },
});
const minutes = Number(values.minutes);
if (!(minutes > 0)) {
  console.error('--minutes must be a positive number');
  process.exit(2);
}
const report = await runSoak({
  minutes,
  sampleSeconds: Number(values.sample),
  stepSeconds: Number(values.step),
  log: (line) => console.log(line),
});
console.log(report.text);
process.exit(report.ok ? 0 : 1);
