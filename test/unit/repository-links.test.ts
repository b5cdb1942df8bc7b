import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * What a newcomer follows must exist: relative links in the Markdown files, files the workflows and .ci/run point
 * at, and the npm scripts they call.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const list = (dir: string, ending: string) =>
  existsSync(join(root, dir))
    ? readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith(ending))
        .map((f) => join(dir, f))
    : [];

const markdown = [...readdirSync(root).filter((f) => f.endsWith('.md')), ...list('docs', '.md')];
const automation = [
  ...list('.github/workflows', '.yml'),
  '.ci/run',
  'infra/scripts/deploy.sh',
  'azure.yaml',
].filter((f) => existsSync(join(root, f)));
const scripts = Object.keys(
  (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts,
);

describe('links and references', () => {
  it('every relative link in the Markdown files points at a file that exists', () => {
    const broken: string[] = [];
    for (const file of markdown) {
      for (const m of read(file).matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = (m[1] ?? '').split('#')[0] ?? '';
        if (target === '' || /^[a-z]+:/i.test(target)) continue;
        if (!existsSync(join(root, dirname(file), decodeURIComponent(target))))
          broken.push(`${file} -> ${m[1]}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('every repository path the workflows and scripts mention exists', () => {
    const missing: string[] = [];
    for (const file of automation) {
      for (const m of read(file).matchAll(
        /(?<![\w/.$-])((?:docs|bicep|infra|test|functions|shared)\/[\w./-]*\w)/g,
      )) {
        const path = m[1] ?? '';
        if (path.includes('*') || path.startsWith('infra/bicep-cli/obj')) continue;
        if (!existsSync(join(root, path))) missing.push(`${file} -> ${path}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('every `npm run X` in the README, workflows and scripts is a script of package.json', () => {
    const unknown: string[] = [];
    for (const file of [...markdown, ...automation]) {
      for (const m of read(file).matchAll(/npm run ([\w:-]+)/g)) {
        if (!scripts.includes(m[1] ?? '')) unknown.push(`${file}: npm run ${m[1]}`);
      }
    }
    expect(unknown).toEqual([]);
  });
});
