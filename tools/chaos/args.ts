/** Command-line flags of `npm run chaos`, parsed strictly: a typo is a usage error (exit 2), never ignored. */
export interface ChaosOptions {
  orders: number;
  concurrency: number;
  /** Hard cap on the whole run (sending and waiting stop before it, leaving time to check and clean up). */
  durationLimitS: number;
  gremlinMs: number;
  everyN: number;
  crashEveryN: number;
  out: string;
  quiet: boolean;
  /** Seed of the order mix, so that a run can be repeated with the same orders. */
  seed: number;
  /** Port of the local host (0: any free port); 7071 lets a person watch /api/ui during the run. */
  port: number;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

export const USAGE = `usage: npm run chaos -- [options]

  --orders N             orders to send (default 300)
  --concurrency C        requests in flight at once (default 16)
  --duration-limit-s S   hard cap on the whole run in seconds (default 120)
  --gremlin-ms MS        gremlin delay of Inventory work (default 1500)
  --every-n N            the gremlin delays every Nth unit of Inventory work (default 5)
  --crash-every-n M      crash after commit on every Mth order write and reservation (default 4)
  --out DIR              where report.json and report.md go (default artifacts/chaos)
  --seed N               seed of the order mix (default: random; printed in the report)
  --port P               port of the local host, e.g. 7071 to watch http://localhost:7071/api/ui (default: any free)
  --quiet                print only the summary
  --help                 this text

DATABASE_URL set: a fresh database valerix_chaos_<random> is created on that server and dropped afterwards.
Unset: an embedded PostgreSQL in a temporary data directory.
Exit code: 0 every invariant holds, 1 an invariant broke, 2 usage or setup error.`;

interface IntFlag {
  key: 'orders' | 'concurrency' | 'durationLimitS' | 'gremlinMs' | 'everyN' | 'crashEveryN' | 'seed' | 'port';
  min: number;
  max: number;
}

const INT_FLAGS: Record<string, IntFlag> = {
  '--orders': { key: 'orders', min: 1, max: 100_000 },
  '--concurrency': { key: 'concurrency', min: 1, max: 1024 },
  '--duration-limit-s': { key: 'durationLimitS', min: 5, max: 24 * 3600 },
  '--gremlin-ms': { key: 'gremlinMs', min: 0, max: 60_000 },
  '--every-n': { key: 'everyN', min: 1, max: 1_000_000 },
  '--crash-every-n': { key: 'crashEveryN', min: 1, max: 1_000_000 },
  '--seed': { key: 'seed', min: 0, max: 2 ** 31 - 1 },
  '--port': { key: 'port', min: 0, max: 65_535 },
};

/** Returns the options, `'help'` for --help, or throws UsageError naming the bad flag. */
export function parseArgs(argv: readonly string[]): ChaosOptions | 'help' {
  const options: ChaosOptions = {
    orders: 300,
    concurrency: 16,
    durationLimitS: 120,
    gremlinMs: 1500,
    everyN: 5,
    crashEveryN: 4,
    out: 'artifacts/chaos',
    quiet: false,
    seed: Math.floor(Math.random() * 2 ** 31),
    port: 0,
  };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    if (raw === '--help' || raw === '-h') return 'help';
    if (raw === '--quiet') {
      options.quiet = true;
      continue;
    }
    const eq = raw.indexOf('=');
    const name = eq > 0 ? raw.slice(0, eq) : raw;
    const inline = eq > 0 ? raw.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`${name} needs a value`);
      i++;
      return next;
    };
    if (name === '--out') {
      const dir = value();
      if (dir.trim() === '') throw new UsageError('--out must not be empty');
      options.out = dir;
      continue;
    }
    const spec = INT_FLAGS[name];
    if (!spec) throw new UsageError(`unknown option ${raw}`);
    const text = value();
    const n = Number(text);
    if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < spec.min || n > spec.max) {
      throw new UsageError(`${name} must be a whole number from ${spec.min} to ${spec.max}, got "${text}"`);
    }
    options[spec.key] = n;
  }
  return options;
}
