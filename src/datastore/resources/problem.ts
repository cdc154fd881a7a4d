/**
 * One piece of bad input that was skipped. Everything else still reaches the
 * key view and the model; the caller logs each problem once.
 *
 * `resource` names what was wrong: `Kind/name` for a resource
 * (`BGPPeer/peer-1`), or the key for a key-view entry
 * (`/calico/bgp/v1/global/peer_v4/10.0.0.1`). Messages never contain
 * passwords or other secret material.
 */
export interface Problem {
  resource: string;
  message: string;
  file?: string;
  line?: number;
}

/** One-line human form: `file:line: Kind/name: message`. */
export function formatProblem(p: Problem): string {
  const where = p.file !== undefined ? `${p.file}${p.line !== undefined ? `:${p.line}` : ''}: ` : '';
  return `${where}${p.resource}: ${p.message}`;
}
