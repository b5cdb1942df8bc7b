import { BrokenCircuitError, BulkheadRejectedError } from 'cockatiel';
import { describe, expect, it } from 'vitest';
import { isTransientDbError } from '../../shared/db/errors.js';
import { createPolicies } from '../../shared/resilience/policies.js';

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
