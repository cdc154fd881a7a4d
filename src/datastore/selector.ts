/**
 * Calico's label selector language, as used by BGPPeer `nodeSelector` and
 * `peerSelector`:
 *
 *   all()                      every object
 *   has(k)   !has(k)           label present / absent
 *   k == 'v'   k != 'v'        equal / not equal (absent label counts as not equal)
 *   k in {'a','b'}             value in set (absent label: false)
 *   k not in {'a','b'}         value not in set (absent label: true)
 *   k contains 's', k starts with 's', k ends with 's'
 *   a && b, a || b, !a, ( ... )
 *
 * Strings take single or double quotes. An empty selector selects everything,
 * as Calico treats it. `&&` binds tighter than `||`.
 *
 * Parsing is separate from evaluation: `parseSelector` returns a tree once
 * (or throws `SelectorError` with the column), `matches` evaluates it against
 * a label map as often as needed.
 */

// ---------------------------------------------------------------------------
// AST
// ---------------------------------------------------------------------------

export type SelectorNode =
  | { op: 'all' }
  | { op: 'has'; key: string }
  | { op: 'eq' | 'ne' | 'contains' | 'startsWith' | 'endsWith'; key: string; value: string }
  | { op: 'in' | 'notIn'; key: string; values: string[] }
  | { op: 'not'; arg: SelectorNode }
  | { op: 'and' | 'or'; args: SelectorNode[] };

/** A selector that failed to parse; `position` is the 0-based offset of the problem. */
export class SelectorError extends Error {
  constructor(
    message: string,
    readonly selector: string,
    readonly position: number,
  ) {
    super(`${message} at column ${position + 1} of selector ${JSON.stringify(selector)}`);
    this.name = 'SelectorError';
  }
}

// ---------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------

type Token =
  | { t: 'ident'; v: string; pos: number }
  | { t: 'string'; v: string; pos: number }
  | { t: 'punct'; v: string; pos: number }
  | { t: 'end'; pos: number };

const LABEL_CHAR = /[A-Za-z0-9_./\-]/;
const PUNCT = ['&&', '||', '==', '!=', '!', '(', ')', '{', '}', ','];

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      const end = src.indexOf(c, i + 1);
      if (end < 0) throw new SelectorError('unterminated string', src, i);
      out.push({ t: 'string', v: src.slice(i + 1, end), pos: i });
      i = end + 1;
      continue;
    }
    const punct = PUNCT.find((p) => src.startsWith(p, i));
    if (punct !== undefined) {
      out.push({ t: 'punct', v: punct, pos: i });
      i += punct.length;
      continue;
    }
    if (LABEL_CHAR.test(c)) {
      const start = i;
      while (i < src.length && LABEL_CHAR.test(src[i]!)) i++;
      out.push({ t: 'ident', v: src.slice(start, i), pos: start });
      continue;
    }
    throw new SelectorError(`unexpected character ${JSON.stringify(c)}`, src, i);
  }
  out.push({ t: 'end', pos: src.length });
  return out;
}

// ---------------------------------------------------------------------------
// Parser (recursive descent: or -> and -> unary -> primary)
// ---------------------------------------------------------------------------

class Parser {
  private i = 0;
  constructor(
    private readonly src: string,
    private readonly toks: Token[],
  ) {}

  private peek(): Token {
    return this.toks[this.i]!;
  }
  private next(): Token {
    return this.toks[this.i++]!;
  }
  private fail(msg: string, tok: Token = this.peek()): never {
    throw new SelectorError(msg, this.src, tok.pos);
  }
  private isPunct(v: string): boolean {
    const t = this.peek();
    return t.t === 'punct' && t.v === v;
  }
  private expectPunct(v: string): void {
    if (!this.isPunct(v)) this.fail(`expected '${v}'`);
    this.i++;
  }
  private isIdent(v: string, offset = 0): boolean {
    const t = this.toks[this.i + offset];
    return t !== undefined && t.t === 'ident' && t.v === v;
  }
  private expectString(): string {
    const t = this.next();
    if (t.t !== 'string') this.fail('expected a quoted string', t);
    return t.v;
  }

  parseTop(): SelectorNode {
    if (this.peek().t === 'end') return { op: 'all' };
    const node = this.parseOr();
    if (this.peek().t !== 'end') this.fail('unexpected trailing input');
    return node;
  }

  private parseOr(): SelectorNode {
    const args = [this.parseAnd()];
    while (this.isPunct('||')) {
      this.i++;
      args.push(this.parseAnd());
    }
    return args.length === 1 ? args[0]! : { op: 'or', args };
  }

  private parseAnd(): SelectorNode {
    const args = [this.parseUnary()];
    while (this.isPunct('&&')) {
      this.i++;
      args.push(this.parseUnary());
    }
    return args.length === 1 ? args[0]! : { op: 'and', args };
  }

  private parseUnary(): SelectorNode {
    if (this.isPunct('!')) {
      this.i++;
      return { op: 'not', arg: this.parseUnary() };
    }
    return this.parsePrimary();
  }

  private parsePrimary(): SelectorNode {
    if (this.isPunct('(')) {
      this.i++;
      const inner = this.parseOr();
      this.expectPunct(')');
      return inner;
    }
    const tok = this.next();
    if (tok.t !== 'ident') this.fail('expected a label name, all() or has()', tok);
    if ((tok.v === 'all' || tok.v === 'global') && this.isPunct('(')) {
      this.i++;
      this.expectPunct(')');
      return { op: 'all' };
    }
    if (tok.v === 'has' && this.isPunct('(')) {
      this.i++;
      const k = this.next();
      if (k.t !== 'ident') this.fail('expected a label name inside has()', k);
      this.expectPunct(')');
      return { op: 'has', key: k.v };
    }
    const key = tok.v;
    if (this.isPunct('==')) {
      this.i++;
      return { op: 'eq', key, value: this.expectString() };
    }
    if (this.isPunct('!=')) {
      this.i++;
      return { op: 'ne', key, value: this.expectString() };
    }
    if (this.isIdent('in')) {
      this.i++;
      return { op: 'in', key, values: this.parseSet() };
    }
    if (this.isIdent('not') && this.isIdent('in', 1)) {
      this.i += 2;
      return { op: 'notIn', key, values: this.parseSet() };
    }
    if (this.isIdent('contains')) {
      this.i++;
      return { op: 'contains', key, value: this.expectString() };
    }
    if (this.isIdent('starts') && this.isIdent('with', 1)) {
      this.i += 2;
      return { op: 'startsWith', key, value: this.expectString() };
    }
    if (this.isIdent('ends') && this.isIdent('with', 1)) {
      this.i += 2;
      return { op: 'endsWith', key, value: this.expectString() };
    }
    return this.fail(`expected an operator after label '${key}'`);
  }

  private parseSet(): string[] {
    this.expectPunct('{');
    const values: string[] = [];
    if (this.isPunct('}')) {
      this.i++;
      return values;
    }
    for (;;) {
      values.push(this.expectString());
      if (this.isPunct(',')) {
        this.i++;
        continue;
      }
      this.expectPunct('}');
      return values;
    }
  }
}

/** Parses a selector; throws `SelectorError` on bad syntax. */
export function parseSelector(src: string): SelectorNode {
  return new Parser(src, tokenize(src)).parseTop();
}

/** Evaluates a parsed selector against a label map. */
export function matches(node: SelectorNode, labels: Readonly<Record<string, string>>): boolean {
  switch (node.op) {
    case 'all':
      return true;
    case 'has':
      return Object.hasOwn(labels, node.key);
    case 'eq':
      return Object.hasOwn(labels, node.key) && labels[node.key] === node.value;
    case 'ne':
      return !Object.hasOwn(labels, node.key) || labels[node.key] !== node.value;
    case 'contains':
      return Object.hasOwn(labels, node.key) && labels[node.key]!.includes(node.value);
    case 'startsWith':
      return Object.hasOwn(labels, node.key) && labels[node.key]!.startsWith(node.value);
    case 'endsWith':
      return Object.hasOwn(labels, node.key) && labels[node.key]!.endsWith(node.value);
    case 'in':
      return Object.hasOwn(labels, node.key) && node.values.includes(labels[node.key]!);
    case 'notIn':
      return !Object.hasOwn(labels, node.key) || !node.values.includes(labels[node.key]!);
    case 'not':
      return !matches(node.arg, labels);
    case 'and':
      return node.args.every((a) => matches(a, labels));
    case 'or':
      return node.args.some((a) => matches(a, labels));
    default: {
      const never: never = node;
      return never;
    }
  }
}

/** A compiled selector: parse once, test many label maps. */
export interface Selector {
  readonly source: string;
  readonly ast: SelectorNode;
  matches(labels: Readonly<Record<string, string>>): boolean;
}

/** Parses `src` into a reusable `Selector`; throws `SelectorError` on bad syntax. */
export function compileSelector(src: string): Selector {
  const ast = parseSelector(src);
  return { source: src, ast, matches: (labels) => matches(ast, labels) };
}
