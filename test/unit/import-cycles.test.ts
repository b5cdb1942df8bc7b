import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../shared/db/project-root.js';

// Import circles among functions/, found by Biome's noImportCycles (on in biome.json for `npm run lint` too). Type-only
// imports are erased and do not count. A circle loads its modules in an order nobody chose: a value read at import
// time may still be undefined.

const biome = createRequire(import.meta.url).resolve('@biomejs/biome/bin/biome');
const dir = mkdtempSync(join(tmpdir(), 'valerix-import-cycles-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Diagnostic {
  category: string;
  location: { path: string };
}

/** The noImportCycles findings of Biome run over `paths` from `cwd`, as `path` per import in a circle. */
function cycles(cwd: string, paths: string[]): string[] {
  const run = spawnSync(
    process.execPath,
    [
      biome,
      'lint',
      '--only=suspicious/noImportCycles',
      '--reporter=json',
      '--max-diagnostics=none',
      ...paths,
    ],
    { cwd, encoding: 'utf8', timeout: 60_000 },
  );
  const report = JSON.parse(run.stdout) as { diagnostics: Diagnostic[] };
  return report.diagnostics
    .filter((d) => d.category === 'lint/suspicious/noImportCycles')
    .map((d) => d.location.path)
    .sort();
}

describe('import circles', () => {
  it('there is none among functions/ and shared/', () => {
    expect(cycles(PROJECT_ROOT, ['functions', 'shared'])).toEqual([]);
  });

  it('a circle is found (so the check above cannot pass by seeing nothing)', () => {
    writeFileSync(join(dir, 'biome.json'), JSON.stringify({ root: true }));
    writeFileSync(join(dir, 'table.ts'), "import { doc } from './doc.js';\nexport const table = [doc];\n");
    writeFileSync(
      join(dir, 'doc.ts'),
      "import { table } from './table.js';\nexport const doc = () => table;\n",
    );
    // A type-only import is erased by the compiler: no circle at run time.
    writeFileSync(
      join(dir, 'types.ts'),
      "import type { doc } from './typed.js';\nexport type T = typeof doc;\n",
    );
    writeFileSync(
      join(dir, 'typed.ts'),
      "import type { T } from './types.js';\nexport const doc = 1 as unknown as T;\n",
    );
    expect(cycles(dir, ['.']).map((p) => p.replace(/^.*\//, ''))).toEqual(['doc.ts', 'table.ts']);
  });
});
