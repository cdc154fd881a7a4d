/**
 * Where Calico's own confd test cases live. Every checkout of the project
 * sits beside `shared/` (the project root's `../shared/conformance/calico-confd`),
 * so the default is resolved from this file's location, never from one
 * machine's absolute path. `CALICO_CONFD_CONFORMANCE` overrides it.
 *
 * When the cases are missing, the tests that need them are skipped with a
 * reason naming the directory; the test runner lists every skip in its
 * summary and fails the run in strict mode (as CI runs it).
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root: this file is compiled to dist/test/support/. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Directory holding cases.tsv, cases/ and common/. */
export const CONFORMANCE_ROOT = process.env.CALICO_CONFD_CONFORMANCE ?? resolve(PROJECT_ROOT, '../shared/conformance/calico-confd');

/** True when the cases can be read. */
export const conformanceAvailable = existsSync(join(CONFORMANCE_ROOT, 'cases.tsv'));

/** The `skip` option for a test that needs the cases: false, or the reason it cannot run. */
export const conformanceSkip: false | string = conformanceAvailable
  ? false
  : `Calico's confd conformance cases are missing: no cases.tsv in ${CONFORMANCE_ROOT} (set CALICO_CONFD_CONFORMANCE)`;
