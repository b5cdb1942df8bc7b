import type { FunctionDefinition } from '../../functions/definitions.js';
import type { LocalLog } from '../../infra/local-host/invocation-context.js';
import { SimulatedCrashError } from '../../shared/chaos/chaos-flags.js';

/**
 * What the chaos run sees from inside the local host, without changing its behaviour:
 *  - a log sink (the local host's `log` option): the reservation consumer names the order it delays
 *    ("order <id>: gremlin delays this reservation by N ms") and every duplicate it absorbs;
 *  - a delivery tap: each queue function's handler in the host's function table is wrapped to record every
 *    delivery (order id, message type, delivery count, outcome) and rethrow exactly what it threw, so the broker
 *    behaves as before. A SimulatedCrashError is a crash after commit.
 */

export interface DeliveryRecord {
  fn: string;
  orderId: string | undefined;
  type: string | undefined;
  deliveryCount: number;
  /** ms since the observer was created */
  atMs: number;
  durationMs: number;
  outcome: 'ok' | 'crash' | 'error';
  error?: string;
}

const GREMLIN_LINE = /^order ([0-9a-f-]{36}): gremlin delays this reservation by (\d+) ms/;
const DUPLICATE_LINE = /^order ([0-9a-f-]{36}): duplicate delivery absorbed/;
/** Warnings the chaos itself causes; anything else at warning level is worth a look. */
const EXPECTED_WARNINGS = [GREMLIN_LINE, /simulated crash after commit/, /^order [0-9a-f-]{36}: gremlin/];
const MAX_KEPT_LINES = 100;

export class Observer {
  readonly deliveries: DeliveryRecord[] = [];
  readonly gremlinDelays: { orderId: string; delayMs: number; atMs: number }[] = [];
  readonly duplicatesAbsorbedByOrder = new Map<string, number>();
  readonly errors: { count: number; lines: string[] } = { count: 0, lines: [] };
  readonly unexpectedWarnings: { count: number; lines: string[] } = { count: 0, lines: [] };
  private readonly started = performance.now();

  constructor(private readonly echoErrors: (line: string) => void = () => {}) {}

  /** Pass as `log` to startLocalHost. */
  readonly log: LocalLog = (level, functionName, message) => {
    const gremlin = GREMLIN_LINE.exec(message);
    if (gremlin) {
      this.gremlinDelays.push({ orderId: gremlin[1]!, delayMs: Number(gremlin[2]), atMs: this.now() });
      return;
    }
    const duplicate = DUPLICATE_LINE.exec(message);
    if (duplicate) {
      const id = duplicate[1]!;
      this.duplicatesAbsorbedByOrder.set(id, (this.duplicatesAbsorbedByOrder.get(id) ?? 0) + 1);
      return;
    }
    const line = `${level} ${functionName}: ${message}`;
    if (level === 'error') {
      keep(this.errors, line);
      this.echoErrors(line);
    } else if (level === 'warning' && !EXPECTED_WARNINGS.some((re) => re.test(message))) {
      keep(this.unexpectedWarnings, line);
    }
  };

  /** Wraps every queue function of the host's table (the host looks `handler` up on each delivery). */
  tap(functions: FunctionDefinition[]): void {
    for (const fn of functions) {
      if (fn.kind !== 'serviceBusQueue') continue;
      const inner = fn.handler;
      fn.handler = async (message, context) => {
        const started = performance.now();
        const body = message as { type?: unknown; data?: { orderId?: unknown } } | undefined;
        const record: DeliveryRecord = {
          fn: fn.name,
          orderId: typeof body?.data?.orderId === 'string' ? body.data.orderId : undefined,
          type: typeof body?.type === 'string' ? body.type : undefined,
          deliveryCount: Number(context.triggerMetadata?.deliveryCount ?? 1),
          atMs: this.now(),
          durationMs: 0,
          outcome: 'ok',
        };
        this.deliveries.push(record);
        try {
          await inner(message, context);
        } catch (err) {
          record.outcome = err instanceof SimulatedCrashError ? 'crash' : 'error';
          if (record.outcome === 'error') record.error = (err as Error)?.message ?? String(err);
          throw err;
        } finally {
          record.durationMs = Math.round(performance.now() - started);
        }
      };
    }
  }

  private now(): number {
    return Math.round(performance.now() - this.started);
  }
}

function keep(bucket: { count: number; lines: string[] }, line: string): void {
  bucket.count++;
  if (bucket.lines.length < MAX_KEPT_LINES) bucket.lines.push(line.slice(0, 500));
}
