import type pg from 'pg';
import type { Database } from './database.js';

interface ServerProbe {
  known: boolean;
  allowed: boolean;
  asking: boolean;
  askedAt: number;
}

/**
 * Runs statements through the database policy, as named (server-side prepared) statements on a real PostgreSQL:
 * parsed and planned once per connection instead of on every call, which roughly halves the cost of the
 * one-statement transactions (data-modifying CTEs are expensive to plan). The embedded PGlite runs every
 * connection in ONE session, where a name prepared through one connection collides with the next, so there the
 * statement stays unnamed. Which kind of server it is, is asked once, in the background (the first statements run
 * unnamed meanwhile), so the question never delays a request or counts against a breaker. Built once per runtime
 * (createRuntime), which is why it may remember the answer.
 */
export class Statements {
  private readonly probe: ServerProbe = { known: false, allowed: false, asking: false, askedAt: 0 };

  constructor(readonly db: Database) {}

  run<R extends pg.QueryResultRow>(
    name: string,
    text: string,
    values: unknown[],
  ): Promise<pg.QueryResult<R>> {
    if (!this.namedStatementsAllowed()) return this.db.query<R>(text, values);
    // `Database.query` declares SQL text only, but hands its argument to pg's `pool.query`, which takes a
    // QueryConfig as well; this is the one place that relies on it.
    const query = this.db.query as unknown as (config: pg.QueryConfig) => Promise<pg.QueryResult<R>>;
    return query({ name, text, values });
  }

  private namedStatementsAllowed(): boolean {
    const p = this.probe;
    const pool = this.db.pool;
    if (!p.known && !p.asking && pool && Date.now() - p.askedAt > 5000) {
      p.asking = true;
      p.askedAt = Date.now();
      pool
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
    return p.allowed;
  }
}
