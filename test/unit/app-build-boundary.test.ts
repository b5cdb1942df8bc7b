import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../shared/db/project-root.js';

// tools/ (bench, chaos) runs from the sources with tsx and stays out of `npm run build` and the deploy package:
// tsconfig.json does not include it, and no file that the build compiles may import it (tsc would pull it in).

const APP_FOLDERS = ['functions', 'shared', 'infra'];
const sources = (dir: string) =>
  readdirSync(join(PROJECT_ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));

describe('the app build holds no tooling', () => {
  it('tsconfig.json compiles functions, shared and infra only; tsconfig.test.json type-checks tools too', () => {
    const build = JSON.parse(readFileSync(join(PROJECT_ROOT, 'tsconfig.json'), 'utf8')) as {
      include: string[];
    };
    const check = JSON.parse(readFileSync(join(PROJECT_ROOT, 'tsconfig.test.json'), 'utf8')) as {
      include: string[];
    };
    expect(build.include).toEqual(APP_FOLDERS);
    expect(check.include).toContain('tools');
  });

  it('no file of the app build imports tools/', () => {
    const offenders = APP_FOLDERS.flatMap(sources).filter((file) =>
      /from\s+['"][./]*tools\/|import\(\s*['"][./]*tools\//.test(
        readFileSync(join(PROJECT_ROOT, file), 'utf8'),
      ),
    );
    expect(offenders).toEqual([]);
  });
});
