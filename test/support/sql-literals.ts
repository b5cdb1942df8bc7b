import { readdirSync, readFileSync } from 'node:fs';

const ROOT = new URL('../../', import.meta.url);
const SQL_START = /^\s*(WITH|SELECT|INSERT|UPDATE|DELETE|SET|LOCK)\s/i;

/**
 * The string literals of a TypeScript source text ('…', "…" and `…` templates, comments left out), as written
 * between their quotes: a template keeps its `${…}` substitutions in its text. A small scanner, enough for this
 * repository's code (a regular expression literal holding a quote would confuse it).
 */
function stringLiterals(source: string): string[] {
  const found: string[] = [];
  let i = 0;
  /** Code until an unmatched `}` (inside a substitution) or the end; returns the index after it. */
  const code = (nested: boolean): void => {
    let depth = 0;
    while (i < source.length) {
      const c = source[i]!;
      const next = source[i + 1];
      if (c === '/' && next === '/') {
        i = source.indexOf('\n', i);
        if (i < 0) i = source.length;
      } else if (c === '/' && next === '*') {
        const end = source.indexOf('*/', i + 2);
        i = end < 0 ? source.length : end + 2;
      } else if (c === "'" || c === '"') {
        const start = ++i;
        while (i < source.length && source[i] !== c && source[i] !== '\n') i += source[i] === '\\' ? 2 : 1;
        found.push(source.slice(start, i));
        i++;
      } else if (c === '`') {
        template();
      } else {
        if (c === '{') depth++;
        if (c === '}') {
          if (nested && depth === 0) {
            i++;
            return;
          }
          depth--;
        }
        i++;
      }
    }
  };
  const template = (): void => {
    const start = ++i;
    const index = found.push('') - 1;
    while (i < source.length && source[i] !== '`') {
      if (source[i] === '\\') i += 2;
      else if (source[i] === '$' && source[i + 1] === '{') {
        i += 2;
        code(true);
      } else i++;
    }
    found[index] = source.slice(start, i);
    i++;
  };
  code(false);
  return found;
}

/** The string literals of a file (a path from the repository root) that are SQL: they start with a statement keyword. */
export function sqlLiterals(path: string): string[] {
  return stringLiterals(readFileSync(new URL(path, ROOT), 'utf8')).filter((text) => SQL_START.test(text));
}

/** The .ts files below a folder of the repository, as paths from its root. */
export function sourceFiles(folder: string): string[] {
  return readdirSync(new URL(`${folder}/`, ROOT), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => `${folder}/${name.split('\\').join('/')}`)
    .sort();
}
