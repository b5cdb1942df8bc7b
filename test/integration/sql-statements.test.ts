import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INVENTORY_STATEMENTS } from '../../functions/inventory/inventory-repository.js';
import { ORDERS_STATEMENTS } from '../../functions/orders/orders-repository.js';
import { deadLetterStatement } from '../../shared/messaging/dead-letters.js';
import { testDatabaseClient } from '../support/test-database.js';

// Every SQL statement the repositories run is a whole text, exported, and PREPAREd here against the migrated
// schema: a typo, a renamed column or a parameter whose type cannot be told fails this file, not a request.

const REPOSITORIES = {
  'functions/orders/orders-repository.ts': ORDERS_STATEMENTS,
  'functions/inventory/inventory-repository.ts': INVENTORY_STATEMENTS,
} as const;

const STATEMENTS: [string, string][] = [
  ...Object.entries(ORDERS_STATEMENTS).map(([name, text]): [string, string] => [`orders ${name}`, text]),
  ...Object.entries(INVENTORY_STATEMENTS).map(([name, text]): [string, string] => [
    `inventory ${name}`,
    text,
  ]),
  ['orders dead letter', deadLetterStatement('orders')],
  ['inventory dead letter', deadLetterStatement('inventory')],
];

/** The string literals of a source file (comments left out) that are SQL: they start with a statement keyword. */
function sqlLiterals(path: string): string[] {
  const source = readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  const literals = source.match(/`[^`]*`|'(?:[^'\\\n]|\\.)*'/g) ?? [];
  return literals
    .map((literal) => literal.slice(1, -1))
    .filter((text) => /^\s*(WITH|SELECT|INSERT|UPDATE|DELETE)\s/i.test(text));
}

describe('every statement of the repositories', () => {
  for (const [path, statements] of Object.entries(REPOSITORIES)) {
    it(`${path}: every SQL text in the file is one exported statement, written without \${} fragments`, () => {
      const exported: string[] = Object.values(statements);
      const found = sqlLiterals(path);
      expect(found.length).toBeGreaterThan(0);
      for (const text of found) {
        expect(text, 'a statement assembled from fragments').not.toContain('${');
        expect(exported, 'a SQL text the statement list misses').toContain(text);
      }
      expect(found).toHaveLength(exported.length);
    });
  }

  let connected: Awaited<ReturnType<typeof testDatabaseClient>>;
  beforeAll(async () => {
    connected = await testDatabaseClient();
  });
  afterAll(async () => {
    await connected?.close();
  });

  for (const [index, [name, text]] of STATEMENTS.entries()) {
    it(`PREPAREs ${name} against the migrated schema`, async () => {
      const statement = `valerix_check_${index}`;
      await connected.client.query(`PREPARE ${statement} AS ${text}`);
      await connected.client.query(`DEALLOCATE ${statement}`);
    });
  }
});
