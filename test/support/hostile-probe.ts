import fc from 'fast-check';
import type { HttpFunctionSpec } from '../../functions/definitions.js';
import { FUNCTIONS } from '../../functions/function-table.js';
import { type HostileRequest, keyed, requestFor, unroutedRequest } from './hostile-requests.js';
import { assertLoopback, sendRaw } from './raw-http.js';

/**
 * A bounded probe with the fuzz suite's generators against a running local host (`npm run dev`), loopback only:
 *
 *   npx tsx test/support/hostile-probe.ts http://127.0.0.1:7071 3000 [concurrency] [seed]
 *
 * Prints how many answers were 5xx, dropped, or 4xx without a problem document and a `detail`. With concurrency
 * above 1 the chaos route is left out: a valid patch may switch the crash simulator on, whose 500s are by design;
 * one at a time, each accepted patch is switched off again before the next request. Operator routes get the key
 * in LOCAL_FUNCTION_KEY (start `npm run dev` with the same one); without it they answer 401.
 */
const [url = 'http://127.0.0.1:7071', countArg = '3000', concurrencyArg = '1', seedArg = '12'] =
  process.argv.slice(2);
assertLoopback(new URL(url));
const count = Math.min(Number(countArg), 100_000);
const concurrency = Math.max(1, Math.min(Number(concurrencyArg), 64));

const routes = FUNCTIONS.filter((f): f is HttpFunctionSpec => f.kind === 'http').filter(
  (f) => concurrency === 1 || f.name !== 'putChaos',
);
const key = process.env.LOCAL_FUNCTION_KEY ?? '';
const requests = fc.sample(fc.oneof(...routes.map((f) => keyed(f, requestFor(f), key)), unroutedRequest), {
  seed: Number(seedArg),
  numRuns: count,
});

const tally = { total: 0, byStatus: new Map<number, number>(), fiveXx: 0, dropped: 0, badProblems: 0 };
const examples: string[] = [];
const note = (what: string, request: HostileRequest, detail: string) => {
  if (examples.length < 10)
    examples.push(`${what}: ${request.method} ${request.target.slice(0, 80)} → ${detail}`);
};

async function probe(request: HostileRequest): Promise<void> {
  const outcome = await sendRaw(url, request);
  tally.total++;
  if (outcome.kind === 'dropped') {
    tally.dropped++;
    note('dropped', request, outcome.detail);
    return;
  }
  const { status, headers, body } = outcome.response;
  tally.byStatus.set(status, (tally.byStatus.get(status) ?? 0) + 1);
  if (status >= 500) {
    tally.fiveXx++;
    note(String(status), request, body.slice(0, 200));
  } else if (status >= 400) {
    let detail: unknown;
    try {
      detail = request.method === 'HEAD' ? 'HEAD' : JSON.parse(body).detail;
    } catch {
      detail = undefined;
    }
    if (headers['content-type'] !== 'application/problem+json' || typeof detail !== 'string' || !detail) {
      tally.badProblems++;
      note(`${status} without a problem`, request, `${headers['content-type']} ${body.slice(0, 120)}`);
    }
  }
  if (request.aimedAt === 'putChaos' && status === 200) {
    await fetch(`${url}/api/chaos`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-functions-key': key },
      body: JSON.stringify({ gremlin: { enabled: false }, crash: { enabled: false } }),
    });
  }
}

const started = Date.now();
let next = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < requests.length) await probe(requests[next++]!);
  }),
);
const statuses = [...tally.byStatus.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`);
console.log(
  `${tally.total} requests in ${((Date.now() - started) / 1000).toFixed(1)} s (concurrency ${concurrency}): ` +
    `${tally.fiveXx} 5xx, ${tally.dropped} dropped, ${tally.badProblems} 4xx without a problem document\n` +
    `statuses: ${statuses.join(' ')}`,
);
for (const example of examples) console.log(`  ${example}`);
process.exitCode = tally.fiveXx + tally.dropped + tally.badProblems > 0 ? 1 : 0;
