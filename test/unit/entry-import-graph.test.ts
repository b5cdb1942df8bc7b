import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../shared/db/project-root.js';

/**
 * The modules a file loads when it is imported: its static imports and re-exports, followed through the
 * project's own files (type-only imports and dynamic `import()` are not loaded at import time).
 */
function staticImportGraph(entry: string): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const source = readFileSync(file, 'utf8');
    const statements = source.matchAll(
      /^(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm,
    );
    for (const [, typeOnly, specifier] of statements) {
      if (typeOnly || !specifier) continue;
      if (specifier.startsWith('.')) visit(join(dirname(file), specifier.replace(/\.js$/, '.ts')));
      else if (!specifier.startsWith('node:')) packages.add(specifier);
    }
  };
  visit(join(PROJECT_ROOT, entry));
  return {
    files: [...files].map((f) => relative(PROJECT_ROOT, f)).sort(),
    packages: [...packages].sort(),
  };
}

describe('cold start: what importing the Functions entry point loads', () => {
  it('is @azure/functions and the function table, no handler code', () => {
    const graph = staticImportGraph('functions/index.ts');
    // zod, pg, cockatiel, OpenTelemetry and Application Insights load with the first invocation instead.
    expect(graph.packages).toEqual(['@azure/functions']);
    expect(graph.files).toEqual([
      'functions/app-runtime.ts',
      'functions/catalog.ts',
      'functions/definitions.ts',
      'functions/index.ts',
      'functions/inventory/index.ts',
      'functions/orders/index.ts',
      'functions/platform/index.ts',
      'functions/platform/outbox-relay-timer.ts',
      'shared/http/azure-functions.ts',
      'shared/messaging/queue-names.ts',
    ]);
  });

  it('follows what it should: the handler and runtime modules reach zod, pg and cockatiel', () => {
    // Guards the walker itself: if it stopped following imports, the test above would pass vacuously.
    expect(staticImportGraph('functions/orders/create-order.ts').packages).toContain('zod');
    expect(staticImportGraph('functions/runtime.ts').packages).toEqual(
      expect.arrayContaining(['pg', 'cockatiel']),
    );
  });
});
