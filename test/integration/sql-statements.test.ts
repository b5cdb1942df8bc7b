import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INVENTORY_REDRIVE_STATEMENTS } from '../../functions/inventory/dead-letter-redrive.js';
import { INVENTORY_STATEMENTS } from '../../functions/inventory/inventory-repository.js';
import { INVENTORY_RETENTION_STATEMENTS } from '../../functions/inventory/retention.js';
import { ORDERS_REDRIVE_STATEMENTS } from '../../functions/orders/dead-letter-redrive.js';
import { PURGE_EXPIRED_IDEMPOTENCY_KEYS } from '../../functions/orders/idempotency-purge.js';
import { ORDERS_STATEMENTS } from '../../functions/orders/orders-repository.js';
import { PRUNE_ORDER_HISTORY } from '../../functions/orders/retention.js';
import { HEALTH_STATEMENTS } from '../../functions/platform/health.js';
import { CHAOS_STATEMENTS } from '../../shared/chaos/chaos-flags.js';
import { BOUND_STATEMENT_TIME } from '../../shared/db/database.js';
import { DEAD_LETTER_STATEMENTS } from '../../shared/messaging/dead-letters.js';
import { OUTBOX_STATEMENTS } from '../../shared/messaging/outbox.js';
import { PRUNE_DEAD_LETTERS, PRUNE_PROCESSED_MESSAGES } from '../../shared/messaging/retention.js';
import { sourceFiles, sqlLiterals } from '../support/sql-literals.js';
import { testDatabaseClient } from '../support/test-database.js';

// Every SQL statement the services run is a whole text, exported, and PREPAREd here against the migrated
// schema: a typo, a renamed column or a parameter whose type cannot be told fails this file, not a request.

/** Statements by name; a statement both services share is a map of its two texts, one per schema. */
interface Statements {
  readonly [name: string]: string | Statements;
}

/** Each file that runs SQL, with every statement it runs. */
const STATEMENT_FILES: Record<string, Statements> = {
  'functions/orders/orders-repository.ts': ORDERS_STATEMENTS,
  'functions/inventory/inventory-repository.ts': INVENTORY_STATEMENTS,
  'functions/orders/retention.ts': { PRUNE_ORDER_HISTORY },
  'functions/orders/idempotency-purge.ts': { PURGE_EXPIRED_IDEMPOTENCY_KEYS },
  'functions/inventory/retention.ts': INVENTORY_RETENTION_STATEMENTS,
  'functions/platform/health.ts': HEALTH_STATEMENTS,
  'shared/messaging/outbox.ts': OUTBOX_STATEMENTS,
  'shared/messaging/retention.ts': { PRUNE_PROCESSED_MESSAGES, PRUNE_DEAD_LETTERS },
  'shared/messaging/dead-letters.ts': DEAD_LETTER_STATEMENTS,
  'functions/orders/dead-letter-redrive.ts': ORDERS_REDRIVE_STATEMENTS,
  'functions/inventory/dead-letter-redrive.ts': INVENTORY_REDRIVE_STATEMENTS,
  'shared/chaos/chaos-flags.ts': CHAOS_STATEMENTS,
  'shared/db/database.ts': { BOUND_STATEMENT_TIME },
};

/**
 * Builds SQL over whatever tables the catalog lists (export and restore copy every table, identifiers quoted), so
 * its statements cannot be written out; nothing else may assemble a statement.
 */
const DYNAMIC_SQL = ['shared/backup/'];

function flatten(statements: Statements, prefix: string): [string, string][] {
  return Object.entries(statements).flatMap(([name, value]): [string, string][] =>
    typeof value === 'string' ? [[`${prefix} ${name}`, value]] : flatten(value, `${prefix} ${name}`),
  );
}

const STATEMENTS: [string, string][] = Object.entries(STATEMENT_FILES).flatMap(([path, statements]) =>
  flatten(statements, path),
);

describe('every statement of the services', () => {
  for (const [path, statements] of Object.entries(STATEMENT_FILES)) {
    it(`${path}: every SQL text in the file is one exported statement, written without \${} fragments`, () => {
      const exported = flatten(statements, path).map(([, text]) => text);
      const found = sqlLiterals(path);
      expect(found.length).toBeGreaterThan(0);
      for (const text of found) {
        expect(text, 'a statement assembled from fragments').not.toContain('${');
        expect(exported, 'a SQL text the statement list misses').toContain(text);
      }
      expect(found).toHaveLength(exported.length);
    });
  }

  it('no SQL text under functions/ and shared/ is assembled from fragments (but the backup, over any table)', () => {
    const files = [...sourceFiles('functions'), ...sourceFiles('shared')];
    expect(files).toContain('shared/db/prune.ts');
    const assembled = files
      .flatMap((path) => sqlLiterals(path).map((text) => ({ path, text })))
      .filter(({ text }) => text.includes('${'));
    const dynamic = ({ path }: { path: string }) => DYNAMIC_SQL.some((folder) => path.startsWith(folder));
    // The scan does see an assembled text where there is one: the backup's.
    expect(assembled.filter(dynamic).length).toBeGreaterThan(0);
    expect(assembled.filter((found) => !dynamic(found))).toEqual([]);
  });

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
