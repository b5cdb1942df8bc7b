import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../shared/db/project-root.js';

const dir = mkdtempSync(join(tmpdir(), 'valerix-import-graph-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * What importing `file` really loads, in a fresh Node process (through tsx, from the sources): a module
 * resolution hook records every module resolved while the import runs, top-level `await import()` included.
 */
function modulesLoadedBy(file: string): { files: string[]; packages: string[] } {
  const log = join(dir, `${file.replaceAll('/', '_')}.log`);
  const hook = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, resolved.url + '\\n');
  return resolved;
}`;
  const code = `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
await import(${JSON.stringify(pathToFileURL(join(PROJECT_ROOT, file)).href)});`;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: PROJECT_ROOT,
    env: {
      PATH: process.env.PATH,
      // What the entry point checks for at import; nothing connects.
      DATABASE_URL: 'postgres://valerix@127.0.0.1:1/none',
      ServiceBusConnection__fullyQualifiedNamespace: 'valerix-test.servicebus.windows.net',
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (run.status !== 0) throw new Error(`importing ${file} failed:\n${run.stderr}`);
  const files = new Set<string>();
  const packages = new Set<string>();
  for (const url of readFileSync(log, 'utf8').split('\n')) {
    if (!url.startsWith('file:')) continue;
    const path = fileURLToPath(url);
    const inPackage = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
    if (inPackage) packages.add(inPackage[1]!);
    else files.add(relative(PROJECT_ROOT, path));
  }
  return { files: [...files].sort(), packages: [...packages].sort() };
}

describe('cold start: what importing the Functions entry point loads', () => {
  it('is @azure/functions and the function table, no handler code', () => {
    const loaded = modulesLoadedBy('functions/index.ts');
    // zod, pg, cockatiel, OpenTelemetry and Application Insights load with the first invocation instead.
    expect(loaded.packages).toEqual(['@azure/functions']);
    expect(loaded.files).toEqual([
      'functions/app-runtime.ts',
      'functions/definitions.ts',
      'functions/function-table.ts',
      'functions/index.ts',
      'functions/inventory/index.ts',
      'functions/orders/index.ts',
      'functions/platform/index.ts',
      'functions/platform/outbox-relay-timer.ts',
      'shared/http/azure-functions.ts',
      'shared/messaging/queue-names.ts',
      'shared/telemetry/start-at-entry.ts',
    ]);
  });

  it('sees what a handler and the runtime load (so the check above cannot pass by seeing nothing)', () => {
    expect(modulesLoadedBy('functions/orders/create-order.ts').packages).toContain('zod');
    expect(modulesLoadedBy('functions/runtime.ts').packages).toEqual(
      expect.arrayContaining(['pg', 'cockatiel', '@opentelemetry/api']),
    );
  });
});
