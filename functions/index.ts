import { app } from '../shared/http/azure-functions.js';
import {
  inInvocationTrace,
  startTelemetryAtEntry,
  telemetryConfigured,
} from '../shared/telemetry/start-at-entry.js';
import { assertConnectionSettings, closeAppRuntime, onFirstUse } from './app-runtime.js';
import { SERVICE_BUS_CONNECTION } from './definitions.js';
import { boundedHttpLoader, FUNCTIONS } from './function-table.js';

/**
 * The Azure Functions entry point (`main` in package.json): the one place that registers every function with
 * `app`. It checks that the connection settings are there and loads only the function table; the settings' full
 * validation, the runtime and each handler's code load on first use (functions/app-runtime.ts explains why and what
 * that trades). Application Insights, when configured, starts here, at module load, as the Functions and distro
 * docs ask, so that its ESM hook sees pg, the Azure SDK and http load (shared/telemetry/start-at-entry.ts).
 */
assertConnectionSettings(process.env);
if (telemetryConfigured(process.env)) {
  void startTelemetryAtEntry(process.env); // not awaited: the host indexes the functions while the distro loads
  app.hook.preInvocation(inInvocationTrace);
}
app.setup({ enableHttpStream: false });
app.hook.appTerminate(closeAppRuntime);

for (const fn of FUNCTIONS) {
  switch (fn.kind) {
    case 'http':
      app.http(fn.name, {
        route: fn.route,
        methods: fn.methods,
        authLevel: fn.authLevel,
        handler: onFirstUse(boundedHttpLoader(fn)),
      });
      break;
    case 'serviceBusQueue':
      app.serviceBusQueue(fn.name, {
        connection: SERVICE_BUS_CONNECTION,
        queueName: fn.queueName,
        handler: onFirstUse(fn.load),
      });
      break;
    case 'timer':
      app.timer(fn.name, { schedule: fn.schedule, handler: onFirstUse(fn.load) });
      break;
  }
}
