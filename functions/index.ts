import { loadSettings } from '../shared/config/settings.js';
import { app } from '../shared/http/azure-functions.js';
import { flushTelemetry, startTelemetry } from '../shared/telemetry/app-insights.js';
import { SERVICE_BUS_CONNECTION } from './definitions.js';

/**
 * The Azure Functions entry point (`main` in package.json): the one place that registers every function with
 * `app`. Settings are validated here, at start-up, so a bad app setting fails the deployment loudly.
 */
const settings = loadSettings(process.env);
if (settings.serviceBus.kind === 'in-process') {
  throw new Error(
    `${SERVICE_BUS_CONNECTION} (connection string) or ${SERVICE_BUS_CONNECTION}__fullyQualifiedNamespace must be set under the Functions host; \`npm run dev\` runs without Service Bus.`,
  );
}

// Application Insights first (only with a connection string; a no-op otherwise), before any handler can run and
// before the modules that load `pg` and the Azure SDK: its instrumentations patch those modules as they load, so
// the function table is imported only now (the worker awaits this module, top-level await included).
await startTelemetry(settings);
const { allFunctions } = await import('./catalog.js');
const { createRuntime } = await import('./runtime.js');
const runtime = createRuntime(settings);

app.setup({ enableHttpStream: false });
app.hook.appTerminate(async () => {
  await runtime.close();
  await flushTelemetry();
});

for (const fn of allFunctions(runtime)) {
  switch (fn.kind) {
    case 'http':
      app.http(fn.name, {
        route: fn.route,
        methods: fn.methods,
        authLevel: fn.authLevel,
        handler: fn.handler,
      });
      break;
    case 'serviceBusQueue':
      app.serviceBusQueue(fn.name, {
        connection: SERVICE_BUS_CONNECTION,
        queueName: fn.queueName,
        handler: fn.handler,
      });
      break;
    case 'timer':
      app.timer(fn.name, { schedule: fn.schedule, handler: fn.handler });
      break;
  }
}
