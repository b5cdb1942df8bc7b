import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { exportBackup, openBackupContainer } from '../shared/backup/export.js';
import { restoreBackup } from '../shared/backup/restore.js';
import { loadSettings } from '../shared/config/settings.js';
import { migrate } from '../shared/db/migrate.js';
import { createPool } from '../shared/db/pool.js';
import { startAzuriteBlob } from '../test/support/azurite.js';

/**
 * The backup round trip, timed (docs/backups.md): N orders (each with a status change, an idempotency record, an
 * outbox row, a processed message and a reservation) in a fresh database, exported to Azurite, restored into a second
 * fresh database. Needs DATABASE_URL to a real PostgreSQL server; creates and drops its two databases.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx tools/backup-roundtrip.ts --orders 100000
 */
const { values } = parseArgs({ options: { orders: { type: 'string', default: '100000' } } });
const orders = Number(values.orders);
const url = process.env.DATABASE_URL;
if (!url || !Number.isInteger(orders) || orders < 1) {
  console.error('usage: DATABASE_URL=postgres://… npx tsx tools/backup-roundtrip.ts [--orders 100000]');
  process.exit(2);
}
const withDatabase = (name: string) => Object.assign(new URL(url), { pathname: `/${name}` }).toString();

const admin = new pg.Client({ connectionString: url });
await admin.connect();
const suffix = randomBytes(4).toString('hex');
const [source, target] = [`valerix_backup_src_${suffix}`, `valerix_backup_dst_${suffix}`];
const azurite = await startAzuriteBlob();
const pools: pg.Pool[] = [];
try {
  for (const name of [source, target]) await admin.query(`CREATE DATABASE ${name}`);
  const [from, to] = [source, target].map((name) => {
    const pool = createPool({ connectionString: withDatabase(name), max: 2, connectionTimeoutMs: 30_000 });
    pools.push(pool);
    return pool;
  }) as [pg.Pool, pg.Pool];
  await migrate(from);
  await migrate(to);
  await from.query(
    `WITH o AS (
       INSERT INTO orders.orders (id, customer_id, product_id, quantity, status)
       SELECT gen_random_uuid(), 'customer-' || (i % 997), 'PROD-00' || (1 + i % 5), 1, 'shipped'
         FROM generate_series(1, $1::int) AS i
       RETURNING id, customer_id, product_id
     ), s AS (
       INSERT INTO orders.status_changes (order_id, from_status, to_status, message_id)
       SELECT id, 'pending', 'shipped', 'ir-' || id FROM o
     ), k AS (
       INSERT INTO orders.idempotency_keys (scope, key, fingerprint, response_status, response_body, order_id, expires_at)
       SELECT customer_id, 'key-' || id, 'sha256:x', 201, '{"order":{"id":"' || id || '"}}', id, now() + interval '1 day' FROM o
     ), ob AS (
       INSERT INTO orders.outbox (message_id, queue, type, body, published_at)
       SELECT 'op-' || id, 'inventory-reservations', 'OrderPlaced', jsonb_build_object('orderId', id), now() FROM o
     ), p AS (
       INSERT INTO orders.processed_messages (message_id, type) SELECT 'ir-' || id, 'InventoryReserved' FROM o
     )
     INSERT INTO inventory.reservations (order_id, product_id, quantity, result, message_id)
     SELECT id, product_id, 1, 'reserved', 'op-' || id FROM o`,
    [orders],
  );
  const settings = loadSettings({
    BACKUP_CONNECTION_STRING: azurite.connectionString,
    BACKUP_CONTAINER: 'backups',
  });
  const container = await openBackupContainer(settings.backup, { create: true });

  let t = performance.now();
  const exported = await exportBackup(from, container);
  const exportS = (performance.now() - t) / 1000;
  t = performance.now();
  const restored = await restoreBackup(to, container, { prefix: exported.prefix });
  const restoreS = (performance.now() - t) / 1000;
  const rows = restored.tables.reduce((a, r) => a + r.rows, 0);
  console.log(
    `${orders} orders, ${rows} rows in ${restored.tables.length} tables: export ${exportS.toFixed(2)} s, restore ${restoreS.toFixed(2)} s (verified, content re-hashed), round trip ${(exportS + restoreS).toFixed(2)} s`,
  );
} finally {
  await Promise.all(pools.map((p) => p.end()));
  for (const name of [source, target]) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
  await azurite.stop();
}
