import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { ContainerClient } from '@azure/storage-blob';
import type pg from 'pg';
import { migrate } from '../db/migrate.js';
import {
  type BackupManifest,
  CANONICAL_SESSION,
  describeTables,
  MANIFEST_NAME,
  manifestChecksum,
  manifestSchema,
  qualified,
  quoteIdent,
  type TableInfo,
  type TableManifest,
  tableLines,
} from './export.js';

/**
 * Restores a logical export (shared/backup/export.ts) into an empty database, refusing anything it cannot prove
 * intact: every file is decompressed, counted and hashed against the manifest BEFORE a single row is written; the
 * rows then go in with one transaction that re-checks the same while it reads, and re-counts (and, where the
 * columns match, re-hashes) every table before it commits. A refusal leaves the target untouched.
 *
 * "Empty" means no orders and no reservations: a freshly migrated database holds the seed catalog, which the
 * export's products replace.
 */

/** Tables that must hold no rows before a restore: together they mean "this database has seen business". */
const MUST_BE_EMPTY = ['orders.orders', 'inventory.reservations'];
const INSERT_ROWS = 1000;
const INSERT_BYTES = 8 * 1024 * 1024;

/** A restore or verification that was refused; `problems` lists every reason, each naming its table. */
export class BackupRefusedError extends Error {
  constructor(
    readonly summary: string,
    readonly problems: string[],
  ) {
    super(`${summary}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'BackupRefusedError';
  }
}

const short = (sha: string) => `${sha.slice(0, 12)}…`;
const normalizePrefix = (prefix: string) => (prefix.endsWith('/') ? prefix : `${prefix}/`);

/** Complete exports (those with a manifest) in the container, oldest first. */
export async function listExports(container: ContainerClient): Promise<string[]> {
  const prefixes: string[] = [];
  for await (const blob of container.listBlobsFlat()) {
    if (blob.name.endsWith(`/${MANIFEST_NAME}`)) prefixes.push(blob.name.slice(0, -MANIFEST_NAME.length));
  }
  return prefixes.sort();
}

/** `2025-01-31T023000Z/`, what the exporter writes: other folders are listed but never picked as "latest". */
const EXPORT_PREFIX = /^\d{4}-\d{2}-\d{2}T\d{6}Z\/$/;

/** The given export's prefix, or the latest complete one. */
export async function resolvePrefix(container: ContainerClient, prefix?: string): Promise<string> {
  if (prefix) return normalizePrefix(prefix);
  const all = await listExports(container);
  const latest = all.filter((p) => EXPORT_PREFIX.test(p)).at(-1);
  if (!latest)
    throw new Error(`no complete export (no ${MANIFEST_NAME}) in container ${container.containerName}`);
  return latest;
}

const isNotFound = (err: unknown) => (err as { statusCode?: number } | null)?.statusCode === 404;

/**
 * Reads the manifest and checks its shape and version (throws BackupRefusedError when it cannot be used at all).
 * Its internal consistency is checked by manifestProblems.
 */
async function readManifest(container: ContainerClient, prefix: string): Promise<BackupManifest> {
  const name = `${normalizePrefix(prefix)}${MANIFEST_NAME}`;
  let text: string;
  try {
    text = (await container.getBlockBlobClient(name).downloadToBuffer()).toString('utf8');
  } catch (err) {
    if (isNotFound(err)) {
      throw new BackupRefusedError(`Export ${prefix} cannot be restored`, [
        `${MANIFEST_NAME} is missing: the export is incomplete or the prefix is wrong (container ${container.containerName})`,
      ]);
    }
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new BackupRefusedError(`Export ${prefix} cannot be restored`, [
      `${MANIFEST_NAME} is not valid JSON (${(err as Error).message})`,
    ]);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    throw new BackupRefusedError(
      `Export ${prefix} cannot be restored`,
      parsed.error.issues.map((i) => `${MANIFEST_NAME} ${i.path.join('.') || '(root)'}: ${i.message}`),
    );
  }
  return parsed.data;
}

/** Duplicate tables, or an overall checksum that does not match the table list (the manifest was edited). */
function manifestProblems(manifest: BackupManifest): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const t of manifest.tables) {
    if (seen.has(t.name)) problems.push(`${t.name}: listed twice in ${MANIFEST_NAME}`);
    seen.add(t.name);
  }
  const expected = manifestChecksum(manifest.tables);
  if (expected !== manifest.checksum) {
    problems.push(
      `${MANIFEST_NAME}: the overall checksum ${short(manifest.checksum)} does not match its table list (${short(expected)}); the manifest was altered`,
    );
  }
  return problems;
}

interface Scan {
  rows: number;
  bytes: number;
  sha256: string;
  /** The content does not end with a newline: the last row is cut. */
  truncated: boolean;
}

/**
 * Downloads one table file, gunzips it and yields its rows in batches while hashing the exact uncompressed bytes.
 * The returned scan is complete once the generator is exhausted.
 */
async function* readTableFile(
  container: ContainerClient,
  blobName: string,
  scan: Scan,
): AsyncGenerator<string[]> {
  const response = await container.getBlockBlobClient(blobName).download();
  const body = response.readableStreamBody;
  if (!body) throw new Error(`${blobName}: empty download`);
  const gunzip = createGunzip();
  pipeline(body, gunzip, () => {});
  const hash = createHash('sha256');
  let rest: Buffer = Buffer.alloc(0);
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      hash.update(chunk);
      scan.bytes += chunk.length;
      const data = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
      const lines: string[] = [];
      let start = 0;
      for (let nl = data.indexOf(10, start); nl !== -1; nl = data.indexOf(10, start)) {
        lines.push(data.toString('utf8', start, nl));
        start = nl + 1;
      }
      rest = data.subarray(start);
      if (lines.length > 0) {
        scan.rows += lines.length;
        yield lines;
      }
    }
  } finally {
    gunzip.destroy();
  }
  if (rest.length > 0) {
    scan.truncated = true;
    scan.rows += 1;
  }
  scan.sha256 = hash.digest('hex');
}

/** What differs between a scanned file and its manifest entry, naming the table; empty when they agree. */
function compare(entry: TableManifest, scan: Scan): string[] {
  const problems: string[] = [];
  const where = `${entry.name} (${entry.file})`;
  if (scan.truncated) problems.push(`${where}: the content ends in the middle of a row (truncated file)`);
  if (scan.rows !== entry.rows) {
    problems.push(`${where}: the file holds ${scan.rows} rows, the manifest says ${entry.rows}`);
  }
  if (scan.sha256 !== entry.sha256 || scan.bytes !== entry.bytes) {
    problems.push(
      `${where}: content checksum sha256 ${short(scan.sha256)} (${scan.bytes} bytes) differs from the manifest's ${short(entry.sha256)} (${entry.bytes} bytes)`,
    );
  }
  return problems;
}

async function scanTable(
  container: ContainerClient,
  prefix: string,
  entry: TableManifest,
): Promise<{ scan: Scan; problems: string[] }> {
  const scan: Scan = { rows: 0, bytes: 0, sha256: '', truncated: false };
  try {
    for await (const _ of readTableFile(container, `${prefix}${entry.file}`, scan)) {
      // counting and hashing happen in the reader
    }
  } catch (err) {
    const where = `${entry.name} (${entry.file})`;
    if (isNotFound(err)) return { scan, problems: [`${where}: the file is missing`] };
    return {
      scan,
      problems: [`${where}: the file cannot be decompressed (${(err as Error).message}); it is corrupt`],
    };
  }
  return { scan, problems: compare(entry, scan) };
}

export interface VerifiedExport {
  prefix: string;
  manifest: BackupManifest;
  tables: { name: string; rows: number; bytes: number; sha256: string }[];
}

/**
 * Verifies a whole export without touching any database: the manifest's own checksum, then every file's row
 * count, size and SHA-256. Throws BackupRefusedError listing every difference.
 */
export async function verifyExport(container: ContainerClient, prefix?: string): Promise<VerifiedExport> {
  const at = await resolvePrefix(container, prefix);
  const manifest = await readManifest(container, at);
  const problems = manifestProblems(manifest);
  const tables: VerifiedExport['tables'] = [];
  for (const entry of manifest.tables) {
    const result = await scanTable(container, at, entry);
    problems.push(...result.problems);
    tables.push({
      name: entry.name,
      rows: result.scan.rows,
      bytes: result.scan.bytes,
      sha256: result.scan.sha256,
    });
  }
  if (problems.length > 0) {
    throw new BackupRefusedError(`Export ${at} is damaged and was refused; nothing was restored`, problems);
  }
  return { prefix: at, manifest, tables };
}

export interface RestoreOptions {
  /** The export to restore; default: the latest complete one. */
  prefix?: string;
  /** Apply infra/migrations to the target first (default: false; the caller migrated). */
  migrate?: boolean;
  onProgress?: (message: string) => void;
}

export interface RestoreResult {
  prefix: string;
  database: string;
  tables: { name: string; rows: number; contentVerified: boolean }[];
  sequencesReset: number;
}

async function rowCount(client: pg.ClientBase, schema: string, table: string): Promise<number> {
  const { rows } = await client.query<{ n: string | number }>(
    `SELECT count(*) AS n FROM ${qualified(schema, table)}`,
  );
  return Number(rows[0]?.n ?? 0);
}

/** Why the target cannot take this export (missing tables or columns, older schema, not empty). */
async function checkTarget(
  client: pg.ClientBase,
  manifest: BackupManifest,
): Promise<{ problems: string[]; targets: TableInfo[]; mustBeEmpty: TableInfo[]; database: string }> {
  const problems: string[] = [];
  const {
    rows: [target],
  } = await client.query<{ database: string; migrations: boolean }>(
    `SELECT current_database() AS database, to_regclass('public.schema_migrations') IS NOT NULL AS migrations`,
  );
  const database = target?.database ?? '';
  const applied = target?.migrations
    ? new Set(
        (await client.query<{ version: string }>('SELECT version FROM public.schema_migrations')).rows.map(
          (r) => r.version,
        ),
      )
    : new Set<string>();
  const missingMigrations = manifest.migrations.filter((m) => !applied.has(m.version)).map((m) => m.version);
  if (missingMigrations.length > 0) {
    problems.push(
      `database ${database} lacks migrations the export was taken with (${missingMigrations.join(', ')}): run \`npm run migrate\` against it first`,
    );
  }
  const schemas = [...new Set(manifest.tables.map((t) => t.name.split('.')[0] ?? ''))];
  const described = await describeTables(client, [...new Set([...schemas, 'orders', 'inventory'])]);
  const byName = new Map(described.map((t) => [t.name, t]));
  for (const entry of manifest.tables) {
    const info = byName.get(entry.name);
    if (!info) {
      problems.push(`${entry.name}: no such table in database ${database}`);
      continue;
    }
    const missing = entry.columns.filter((c) => !info.columns.some((ic) => ic.name === c));
    if (missing.length > 0)
      problems.push(`${entry.name}: database ${database} has no column ${missing.join(', ')}`);
  }
  const mustBeEmpty: TableInfo[] = [];
  for (const name of MUST_BE_EMPTY) {
    const info = byName.get(name);
    if (!info) continue;
    mustBeEmpty.push(info);
    const n = await rowCount(client, info.schema, info.table);
    if (n > 0) {
      problems.push(
        `${name} already holds ${n} row(s) in database ${database}: restore only into an empty database (migrated, no orders)`,
      );
    }
  }
  // FK-safe order of the target, restricted to the export's tables.
  const inExport = new Set(manifest.tables.map((t) => t.name));
  return { problems, targets: described.filter((t) => inExport.has(t.name)), mustBeEmpty, database };
}

/**
 * Restores an export into the database behind `pool`. Order of work: manifest → target checks (schema, emptiness)
 * → verification of every file → one transaction (lock, clear the seed content, insert in FK-safe order while
 * re-hashing, reset sequences, re-count and re-hash) → commit. Throws BackupRefusedError before writing anything
 * when the export or the target is not right.
 */
export async function restoreBackup(
  pool: pg.Pool,
  container: ContainerClient,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  const progress = options.onProgress ?? (() => {});
  const prefix = await resolvePrefix(container, options.prefix);
  const manifest = await readManifest(container, prefix);
  progress(`export ${prefix}: taken ${manifest.createdAt} from database ${manifest.database}`);
  if (options.migrate) {
    const result = await migrate(pool);
    progress(`migrations: applied ${result.applied.join(', ') || 'nothing new'}`);
  }

  const pre = await withClient(pool, (client) => checkTarget(client, manifest));
  if (pre.problems.length > 0) {
    throw new BackupRefusedError(`Refusing to restore ${prefix} into database ${pre.database}`, pre.problems);
  }
  const verified = await verifyExport(container, prefix);
  for (const t of verified.tables) progress(`verified ${t.name}: ${t.rows} rows, sha256 ${short(t.sha256)}`);

  const entries = new Map(manifest.tables.map((t) => [t.name, t]));
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    try {
      for (const statement of CANONICAL_SESSION) await client.query(statement);
      // Lock, then re-check: nothing may write to these tables between the check and the replacement.
      const lockList = new Set([...pre.targets, ...pre.mustBeEmpty].map((t) => qualified(t.schema, t.table)));
      await client.query(`LOCK TABLE ${[...lockList].join(', ')} IN ACCESS EXCLUSIVE MODE`);
      const { problems, targets } = await checkTarget(client, manifest);
      if (problems.length > 0) {
        throw new BackupRefusedError(`Refusing to restore ${prefix} into database ${pre.database}`, problems);
      }
      // Replace what a fresh migration put there (the seed catalog), children first.
      for (const t of [...targets].reverse())
        await client.query(`DELETE FROM ${qualified(t.schema, t.table)}`);

      const result: RestoreResult = { prefix, database: pre.database, tables: [], sequencesReset: 0 };
      for (const info of targets) {
        const entry = entries.get(info.name)!;
        await insertTable(client, container, prefix, info, entry);
        for (const column of info.columns) {
          if (!column.sequence) continue;
          const col = quoteIdent(column.name);
          await client.query(
            `SELECT setval($1::regclass, COALESCE(MAX(${col}), 1), MAX(${col}) IS NOT NULL)
               FROM ${qualified(info.schema, info.table)}`,
            [column.sequence],
          );
          result.sequencesReset++;
        }
      }

      // Re-count every table, and re-hash those whose columns are exactly the exported ones.
      const after: string[] = [];
      for (const info of targets) {
        const entry = entries.get(info.name)!;
        const rows = await rowCount(client, info.schema, info.table);
        if (rows !== entry.rows)
          after.push(`${info.name}: ${rows} rows after the restore, the manifest says ${entry.rows}`);
        const sameColumns =
          info.columns.length === entry.columns.length &&
          info.columns.every((c) => entry.columns.includes(c.name));
        let contentVerified = false;
        if (sameColumns) {
          const hash = createHash('sha256');
          for await (const lines of tableLines(client, info)) hash.update(`${lines.join('\n')}\n`, 'utf8');
          const sha = hash.digest('hex');
          if (sha !== entry.sha256) {
            after.push(
              `${info.name}: the restored rows hash to ${short(sha)}, the manifest says ${short(entry.sha256)}`,
            );
          }
          contentVerified = true;
        }
        result.tables.push({ name: info.name, rows, contentVerified });
      }
      if (after.length > 0) {
        throw new BackupRefusedError(
          `Restore of ${prefix} did not reproduce the export; rolled back, nothing was written`,
          after,
        );
      }
      await client.query('COMMIT');
      for (const t of result.tables) {
        progress(`restored ${t.name}: ${t.rows} rows${t.contentVerified ? ', content re-verified' : ''}`);
      }
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackErr: Error) => {
        broken = rollbackErr;
      });
      throw err;
    }
  } finally {
    client.release(broken);
  }
}

async function withClient<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    return await work(client);
  } finally {
    client.release();
  }
}

/**
 * Inserts one table's rows with `jsonb_populate_recordset` in batches, naming only the exported columns (so
 * columns added by later migrations take their defaults), and re-checks the file against the manifest as it reads:
 * a file that changed since verification aborts the transaction.
 */
async function insertTable(
  client: pg.ClientBase,
  container: ContainerClient,
  prefix: string,
  info: TableInfo,
  entry: TableManifest,
): Promise<void> {
  const table = qualified(info.schema, info.table);
  const columns = entry.columns.map(quoteIdent).join(', ');
  const insert = `INSERT INTO ${table} (${columns})
                  SELECT ${columns} FROM jsonb_populate_recordset(NULL::${table}, $1::jsonb)`;
  const scan: Scan = { rows: 0, bytes: 0, sha256: '', truncated: false };
  let batch: string[] = [];
  let batchBytes = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    await client.query(insert, [`[${batch.join(',')}]`]);
    batch = [];
    batchBytes = 0;
  };
  for await (const lines of readTableFile(container, `${prefix}${entry.file}`, scan)) {
    for (const line of lines) {
      batch.push(line);
      batchBytes += line.length;
      if (batch.length >= INSERT_ROWS || batchBytes >= INSERT_BYTES) await flush();
    }
  }
  await flush();
  const problems = compare(entry, scan);
  if (problems.length > 0) {
    throw new BackupRefusedError(
      `Export ${prefix} changed while it was being restored; rolled back, nothing was written`,
      problems,
    );
  }
}
