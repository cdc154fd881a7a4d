#!/usr/bin/env node
// Size limits of the style guide: no file in src/ over 800 lines, no function
// over 100 lines. Function length counts from the line a function (method,
// arrow, constructor, accessor) starts to the line it ends, inner closures
// included: a long function does not get shorter by nesting.
//
// Known oversized units are listed in scripts/size-exceptions.json with their
// current size; the check fails on a new one, or on a listed one that grew
// (the list may only shrink). `--update` rewrites the list from what is found.
//
//   node scripts/check-size.mjs [--json] [--update] [DIR...]
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const MAX_FILE_LINES = 800;
export const MAX_FUNCTION_LINES = 100;

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const exceptionsPath = join(root, 'scripts', 'size-exceptions.json');

function tsFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...tsFiles(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** A readable name for a function node: `Class.method`, `name`, or `<arrow>@line`. */
function functionName(node, sf) {
  const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
  let name = node.name && ts.isIdentifier(node.name) ? node.name.text : undefined;
  if (ts.isConstructorDeclaration(node)) name = 'constructor';
  if (name === undefined && ts.isVariableDeclaration(node.parent) && ts.isIdentifier(node.parent.name)) name = node.parent.name.text;
  if (name === undefined && ts.isPropertyAssignment(node.parent) && ts.isIdentifier(node.parent.name)) name = node.parent.name.text;
  const cls = ts.isClassLike(node.parent) && node.parent.name ? `${node.parent.name.text}.` : '';
  return name !== undefined ? `${cls}${name}` : `<anonymous>@${line}`;
}

/** Line counts of one source text: the file's and each function's. */
export function measureSource(fileName, text) {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const fileLines = text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
  const functions = [];
  const visit = (node) => {
    if (ts.isFunctionLike(node) && node.body !== undefined) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      functions.push({ name: functionName(node, sf), line: start + 1, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { fileLines, functions };
}

/** Every unit over its limit under `dirs`, as `{ unit, lines, limit }` (unit: `path` or `path#name`). */
export function findOversized(dirs) {
  const out = [];
  for (const dir of dirs) {
    for (const file of tsFiles(dir)) {
      const rel = relative(root, file);
      const { fileLines, functions } = measureSource(file, readFileSync(file, 'utf8'));
      if (fileLines > MAX_FILE_LINES) out.push({ unit: rel, lines: fileLines, limit: MAX_FILE_LINES });
      for (const f of functions) if (f.lines > MAX_FUNCTION_LINES) out.push({ unit: `${rel}#${f.name}`, lines: f.lines, limit: MAX_FUNCTION_LINES });
    }
  }
  return out;
}

/** Compares findings with the exception list: new oversized units and listed ones that grew. */
export function judge(found, exceptions) {
  const problems = [];
  for (const f of found) {
    const allowed = exceptions[f.unit];
    if (allowed === undefined) problems.push(`${f.unit}: ${f.lines} lines (limit ${f.limit})`);
    else if (f.lines > allowed) problems.push(`${f.unit}: ${f.lines} lines, grew from ${allowed} (limit ${f.limit})`);
  }
  return problems;
}

function main(argv) {
  const json = argv.includes('--json');
  const update = argv.includes('--update');
  const dirs = argv.filter((a) => !a.startsWith('--'));
  const found = findOversized(dirs.length > 0 ? dirs.map((d) => resolve(d)) : [join(root, 'src')]);
  if (update) {
    writeFileSync(exceptionsPath, `${JSON.stringify(Object.fromEntries(found.map((f) => [f.unit, f.lines])), null, 2)}\n`);
  }
  const exceptions = JSON.parse(readFileSync(exceptionsPath, 'utf8'));
  const problems = judge(found, exceptions);
  if (json) {
    process.stdout.write(`${JSON.stringify({ found, problems }, null, 2)}\n`);
  } else {
    for (const f of found) process.stdout.write(`${f.unit}: ${f.lines} lines (limit ${f.limit})${exceptions[f.unit] !== undefined ? ' [listed exception]' : ''}\n`);
    for (const p of problems) process.stderr.write(`check-size: ${p}\n`);
    process.stdout.write(`${found.length} oversized unit(s), ${problems.length} not allowed\n`);
  }
  return problems.length === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
