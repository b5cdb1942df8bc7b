import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SpanKind } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../shared/db/project-root.js';
import { type TestDatabase, testDatabase } from '../support/test-database.js';

/**
 * Application Insights sees dependencies: with telemetry started as the entry starts it (at module load, the ESM
 * hook registered before pg and the Azure SDK load), a `createOrder` invocation records its PostgreSQL queries and
 * a Service Bus send as client spans in the invocation's trace, i.e. under its operation id (the child explains
 * which send). It runs in a fresh
 * Node process (test/support/telemetry-invocation-child.ts) because the hook must see those modules load, which
 * they already have in this one. The spans go to an in-memory exporter; the ingestion endpoint is unreachable.
 */
let db: TestDatabase;
beforeAll(async () => {
  db = await testDatabase();
});
afterAll(async () => {
  await db.drop();
});

interface ChildSpan {
  name: string;
  kind: number;
  traceId: string;
  attributes: Record<string, unknown>;
}

describe('telemetry started at the entry', () => {
  it('records a pg query and a Service Bus send inside an invocation under its operation id', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', join(PROJECT_ROOT, 'test/support/telemetry-invocation-child.ts')],
      {
        cwd: PROJECT_ROOT,
        timeout: 90_000,
        maxBuffer: 16 * 1024 * 1024,
        env: {
          PATH: process.env.PATH,
          DATABASE_URL: db.url,
          ServiceBusConnection: 'Endpoint=sb://127.0.0.1/;SharedAccessKeyName=test;SharedAccessKey=dGVzdA==',
          PUBLISH_TIMEOUT_MS: '1000',
          APPLICATIONINSIGHTS_CONNECTION_STRING:
            'InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/',
          APPLICATIONINSIGHTS_INSTRUMENTATION_LOGGING_LEVEL: 'NONE',
        },
      },
    );
    const result = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as {
      traceId: string;
      status: number;
      spans: ChildSpan[];
    };
    expect(result.status).toBe(202);
    const inInvocation = result.spans.filter((s) => s.traceId === result.traceId);
    const pgQueries = inInvocation.filter(
      (s) =>
        s.kind === SpanKind.CLIENT &&
        (s.attributes['db.system.name'] ?? s.attributes['db.system']) === 'postgresql' &&
        s.name.startsWith('pg.query'),
    );
    const serviceBus = inInvocation.filter(
      (s) =>
        (s.kind === SpanKind.CLIENT || s.kind === SpanKind.PRODUCER) &&
        s.attributes['az.namespace'] === 'Microsoft.ServiceBus' &&
        s.name === 'ServiceBusSender.send',
    );
    expect(pgQueries.length, JSON.stringify(result.spans.map((s) => s.name))).toBeGreaterThan(0);
    expect(serviceBus.length, JSON.stringify(result.spans.map((s) => s.name))).toBeGreaterThan(0);
  }, 120_000);
});
