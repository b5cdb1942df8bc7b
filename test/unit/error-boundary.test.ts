import { describe, expect, it } from 'vitest';
import { SimulatedCrashError } from '../../shared/chaos/chaos-flags.js';
import { HttpRequest, HttpResponse, InvocationContext } from '../../shared/http/azure-functions.js';
import { withErrorBoundary } from '../../shared/http/error-boundary.js';
import { METRICS } from '../../shared/telemetry/metric-names.js';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';

function call(handler: () => Promise<never>, traceParent = `00-${TRACE_ID}-b7ad6b7169203331-01`) {
  const logs: { level: string; message: string }[] = [];
  const counted: { name: string; attributes?: Record<string, string> }[] = [];
  const context = new InvocationContext({
    invocationId: 'inv-1',
    functionName: 'getOrder',
    traceContext: { traceParent, traceState: '' },
    logHandler: (level, ...args) => logs.push({ level, message: args.join(' ') }),
  });
  const bounded = withErrorBoundary('getOrder', handler, {
    count: (name, attributes) => counted.push({ name, ...(attributes ? { attributes } : {}) }),
  });
  const request = new HttpRequest({ method: 'GET', url: 'http://localhost/api/orders/x' });
  return bounded(request, context).then(async (init) => {
    const res = new HttpResponse(init);
    return { res, body: JSON.parse(await res.text()), logs, counted };
  });
}

describe('the HTTP error boundary', () => {
  it('turns an unexpected error into a 500 problem with the operation id, logged with it and counted', async () => {
    const sqlError = Object.assign(new Error('syntax error at or near "SELECT * FROM orders.orders"'), {
      code: '42601',
    });
    const { res, body, logs, counted } = await call(() => Promise.reject(sqlError));
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(body).toMatchObject({ status: 500, operationId: TRACE_ID, invocationId: 'inv-1' });
    expect(body.detail).toContain(TRACE_ID);
    // Nothing of the error reaches the client.
    expect(JSON.stringify(body)).not.toMatch(/SELECT|orders\.orders|42601|at .*\.ts/);
    expect(logs).toEqual([
      { level: 'error', message: expect.stringContaining(`operation ${TRACE_ID}, invocation inv-1`) },
    ]);
    expect(logs[0]!.message).toContain(sqlError.stack!.split('\n')[1]!.trim());
    expect(counted).toEqual([{ name: METRICS.httpUnexpectedFailures, attributes: { function: 'getOrder' } }]);
  });

  it('makes up an operation id when the invocation has no trace', async () => {
    const { body, logs } = await call(() => Promise.reject('not even an Error'), '');
    expect(body.operationId).toMatch(/^[0-9a-f]{32}$/);
    expect(logs[0]!.message).toContain(body.operationId);
    expect(logs[0]!.message).toContain('not even an Error');
  });

  it('answers a simulated crash the same way, as a warning, without counting it as unexpected', async () => {
    const { res, logs, counted } = await call(() => Promise.reject(new SimulatedCrashError('orders')));
    expect(res.status).toBe(500);
    expect(logs.map((l) => l.level)).toEqual(['warning']);
    expect(counted).toEqual([]);
  });

  it('passes a handler answer through untouched', async () => {
    const bounded = withErrorBoundary('x', async () => ({ status: 204 }));
    const context = new InvocationContext({ functionName: 'x', logHandler: () => {} });
    const request = new HttpRequest({ method: 'GET', url: 'http://localhost/api/x' });
    expect(await bounded(request, context)).toEqual({ status: 204 });
  });
});
