import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import type { ContainerClient } from '@azure/storage-blob';
import type pg from 'pg';
import QueryStream from 'pg-query-stream';
import { z } from 'zod';
import type { Settings } from '../config/settings.js';
import { managedIdentityCredential } from '../db/entra-auth.js';

/**
 * The daily logical export: every table of the service schemas, read in ONE repeatable-read, read-only
 * transaction (one consistent snapshot across Orders and Inventory), written as gzip-compressed JSON lines to a
 * blob container, then a manifest of row counts and SHA-256 checksums. The manifest is uploaded last: an export
 * without one is incomplete and is never restored.
 *
 * Layout: `<yyyy-mm-dd>T<hhmmss>Z/<schema>.<table>.jsonl.gz` (one `to_jsonb(row)` per line) + `manifest.json`.
 */

const BACKUP_FORMAT = 'valerix-logical-export';
const BACKUP_FORMAT_VERSION = 1;
export const MANIFEST_NAME = 'manifest.json';
/** Schemas exported by default: both services, and the platform's run-time flags. */
const BACKUP_SCHEMAS: readonly string[] = ['orders', 'inventory', 'platform'];
const FETCH_ROWS = 5000;
const UPLOAD_BUFFER_BYTES = 4 * 1024 * 1024;
const UPLOAD_CONCURRENCY = 2;

const tableManifestSchema = z.object({
  /** `<schema>.<table>` */
  name: z.string().regex(/^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/),
  /** Blob name relative to the export prefix. */
  file: z.string().min(1),
  columns: z.array(z.string().min(1)).min(1),
  primaryKey: z.array(z.string()),
  rows: z.number().int().nonnegative(),
  /** Size of the uncompressed JSON-lines content. */
  bytes: z.number().int().nonnegative(),
  /** SHA-256 (hex) of the uncompressed JSON-lines content. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

export const manifestSchema = z.object({
  format: z.literal(BACKUP_FORMAT),
  formatVersion: z.literal(BACKUP_FORMAT_VERSION),
  createdAt: z.string(),
  /** The export's folder in the container, with a trailing slash. */
  prefix: z.string(),
  database: z.string(),
  serverVersion: z.string(),
  /** Migrations applied to the source: a restore target must have at least these. */
  migrations: z.array(z.object({ version: z.string(), checksum: z.string() })),
  /** In foreign-key-safe order: a table comes after every table it references. */
  tables: z.array(tableManifestSchema).min(1),
  /** SHA-256 over `name rows sha256\n` of every table in order: see manifestChecksum. */
  checksum: z.string().regex(/^[0-9a-f]{64}$/),
});

export type TableManifest = z.infer<typeof tableManifestSchema>;
export type BackupManifest = z.infer<typeof manifestSchema>;
export type BackupDestination = Settings['backup'];

/** The overall checksum: binds every table's name, row count and content checksum, in restore order. */
export function manifestChecksum(tables: Pick<TableManifest, 'name' | 'rows' | 'sha256'>[]): string {
  const hash = createHash('sha256');
  for (const t of tables) hash.update(`${t.name} ${t.rows} ${t.sha256}\n`);
  return hash.digest('hex');
}

/** `2025-01-31T023000Z/`: sorts by time, so the last one listed is the latest. */
export function backupPrefix(at: Date): string {
  const iso = at.toISOString();
  return `${iso.slice(0, 10)}T${iso.slice(11, 19).replaceAll(':', '')}Z/`;
}

export const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;
export const qualified = (schema: string, table: string) => `${quoteIdent(schema)}.${quoteIdent(table)}`;

export interface ColumnInfo {
  name: string;
  /** Text-like: ordered with COLLATE "C" so the order (and the checksum) does not depend on the server's locale. */
  collatable: boolean;
  /** Owned sequence (bigserial / identity), reset after a restore. */
  sequence: string | null;
}

export interface TableInfo {
  schema: string;
  table: string;
  /** `schema.table` */
  name: string;
  /** Insertable columns in table order (generated columns left out). */
  columns: ColumnInfo[];
  primaryKey: string[];
}

/**
 * The ordinary tables of `schemas`, in foreign-key-safe order (referenced tables first, then by name), with the
 * columns, primary key and owned sequences needed to export and restore them.
 */
export async function describeTables(
  client: pg.ClientBase,
  schemas: readonly string[],
): Promise<TableInfo[]> {
  const { rows: tables } = await client.query<{ oid: number; schema: string; table: string }>(
    `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS table
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      ORDER BY n.nspname, c.relname`,
    [schemas],
  );
  if (tables.length === 0) return [];
  const oids = tables.map((t) => t.oid);
  const { rows: columns } = await client.query<{
    oid: number;
    name: string;
    collatable: boolean;
    sequence: string | null;
  }>(
    `SELECT a.attrelid::int AS oid, a.attname AS name, a.attcollation <> 0 AS collatable,
            pg_get_serial_sequence(a.attrelid::regclass::text, a.attname) AS sequence
       FROM pg_attribute a
      WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
      ORDER BY a.attrelid, a.attnum`,
    [oids],
  );
  const { rows: keys } = await client.query<{ oid: number; name: string }>(
    `SELECT i.indrelid::int AS oid, a.attname AS name
       FROM pg_index i
       CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = ANY($1::oid[]) AND i.indisprimary
      ORDER BY i.indrelid, k.ord`,
    [oids],
  );
  const { rows: references } = await client.query<{ child: number; parent: number }>(
    `SELECT conrelid::int AS child, confrelid::int AS parent FROM pg_constraint
      WHERE contype = 'f' AND conrelid = ANY($1::oid[]) AND confrelid = ANY($1::oid[]) AND conrelid <> confrelid`,
    [oids],
  );

  const infos = new Map<number, TableInfo>();
  for (const t of tables) {
    infos.set(t.oid, {
      schema: t.schema,
      table: t.table,
      name: `${t.schema}.${t.table}`,
      columns: columns
        .filter((c) => c.oid === t.oid)
        .map((c) => ({ name: c.name, collatable: c.collatable, sequence: c.sequence })),
      primaryKey: keys.filter((k) => k.oid === t.oid).map((k) => k.name),
    });
  }
  // Topological order, stable by name: repeatedly take every table whose parents are all placed.
  const ordered: TableInfo[] = [];
  const placed = new Set<number>();
  while (placed.size < tables.length) {
    const ready = tables.filter(
      (t) =>
        !placed.has(t.oid) &&
        references.every((r) => r.child !== t.oid || placed.has(r.parent) || r.parent === t.oid),
    );
    // A reference cycle: place the rest by name (inserting them needs deferrable constraints).
    const next = ready.length > 0 ? ready : tables.filter((t) => !placed.has(t.oid));
    for (const t of next) {
      placed.add(t.oid);
      ordered.push(infos.get(t.oid)!);
    }
  }
  return ordered;
}

/** `ORDER BY` for a stable, locale-independent row order (primary key; whole row when there is none). */
function orderBy(info: TableInfo): string {
  if (info.primaryKey.length === 0) return `to_jsonb(t)::text COLLATE "C"`;
  return info.primaryKey
    .map((name) => {
      const column = info.columns.find((c) => c.name === name);
      return column?.collatable ? `t.${quoteIdent(name)} COLLATE "C"` : `t.${quoteIdent(name)}`;
    })
    .join(', ');
}

/** Session settings that make `to_jsonb` text identical between export and restore verification. */
export const CANONICAL_SESSION = [
  `SET LOCAL TimeZone = 'UTC'`,
  `SET LOCAL DateStyle = 'ISO, YMD'`,
  `SET LOCAL IntervalStyle = 'iso_8601'`,
  'SET LOCAL extra_float_digits = 1',
];

/**
 * Streams `SELECT to_jsonb(t)::text FROM <table> t ORDER BY <key>` in batches of lines, one line per row, through
 * pg-query-stream (a portal read `batchRows` at a time, so memory stays flat however large the table). Runs on the
 * caller's client, inside its transaction and snapshot. `to_jsonb` rather than `row_to_json`: jsonb text never
 * contains a raw newline, so one line is always one row.
 */
export async function* tableLines(
  client: pg.ClientBase,
  info: TableInfo,
  batchRows = FETCH_ROWS,
): AsyncGenerator<string[]> {
  const stream = client.query(
    new QueryStream(
      `SELECT to_jsonb(t)::text AS line FROM ${qualified(info.schema, info.table)} t ORDER BY ${orderBy(info)}`,
      [],
      { batchSize: batchRows },
    ),
  );
  let batch: string[] = [];
  try {
    for await (const row of stream as AsyncIterable<{ line: string }>) {
      batch.push(row.line);
      if (batch.length >= batchRows) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  } finally {
    // A consumer that stops early (an upload that failed) must not leave the portal open on the connection.
    stream.destroy();
  }
}

export interface ExportOptions {
  /** The export's time (its prefix). Default: now. */
  now?: Date;
  schemas?: readonly string[];
  /** Rows read from the database at a time. */
  batchRows?: number;
  /** Called after each table is uploaded (progress for the CLI). */
  onTable?: (table: TableManifest) => void;
}

export interface ExportResult {
  /** The export's folder in the container, with a trailing slash. */
  prefix: string;
  manifest: BackupManifest;
}

/**
 * Exports every table of `schemas` from one consistent snapshot into `container` under a new time-stamped prefix,
 * and writes the manifest last. Holds one pooled connection for the duration.
 */
export async function exportBackup(
  pool: pg.Pool,
  container: ContainerClient,
  options: ExportOptions = {},
): Promise<ExportResult> {
  const now = options.now ?? new Date();
  const prefix = backupPrefix(now);
  // Two exports in the same second would overwrite each other's files: refuse the second.
  const existing = await container.listBlobsFlat({ prefix }).next();
  if (!existing.done) {
    throw new Error(`an export already exists at ${prefix} (${existing.value.name}); try again in a second`);
  }
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    try {
      for (const statement of CANONICAL_SESSION) await client.query(statement);
      const {
        rows: [source],
      } = await client.query<{ database: string; version: string; migrations: boolean }>(
        `SELECT current_database() AS database, current_setting('server_version') AS version,
                to_regclass('public.schema_migrations') IS NOT NULL AS migrations`,
      );
      const migrations = source?.migrations
        ? (
            await client.query<{ version: string; checksum: string }>(
              'SELECT version, checksum FROM public.schema_migrations ORDER BY version',
            )
          ).rows
        : [];
      const infos = await describeTables(client, options.schemas ?? BACKUP_SCHEMAS);
      if (infos.length === 0) throw new Error('nothing to export: no tables in the backup schemas');
      const tables: TableManifest[] = [];
      for (const info of infos) {
        const file = `${info.name}.jsonl.gz`;
        const lines = tableLines(client, info, options.batchRows ?? FETCH_ROWS);
        const written = await uploadGzipLines(container, `${prefix}${file}`, lines);
        const entry: TableManifest = {
          name: info.name,
          file,
          columns: info.columns.map((c) => c.name),
          primaryKey: info.primaryKey,
          ...written,
        };
        tables.push(entry);
        options.onTable?.(entry);
      }
      await client.query('COMMIT');
      const manifest: BackupManifest = {
        format: BACKUP_FORMAT,
        formatVersion: BACKUP_FORMAT_VERSION,
        createdAt: now.toISOString(),
        prefix,
        database: source?.database ?? '',
        serverVersion: source?.version ?? '',
        migrations,
        tables,
        checksum: manifestChecksum(tables),
      };
      // Last: its presence marks the export complete.
      const body = `${JSON.stringify(manifest, null, 2)}\n`;
      await container.getBlockBlobClient(`${prefix}${MANIFEST_NAME}`).upload(body, Buffer.byteLength(body), {
        blobHTTPHeaders: { blobContentType: 'application/json' },
        conditions: { ifNoneMatch: '*' },
      });
      return { prefix, manifest };
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackErr: Error) => {
        broken = rollbackErr;
      });
      // No manifest means incomplete anyway; removing the files keeps the container free of half exports.
      await removeExport(container, prefix).catch(() => {});
      throw err;
    }
  } finally {
    client.release(broken);
  }
}

async function removeExport(container: ContainerClient, prefix: string): Promise<void> {
  for await (const blob of container.listBlobsFlat({ prefix })) {
    await container.getBlockBlobClient(blob.name).deleteIfExists();
  }
}

/** Gzips `batches` of lines into one block blob, hashing and counting the uncompressed content on the way. */
async function uploadGzipLines(
  container: ContainerClient,
  blobName: string,
  batches: AsyncGenerator<string[]>,
): Promise<{ rows: number; bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let rows = 0;
  let bytes = 0;
  const gzip = createGzip();
  const uploadFailed = new AbortController();
  const upload = container
    .getBlockBlobClient(blobName)
    .uploadStream(gzip, UPLOAD_BUFFER_BYTES, UPLOAD_CONCURRENCY, {
      blobHTTPHeaders: { blobContentType: 'application/gzip' },
    })
    .catch((err: unknown) => {
      uploadFailed.abort(err);
      throw err;
    });
  try {
    for await (const lines of batches) {
      if (uploadFailed.signal.aborted) break;
      const chunk = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
      hash.update(chunk);
      rows += lines.length;
      bytes += chunk.length;
      if (!gzip.write(chunk)) await once(gzip, 'drain', { signal: uploadFailed.signal });
    }
    if (uploadFailed.signal.aborted) throw uploadFailed.signal.reason;
    gzip.end();
    await upload;
  } catch (err) {
    // Fail the upload too (an uncommitted block blob leaves no file behind), then report the first cause.
    gzip.destroy(err instanceof Error ? err : new Error(String(err)));
    await upload.catch(() => {});
    await batches.return(undefined).catch(() => {});
    throw uploadFailed.signal.aborted ? uploadFailed.signal.reason : err;
  }
  return { rows, bytes, sha256: hash.digest('hex') };
}

/**
 * The backup container for the configured destination: a connection string (Azurite, local) or the container URL
 * with the managed identity (Azure; `DefaultAzureCredential` when no client id is set, e.g. `az login` for a
 * restore from a workstation). `@azure/storage-blob` is imported here, lazily, to keep it off request paths.
 * `create` makes the container when it is missing (connection-string destinations only: in Azure, Bicep owns it).
 */
export async function openBackupContainer(
  destination: BackupDestination,
  options: { create?: boolean } = {},
): Promise<ContainerClient> {
  if (destination.kind === 'off') {
    throw new Error(
      'no backup destination: set BACKUP_CONTAINER_URL (Azure, managed identity) or BACKUP_CONNECTION_STRING (Azurite)',
    );
  }
  const blob = await import('@azure/storage-blob');
  if (destination.kind === 'connection-string') {
    const container = blob.BlobServiceClient.fromConnectionString(
      destination.connectionString,
    ).getContainerClient(destination.containerName);
    if (options.create) await container.createIfNotExists();
    return container;
  }
  const credential = await managedIdentityCredential(destination.clientId);
  return new blob.ContainerClient(destination.containerUrl, credential);
}

/** A one-line summary of a manifest for logs: `prefix: orders.orders 12, inventory.products 5, …`. */
export function describeExport(manifest: BackupManifest): string {
  const total = manifest.tables.reduce((n, t) => n + t.rows, 0);
  return `${manifest.prefix} (${total} rows: ${manifest.tables.map((t) => `${t.name} ${t.rows}`).join(', ')})`;
}
