import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { failureStatus } from '../../shared/http/failures.js';
import { METRICS } from '../../shared/telemetry/metric-names.js';
import type { Runtime } from '../runtime.js';

type Handler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

/** Times an order API handler for the 30 s green/red window, the 10-minute chart and the latency histogram. */
export function timedOrderApi(rt: Runtime, handler: Handler): Handler {
  return async (request, context) => {
    const started = performance.now();
    let status = 500;
    try {
      const response = await handler(request, context);
      status = response.status ?? 200;
      return response;
    } catch (err) {
      status = failureStatus(err); // the error boundary answers it (a 503 when the database is down)
      throw err;
    } finally {
      const ms = performance.now() - started;
      rt.orderApiLatency.record(ms);
      rt.orderApiHistory.record(ms, request.method === 'POST' && (status === 201 || status === 202));
      rt.signals.record(METRICS.orderApiLatency, ms, { method: request.method, status_code: status });
    }
  };
}
