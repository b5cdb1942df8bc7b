import type pg from 'pg';
import type { Database } from './database.js';

/**
 * Runs one statement through the database policy, as a named (server-side prepared) statement on a real
 * PostgreSQL: parsed and planned once per connection instead of on every call, which roughly halves the cost of
 * the one-statement transactions (data-modifying CTEs are expensive to plan). The embedded PGlite runs every
 * connection in ONE session, where a name prepared through one connection collides with the next, so there the
 * statement stays unnamed. Which kind of server it is, is asked once per Database, in the background (the first
 * statements run unnamed meanwhile), so the question never delays a request or counts against a breaker.
 */
export async function runStatement<R extends pg.QueryResultRow>(
  db: Database,
  name: string,
  text: string,
  values: unknown[],
): Promise<pg.QueryResult<R>> {
  if (!namedStatementsAllowed(db)) return db.query<R>(text, values);
  // `Database.query` declares SQL text only, but hands its argument to pg's `pool.query`, which takes a
  // QueryConfig as well; this is the one place that relies on it.
  const query = db.query as unknown as (config: pg.QueryConfig) => Promise<pg.QueryResult<R>>;
  return query({ name, text, values });
}

interface ServerProbe {
  known: boolean;
  allowed: boolean;
  asking: boolean;
  askedAt: number;
}

const probes = new WeakMap<Database, ServerProbe>();

function namedStatementsAllowed(db: Database): boolean {
  let probe = probes.get(db);
  if (!probe) {
    probe = { known: false, allowed: false, asking: false, askedAt: 0 };
    probes.set(db, probe);
  }
  if (!probe.known && !probe.asking && db.pool && Date.now() - probe.askedAt > 5000) {
    const p = probe;
    p.asking = true;
    p.askedAt = Date.now();
    db.pool
      .query<{ embedded: boolean }>(`SELECT version() ~* 'pglite|emscripten' AS embedded`)
      .then(
        ({ rows }) => {
          p.known = true;
          p.allowed = rows[0]?.embedded === false;
        },
        () => {}, // unreachable for now: stay unnamed, ask again later
      )
      .finally(() => {
        p.asking = false;
      });
  }
  return probe.allowed;
}
