import { loadSettings } from '../shared/config/settings.js';
import { app } from '../shared/http/azure-functions.js';
import { allFunctions } from './catalog.js';
import { SERVICE_BUS_CONNECTION } from './definitions.js';
import { createRuntime } from './runtime.js';

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
const runtime = createRuntime(settings);

app.setup({ enableHttpStream: false });
app.hook.appTerminate(() => runtime.close());

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
