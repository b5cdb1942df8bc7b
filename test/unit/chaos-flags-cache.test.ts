import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CACHE_MS, type ChaosDocument, ChaosFlags, defaultChaos } from '../../shared/chaos/chaos-flags.js';
import { loadSettings } from '../../shared/config/settings.js';
import type { Database } from '../../shared/db/database.js';

/** A database stand-in holding the one chaos_flags row; counts the reads and can hold one in flight. */
function fakeDatabase(initial: ChaosDocument) {
  let stored = initial;
  let reads = 0;
  let hold: Promise<void> | undefined;
  const db = {
    async query(text: string) {
      if (text.startsWith('SELECT document')) {
        reads++;
        const seen = stored;
        await hold;
        return { rows: [{ document: seen }] };
      }
      return { rows: [{ n: 1 }] };
    },
    async transaction<T>(work: (client: unknown) => Promise<T>) {
      const client = {
        async query(text: string, values?: unknown[]) {
          if (text.startsWith('UPDATE')) stored = JSON.parse(String(values?.[0])) as ChaosDocument;
          return { rows: [{ document: stored }] };
        },
      };
      return work(client);
    },
  } as unknown as Database;
  return {
    db,
    reads: () => reads,
    holdReads() {
      let release!: () => void;
      hold = new Promise<void>((resolve) => {
        release = resolve;
      });
      return () => {
        hold = undefined;
        release();
      };
    },
    set(doc: ChaosDocument) {
      stored = doc;
    },
  };
}

describe('ChaosFlags cache', () => {
  const defaults = defaultChaos(loadSettings({}));
  const withGremlin = (enabled: boolean): ChaosDocument => ({
    ...defaults,
    gremlin: { ...defaults.gremlin, enabled },
  });

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it(`reads the database at most once per ${CACHE_MS} ms`, async () => {
    const fake = fakeDatabase(withGremlin(false));
    const flags = new ChaosFlags(fake.db, defaults);
    await flags.current();
    await flags.current();
    expect(fake.reads()).toBe(1);
    fake.set(withGremlin(true));
    vi.advanceTimersByTime(CACHE_MS - 1);
    expect((await flags.current()).gremlin.enabled).toBe(false);
    vi.advanceTimersByTime(1);
    expect((await flags.current()).gremlin.enabled).toBe(true);
    expect(fake.reads()).toBe(2);
  });

  it('serves a herd of concurrent callers with one read when the cache expires', async () => {
    const fake = fakeDatabase(withGremlin(true));
    const flags = new ChaosFlags(fake.db, defaults);
    const release = fake.holdReads();
    const all = Promise.all(Array.from({ length: 64 }, () => flags.current()));
    release();
    expect((await all).every((d) => d.gremlin.enabled)).toBe(true);
    expect(fake.reads()).toBe(1);
  });

  it('a read that was in flight during an update never overwrites the newer update', async () => {
    const fake = fakeDatabase(withGremlin(false));
    const flags = new ChaosFlags(fake.db, defaults);
    const release = fake.holdReads();
    const staleRead = flags.current(); // sees gremlin off, held in flight
    vi.advanceTimersByTime(1);
    await flags.update({ gremlin: { enabled: true } });
    release();
    await staleRead;
    expect((await flags.current()).gremlin.enabled).toBe(true);
  });

  it('falls back to the settings defaults when the stored document is invalid', async () => {
    const fake = fakeDatabase({ nonsense: true } as unknown as ChaosDocument);
    const flags = new ChaosFlags(fake.db, defaults);
    expect(await flags.current()).toEqual(defaults);
  });
});
