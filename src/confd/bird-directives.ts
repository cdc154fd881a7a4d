/**
 * Semantic comparison of BIRD configuration text, the way the conformance
 * cases are judged: comments (`#` to the end of the line, outside quoted
 * strings) and all layout are dropped, the text is split into statements
 * after each `;`, `{` and `}`, and two files are equivalent when their
 * statement sequences are identical.
 */

/** Drops `#` comments outside double-quoted strings (BIRD strings have no escapes). */
export function stripComments(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      let quoted = false;
      for (let i = 0; i < line.length; i++) {
        const c = line[i];
        if (c === '"') quoted = !quoted;
        else if (c === '#' && !quoted) return line.slice(0, i);
      }
      return line;
    })
    .join('\n');
}

/** The statements of a BIRD file: split after `;`, `{`, `}`, whitespace collapsed, empty ones dropped. */
export function directives(text: string): string[] {
  return stripComments(text)
    .split(/(?<=[;{}])/)
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter((s) => s !== '');
}

/** One difference between two statement sequences. */
export interface DirectiveDiffLine {
  op: '-' | '+' | ' ';
  text: string;
}

/**
 * A line diff of two statement sequences (longest common subsequence), `-`
 * for statements only in `expected`, `+` for statements only in `actual`.
 * Empty when they are identical.
 */
export function diffDirectives(expected: readonly string[], actual: readonly string[]): DirectiveDiffLine[] {
  const n = expected.length;
  const m = actual.length;
  // lcs[i][j]: length of the LCS of expected[i..] and actual[j..]; configs are small (hundreds of statements).
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = expected[i] === actual[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: DirectiveDiffLine[] = [];
  let i = 0;
  let j = 0;
  let changed = false;
  while (i < n || j < m) {
    if (i < n && j < m && expected[i] === actual[j]) {
      out.push({ op: ' ', text: expected[i]! });
      i++;
      j++;
    } else if (j < m && (i === n || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) {
      out.push({ op: '+', text: actual[j]! });
      j++;
      changed = true;
    } else {
      out.push({ op: '-', text: expected[i]! });
      i++;
      changed = true;
    }
  }
  return changed ? out : [];
}

/**
 * Compares two BIRD files semantically. Returns null when equivalent, else a
 * readable diff of the statements (with `context` unchanged statements around
 * each change).
 */
export function compareBird(expectedText: string, actualText: string, context = 3): string | null {
  const diff = diffDirectives(directives(expectedText), directives(actualText));
  if (diff.length === 0) return null;
  const keep = new Set<number>();
  diff.forEach((d, k) => {
    if (d.op !== ' ') for (let c = k - context; c <= k + context; c++) keep.add(c);
  });
  const lines: string[] = [];
  let last = -1;
  diff.forEach((d, k) => {
    if (!keep.has(k)) return;
    if (last !== -1 && k !== last + 1) lines.push('  ...');
    lines.push(`${d.op} ${d.text}`);
    last = k;
  });
  return lines.join('\n');
}
