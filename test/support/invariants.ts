import pg from 'pg';

export interface PipelineState {
  pending: number;
  byStatus: Record<string, number>;
  /** product → stock decrease since the seed */
  decrease: Record<string, number>;
  /** product → quantity of shipped orders */
  shippedQuantity: Record<string, number>;
  ordersWithSeveralStatusChanges: number;
  ordersWithSeveralReservations: number;
  reservedWithoutShippedOrder: number;
}

export const SEED_STOCK: Record<string, number> = {
  'PROD-001': 100,
  'PROD-002': 75,
  'PROD-003': 150,
  'PROD-004': 50,
  'PROD-005': 200,
};

/** Reads what the pipeline invariants are about, straight from the database. */
export async function pipelineState(
  url: string,
  seed: Record<string, number> = SEED_STOCK,
): Promise<PipelineState> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const status = await client.query<{ status: string; n: number }>(
      'SELECT status, count(*)::int AS n FROM orders.orders GROUP BY status',
    );
    const stock = await client.query<{ product_id: string; available: number }>(
      'SELECT product_id, available FROM inventory.products',
    );
    const shipped = await client.query<{ product_id: string; q: number }>(
      `SELECT product_id, sum(quantity)::int AS q FROM orders.orders WHERE status = 'shipped' GROUP BY product_id`,
    );
    const several = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM (SELECT order_id FROM orders.status_changes GROUP BY order_id HAVING count(*) > 1) x',
    );
    const reservations = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM (SELECT order_id FROM inventory.reservations GROUP BY order_id HAVING count(*) > 1) x',
    );
    const orphan = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM inventory.reservations r
         LEFT JOIN orders.orders o ON o.id = r.order_id AND o.status = 'shipped'
        WHERE r.result = 'reserved' AND o.id IS NULL`,
    );
    const byStatus = Object.fromEntries(status.rows.map((r) => [r.status, r.n]));
    return {
      pending: byStatus.pending ?? 0,
      byStatus,
      decrease: Object.fromEntries(
        stock.rows.map((r) => [r.product_id, (seed[r.product_id] ?? 0) - r.available]),
      ),
      shippedQuantity: Object.fromEntries(
        Object.keys(seed).map((p) => [p, shipped.rows.find((r) => r.product_id === p)?.q ?? 0]),
      ),
      ordersWithSeveralStatusChanges: several.rows[0]!.n,
      ordersWithSeveralReservations: reservations.rows[0]!.n,
      reservedWithoutShippedOrder: orphan.rows[0]!.n,
    };
  } finally {
    await client.end();
  }
}

/** Polls until no order is pending (bounded), then returns the state. */
export async function settledState(url: string, timeoutMs = 30_000): Promise<PipelineState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await pipelineState(url);
    if (state.pending === 0 || Date.now() > deadline) return state;
    await new Promise((r) => setTimeout(r, 100));
  }
}
