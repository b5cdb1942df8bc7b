import { EventEmitter } from 'node:events';
import type { VerifierOptions } from '../shared/auth/bearer-verifier.js';
import { type CustomerAuth, createCustomerAuth } from '../shared/auth/customer-auth.js';
import { ChaosFlags, defaultChaos } from '../shared/chaos/chaos-flags.js';
import type { Settings } from '../shared/config/settings.js';
import { createDatabase, createHousekeepingDatabase, type Database } from '../shared/db/database.js';
import { passwordForSettings } from '../shared/db/password-for-settings.js';
import { connectionTarget, createPool } from '../shared/db/pool.js';
import { probeDatabase } from '../shared/db/probe.js';
import { Statements } from '../shared/db/statement.js';
import {
  type BrokerDeadLetterQueue,
  createServiceBusDeadLetterQueue,
  inProcessDeadLetterQueue,
} from '../shared/messaging/broker-dead-letters.js';
import type { DelayedRetryOptions } from '../shared/messaging/consume.js';
import { InProcessTransport } from '../shared/messaging/in-process-transport.js';
import { Outbox, type OutboxOwner } from '../shared/messaging/outbox.js';
import type { Publisher } from '../shared/messaging/publisher.js';
import type { QueueName } from '../shared/messaging/queue-names.js';
import { createServiceBusPublisher } from '../shared/messaging/service-bus-publisher.js';
import { createPolicies, type Policies } from '../shared/resilience/policies.js';
import { type IgnoredFailureReporter, ignoredFailureReporter } from '../shared/telemetry/ignored-failures.js';
import { METRICS } from '../shared/telemetry/metric-names.js';
import { OrderApiHistory } from '../shared/telemetry/order-api-history.js';
import { RollingLatency } from '../shared/telemetry/order-api-stats.js';
import { registerRuntimeGauges } from '../shared/telemetry/runtime-gauges.js';
import { Signals } from '../shared/telemetry/signals.js';
import { type InventoryWriters, inventoryWriters } from './inventory/inventory-repository.js';
import { type OrdersWriters, ordersWriters } from './orders/orders-repository.js';

/**
 * Everything a handler needs, built once per instance (the composition root). Both hosts build one and hand
 * it to the function definitions; tests build their own against their own database. The long-lived objects the
 * handlers share (pool, breakers, statement runner, batching queues, outboxes) are built here rather than kept in
 * module-level maps keyed by database, so they are all in one place and two runtimes in one process share none.
 */
export interface Runtime {
  readonly settings: Settings;
  readonly db: Database;
  /** The same pool for retention work, under its own timeout and no breaker (see createHousekeepingDatabase). */
  readonly housekeepingDb: Database;
  /** Runs the repositories' hot statements, named (prepared) where the server allows (see Statements). */
  readonly statements: Statements;
  /** The repositories' coalescing writers: concurrent calls share one statement (ADR 0002). */
  readonly writers: { readonly orders: OrdersWriters; readonly inventory: InventoryWriters };
  readonly policies: Policies;
  /** Who is calling a customer route (CUSTOMER_AUTH): nobody in particular, App Service's principal, or a token. */
  readonly customerAuth: CustomerAuth;
  readonly publisher: Publisher;
  /**
   * A service's outbox, one per owner: sends what a writer committed (`sendAfterCommit`), re-sends what a retry
   * finds unsent, relays the rest; it holds the rows in flight in the in-process transport and the mark queue.
   */
  outbox(owner: OutboxOwner): Outbox;
  /** The broker's dead-letter sub-queues (Service Bus `$DeadLetterQueue`, or the in-process transport's). */
  readonly brokerDeadLetters: BrokerDeadLetterQueue;
  readonly chaos: ChaosFlags;
  readonly signals: Signals;
  readonly orderApiLatency: RollingLatency;
  /** The last 10 minutes of order-API p50/p99 and orders per second (the page's chart). */
  readonly orderApiHistory: OrderApiHistory;
  /** Emits `final:<orderId>` when this instance applies a final status (wakes `Prefer: wait` early). */
  readonly orderEvents: EventEmitter;
  /** Instance-level log lines (breaker transitions, broken connections): not tied to one invocation. */
  readonly log: RuntimeLog;
  /** Logs (once) and counts a failure that is survived on purpose. */
  readonly reportIgnored: IgnoredFailureReporter;
  /** The delayed-retry options of the consumer of `queue`: copies go through the broker, under the publish policy. */
  delayedRetryFor(queue: QueueName): DelayedRetryOptions;
  close(): Promise<void>;
}

export type RuntimeLog = (level: 'information' | 'warning' | 'error', message: string) => void;

const consoleRuntimeLog: RuntimeLog = (level, message) =>
  (level === 'information' ? console.log : console.warn)(`[valerix] ${message}`);

export interface RuntimeOptions {
  /** The PostgreSQL URL to use (the local host passes the embedded server's). Defaults to DATABASE_URL. */
  databaseUrl?: string;
  /** Overrides the transport chosen by settings (tests). */
  publisher?: Publisher;
  poolMax?: number;
  /** Overrides resilience options (tests use short timeouts). */
  resilience?: Partial<Parameters<typeof createPolicies>[0]>;
  /** The clock of the 30 s order-API window (tests move it instead of waiting). Defaults to Date.now. */
  clock?: () => number;
  /** Where instance-level lines go (the local host passes its own log). Defaults to the console. */
  log?: RuntimeLog;
  /** Options of the bearer-token verifier (tests shorten the JWKS refetch cooldown). */
  customerAuth?: VerifierOptions;
}

/**
 * Deliveries in flight per in-process queue. The local host is one instance standing in for a scaled-out app,
 * and its consumers coalesce concurrent deliveries into one statement, so more in flight means bigger batches,
 * not more connections: at 16 (what one Azure instance's maxConcurrentCalls was before issue 18) Inventory drained at about half the
 * rate orders arrived; at 64 it keeps up.
 */
const LOCAL_DELIVERY_CONCURRENCY = 64;

function publisherFor(settings: Settings): Publisher {
  const sb = settings.serviceBus;
  if (sb.kind === 'in-process') {
    return new InProcessTransport({
      maxDeliveryCount: settings.maxDeliveryCount,
      deliveryCopies: sb.deliveryCopies,
      concurrency: LOCAL_DELIVERY_CONCURRENCY,
    });
  }
  return createServiceBusPublisher(sb);
}

/** The broker's dead-letter sub-queues for a publisher: a test's own fake publisher has none. */
function brokerDeadLettersFor(settings: Settings, publisher: Publisher): BrokerDeadLetterQueue {
  if (publisher instanceof InProcessTransport) return inProcessDeadLetterQueue(publisher);
  if (publisher.kind === 'service-bus' && settings.serviceBus.kind !== 'in-process') {
    return createServiceBusDeadLetterQueue(settings.serviceBus);
  }
  return { peek: async () => [], redrive: async () => 'not-found', close: async () => {} };
}

/** Connections order intake leaves to the queue consumers' (batched) statements and the outbox marks. */
const NON_INTAKE_CONNECTIONS = 2;
/**
 * Intake batches in flight at once (each on a connection of its own). Fewer writers make bigger batches: measured
 * with 8, 4, 2 and 1 (docs/performance.md), 2–4 did best at 16 and 64 connections; more only split the same
 * orders into more commits.
 */
const INTAKE_WRITERS = 4;
/** Order writes admitted (running + queued) before intake answers 503: what the bulkhead always allowed. */
const INTAKE_ADMITTED = 64 + 256;

/**
 * Intake holds at most `poolMax − 2` connections; further order writes wait in the intake bulkhead's queue
 * instead of the pool's. Otherwise a burst of orders fills the pool's wait queue and every consumer statement
 * waits behind it, so Inventory drains far slower than orders arrive. How many requests are admitted before
 * the 503 is unchanged.
 */
function intakeShare(poolMax: number): {
  intakeConcurrency: number;
  intakeQueue: number;
  intakeAdmitted: number;
} {
  const intakeConcurrency = Math.max(1, poolMax - NON_INTAKE_CONNECTIONS);
  return {
    intakeConcurrency,
    intakeQueue: INTAKE_ADMITTED - intakeConcurrency,
    intakeAdmitted: INTAKE_ADMITTED,
  };
}

export function createRuntime(settings: Settings, options: RuntimeOptions = {}): Runtime {
  const url = options.databaseUrl ?? settings.database.url;
  if (!url) {
    throw new Error(
      'DATABASE_URL is not set. The Azure Functions host needs a PostgreSQL URL; `npm run dev` starts an embedded one.',
    );
  }
  const poolMax = options.poolMax ?? settings.database.poolMax;
  const log = options.log ?? consoleRuntimeLog;
  const signals = new Signals();
  const reportIgnored = ignoredFailureReporter(signals, (message) => log('warning', message));
  const share = intakeShare(poolMax);
  const password = passwordForSettings(settings);
  const target = connectionTarget({ connectionString: url, password });
  const policies = createPolicies({
    databaseProbe: () => probeDatabase(target, settings.database.timeoutMs),
    databaseTimeoutMs: settings.database.timeoutMs,
    publishTimeoutMs: settings.publishTimeoutMs,
    ...share,
    onBreakerChange: (c) =>
      log(
        c.state === 'closed' ? 'information' : 'warning',
        `${c.breaker} circuit breaker ${c.from} → ${c.state} at ${c.at}`,
      ),
    ...options.resilience,
  });
  const pool = createPool({
    connectionString: url,
    max: poolMax,
    connectionTimeoutMs: settings.database.timeoutMs,
    password,
    onConnectionError: (error) =>
      reportIgnored({ kind: 'pool_connection', error, fallback: 'the pool opens a new connection' }),
  });
  const db = createDatabase(pool, policies);
  const statements = new Statements(db);
  const publisher = options.publisher ?? publisherFor(settings);
  const outboxDeps = {
    db,
    publisher,
    publishPolicy: policies.publish,
    reportIgnored,
    // The publish breaker's half-open trials are the relay's first (its passes carry the backlog); a trial the relay
    // has not taken within one more half-open delay is the writers' (in Azure the relay runs once a minute).
    writersMayPublish: () =>
      policies.breakerStates().publish === 'closed' ||
      policies.breakerTrialOverdueMs('publish') >= policies.breakerHalfOpenAfterMs,
  };
  const outboxes: Record<OutboxOwner, Outbox> = {
    orders: new Outbox(outboxDeps, 'orders'),
    inventory: new Outbox(outboxDeps, 'inventory'),
  };
  const brokerDeadLetters = brokerDeadLettersFor(settings, publisher);
  const orderEvents = new EventEmitter();
  orderEvents.setMaxListeners(0);
  // Breaker states and outbox backlogs as observable gauges, here in the composition root so that both hosts
  // (and every test runtime) get them; unregistered on close so a closed pool is never queried.
  const unregisterGauges = registerRuntimeGauges({ db, policies });
  let closing: Promise<void> | undefined;
  return {
    settings,
    db,
    housekeepingDb: createHousekeepingDatabase(pool, policies),
    statements,
    writers: {
      orders: ordersWriters(statements, {
        policy: policies.intake,
        connections: Math.min(INTAKE_WRITERS, share.intakeConcurrency),
        batchMax: settings.database.intakeBatchMax,
        onBatch: (size, split) => signals.record(METRICS.intakeBatchSize, size, { split: String(split) }),
      }),
      inventory: inventoryWriters(statements),
    },
    policies,
    customerAuth: createCustomerAuth(settings.customerAuth, options.customerAuth),
    publisher,
    outbox: (owner) => outboxes[owner],
    brokerDeadLetters,
    chaos: new ChaosFlags(db, defaultChaos(settings)),
    signals,
    orderApiLatency: new RollingLatency(settings.latencyRedThresholdMs, 30_000, options.clock ?? Date.now),
    orderApiHistory: new OrderApiHistory(10, 60, options.clock ?? Date.now),
    orderEvents,
    log,
    reportIgnored,
    delayedRetryFor: (queue) => ({
      queue,
      policy: settings.delayedRetry,
      async schedule(message) {
        await policies.publish.execute(() => publisher.publish([message]));
        signals.count(METRICS.delayedRetries, { queue });
      },
    }),
    close() {
      closing ??= (async () => {
        unregisterGauges();
        policies.stopProbing();
        await brokerDeadLetters.close().catch(() => {});
        await publisher.close();
        await db.close();
      })();
      return closing;
    },
  };
}
