/**
 * The commands of BIRD 1.6's CLI that calico-bgpd answers, and BIRD's replies
 * for those it does not: a line in, a framed reply out. BIRD's server takes
 * whole keywords only (birdc expands abbreviations before sending), so this
 * does too.
 */
import { formatProtocols, formatRouteCount, formatStatus } from './format.js';
import { ReplyCode, frameReply, singleLine } from './reply.js';
import type { BirdDaemonView, ViewDetail } from './view.js';

/** Commands that change BIRD's state: refused as BIRD refuses them on a restricted socket. */
const CONTROL_COMMANDS = new Set(['configure', 'down', 'disable', 'enable', 'restart', 'reload', 'debug', 'dump', 'mrtdump', 'eval', 'graceful']);

/** Splits a command line into words; a double-quoted word is a pattern (`show protocols "Mesh_*"`). */
export function splitWords(line: string): { word: string; quoted: boolean }[] | null {
  const words: { word: string; quoted: boolean }[] = [];
  const re = /\s*(?:"([^"]*)"|([^\s"]+))/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while ((m = re.exec(line)) !== null) {
    words.push(m[1] !== undefined ? { word: m[1], quoted: true } : { word: m[2]!, quoted: false });
    at = re.lastIndex;
  }
  return line.slice(at).trim() === '' ? words : null;
}

/** BIRD's `patmatch`: `*` any run of characters, `?` any one character. */
export function patternMatches(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
  return re.test(name);
}

function showProtocols(args: { word: string; quoted: boolean }[], view: BirdDaemonView): string {
  let all = false;
  let rest = args;
  if (rest[0]?.word === 'all' && rest[0].quoted === false) {
    all = true;
    rest = rest.slice(1);
  }
  if (rest.length > 1) return singleLine(ReplyCode.SYNTAX_ERROR, 'syntax error');
  const which = rest[0];
  if (which === undefined) return frameReply(formatProtocols(view.protocols, all, view.now));
  if (!which.quoted) {
    const p = view.protocols.find((x) => x.name === which.word);
    // BIRD resolves a bare name as a configuration symbol.
    if (p === undefined) return singleLine(ReplyCode.NOT_A_PROTOCOL, `${which.word} is not a protocol`);
    return frameReply(formatProtocols([p], all, view.now));
  }
  const matched = view.protocols.filter((p) => patternMatches(which.word, p.name));
  if (matched.length === 0) return singleLine(ReplyCode.NO_PROTOCOLS_MATCH, 'No protocols match');
  return frameReply(formatProtocols(matched, all, view.now));
}

/**
 * The framed reply to one command line. `view` is asked for only when a
 * command needs it, so errors cost nothing.
 */
export async function answer(line: string, view: (detail: ViewDetail) => BirdDaemonView | Promise<BirdDaemonView>): Promise<string> {
  const words = splitWords(line);
  if (words === null || words.length === 0) return singleLine(ReplyCode.SYNTAX_ERROR, 'syntax error');
  const [first, second, ...rest] = words.map((w) => (w.quoted ? '"' : w.word));
  if (first === 'restrict' && words.length === 1) return singleLine(ReplyCode.RESTRICTED, 'Access restricted');
  if (first !== undefined && CONTROL_COMMANDS.has(first)) return singleLine(ReplyCode.ACCESS_DENIED, 'Access denied');
  if (first !== 'show') return singleLine(ReplyCode.SYNTAX_ERROR, 'syntax error');
  if (second === 'status' && rest.length === 0) return frameReply(formatStatus(await view('peers')));
  // Only `all` shows route counts (and the preferred count needs a walk of the table).
  if (second === 'protocols') return showProtocols(words.slice(2), await view(words[2]?.word === 'all' && !words[2].quoted ? 'routes' : 'peers'));
  // `show route count` with no other options: the table of this daemon's family.
  if (second === 'route' && rest.length === 1 && rest[0] === 'count') return frameReply(formatRouteCount(await view('routes')));
  return singleLine(ReplyCode.SYNTAX_ERROR, 'syntax error');
}
