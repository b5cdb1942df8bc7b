import type { InvocationContext } from '@azure/functions';
import { SimulatedCrashError } from '../shared/chaos/chaos-flags.js';
import type { WrittenMessages } from '../shared/messaging/outbox-written.js';
import { METRICS } from '../shared/telemetry/metric-names.js';
import type { Runtime } from './runtime.js';

/**
 * What every writer does right after its commit: the crash simulator may throw here (Schrödinger's warehouse:
 * committed, but the caller — client or broker — is told it failed and retries, which the idempotency records
 * absorb); otherwise the rows just written are published, or left to the outbox relay if that fails.
 */
export async function crashOrPublish(
  rt: Runtime,
  service: 'orders' | 'inventory',
  written: WrittenMessages,
  report: { orderId: string; fallback: string },
  context: InvocationContext,
): Promise<void> {
  if (await rt.chaos.shouldCrash(service)) {
    rt.signals.count(METRICS.crashSimulations, { target: service });
    throw new SimulatedCrashError(service);
  }
  await rt.outbox(service).sendAfterCommit(written, { kind: 'publish_after_commit', ...report }, context);
}
