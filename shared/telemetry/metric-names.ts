/**
 * Names of the custom metrics (OpenTelemetry metrics API → Application Insights `customMetrics`).
 * The Workbook and alert rules in bicep/ query these exact names; a test keeps them in step.
 */
export const METRICS = {
  /** counter of new orders committed (no dims; an Idempotency-Key replay is counted by idempotentReplays) */
  ordersAccepted: 'valerix.orders.accepted',
  /** counter; dims: status (shipped|rejected|failed|cancelled), reason (its code: out_of_stock, …) */
  ordersFinalized: 'valerix.orders.finalized',
  /** histogram, orders per intake transaction (group commit); dims: split (true: it failed and each order went alone) */
  intakeBatchSize: 'valerix.orders.intake_batch_size',
  /** histogram, ms from acceptance to final status; dims: status */
  orderEndToEnd: 'valerix.orders.end_to_end_ms',
  /** histogram, ms of the order API (POST/GET /api/orders); dims: method, status_code */
  orderApiLatency: 'valerix.order_api.latency_ms',
  /** counter; dims: result (reserved|out_of_stock|unknown_product; for a cancel: released|nothing_reserved) */
  reservations: 'valerix.inventory.reservations',
  /** counter of Idempotency-Key replays */
  idempotentReplays: 'valerix.idempotency.replays',
  /** counter; dims: consumer (reserveStock|releaseStock|applyInventoryResult) */
  duplicatesAbsorbed: 'valerix.messages.duplicates_absorbed',
  /** counter; dims: where (reservation|inventory_http) */
  gremlinDelays: 'valerix.chaos.gremlin_delays',
  /** counter; dims: target (inventory|orders) */
  crashSimulations: 'valerix.chaos.crashes',
  /** observable gauge: 0 closed, 1 half-open, 2 open, 3 isolated; dims: policy */
  breakerState: 'valerix.resilience.breaker_state',
  /** observable gauge, unpublished outbox rows; dims: service (orders|inventory) */
  outboxBacklog: 'valerix.outbox.backlog',
  /** observable gauge, seconds since the oldest unpublished outbox row was written; dims: service */
  outboxOldestAge: 'valerix.outbox.oldest_age_s',
  /** counter; dims: queue */
  deadLetters: 'valerix.messages.dead_letters',
  /** counter of transient consumer failures re-sent for later (delayed retries); dims: queue */
  delayedRetries: 'valerix.messages.delayed_retries',
  /** counter of failures survived on purpose (logged once each); dims: kind (shared/telemetry/ignored-failures.ts) */
  ignoredFailures: 'valerix.failures.ignored',
  /** counter of rows deleted by retention; dims: table */
  rowsPruned: 'valerix.retention.rows_pruned',
  /** counter of HTTP requests that failed unexpectedly (a 500 from the error boundary); dims: function */
  httpUnexpectedFailures: 'valerix.http.unexpected_failures',
} as const;
