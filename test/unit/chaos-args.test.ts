import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../tools/chaos/args.js';
import { percentiles } from '../../tools/stats.js';

// `npm run chaos` flags: what CI and the README type must parse, and a typo must stop the run (exit 2), not be
// ignored.
describe('npm run chaos flags', () => {
  it('the defaults, and the flags .ci/run passes', () => {
    const defaults = parseArgs([]);
    expect(defaults).toMatchObject({
      orders: 300,
      concurrency: 16,
      durationLimitS: 120,
      gremlinMs: 1500,
      everyN: 5,
      crashEveryN: 4,
      out: 'artifacts/chaos',
      quiet: false,
      port: 0,
    });
    expect(
      parseArgs(['--orders', '150', '--concurrency', '12', '--duration-limit-s', '120', '--quiet']),
    ).toMatchObject({ orders: 150, concurrency: 12, durationLimitS: 120, quiet: true });
    expect(parseArgs(['--seed=7', '--port=7071', '--out', 'x'])).toMatchObject({
      seed: 7,
      port: 7071,
      out: 'x',
    });
    expect(parseArgs(['--help'])).toBe('help');
    expect(parseArgs(['-h'])).toBe('help');
  });

  it.each([
    [['--bogus'], /--bogus/],
    [['--orders'], /--orders/],
    [['--orders', '0'], /--orders must be a whole number from 1 to 100000, got "0"/],
    [['--orders', '1.5'], /--orders must be a whole number/],
    [['--port', '70000'], /--port must be a whole number from 0 to 65535/],
    [['--out', ' '], /--out must not be empty/],
    [['stray'], /stray/],
  ])('%j is a usage error naming the flag', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

describe('percentiles (bench and chaos)', () => {
  it('nearest rank, zero without samples', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i); // 1..100, unsorted
    expect(percentiles(samples)).toEqual({ p50: 50, p90: 90, p99: 99, max: 100, mean: 50.5 });
    expect(percentiles([])).toEqual({ p50: 0, p90: 0, p99: 0, max: 0, mean: 0 });
  });
});
