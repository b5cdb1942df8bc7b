import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../../shared/db/database.js';
import { createPool } from '../../shared/db/pool.js';
import {
  MAX_RELAY_ATTEMPTS,
  OUTBOX_OWNERS,
  OUTBOX_STATEMENTS,
  Outbox,
  type OutboxDeps,
  type OutboxOwner,
} from '../../shared/messaging/outbox.js';
import { type OutgoingMessage, type Publisher, SETTLED_RECEIPT } from '../../shared/messaging/publisher.js';
import type { IgnoredFailure } from '../../shared/telemetry/ignored-failures.js';
import { type TestDatabase, testDatabase } from '../support/test-database.js';

// The relay's bookkeeping on the outbox rows themselves: a failed publish is an attempt with exponential
// backoff, a row at MAX_RELAY_ATTEMPTS is left alone (health shows it as stuck), and a leased row is sent once.

let database: TestDatabase;
let pool: pg.Pool;
let db: Database;
beforeAll(async () => {
  database = await testDatabase();
  // createPool listens for errors: the teardown's DROP DATABASE … WITH (FORCE) may reach a client pool.end() has
  // let go of before its socket closed, and an unheard 'error' there is an uncaught exception.
  pool = createPool({ connectionString: database.url, max: 4, connectionTimeoutMs: 10_000 });
  db = createDatabase(pool, { database: { execute: (fn) => fn() } } as Parameters<typeof createDatabase>[1]);
});
afterAll(async () => {
  await pool?.end();
  await database?.drop();
});

/**
 * The outbox of `schema` (as a runtime builds one) on a durable broker whose publish does what `send` says,
 * recording every batch it was asked to send.
 */
function broker(schema: OutboxOwner, send: () => Promise<void> = async () => {}) {
  const batches: (readonly OutgoingMessage[])[] = [];
  const publisher: Publisher = {
    kind: 'service-bus',
    publish: async (messages) => {
      batches.push(messages);
      await send();
      return SETTLED_RECEIPT;
    },
    close: async () => {},
  };
  const deps: OutboxDeps = { db, publisher, publishPolicy: { execute: (fn) => fn() } };
  return { deps, outbox: new Outbox(deps, schema), batches };
}

const failing = (schema: OutboxOwner) =>
  broker(schema, async () => {
    throw new Error('broker down');
  });

describe.each(OUTBOX_OWNERS)('the relay of %s.outbox', (schema) => {
  const q = <R extends pg.QueryResultRow>(sql: string, values: unknown[] = []) => pool.query<R>(sql, values);

  beforeEach(async () => {
    await q(`DELETE FROM ${schema}.outbox`);
  });

  /** A due, unpublished row (created a minute ago: past the grace period) with `attempts` failed attempts. */
  async function row(attempts = 0): Promise<number> {
    const { rows } = await q<{ id: string }>(
      `INSERT INTO ${schema}.outbox (message_id, queue, type, body, attempts, created_at, next_attempt_at)
       VALUES ($1, 'relay-test', 'test', '{}'::jsonb, $2, now() - interval '1 minute', now() - interval '1 second')
       RETURNING id`,
      [randomUUID(), attempts],
    );
    return Number(rows[0]!.id);
  }

  async function state(id: number) {
    const { rows } = await q<{
      attempts: number;
      last_error: string | null;
      leased: boolean;
      published: boolean;
      due_in: number;
    }>(
      `SELECT attempts, last_error, lease_until IS NOT NULL AS leased, published_at IS NOT NULL AS published,
              extract(epoch FROM next_attempt_at - now())::float8 AS due_in
         FROM ${schema}.outbox WHERE id = $1`,
      [id],
    );
    return rows[0]!;
  }

  const makeDue = (id: number) =>
    q(`UPDATE ${schema}.outbox SET next_attempt_at = now() WHERE id = $1`, [id]);

  it('a failed publish is one more attempt, due again after a backoff that doubles (at most 300 s)', async () => {
    const id = await row();
    const { outbox, batches } = failing(schema);

    expect(await outbox.relay()).toEqual({ sent: 0, failed: 1 });
    let after = await state(id);
    expect(after).toMatchObject({ attempts: 1, last_error: 'broker down', leased: false, published: false });
    expect(after.due_in).toBeGreaterThan(1);
    expect(after.due_in).toBeLessThanOrEqual(2);

    // Not due yet: the next pass leaves it alone and asks the broker nothing.
    expect(await outbox.relay()).toEqual({ sent: 0, failed: 0 });
    expect(batches).toHaveLength(1);

    await makeDue(id);
    expect(await outbox.relay()).toEqual({ sent: 0, failed: 1 });
    after = await state(id);
    expect(after.attempts).toBe(2);
    expect(after.due_in).toBeGreaterThan(3);
    expect(after.due_in).toBeLessThanOrEqual(4);

    await q(`UPDATE ${schema}.outbox SET attempts = 20, next_attempt_at = now() WHERE id = $1`, [id]);
    expect(await outbox.relay()).toEqual({ sent: 0, failed: 1 });
    after = await state(id);
    expect(after.attempts).toBe(21);
    expect(after.due_in).toBeGreaterThan(299);
    expect(after.due_in).toBeLessThanOrEqual(300);
  });

  it(`a row that failed MAX_RELAY_ATTEMPTS (${MAX_RELAY_ATTEMPTS}) times is no longer claimed`, async () => {
    const stuck = await row(MAX_RELAY_ATTEMPTS);
    const last = await row(MAX_RELAY_ATTEMPTS - 1);
    const { outbox, batches } = failing(schema);

    expect(await outbox.relay()).toEqual({ sent: 0, failed: 1 });
    expect(batches).toHaveLength(1);
    expect(batches[0]).toHaveLength(1);
    expect(await state(stuck)).toMatchObject({
      attempts: MAX_RELAY_ATTEMPTS,
      last_error: null,
      leased: false,
    });
    expect((await state(last)).attempts).toBe(MAX_RELAY_ATTEMPTS);

    await makeDue(last);
    expect(await broker(schema).outbox.relay()).toEqual({ sent: 0, failed: 0 });
    expect(await state(last)).toMatchObject({ attempts: MAX_RELAY_ATTEMPTS, published: false });
  });

  it('a leased row is not claimed by a second relay while the first one publishes it', async () => {
    const id = await row();
    let release!: () => void;
    const slow = broker(schema, () => new Promise<void>((resolve) => (release = resolve)));
    const first = slow.outbox.relay();
    await expect.poll(() => slow.batches.length).toBe(1);
    expect(await state(id)).toMatchObject({ leased: true, published: false });

    const second = broker(schema);
    expect(await second.outbox.relay()).toEqual({ sent: 0, failed: 0 });
    expect(second.batches).toHaveLength(0);

    release();
    expect(await first).toEqual({ sent: 1, failed: 0 });
    expect(await state(id)).toMatchObject({ attempts: 1, leased: false, published: true });
    expect(await second.outbox.relay()).toEqual({ sent: 0, failed: 0 });
  });

  it('a row held in memory by the in-process transport is not claimed again until it is handled', async () => {
    const id = await row();
    let handled!: () => void;
    const batches: (readonly OutgoingMessage[])[] = [];
    const publisher: Publisher = {
      kind: 'in-process',
      publish: async (messages) => {
        batches.push(messages);
        return { handled: new Promise<void>((resolve) => (handled = resolve)), settled: false };
      },
      close: async () => {},
    };
    const outbox = new Outbox({ db, publisher, publishPolicy: { execute: (fn) => fn() } }, schema);
    expect(await outbox.relay()).toEqual({ sent: 1, failed: 0 });

    // Its grace period over, still queued in memory: passes leave it alone, with no re-send and no update.
    for (let pass = 0; pass < 3; pass++) {
      await makeDue(id);
      expect(await outbox.relay()).toEqual({ sent: 0, failed: 0 });
    }
    expect(batches).toHaveLength(1);
    expect(await state(id)).toMatchObject({ leased: false, published: false });

    handled();
    await expect.poll(async () => (await state(id)).published).toBe(true);
  });

  it('a failed mark of a burst is reported once for the burst, naming its orders, not once per message', async () => {
    const refusing: Database = {
      ...db,
      query: ((text: string, values?: unknown[]) =>
        text === OUTBOX_STATEMENTS.markPublished[schema]
          ? Promise.reject(new Error('mark refused'))
          : db.query(text, values)) as Database['query'],
    };
    const reports: IgnoredFailure[] = [];
    const { deps } = broker(schema);
    const refusingOutbox = new Outbox(
      { ...deps, db: refusing, reportIgnored: (f) => reports.push(f) },
      schema,
    );
    const orders = Array.from({ length: 20 }, () => randomUUID());
    const ids = await Promise.all(orders.map(() => row()));
    await Promise.all(
      orders.map((orderId, i) =>
        refusingOutbox.sendAfterCommit(
          {
            outboxIds: [ids[i]!],
            messages: [
              {
                queue: 'inventory-reservations',
                envelope: { correlationId: orderId } as OutgoingMessage['envelope'],
              },
            ],
          },
          { kind: 'publish_after_commit', orderId, fallback: 'the relay sends it' },
        ),
      ),
    );
    // The marks of the burst gather (MARK_GATHER_MS) into one statement: one report, naming its orders.
    await expect.poll(() => reports.length).toBe(1);
    await new Promise((r) => setTimeout(r, 100));
    expect(reports).toHaveLength(1);
    expect(reports[0]!.kind).toBe('mark_published');
    expect(reports[0]!.fallback).toContain('20 messages');
    expect(reports[0]!.fallback).toContain(orders[0]!);
    for (const id of ids) expect(await state(id)).toMatchObject({ published: false });
  });

  it('a lease that ran out (its relay died) is claimed again', async () => {
    const id = await row();
    await q(`UPDATE ${schema}.outbox SET lease_until = now() - interval '1 second' WHERE id = $1`, [id]);
    const { outbox, batches } = broker(schema);
    expect(await outbox.relay()).toEqual({ sent: 1, failed: 0 });
    expect(batches).toHaveLength(1);
    expect(await state(id)).toMatchObject({ leased: false, published: true });
  });
});
