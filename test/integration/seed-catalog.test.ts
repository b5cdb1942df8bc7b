import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../shared/db/project-root.js';
import { SEED_CATALOG, SEED_PRODUCT_IDS, SEED_STOCK } from '../../shared/seed-catalog.js';
import { realPostgres, testDatabase } from '../support/test-database.js';

// shared/seed-catalog.ts is the code's copy of the seed catalog that migration 002 inserts (migrations are applied SQL
// and never edited). It must say exactly what a migrated database holds.

const byId = (a: { productId: string }, b: { productId: string }) => a.productId.localeCompare(b.productId);

describe('the seed catalog', () => {
  it('is what migration 002_inventory.sql inserts', () => {
    const sql = readFileSync(join(PROJECT_ROOT, 'infra', 'migrations', '002_inventory.sql'), 'utf8');
    const insert = /INSERT INTO inventory\.products \(product_id, name, available\) VALUES([\s\S]*?);/.exec(
      sql,
    );
    expect(insert, 'the seed INSERT of migration 002').not.toBeNull();
    const rows = [...insert![1]!.matchAll(/\('([^']+)',\s*'([^']+)',\s*(\d+)\)/g)].map((m) => ({
      productId: m[1]!,
      name: m[2]!,
      available: Number(m[3]),
    }));
    expect(rows.sort(byId)).toEqual([...SEED_CATALOG].sort(byId));
  });

  it('derives the ids and the starting stock from the one list', () => {
    expect(SEED_PRODUCT_IDS).toEqual(SEED_CATALOG.map((p) => p.productId));
    expect(SEED_STOCK).toEqual(Object.fromEntries(SEED_CATALOG.map((p) => [p.productId, p.available])));
  });

  // On the embedded server every file's data is reset from shared/seed-catalog.ts itself, so only a real server's
  // freshly migrated database can say what the migrations hold.
  it.runIf(realPostgres)('equals what a migrated database holds', async () => {
    const database = await testDatabase();
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ productId: string; name: string; available: number }>(
        `SELECT product_id AS "productId", name, available FROM inventory.products ORDER BY product_id`,
      );
      expect(rows).toEqual([...SEED_CATALOG].sort(byId));
    } finally {
      await client.end();
      await database.drop();
    }
  });
});
