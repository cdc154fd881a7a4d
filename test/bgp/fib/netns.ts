/**
 * The kernel FIB tests' namespaces (`cbfib-<pid>-<n>`, see `TestNs`) live in
 * the shared module; this file keeps the names the FIB tests and the kernel
 * benchmark import.
 */
import { sweepStaleNamespaces } from '../../support/netns.js';

export { TestNs, ip, netnsAvailable, type ShownRoute } from '../../support/netns.js';

/** Deletes `cbfib-<pid>-*` namespaces whose process is gone. */
export function sweep(): void {
  sweepStaleNamespaces('cbfib-');
}
