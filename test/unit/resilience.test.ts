import { BrokenCircuitError, BulkheadRejectedError, TaskCancelledError } from 'cockatiel';
import { describe, expect, it } from 'vitest';
import { SimulatedCrashError } from '../../shared/chaos/chaos-flags.js';
import { isTransientDbError } from '../../shared/db/errors.js';
import { createPolicies, isTransientFailure } from '../../shared/resilience/policies.js';

const pgError = (code: string) => Object.assign(new Error(`pg error ${code}`), { code });

describe('database policy', () => {
  it.each([
    ['40001', 'serialization_failure'],
    ['40P01', 'deadlock_detected'],
    ['57P01', 'admin_shutdown'],
    ['08006', 'connection_failure'],
    ['ECONNREFUSED', 'connection refused'],
  ])('retries the transient %s (%s) and succeeds', async (code) => {
    const policies = createPolicies({ databaseTimeoutMs: 1000, publishTimeoutMs: 1000 });
    let calls = 0;
    const result = await policies.database.execute(async () => {
      calls++;
      if (calls < 3) throw pgError(code);
      return 'ok';
    });
    expect(result).toBe('ok');
    expect(calls).toBe(3);
  });

  it.each([
    ['23505', 'unique_violation'],
    ['23514', 'check_violation'],
    ['22P02', 'invalid_text_representation'],
    ['42P01', 'undefined_table'],
    ['55P03', 'lock_not_available (our deliberate lock timeout: 409)'],
  ])('does not retry %s (%s)', async (code) => {
    const policies = createPolicies({ databaseTimeoutMs: 1000, publishTimeoutMs: 1000 });
    let calls = 0;
    await expect(
      policies.database.execute(async () => {
        calls++;
        throw pgError(code);
      }),
    ).rejects.toMatchObject({ code });
    expect(calls).toBe(1);
    expect(isTransientDbError(pgError(code))).toBe(false);
  });

  it('opens the breaker after repeated connection failures and then refuses at once', async () => {
    const policies = createPolicies({
      databaseTimeoutMs: 1000,
      publishTimeoutMs: 1000,
      breakerHalfOpenAfterMs: 60_000,
    });
    for (let i = 0; i < 5; i++) {
      await policies.database
        .execute(async () => {
          throw pgError('ECONNREFUSED');
        })
        .catch(() => {});
    }
    expect(policies.breakerStates().database).toBe('open');
    let called = false;
    await expect(
      policies.database.execute(async () => {
        called = true;
      }),
    ).rejects.toBeInstanceOf(BrokenCircuitError);
    expect(called).toBe(false);
  });

  it('a constraint violation never opens the breaker', async () => {
    const policies = createPolicies({ databaseTimeoutMs: 1000, publishTimeoutMs: 1000 });
    for (let i = 0; i < 20; i++) {
      await policies.database
        .execute(async () => {
          throw pgError('23505');
        })
        .catch(() => {});
    }
    expect(policies.breakerStates().database).toBe('closed');
  });
});

describe('breaker transitions', () => {
  it('are reported with the time they changed, and kept for /api/stats', async () => {
    const changes: unknown[] = [];
    const policies = createPolicies({
      databaseTimeoutMs: 1000,
      publishTimeoutMs: 1000,
      breakerHalfOpenAfterMs: 60_000,
      onBreakerChange: (c) => changes.push(c),
    });
    expect(policies.breakerChanges()).toEqual({ database: null, publish: null });
    expect(policies.breakerWouldTry('publish')).toBe(true);
    for (let i = 0; i < 3; i++) {
      await policies.publish.execute(() => Promise.reject(new Error('broker down'))).catch(() => {});
    }
    const opened = policies.breakerChanges().publish;
    expect(opened).toMatchObject({ breaker: 'publish', state: 'open', from: 'closed' });
    expect(Date.now() - Date.parse(opened!.at)).toBeLessThan(60_000);
    expect(changes).toEqual([opened]);
    // Open and inside its half-open delay: a call would be refused without being tried.
    expect(policies.breakerWouldTry('publish')).toBe(false);
    expect(policies.breakerChanges().database).toBeNull();
  });
});

describe('transient failures (worth a delayed retry)', () => {
  it.each([
    ['an open breaker', new BrokenCircuitError()],
    ['a timeout', new TaskCancelledError()],
    ['a refused connection', pgError('ECONNREFUSED')],
    ['a lost connection', new Error('Connection terminated unexpectedly')],
    ['a server shutting down', pgError('57P01')],
  ])('%s is transient', (_what, err) => {
    expect(isTransientFailure(err)).toBe(true);
  });

  it.each([
    ['a constraint violation', pgError('23505')],
    ['a bug', new TypeError('x is undefined')],
    ['a simulated crash', new SimulatedCrashError('inventory')],
  ])('%s is not', (_what, err) => {
    expect(isTransientFailure(err)).toBe(false);
  });
});

describe('intake bulkhead', () => {
  it('sheds load beyond its capacity with a rejection instead of queueing forever', async () => {
    const policies = createPolicies({
      databaseTimeoutMs: 1000,
      publishTimeoutMs: 1000,
      intakeConcurrency: 2,
      intakeQueue: 1,
    });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const running = Array.from({ length: 3 }, () => policies.intake.execute(() => gate));
    await expect(policies.intake.execute(async () => 'x')).rejects.toBeInstanceOf(BulkheadRejectedError);
    release();
    await Promise.all(running);
  });
});

describe('database probe while the breaker is open', () => {
  it('closes the breaker as soon as the database answers again, without waiting out the half-open delay', async () => {
    let up = false;
    let probes = 0;
    const changes: { state: string; from: string }[] = [];
    const policies = createPolicies({
      databaseTimeoutMs: 1000,
      publishTimeoutMs: 1000,
      breakerHalfOpenAfterMs: 60_000,
      databaseProbe: async () => {
        probes++;
        if (!up) throw pgError('ECONNREFUSED');
      },
      onBreakerChange: (c) => changes.push({ state: c.state, from: c.from }),
    });
    try {
      for (let i = 0; i < 5; i++) {
        await policies.database.execute(() => Promise.reject(pgError('08006'))).catch(() => {});
      }
      expect(policies.breakerStates().database).toBe('open');
      await expect(policies.database.execute(() => 'refused')).rejects.toBeInstanceOf(BrokenCircuitError);
      // The client is told the time to the next probe, not the minute-long half-open delay.
      expect(policies.retryAfterSeconds).toBe(1);
      await expect.poll(() => probes, { timeout: 5000 }).toBeGreaterThan(1);
      expect(policies.breakerStates().database).toBe('open');

      up = true;
      await expect.poll(() => policies.breakerStates().database, { timeout: 5000 }).toBe('closed');
      expect(await policies.database.execute(() => 'served')).toBe('served');
      expect(changes).toEqual([
        { state: 'open', from: 'closed' },
        { state: 'closed', from: 'open' },
      ]);
    } finally {
      policies.stopProbing();
    }
  });

  it('leaves a breaker held open on purpose (isolated) alone', async () => {
    const policies = createPolicies({
      databaseTimeoutMs: 1000,
      publishTimeoutMs: 1000,
      databaseProbe: async () => {},
    });
    const held = policies.breakers.database.isolate();
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect(policies.breakerStates().database).toBe('isolated');
    } finally {
      held.dispose();
      policies.stopProbing();
    }
  });
});
