import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DbSnapshot, InvariantResult } from '../../test/support/invariant-oracle.js';
import { percentiles } from '../stats.js';
import type { ChaosOptions } from './args.js';
import { type ClientOutcome, MAX_ATTEMPTS } from './driver.js';
import type { Observer } from './observer.js';

/** Everything a run gathered; `buildReport` turns it into the JSON report, the renderers into text. */
export interface RunData {
  runId: string;
  startedAt: Date;
  finishedAt: Date;
  options: ChaosOptions;
  databaseLabel: string;
  deliveryCopies: number;
  outboxRelayIntervalMs: number;
  chaos: unknown;
  stoppedEarly: 'duration-limit' | 'interrupted' | undefined;
  phasesMs: Record<string, number>;
  startingStock: Record<string, number>;
  clients: ClientOutcome[];
  snapshot: DbSnapshot;
  invariants: InvariantResult[];
  stats: Stats | undefined;
  observer: Observer;
  transport: { duplicatesDropped: number; deadLetters: number } | undefined;
}

export interface Stats {
  orderApi?: unknown;
  breakers?: Record<string, string>;
  counters?: Record<string, number>;
  chaos?: { gremlinDelays?: number; crashes?: { inventory?: number; orders?: number } };
}

export interface OrderRow {
  index: number;
  key: string;
  kind: string;
  /** `2×PROD-001+1×PROD-003` */
  lines: string;
  /** The client's cancel and its answer, when it sent one. */
  cancel: string | null;
  client: ClientOutcome['result'];
  orderId: string | null;
  status: string | null;
  reason: string | null;
  attempts: number;
  /** e.g. "500 → 202R" (R = Idempotent-Replayed) */
  answers: string;
  firstLatencyMs: number | null;
  replayed: boolean;
  orderApiCrash: boolean;
  inventoryCrashes: number;
  gremlinDelayedDeliveries: number;
  /** reservation committed − order created (ms) */
  reservationLagMs: number | null;
  /** derived: the reservation came at least the gremlin latency after the order */
  heldUpAtLeastGremlinMs: boolean;
  endToEndMs: number | null;
  reservationDeliveries: number;
  statusDeliveries: number;
}

export interface LatencySummary {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

export type ChaosReport = ReturnType<typeof buildReport>;

/** The latency summary of the report: the bench's nearest-rank percentiles, null where there are no samples. */
function latencySummary(values: readonly number[]): LatencySummary {
  if (values.length === 0) return { count: 0, p50: null, p90: null, p99: null, max: null };
  const { p50, p90, p99, max } = percentiles(values);
  return { count: values.length, p50, p90, p99, max };
}

function orderRows(run: RunData): OrderRow[] {
  const orders = new Map(run.snapshot.orders.map((o) => [o.id, o]));
  const byKey = new Map(run.snapshot.idempotencyKeys.map((k) => [k.key, k.orderId]));
  const reservations = new Map(run.snapshot.reservations.map((r) => [r.orderId, r]));
  const gremlin = countBy(run.observer.gremlinDelays.map((g) => g.orderId));
  const deliveries = run.observer.deliveries;
  return run.clients.map((c) => {
    const orderId = c.orderId ?? byKey.get(c.key) ?? null;
    const order = orderId ? orders.get(orderId) : undefined;
    const reservation = orderId ? reservations.get(orderId) : undefined;
    const mine = orderId ? deliveries.filter((d) => d.orderId === orderId) : [];
    const lag = order && reservation ? reservation.createdAt.getTime() - order.createdAt.getTime() : null;
    return {
      index: c.index,
      key: c.key,
      kind: c.kind,
      lines: c.body.lines.map((l) => `${l.quantity}×${l.productId}`).join('+'),
      cancel: c.cancel ? `${c.cancel.result} (${c.cancel.status})` : null,
      client: c.result,
      orderId,
      status: order?.status ?? null,
      reason: order?.reason ?? null,
      attempts: c.attempts.length,
      answers: c.attempts
        .map((a) => (a.status === 0 ? 'net-err' : `${a.status}${a.replayed ? 'R' : ''}`))
        .join(' → '),
      firstLatencyMs: c.attempts[0] && c.attempts[0].status !== 0 ? c.attempts[0].latencyMs : null,
      replayed: c.replayed,
      orderApiCrash: c.attempts.some((a) => a.status === 500),
      inventoryCrashes: mine.filter((d) => d.outcome === 'crash').length,
      gremlinDelayedDeliveries: orderId ? (gremlin.get(orderId) ?? 0) : 0,
      reservationLagMs: lag,
      heldUpAtLeastGremlinMs: lag !== null && run.options.gremlinMs > 0 && lag >= run.options.gremlinMs,
      endToEndMs:
        order && order.status !== 'pending' ? order.updatedAt.getTime() - order.createdAt.getTime() : null,
      reservationDeliveries: mine.filter((d) => d.fn === 'reserveStock').length,
      statusDeliveries: mine.filter((d) => d.fn === 'applyInventoryResult').length,
    };
  });
}

const metChaos = (r: OrderRow) =>
  r.gremlinDelayedDeliveries > 0 || r.orderApiCrash || r.inventoryCrashes > 0 || r.attempts > 1 || r.replayed;

export function buildReport(run: RunData) {
  const rows = orderRows(run);
  const attempts = run.clients.flatMap((c) => c.attempts);
  const statusCounts = countBy(attempts.map((a) => (a.status === 0 ? 'network-error' : String(a.status))));
  const byResult = countBy(run.clients.map((c) => c.result));
  const counters = run.stats?.counters ?? {};
  const counter = (name: string) => counters[name] ?? 0;
  const finalOf = countBy(run.snapshot.orders.map((o) => o.status));
  const rejectedBy = countBy(
    run.snapshot.orders
      .filter((o) => o.status === 'rejected')
      .map((o) => (o.reason ?? '').split(':')[0] ?? ''),
  );
  const failedBy = countBy(
    run.snapshot.orders.filter((o) => o.status === 'failed').map((o) => o.reason ?? ''),
  );
  const acknowledged = new Set(run.clients.flatMap((c) => c.orderIdsSeen));
  const deliveries = run.observer.deliveries;
  const pass = run.invariants.every((i) => i.pass);

  return {
    tool: 'valerix chaos',
    runId: run.runId,
    result: pass ? ('pass' as const) : ('fail' as const),
    startedAt: run.startedAt.toISOString(),
    finishedAt: run.finishedAt.toISOString(),
    durationS: Math.round((run.finishedAt.getTime() - run.startedAt.getTime()) / 100) / 10,
    stoppedEarly: run.stoppedEarly ?? null,
    phasesMs: run.phasesMs,
    parameters: {
      ...run.options,
      database: run.databaseLabel,
      deliveryCopies: run.deliveryCopies,
      outboxRelayIntervalMs: run.outboxRelayIntervalMs,
      clientMaxAttempts: MAX_ATTEMPTS,
      chaos: run.chaos,
      startingStock: run.startingStock,
    },
    totals: {
      planned: run.clients.length,
      sent: run.clients.filter((c) => c.attempts.length > 0).length,
      notSent: byResult.get('not-sent') ?? 0,
      accepted: byResult.get('accepted') ?? 0,
      refused: byResult.get('refused') ?? 0,
      gaveUp: byResult.get('gave-up') ?? 0,
      abortedByLimit: byResult.get('aborted') ?? 0,
      ordersInDatabase: run.snapshot.orders.length,
      committedButNeverAcknowledged: run.snapshot.orders.filter((o) => !acknowledged.has(o.id)).length,
      shipped: finalOf.get('shipped') ?? 0,
      rejected: finalOf.get('rejected') ?? 0,
      rejectedByReason: Object.fromEntries(rejectedBy),
      failed: finalOf.get('failed') ?? 0,
      failedByReason: Object.fromEntries(failedBy),
      pending: (finalOf.get('pending') ?? 0) + (finalOf.get('cancel_requested') ?? 0),
      cancelled: finalOf.get('cancelled') ?? 0,
      cancelsSent: run.clients.filter((c) => c.cancel).length,
      cancelsAccepted: run.clients.filter((c) => c.cancel?.result === 'accepted').length,
      cancelsRefused: run.clients.filter((c) => c.cancel?.result === 'refused').length,
      unitsReleased: run.snapshot.reservations
        .filter((r) => r.result === 'reserved' && r.releasedAt)
        .reduce((n, r) => n + r.lines.reduce((m, l) => m + l.quantity, 0), 0),
      requests: attempts.length,
      clientRetries: attempts.length - run.clients.filter((c) => c.attempts.length > 0).length,
      ordersRetried: run.clients.filter((c) => c.attempts.length > 1).length,
      replays: attempts.filter((a) => a.replayed).length,
      ordersReplayed: run.clients.filter((c) => c.replayed).length,
      http500: statusCounts.get('500') ?? 0,
      http503: statusCounts.get('503') ?? 0,
      http409: statusCounts.get('409') ?? 0,
      networkErrors: statusCounts.get('network-error') ?? 0,
      answersByStatus: Object.fromEntries(statusCounts),
      crashes: {
        orders: run.stats?.chaos?.crashes?.orders ?? null,
        inventory: run.stats?.chaos?.crashes?.inventory ?? null,
        inventorySeenByDeliveryTap: deliveries.filter((d) => d.outcome === 'crash').length,
      },
      gremlinDelays: {
        total: run.stats?.chaos?.gremlinDelays ?? null,
        reservations: counter('gremlinDelays.reservation'),
        inventoryHttp: counter('gremlinDelays.inventory_http'),
        ordersWithADelayedDelivery: new Set(run.observer.gremlinDelays.map((g) => g.orderId)).size,
        ordersHeldUpAtLeastGremlinMs: rows.filter((r) => r.heldUpAtLeastGremlinMs).length,
      },
      duplicatesAbsorbed: {
        reserveStock: counter('duplicatesAbsorbed.reserveStock'),
        applyInventoryResult: counter('duplicatesAbsorbed.applyInventoryResult'),
        droppedByDuplicateDetection: run.transport?.duplicatesDropped ?? null,
      },
      serverReplays: counter('idempotentReplays'),
      deliveries: deliveries.length,
      redeliveries: deliveries.filter((d) => d.deliveryCount > 1).length,
      deliveryErrors: deliveries.filter((d) => d.outcome === 'error').length,
      deadLetters: {
        orders: run.snapshot.deadLetters.orders,
        inventory: run.snapshot.deadLetters.inventory,
        transport: run.transport?.deadLetters ?? null,
      },
    },
    latencyMs: {
      orderApiFirstAttempt: latencySummary(
        run.clients.map((c) => c.attempts[0]).flatMap((a) => (a && a.status !== 0 ? [a.latencyMs] : [])),
      ),
      orderApiAllAttempts: latencySummary(attempts.filter((a) => a.status !== 0).map((a) => a.latencyMs)),
      reservationLagOfGremlinDelayedOrders: latencySummary(
        rows
          .filter((r) => r.gremlinDelayedDeliveries > 0 && r.reservationLagMs !== null)
          .map((r) => r.reservationLagMs!),
      ),
      endToEnd: latencySummary(rows.flatMap((r) => (r.endToEndMs === null ? [] : [r.endToEndMs]))),
      serverOrderApiWindow: run.stats?.orderApi ?? null,
    },
    breakers: run.stats?.breakers ?? null,
    howDerived: {
      gremlin:
        "G (gremlinDelayedDeliveries): from the reservation consumer's own log line naming the order whose delivery it delays — exact, per delivery. Every message is delivered twice, so the delayed delivery may be the duplicate copy while the other copy does the work. lag = reservation committed − order created (database clock); ≥G (heldUpAtLeastGremlinMs) marks lag ≥ the gremlin latency. A long lag alone is not proof of the gremlin: after an order-API crash the OrderPlaced message is not published at once but waits for the outbox relay's grace period (5 s), and deliveries also queue behind delayed ones.",
      crashes:
        'orderApiCrash: the client got a 500 (the local host answers 500 only when a handler throws; compare totals.http500 with crashes.orders). inventoryCrashes: a delivery tap around the queue handlers caught a SimulatedCrashError for this order.',
      replays: 'the client saw Idempotent-Replayed: true on an answer.',
    },
    invariants: run.invariants,
    ordersThatMetChaos: rows.filter(metChaos),
    orders: rows,
    hostDiagnostics: {
      /** The per-order columns read log lines and a delivery tap; say so when they disagree with the counters. */
      observerGaps: [
        ...(run.observer.gremlinDelays.length !== counter('gremlinDelays.reservation')
          ? [
              `gremlin: ${run.observer.gremlinDelays.length} delayed deliveries seen in the log, ${counter('gremlinDelays.reservation')} counted by the host (has the log line changed?)`,
            ]
          : []),
        ...(run.stats?.chaos?.crashes?.inventory !== undefined &&
        run.stats.chaos.crashes.inventory !== deliveries.filter((d) => d.outcome === 'crash').length
          ? [
              `inventory crashes: ${deliveries.filter((d) => d.outcome === 'crash').length} seen by the delivery tap, ${run.stats.chaos.crashes.inventory} counted by the host`,
            ]
          : []),
      ],
      errors: run.observer.errors,
      unexpectedWarnings: run.observer.unexpectedWarnings,
      failedDeliveries: deliveries
        .filter((d) => d.outcome === 'error')
        .slice(0, 50)
        .map(
          (d) => `${d.fn} ${d.type ?? '?'} order ${d.orderId ?? '?'} delivery ${d.deliveryCount}: ${d.error}`,
        ),
    },
  };
}

export async function writeReport(dir: string, report: ChaosReport): Promise<{ json: string; md: string }> {
  await mkdir(dir, { recursive: true });
  const json = join(dir, 'report.json');
  const md = join(dir, 'report.md');
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(md, renderMarkdown(report));
  return { json, md };
}

const MAX_MD_ROWS = 400;

function renderMarkdown(r: ChaosReport): string {
  const p = r.parameters;
  const lines: string[] = [];
  lines.push(
    `# Chaos run ${r.runId}: ${r.result === 'pass' ? 'every invariant holds' : 'INVARIANT BROKEN'}`,
    '',
  );
  lines.push(
    `${r.startedAt} → ${r.finishedAt} (${r.durationS} s)${r.stoppedEarly ? ` — stopped early: ${r.stoppedEarly}` : ''}`,
    '',
  );
  lines.push('## Parameters', '');
  lines.push(
    table(
      ['parameter', 'value'],
      [
        ['database', p.database],
        ['orders / concurrency', `${p.orders} / ${p.concurrency}`],
        ['duration limit', `${p.durationLimitS} s`],
        ['gremlin', `every ${p.everyN}th unit of Inventory work, ${p.gremlinMs} ms (deterministic)`],
        [
          'crash after commit',
          `every ${p.crashEveryN}th, target both (orders POST and reservation consumer)`,
        ],
        ['deliveries per message', String(p.deliveryCopies)],
        ['outbox relay interval', `${p.outboxRelayIntervalMs} ms`],
        ['client', `up to ${p.clientMaxAttempts} attempts, same Idempotency-Key and body`],
        ['seed', String(p.seed)],
      ],
    ),
    '',
  );
  lines.push('## Invariants', '');
  lines.push(
    table(
      ['invariant', 'result', 'checked'],
      r.invariants.map((i) => [i.title, i.pass ? 'pass' : `**FAIL** (${i.violationCount})`, i.checked]),
    ),
    '',
  );
  for (const i of r.invariants.filter((x) => !x.pass)) {
    lines.push(`### ${i.id}`, '', ...i.violations.map((v) => `- ${v}`));
    if (i.violationCount > i.violations.length)
      lines.push(`- … and ${i.violationCount - i.violations.length} more`);
    lines.push('');
  }
  lines.push('## Totals', '');
  lines.push(table(['what', 'count'], totalsRows(r)), '');
  lines.push('## Latency (ms)', '');
  const l = r.latencyMs;
  lines.push(
    table(
      ['measure', 'n', 'p50', 'p90', 'p99', 'max'],
      [
        ['order API, first attempt (client)', ...latencyCells(l.orderApiFirstAttempt)],
        ['order API, every attempt (client)', ...latencyCells(l.orderApiAllAttempts)],
        [
          'reservation lag of gremlin-delayed orders',
          ...latencyCells(l.reservationLagOfGremlinDelayedOrders),
        ],
        ['order end to end (created → final)', ...latencyCells(l.endToEnd)],
      ],
    ),
    '',
  );
  lines.push('## How the per-order chaos columns are derived', '');
  for (const [k, v] of Object.entries(r.howDerived)) lines.push(`- **${k}**: ${v}`);
  lines.push('');
  lines.push(`## Orders that met a delay, a crash, a retry or a replay (${r.ordersThatMetChaos.length})`, '');
  lines.push(
    'Columns: G = gremlin-delayed deliveries, C = crash (O order API 500, I×n inventory), lag = reservation − order (ms), ≥G = lag ≥ gremlin ms.',
    '',
  );
  lines.push(
    table(
      ['#', 'order', 'item', 'answers', 'G', 'C', 'lag', '≥G', 'final'],
      r.ordersThatMetChaos
        .slice(0, MAX_MD_ROWS)
        .map((o) => [
          String(o.index),
          o.orderId ? o.orderId.slice(0, 8) : '—',
          o.cancel ? `${o.lines} (cancel: ${o.cancel})` : o.lines,
          o.answers,
          String(o.gremlinDelayedDeliveries || ''),
          [o.orderApiCrash ? 'O' : '', o.inventoryCrashes ? `I×${o.inventoryCrashes}` : '']
            .filter(Boolean)
            .join(' '),
          o.reservationLagMs === null ? '—' : String(o.reservationLagMs),
          o.heldUpAtLeastGremlinMs ? 'yes' : '',
          o.status ? `${o.status}${o.reason ? ` (${o.reason})` : ''}` : o.client,
        ]),
    ),
  );
  if (r.ordersThatMetChaos.length > MAX_MD_ROWS)
    lines.push('', `(first ${MAX_MD_ROWS}; report.json lists all)`);
  lines.push('');
  const d = r.hostDiagnostics;
  lines.push('## Host diagnostics', '');
  for (const gap of d.observerGaps) lines.push(`- observer gap: ${gap}`);
  lines.push(
    `- error log lines: ${d.errors.count}`,
    `- unexpected warnings: ${d.unexpectedWarnings.count}`,
    `- failed deliveries (not simulated crashes): ${r.totals.deliveryErrors}`,
  );
  for (const line of [...d.errors.lines, ...d.unexpectedWarnings.lines, ...d.failedDeliveries].slice(0, 30)) {
    lines.push(`  - \`${line.replace(/`/g, "'")}\``);
  }
  lines.push('');
  return lines.join('\n');
}

function totalsRows(r: ChaosReport): string[][] {
  const t = r.totals;
  const reasons = (m: Record<string, number>) =>
    Object.entries(m)
      .map(([k, v]) => `${k || '?'} ${v}`)
      .join(', ');
  return [
    ['orders planned / sent / not sent (limit)', `${t.planned} / ${t.sent} / ${t.notSent}`],
    [
      'accepted (2xx) / refused (4xx) / gave up / cut by limit',
      `${t.accepted} / ${t.refused} / ${t.gaveUp} / ${t.abortedByLimit}`,
    ],
    [
      'orders in the database (committed, never acknowledged)',
      `${t.ordersInDatabase} (${t.committedButNeverAcknowledged})`,
    ],
    ['shipped', String(t.shipped)],
    ['rejected', `${t.rejected}${t.rejected ? ` (${reasons(t.rejectedByReason)})` : ''}`],
    ['failed', `${t.failed}${t.failed ? ` (${reasons(t.failedByReason)})` : ''}`],
    ['cancelled (units of stock given back)', `${t.cancelled} (${t.unitsReleased})`],
    [
      'cancels sent / accepted / refused (409: rejected or failed)',
      `${t.cancelsSent} / ${t.cancelsAccepted} / ${t.cancelsRefused}`,
    ],
    ['still pending (or cancel requested)', String(t.pending)],
    ['requests / client retries / orders retried', `${t.requests} / ${t.clientRetries} / ${t.ordersRetried}`],
    ['answers by status', reasons(t.answersByStatus)],
    ['replayed answers (client) / replays counted by the server', `${t.replays} / ${t.serverReplays}`],
    [
      'crashes after commit: order API / inventory (tap)',
      `${t.crashes.orders ?? '?'} / ${t.crashes.inventory ?? '?'} (${t.crashes.inventorySeenByDeliveryTap})`,
    ],
    [
      'gremlin delays: total / reservations / inventory HTTP',
      `${t.gremlinDelays.total ?? '?'} / ${t.gremlinDelays.reservations} / ${t.gremlinDelays.inventoryHttp}`,
    ],
    [
      'orders with a gremlin-delayed delivery / held up ≥ gremlin ms',
      `${t.gremlinDelays.ordersWithADelayedDelivery} / ${t.gremlinDelays.ordersHeldUpAtLeastGremlinMs}`,
    ],
    [
      'duplicates absorbed: reserveStock / applyInventoryResult',
      `${t.duplicatesAbsorbed.reserveStock} / ${t.duplicatesAbsorbed.applyInventoryResult}`,
    ],
    [
      'deliveries / redeliveries / failed deliveries',
      `${t.deliveries} / ${t.redeliveries} / ${t.deliveryErrors}`,
    ],
    ['dead letters: orders / inventory', `${t.deadLetters.orders} / ${t.deadLetters.inventory}`],
  ];
}

/** The short summary printed to stdout. */
export function renderSummary(r: ChaosReport, files: { json: string; md: string } | undefined): string {
  const f = r.latencyMs.orderApiFirstAttempt;
  const rows = [
    ...totalsRows(r),
    ['order API first attempt p50 / p90 / p99 / max (ms)', `${f.p50} / ${f.p90} / ${f.p99} / ${f.max}`],
  ];
  const width = Math.max(...rows.map(([k]) => k!.length));
  const out = [
    `chaos run ${r.runId} (${r.durationS} s)${r.stoppedEarly ? ` — stopped early: ${r.stoppedEarly}` : ''}`,
  ];
  for (const [k, v] of rows) out.push(`  ${k!.padEnd(width)}  ${v}`);
  out.push('invariants:');
  for (const i of r.invariants) {
    out.push(
      `  ${i.pass ? 'PASS' : 'FAIL'}  ${i.id}${i.pass ? '' : ` (${i.violationCount}): ${i.violations[0]}`}`,
    );
  }
  if (files) out.push(`report: ${files.md}, ${files.json}`);
  out.push(r.result === 'pass' ? 'result: every invariant holds' : 'result: AN INVARIANT IS BROKEN');
  return out.join('\n');
}

function latencyCells(s: {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}): string[] {
  return [String(s.count), ...[s.p50, s.p90, s.p99, s.max].map((v) => (v === null ? '—' : String(v)))];
}

function table(head: string[], rows: string[][]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

function countBy(items: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const i of items) m.set(i, (m.get(i) ?? 0) + 1);
  return m;
}
