/**
 * scripts/check-size.mjs: the size limits of the style guide (file <= 800
 * lines, function <= 100) measured with the TypeScript compiler API, and
 * src/ held to them (listed exceptions may only shrink).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';

const repoRoot = (): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
};

interface Measured {
  fileLines: number;
  functions: { name: string; line: number; lines: number }[];
}
interface CheckSize {
  measureSource(fileName: string, text: string): Measured;
  judge(found: { unit: string; lines: number; limit: number }[], exceptions: Record<string, number>): string[];
}

const load = async (): Promise<CheckSize> => (await import(pathToFileURL(join(repoRoot(), 'scripts', 'check-size.mjs')).href)) as CheckSize;

describe('check-size', () => {
  it('measures functions, methods and arrows, inner closures included', async () => {
    const { measureSource } = await load();
    const body = (n: number): string => Array.from({ length: n }, (_, i) => `  const x${i} = ${i};`).join('\n');
    const text = [
      `export function outer(): void {`, // line 1
      `  const inner = (): number => {`,
      body(3),
      `    return 1;`,
      `  };`,
      `}`,
      `class K {`,
      `  m(): void {`,
      body(2),
      `  }`,
      `}`,
      ``,
    ].join('\n');
    const m = measureSource('x.ts', text);
    const byName = new Map(m.functions.map((f) => [f.name, f.lines]));
    assert.equal(byName.get('outer'), 8);
    assert.equal(byName.get('inner'), 6);
    assert.equal(byName.get('K.m'), 4);
    assert.equal(m.fileLines, 14);
  });

  it('judges new and grown units, not listed ones that stayed or shrank', async () => {
    const { judge } = await load();
    const found = [
      { unit: 'src/a.ts#f', lines: 120, limit: 100 },
      { unit: 'src/b.ts#g', lines: 150, limit: 100 },
      { unit: 'src/c.ts', lines: 900, limit: 800 },
    ];
    const problems = judge(found, { 'src/a.ts#f': 130, 'src/b.ts#g': 140 });
    assert.equal(problems.length, 2);
    assert.match(problems[0]!, /src\/b\.ts#g: 150 lines, grew from 140/);
    assert.match(problems[1]!, /src\/c\.ts: 900 lines/);
  });

  it('src/ keeps to the limits (listed exceptions may only shrink)', () => {
    const r = spawnSync(process.execPath, [join(repoRoot(), 'scripts', 'check-size.mjs')], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  });
});
