import { parseArgs as parseArgv } from 'node:util';

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

const INT_FLAGS = {
  orders: { key: 'orders', min: 1, max: 100_000, default: 300 },
  concurrency: { key: 'concurrency', min: 1, max: 1024, default: 16 },
  'duration-limit-s': { key: 'durationLimitS', min: 5, max: 24 * 3600, default: 120 },
  'gremlin-ms': { key: 'gremlinMs', min: 0, max: 60_000, default: 1500 },
  'every-n': { key: 'everyN', min: 1, max: 1_000_000, default: 5 },
  'crash-every-n': { key: 'crashEveryN', min: 1, max: 1_000_000, default: 4 },
  seed: { key: 'seed', min: 0, max: 2 ** 31 - 1, default: undefined },
  port: { key: 'port', min: 0, max: 65_535, default: 0 },
} as const satisfies Record<
  string,
  { key: keyof ChaosOptions; min: number; max: number; default: number | undefined }
>;

/** Returns the options, `'help'` for --help, or throws UsageError naming the bad flag. */
export function parseArgs(argv: readonly string[]): ChaosOptions | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgv({
      args: [...argv],
      options: {
        ...Object.fromEntries(Object.keys(INT_FLAGS).map((name) => [name, { type: 'string' as const }])),
        out: { type: 'string', default: 'artifacts/chaos' },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    // node:util names the flag: "Unknown option '--x'", "Option '--orders <value>' argument missing".
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  const out = values.out as string;
  if (out.trim() === '') throw new UsageError('--out must not be empty');
  const options: ChaosOptions = {
    orders: 0,
    concurrency: 0,
    durationLimitS: 0,
    gremlinMs: 0,
    everyN: 0,
    crashEveryN: 0,
    out,
    quiet: values.quiet === true,
    seed: Math.floor(Math.random() * 2 ** 31),
    port: 0,
  };
  for (const [name, spec] of Object.entries(INT_FLAGS)) {
    const text = values[name] as string | undefined;
    if (text === undefined) {
      if (spec.default !== undefined) options[spec.key] = spec.default;
      continue;
    }
    const n = Number(text);
    if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < spec.min || n > spec.max) {
      throw new UsageError(`--${name} must be a whole number from ${spec.min} to ${spec.max}, got "${text}"`);
    }
    options[spec.key] = n;
  }
  return options;
}
