import { loadSettingsOrExit } from '../../shared/config/settings.js';
import { flushTelemetry, startTelemetry } from '../../shared/telemetry/app-insights.js';

/** `npm run dev`: the whole app on http://localhost:7071 with no Core Tools, no Service Bus, no database server. */
async function main(): Promise<void> {
  const settings = loadSettingsOrExit(process.env);
  const started = Date.now();
  // With APPLICATIONINSIGHTS_CONNECTION_STRING set, local runs report to Application Insights too. It must start
  // before `pg` loads (its instrumentations patch modules as they load), hence the dynamic import after it.
  await startTelemetry(settings);
  const { startLocalHost } = await import('./local-host.js');
  const host = await startLocalHost({ settings });
  const db = host.embedded
    ? `embedded PostgreSQL (PGlite, data in ${settings.database.embeddedDataDir ?? '.data/pglite'})`
    : 'DATABASE_URL';
  const base = host.url.replace('127.0.0.1', 'localhost');
  const key = host.functionKeyGenerated
    ? `${host.functionKey}  (generated for this run; set LOCAL_FUNCTION_KEY to keep one)`
    : '(LOCAL_FUNCTION_KEY)';
  console.log(`
Valerix is running (${Date.now() - started} ms) — database: ${db}; queues: ${host.runtime.publisher.kind}

  UI          ${base}/api/ui
  Orders      POST ${base}/api/orders        GET ${base}/api/orders/{id}      GET ${base}/api/orders (key)
  Inventory   GET  ${base}/api/inventory[/{productId}]   POST ${base}/api/inventory/{productId}/restock (key)
  Health      GET  ${base}/api/health[/orders|/inventory]   GET ${base}/api/health/details[/…] (key)
  Chaos       GET/PUT ${base}/api/chaos (key)
  Stats       GET  ${base}/api/stats

  Function key for the (key) routes, in the x-functions-key header or ?code=: ${key}

Functions: ${host.functions.map((f) => f.name).join(', ')}
Press Ctrl+C to stop.`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: finishing requests in flight, then stopping…`);
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    await host.close();
    await flushTelemetry();
    console.log('stopped.');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  console.error(`Could not start: ${(err as Error).message}`);
  process.exit(1);
});
