import { gunzipSync, gzipSync } from 'node:zlib';
import type { Timer } from '@azure/functions';
import type { ContainerClient } from '@azure/storage-blob';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTIONS, loadFunction } from '../../functions/function-table.js';
import type { Runtime } from '../../functions/runtime.js';
import {
  type BackupManifest,
  backupPrefix,
  exportBackup,
  MANIFEST_NAME,
  manifestChecksum,
  openBackupContainer,
} from '../../shared/backup/export.js';
import {
  BackupRefusedError,
  listExports,
  resolvePrefix,
  restoreBackup,
  verifyExport,
} from '../../shared/backup/restore.js';
import { loadSettings, SettingsError } from '../../shared/config/settings.js';
import { createPool } from '../../shared/db/pool.js';
import { InvocationContext } from '../../shared/http/azure-functions.js';
import { type AzuriteBlob, startAzuriteBlob } from '../support/azurite.js';
import { realPostgres, type TestDatabase, testDatabase } from '../support/test-database.js';

// Backup round trip against Azurite's Blob service (started here on a free loopback port) and PostgreSQL: seed,
// export, restore into a second empty database, compare every row of every table; damaged exports are refused
// and leave the target untouched. On the embedded server (one database), "a second empty database" is the same
// database reset by testDatabase() to its freshly migrated state.

const SCHEMAS = ['orders', 'inventory', 'platform'];

let azurite: AzuriteBlob | undefined;
let connectionString: string;
let container: ContainerClient;
const databases: TestDatabase[] = [];
const pools: pg.Pool[] = [];

async function freshDatabase(): Promise<{ db: TestDatabase; pool: pg.Pool }> {
  // The embedded server serves one connection at a time: close every earlier pool before it is reset.
  if (!realPostgres) await Promise.all(pools.splice(0).map((p) => p.end()));
  const db = await testDatabase();
  databases.push(db);
  const pool = createPool({
    connectionString: db.url,
    max: realPostgres ? 3 : 1,
    connectionTimeoutMs: 10_000,
  });
  pools.push(pool);
  return { db, pool };
}

/** Every row of every table in the three schemas, as canonical JSON text, by table. */
async function snapshot(pool: pg.Pool): Promise<Record<string, string[]>> {
  const client = await pool.connect();
  try {
    await client.query(`SET TimeZone = 'UTC'`);
    const { rows: tables } = await client.query<{ name: string }>(
      `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables
        WHERE schemaname = ANY($1::text[]) ORDER BY 1`,
      [SCHEMAS],
    );
    const result: Record<string, string[]> = {};
    for (const { name } of tables) {
      const { rows } = await client.query<{ r: string }>(
        `SELECT r FROM (SELECT to_jsonb(t)::text AS r FROM ${name} t) s ORDER BY r COLLATE "C"`,
      );
      result[name] = rows.map((r) => r.r);
    }
    return result;
  } finally {
    client.release();
  }
}

const ORDER = {
  shipped: '11111111-1111-4111-8111-111111111111',
  rejected: '22222222-2222-4222-8222-222222222222',
  failed: '33333333-3333-4333-8333-333333333333',
  pending: '44444444-4444-4444-8444-444444444444',
};
const AWKWARD_REASON = 'line one\nline two, "quoted", it\'s ü€ 🚀 \\ tab\there';

async function seed(pool: pg.Pool): Promise<void> {
  await pool.query(`
    INSERT INTO orders.orders (id, customer_id, product_id, quantity, status, reason, created_at, updated_at) VALUES
      ('${ORDER.shipped}', 'cust-1', 'PROD-001', 2, 'shipped', NULL, '2025-01-31 10:00:00.123456+00', '2025-01-31 10:00:01.5+00'),
      ('${ORDER.rejected}', 'cust-2', 'PROD-004', 60, 'rejected', 'out_of_stock', '2025-01-31 10:01:00+00', '2025-01-31 10:01:02+00'),
      ('${ORDER.failed}', 'cust-3', 'PROD-999', 1, 'failed', $$${AWKWARD_REASON}$$, '2025-01-31 10:02:00+00', '2025-01-31 10:02:03+00'),
      ('${ORDER.pending}', 'cust-1', 'PROD-006', 1, 'pending', NULL, '2025-01-31 10:03:00+00', '2025-01-31 10:03:00+00');
    INSERT INTO orders.status_changes (order_id, from_status, to_status, reason, message_id, changed_at) VALUES
      ('${ORDER.shipped}', 'pending', 'shipped', NULL, 'msg-r-1', '2025-01-31 10:00:01.5+00'),
      ('${ORDER.rejected}', 'pending', 'rejected', 'out_of_stock', 'msg-r-2', '2025-01-31 10:01:02+00'),
      ('${ORDER.failed}', 'pending', 'failed', 'poison', NULL, '2025-01-31 10:02:03+00');
    INSERT INTO orders.idempotency_keys (scope, key, fingerprint, response_status, response_body, order_id, expires_at) VALUES
      ('cust-1', 'key-1', 'sha256:abc', 202, '{"order":{"id":"${ORDER.shipped}","status":"pending"}}', '${ORDER.shipped}', '2025-02-01 10:00:00+00');
    INSERT INTO orders.outbox (id, message_id, queue, type, body, attempts, published_at) VALUES
      (1, 'op-1', 'inventory-reservations', 'OrderPlaced', '{"orderId":"${ORDER.shipped}","quantity":2,"nested":{"a":[1,2.5,null,true]}}', 1, '2025-01-31 10:00:00.2+00'),
      (7, 'op-4', 'inventory-reservations', 'OrderPlaced', '{"orderId":"${ORDER.pending}","note":"line\\nbreak"}', 3, NULL);
    INSERT INTO orders.processed_messages (message_id, type) VALUES ('msg-r-1', 'InventoryReserved'), ('msg-r-2', 'InventoryRejected');
    INSERT INTO orders.dead_letters (id, queue, message_id, order_id, body, error, delivery_count) VALUES
      (3, 'order-status', 'msg-bad', '${ORDER.failed}', '{"garbage":true}', 'validation failed', 10);
    INSERT INTO inventory.products (product_id, name, available) VALUES ('PROD-006', 'Steam Deck — OLED', 12);
    UPDATE inventory.products SET available = 98, updated_at = '2025-01-31 10:00:01+00' WHERE product_id = 'PROD-001';
    INSERT INTO inventory.reservations (order_id, product_id, quantity, result, message_id) VALUES
      ('${ORDER.shipped}', 'PROD-001', 2, 'reserved', 'op-1'),
      ('${ORDER.rejected}', 'PROD-004', 60, 'out_of_stock', 'op-2');
    INSERT INTO inventory.restocks (id, product_id, quantity) VALUES (5, 'PROD-002', 25);
    UPDATE inventory.products SET available = available + 25 WHERE product_id = 'PROD-002';
    INSERT INTO inventory.outbox (id, message_id, queue, type, body, published_at) VALUES
      (2, 'ir-1', 'order-status', 'InventoryReserved', '{"orderId":"${ORDER.shipped}"}', now()),
      (9, 'ir-2', 'order-status', 'InventoryRejected', '{"orderId":"${ORDER.rejected}","reason":"out_of_stock"}', NULL);
    INSERT INTO inventory.processed_messages (message_id, type) VALUES ('op-1', 'OrderPlaced'), ('op-2', 'OrderPlaced');
    INSERT INTO platform.chaos_flags (id, document) VALUES (1, '{"gremlin":{"enabled":true,"latencyMs":3000}}');
  `);
}

beforeAll(async () => {
  azurite = await startAzuriteBlob();
  connectionString = azurite.connectionString;
  const settings = loadSettings({ BACKUP_CONNECTION_STRING: connectionString, BACKUP_CONTAINER: 'backups' });
  container = await openBackupContainer(settings.backup, { create: true });
});

afterAll(async () => {
  await Promise.all(pools.splice(0).map((p) => p.end()));
  for (const db of databases) await db.drop();
  await azurite?.stop();
});

describe('daily logical export and restore', () => {
  let source: Record<string, string[]>;
  let prefix: string;
  let manifest: BackupManifest;

  it('exports both schemas from one snapshot as gzip JSON lines, with the manifest last', async () => {
    const { pool } = await freshDatabase();
    await seed(pool);
    source = await snapshot(pool);
    const now = new Date('2025-01-31T02:30:00.000Z');
    ({ prefix, manifest } = await exportBackup(pool, container, { now, batchRows: 2 }));

    expect(prefix).toBe('2025-01-31T023000Z/');
    expect(prefix).toBe(backupPrefix(now));
    const names = manifest.tables.map((t) => t.name);
    expect([...names].sort()).toEqual(Object.keys(source).sort());
    // Foreign-key-safe order: parents before children.
    expect(names.indexOf('orders.orders')).toBeLessThan(names.indexOf('orders.status_changes'));
    expect(names.indexOf('inventory.products')).toBeLessThan(names.indexOf('inventory.restocks'));
    for (const t of manifest.tables) {
      expect(t.rows, t.name).toBe(source[t.name]?.length);
      expect(t.file).toBe(`${t.name}.jsonl.gz`);
    }
    expect(manifest.tables.find((t) => t.name === 'orders.orders')?.primaryKey).toEqual(['id']);
    expect(manifest.checksum).toBe(manifestChecksum(manifest.tables));
    expect(manifest.migrations.map((m) => m.version)).toContain('001_orders.sql');

    const blobs: string[] = [];
    for await (const b of container.listBlobsFlat({ prefix })) blobs.push(b.name.slice(prefix.length));
    expect(blobs.sort()).toEqual([...manifest.tables.map((t) => t.file), MANIFEST_NAME].sort());

    // One JSON object per line, ordered by primary key; the awkward text survives as one line.
    const ordersFile = gunzipSync(
      await container.getBlockBlobClient(`${prefix}orders.orders.jsonl.gz`).downloadToBuffer(),
    ).toString('utf8');
    const lines = ordersFile.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    const rows = lines.map((l) => JSON.parse(l) as { id: string; reason: string | null });
    expect(rows.map((r) => r.id)).toEqual(Object.values(ORDER).sort());
    expect(rows.find((r) => r.id === ORDER.failed)?.reason).toBe(AWKWARD_REASON);

    expect(await listExports(container)).toEqual([prefix]);
  });

  it('verifies an intact export without a database', async () => {
    const verified = await verifyExport(container);
    expect(verified.prefix).toBe(prefix);
    expect(verified.tables.map((t) => [t.name, t.rows, t.sha256])).toEqual(
      manifest.tables.map((t) => [t.name, t.rows, t.sha256]),
    );
  });

  it('refuses a second export under the same prefix and leaves the first intact', async () => {
    const pool = pools.at(-1)!;
    await expect(
      exportBackup(pool, container, { now: new Date('2025-01-31T02:30:00.900Z') }),
    ).rejects.toThrow(/an export already exists at 2025-01-31T023000Z\//);
    expect((await verifyExport(container, prefix)).manifest.checksum).toBe(manifest.checksum);
  });

  it('restores into a second, freshly migrated database: every row of every table is equal', async () => {
    const { pool } = await freshDatabase();
    const before = await snapshot(pool);
    expect(before['orders.orders']).toEqual([]);
    expect(before['inventory.products']).toHaveLength(5); // the seed catalog, replaced by the restore

    const progress: string[] = [];
    const result = await restoreBackup(pool, container, { onProgress: (m) => progress.push(m) });
    expect(result.prefix).toBe(prefix);
    expect(result.tables.every((t) => t.contentVerified)).toBe(true);
    expect(progress.some((m) => m.startsWith('verified orders.orders: 4 rows'))).toBe(true);

    expect(await snapshot(pool)).toEqual(source);

    // bigserial sequences continue after the restored ids (outbox 7, restocks 5, dead letters 3).
    const next = await pool.query<{ outbox: number; restock: number; dead: number }>(`
      SELECT nextval(pg_get_serial_sequence('orders.outbox', 'id')) AS outbox,
             nextval(pg_get_serial_sequence('inventory.restocks', 'id')) AS restock,
             nextval(pg_get_serial_sequence('orders.dead_letters', 'id')) AS dead`);
    expect(next.rows[0]).toEqual({ outbox: 8, restock: 6, dead: 4 });
  });

  it('refuses to restore into a database that already has orders', async () => {
    const pool = pools.at(-1)!;
    const error = await restoreBackup(pool, container, { prefix }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackupRefusedError);
    expect((error as Error).message).toMatch(/orders\.orders already holds 4 row\(s\)/);
    expect((error as Error).message).toMatch(/inventory\.reservations already holds 2 row\(s\)/);
  });

  describe('a damaged export is refused and nothing is written', () => {
    let target: pg.Pool;
    let pristine: Record<string, string[]>;

    beforeAll(async () => {
      ({ pool: target } = await freshDatabase());
      pristine = await snapshot(target);
    });

    /** Copies the good export to `to`, passing each file (name relative to the prefix) through `change`. */
    async function copyExport(
      to: string,
      change: (file: string, data: Buffer) => Buffer | undefined = (_f, d) => d,
    ): Promise<void> {
      for await (const blob of container.listBlobsFlat({ prefix })) {
        const file = blob.name.slice(prefix.length);
        const data = change(file, await container.getBlockBlobClient(blob.name).downloadToBuffer());
        if (data) await container.getBlockBlobClient(`${to}${file}`).uploadData(data);
      }
    }

    const regzip = (data: Buffer, edit: (text: string) => string) =>
      gzipSync(Buffer.from(edit(gunzipSync(data).toString('utf8')), 'utf8'));

    const editManifest = (data: Buffer, edit: (m: BackupManifest) => void) => {
      const m = JSON.parse(data.toString('utf8')) as BackupManifest;
      edit(m);
      return Buffer.from(JSON.stringify(m));
    };

    async function expectRefused(at: string, ...patterns: RegExp[]): Promise<void> {
      const error = await restoreBackup(target, container, { prefix: at }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BackupRefusedError);
      for (const pattern of patterns) expect((error as Error).message).toMatch(pattern);
      expect(await snapshot(target)).toEqual(pristine);
    }

    it('flipped bytes in a compressed file', async () => {
      await copyExport('corrupt-bytes/', (file, data) => {
        if (file !== 'orders.orders.jsonl.gz') return data;
        const copy = Buffer.from(data);
        for (let i = 12; i < copy.length - 8; i += 7) copy[i] = (copy[i] ?? 0) ^ 0xff;
        return copy;
      });
      await expectRefused(
        'corrupt-bytes/',
        /corrupt-bytes\/ is damaged and was refused; nothing was restored/,
        /orders\.orders \(orders\.orders\.jsonl\.gz\): /,
      );
      // Only the damaged table is named.
      const error = await verifyExport(container, 'corrupt-bytes/').catch((e: BackupRefusedError) => e);
      expect((error as BackupRefusedError).problems).toHaveLength(1);
    });

    it('a changed value inside a well-formed file', async () => {
      await copyExport('corrupt-value/', (file, data) =>
        file === 'inventory.products.jsonl.gz'
          ? regzip(data, (t) => t.replace('"available": 98', '"available": 99'))
          : data,
      );
      await expectRefused(
        'corrupt-value/',
        /inventory\.products \(inventory\.products\.jsonl\.gz\): content checksum sha256 \w+… \(\d+ bytes\) differs from the manifest's/,
      );
    });

    it('a truncated file (last row missing)', async () => {
      await copyExport('corrupt-truncated/', (file, data) =>
        file === 'orders.orders.jsonl.gz' ? regzip(data, (t) => t.split('\n').slice(0, 3).join('\n')) : data,
      );
      await expectRefused(
        'corrupt-truncated/',
        /orders\.orders \(orders\.orders\.jsonl\.gz\): the content ends in the middle of a row/,
        /orders\.orders .*: the file holds 3 rows, the manifest says 4/,
      );
    });

    it('a row count changed in the manifest (with or without fixing its checksum)', async () => {
      await copyExport('corrupt-count/', (file, data) =>
        file === MANIFEST_NAME
          ? editManifest(data, (m) => {
              const t = m.tables.find((x) => x.name === 'inventory.reservations')!;
              t.rows = 3;
            })
          : data,
      );
      await expectRefused(
        'corrupt-count/',
        /inventory\.reservations .*: the file holds 2 rows, the manifest says 3/,
        /manifest\.json: the overall checksum \w+… does not match its table list/,
      );

      await copyExport('corrupt-count-resealed/', (file, data) =>
        file === MANIFEST_NAME
          ? editManifest(data, (m) => {
              const t = m.tables.find((x) => x.name === 'inventory.reservations')!;
              t.rows = 3;
              m.checksum = manifestChecksum(m.tables);
            })
          : data,
      );
      await expectRefused(
        'corrupt-count-resealed/',
        /inventory\.reservations .*: the file holds 2 rows, the manifest says 3/,
      );
    });

    it('a missing file, and an export without its manifest', async () => {
      await copyExport('corrupt-missing/', (file, data) =>
        file === 'inventory.restocks.jsonl.gz' ? undefined : data,
      );
      await expectRefused(
        'corrupt-missing/',
        /inventory\.restocks \(inventory\.restocks\.jsonl\.gz\): the file is missing/,
      );

      await copyExport('incomplete/', (file, data) => (file === MANIFEST_NAME ? undefined : data));
      await expectRefused('incomplete/', /manifest\.json is missing: the export is incomplete/);
    });

    it('still picks the real export as the latest', async () => {
      expect(await resolvePrefix(container)).toBe(prefix);
      expect(await listExports(container)).toContain('corrupt-bytes/');
    });
  });
});

describe('dailyBackup timer', () => {
  const dailyBackup = FUNCTIONS.find((f) => f.name === 'dailyBackup')!;
  const timer = { isPastDue: false, schedule: { adjustForDST: false } } as unknown as Timer;
  const run = async (settings: ReturnType<typeof loadSettings>, pool: pg.Pool) => {
    const logs: string[] = [];
    const context = new InvocationContext({
      functionName: 'dailyBackup',
      logHandler: (_level, ...args) => logs.push(args.join(' ')),
    });
    const rt = { settings, db: { pool } } as unknown as Runtime;
    const fn = await loadFunction(dailyBackup, rt);
    if (fn.kind !== 'timer') throw new Error('dailyBackup is not a timer');
    return { fn, logs, context };
  };

  it('runs once a day at 02:30 UTC and says once that backups are off when no destination is set', async () => {
    const { fn, logs, context } = await run(loadSettings({}), pools.at(-1)!);
    expect(fn.schedule).toBe('0 30 2 * * *');
    expect(fn.localIntervalMs).toBe(24 * 3600 * 1000);
    await fn.handler(timer, context);
    await fn.handler(timer, context);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/daily backup is off: set BACKUP_CONTAINER_URL .* or BACKUP_CONNECTION_STRING/);
  });

  it('exports to the configured container and logs the prefix and row counts', async () => {
    const settings = loadSettings({ BACKUP_CONNECTION_STRING: connectionString, BACKUP_CONTAINER: 'daily' });
    const { fn, logs, context } = await run(settings, pools.at(-1)!);
    await fn.handler(timer, context);
    const daily = await openBackupContainer(settings.backup);
    const exports = await listExports(daily);
    expect(exports).toHaveLength(1);
    expect(logs.join('\n')).toContain(`daily backup written to daily/${exports[0]}`);
    expect(logs.join('\n')).toMatch(/inventory\.products 5/);
    await verifyExport(daily);
  });
});

describe('backup settings', () => {
  it('are off unless a destination is set', () => {
    expect(loadSettings({}).backup).toEqual({ kind: 'off' });
  });

  it('use a connection string with BACKUP_CONTAINER (default "backups"), or the container URL with the identity', () => {
    expect(loadSettings({ BACKUP_CONNECTION_STRING: 'UseDevelopmentStorage=true' }).backup).toEqual({
      kind: 'connection-string',
      connectionString: 'UseDevelopmentStorage=true',
      containerName: 'backups',
    });
    const url = 'https://stvalerix.blob.core.windows.net/backups';
    expect(loadSettings({ BACKUP_CONTAINER_URL: url, AZURE_CLIENT_ID: 'client-1' }).backup).toEqual({
      kind: 'identity',
      containerUrl: url,
      clientId: 'client-1',
    });
    // The connection string wins when both are set (local runs against Azurite).
    expect(
      loadSettings({ BACKUP_CONTAINER_URL: url, BACKUP_CONNECTION_STRING: 'UseDevelopmentStorage=true' })
        .backup.kind,
    ).toBe('connection-string');
  });

  it('name the bad setting', () => {
    expect(() => loadSettings({ BACKUP_CONTAINER_URL: 'stvalerix/backups' })).toThrow(SettingsError);
    expect(() => loadSettings({ BACKUP_CONTAINER_URL: 'stvalerix/backups' })).toThrow(/BACKUP_CONTAINER_URL/);
    expect(() => loadSettings({ BACKUP_CONTAINER: 'Backups_2025' })).toThrow(
      /BACKUP_CONTAINER: must be a blob/,
    );
  });
});
