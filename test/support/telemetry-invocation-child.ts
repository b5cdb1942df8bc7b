/**
 * Run by test/integration/telemetry-dependencies.test.ts in a fresh Node process (`node --import tsx`), as the
 * Functions worker would load the app: Application Insights started the way the entry starts it
 * (shared/telemetry/start-at-entry.ts) with an in-memory span exporter added, then one `createOrder` invocation
 * through the entry's preInvocation hook, the real runtime (pg) and the real Service Bus publisher (to an endpoint
 * that refuses). The publisher sends batches, and the SDK opens its link (untraced) before the traced batch send,
 * so against a refusing endpoint it records no send; the same invocation therefore also sends one message through
 * the SDK's single-message path, whose span starts before it connects. Both load `@azure/service-bus` the same way
 * (a dynamic `import` from ESM), which is what the ESM hook is about. Prints the finished spans as JSON.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import azureFunctions from '@azure/functions';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { AzureMonitorOpenTelemetryOptions } from 'applicationinsights';
import { inInvocationTrace, startTelemetryAtEntry } from '../../shared/telemetry/start-at-entry.js';

const { HttpRequest, InvocationContext, PreInvocationContext } = azureFunctions;
const exporter = new InMemorySpanExporter();
const status = await startTelemetryAtEntry(process.env, {
  useAzureMonitor: async (options) => {
    const { useAzureMonitor } = await import('applicationinsights');
    useAzureMonitor({
      ...options,
      enableLiveMetrics: false,
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    } as AzureMonitorOpenTelemetryOptions);
  },
});
if (!status?.enabled) throw new Error(`telemetry did not start: ${status?.reason}`);

// What the first invocation does (functions/app-runtime.ts): the runtime, then the handler's code.
const { appRuntime } = await import('../../functions/app-runtime.js');
const { loadFunction } = await import('../../functions/function-table.js');
const { FUNCTIONS } = await import('../../functions/function-table.js');
const rt = await appRuntime(process.env);
const spec = FUNCTIONS.find((f) => f.name === 'createOrder');
if (!spec) throw new Error('no createOrder');
const fn = await loadFunction(spec, rt);
if (fn.kind !== 'http') throw new Error('createOrder is not HTTP');

const traceId = randomBytes(16).toString('hex');
const invocationContext = new InvocationContext({
  functionName: 'createOrder',
  invocationId: randomUUID(),
  traceContext: {
    traceParent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
    traceState: '',
    attributes: {},
  },
});
const request = new HttpRequest({
  method: 'POST',
  url: 'http://localhost/api/orders',
  headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
  body: { string: JSON.stringify({ customerId: 'telemetry-test', productId: 'PROD-001', quantity: 1 }) },
});
const createOrder = fn.handler;
const invocation = async (req: typeof request, ctx: typeof invocationContext) => {
  const response = await createOrder(req, ctx);
  const { ServiceBusClient } = await import('@azure/service-bus');
  const client = new ServiceBusClient(process.env.ServiceBusConnection ?? '', {
    retryOptions: { maxRetries: 0, timeoutInMs: 2000 },
  });
  await client
    .createSender('inventory-reservations')
    .sendMessages({ body: 'probe', messageId: randomUUID() })
    .catch(() => {}); // refused: the endpoint is unreachable on purpose
  await client.close().catch(() => {});
  return response;
};
const hook = new PreInvocationContext({
  invocationContext,
  inputs: [request],
  functionCallback: invocation as never,
});
await inInvocationTrace(hook);
const response = (await hook.functionHandler(request, invocationContext)) as { status?: number };

// The publish after commit gives up within its timeout; wait for its span to end (bounded).
const deadline = Date.now() + 20_000;
const isServiceBus = (s: { attributes: Record<string, unknown> }) =>
  s.attributes['az.namespace'] === 'Microsoft.ServiceBus';
while (Date.now() < deadline && !exporter.getFinishedSpans().some(isServiceBus)) {
  await new Promise((r) => setTimeout(r, 100));
}
await rt.close().catch(() => {});
const spans = exporter.getFinishedSpans().map((s) => ({
  name: s.name,
  kind: s.kind,
  traceId: s.spanContext().traceId,
  attributes: s.attributes,
}));
console.log(JSON.stringify({ traceId, status: response.status, spans }));
process.exit(0);
