import { z } from 'zod';
import type { Settings } from '../config/settings.js';
import type { Database } from '../db/database.js';

/**
 * Run-time chaos flags: the gremlin (a delay in Inventory work) and the crash simulator (a failure right after
 * a commit, before the outcome is reported). Stored in `platform.chaos_flags` so every instance sees a change
 * (each caches for at most CACHE_MS); settings give the defaults until someone PUTs a document.
 */
/** The flags' statements (one row, id 1), and the deterministic modes' counters: the next turn of a sequence. */
export const CHAOS_STATEMENTS = {
  read: 'SELECT document FROM platform.chaos_flags WHERE id = 1',
  seed: 'INSERT INTO platform.chaos_flags (id, document) VALUES (1, $1) ON CONFLICT (id) DO NOTHING',
  lock: 'SELECT document FROM platform.chaos_flags WHERE id = 1 FOR UPDATE',
  write: 'UPDATE platform.chaos_flags SET document = $1, updated_at = now() WHERE id = 1',
  gremlinTurn: "SELECT nextval('platform.gremlin_work_seq') AS n",
  crashTurn: {
    orders: "SELECT nextval('platform.crash_orders_seq') AS n",
    inventory: "SELECT nextval('platform.crash_inventory_seq') AS n",
  },
} as const;

const mode = z.enum(['deterministic', 'random']);
const gremlinFlags = z.strictObject({
  enabled: z.boolean(),
  mode,
  everyN: z.number().int().min(1).max(1_000_000),
  probability: z.number().min(0).max(1),
  latencyMs: z.number().int().min(0).max(60_000),
});
const crashFlags = z.strictObject({
  enabled: z.boolean(),
  target: z.enum(['inventory', 'orders', 'both']),
  mode,
  everyN: z.number().int().min(1).max(1_000_000),
  probability: z.number().min(0).max(1),
});
export const chaosDocument = z.strictObject({ gremlin: gremlinFlags, crash: crashFlags });
export const chaosPatch = z.strictObject({
  gremlin: gremlinFlags.partial().optional(),
  crash: crashFlags.partial().optional(),
});
export type ChaosDocument = z.infer<typeof chaosDocument>;
export type ChaosPatch = z.infer<typeof chaosPatch>;

export const CACHE_MS = 1000;

export function defaultChaos(settings: Pick<Settings, 'gremlin' | 'crash'>): ChaosDocument {
  return { gremlin: { ...settings.gremlin }, crash: { ...settings.crash } };
}

export type CrashTarget = 'inventory' | 'orders';

export interface ChaosCounters {
  gremlinDelays: number;
  crashes: Record<CrashTarget, number>;
}

export class SimulatedCrashError extends Error {
  constructor(target: CrashTarget) {
    super(`simulated crash after commit (${target}); the work is committed, the outcome was not reported`);
    this.name = 'SimulatedCrashError';
  }
}

export class ChaosFlags {
  readonly counters: ChaosCounters = { gremlinDelays: 0, crashes: { inventory: 0, orders: 0 } };
  private cached: { at: number; doc: ChaosDocument } | undefined;
  private reading: Promise<ChaosDocument> | undefined;

  constructor(
    private readonly db: Database,
    private readonly defaults: ChaosDocument,
    private readonly random: () => number = Math.random,
  ) {}

  async current(): Promise<ChaosDocument> {
    if (this.cached && Date.now() - this.cached.at < CACHE_MS) return this.cached.doc;
    // Every request and message asks; when the cache expires under load, one read serves them all.
    this.reading ??= this.read().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async read(): Promise<ChaosDocument> {
    const started = Date.now();
    const { rows } = await this.db.query<{ document: unknown }>(CHAOS_STATEMENTS.read);
    const stored = chaosDocument.safeParse(rows[0]?.document);
    const doc = stored.success ? stored.data : this.defaults;
    // An update() that finished while this read was in flight is newer than what the read saw.
    if (!this.cached || this.cached.at <= started) this.cached = { at: Date.now(), doc };
    return doc;
  }

  /** Applies a partial update atomically (row lock), so two admins never lose each other's change. */
  async update(patch: ChaosPatch): Promise<ChaosDocument> {
    const doc = await this.db.transaction(async (client) => {
      await client.query(CHAOS_STATEMENTS.seed, [JSON.stringify(this.defaults)]);
      const { rows } = await client.query<{ document: unknown }>(CHAOS_STATEMENTS.lock);
      const base = chaosDocument.safeParse(rows[0]?.document);
      const current = base.success ? base.data : this.defaults;
      const next = chaosDocument.parse({
        gremlin: { ...current.gremlin, ...patch.gremlin },
        crash: { ...current.crash, ...patch.crash },
      });
      await client.query(CHAOS_STATEMENTS.write, [JSON.stringify(next)]);
      return next;
    });
    this.cached = { at: Date.now(), doc };
    return doc;
  }

  /**
   * How long this unit of Inventory work must be delayed (0 = not at all). Deterministic mode counts with a
   * database sequence, so "every Nth" holds across every instance.
   */
  async gremlinDelayMs(): Promise<number> {
    const { gremlin } = await this.current();
    if (!gremlin.enabled || gremlin.latencyMs === 0) return 0;
    let fire: boolean;
    if (gremlin.mode === 'random') {
      fire = this.random() < gremlin.probability;
    } else {
      const { rows } = await this.db.query<{ n: number }>(CHAOS_STATEMENTS.gremlinTurn);
      fire = (rows[0]?.n ?? 1) % gremlin.everyN === 0;
    }
    if (!fire) return 0;
    this.counters.gremlinDelays++;
    return gremlin.latencyMs;
  }

  /** Whether to simulate a crash now, right after `target` committed its work. */
  async shouldCrash(target: CrashTarget): Promise<boolean> {
    const { crash } = await this.current();
    if (!crash.enabled || (crash.target !== 'both' && crash.target !== target)) return false;
    let fire: boolean;
    if (crash.mode === 'random') {
      fire = this.random() < crash.probability;
    } else {
      const { rows } = await this.db.query<{ n: number }>(CHAOS_STATEMENTS.crashTurn[target]);
      fire = (rows[0]?.n ?? 1) % crash.everyN === 0;
    }
    if (fire) this.counters.crashes[target]++;
    return fire;
  }
}
