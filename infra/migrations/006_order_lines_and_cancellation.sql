-- Multi-line orders and cancellation (issue 19).
-- An order's lines live with it, as one jsonb array [{productId, quantity}] in line order: intake stays one row
-- per order, and product_id/quantity keep the first line for clients and reports written for one-line orders.
-- NULL is an order written without lines (before this migration, or by an instance of the previous version during
-- a deploy): it is the one line product_id × quantity, which is how every read treats it (no table rewrite here).
ALTER TABLE orders.orders ADD COLUMN lines jsonb;
ALTER TABLE orders.orders ADD CONSTRAINT orders_lines_shape
  CHECK (jsonb_typeof(lines) = 'array' AND jsonb_array_length(lines) BETWEEN 1 AND 50);

-- cancel_requested: the cancel is recorded and OrderCancelled is on its way to Inventory; cancelled once
-- Inventory answers StockReleased (it gave back whatever the order had reserved, possibly nothing).
ALTER TABLE orders.orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders.orders ADD CONSTRAINT orders_status_check
  CHECK (status IN ('pending', 'shipped', 'rejected', 'failed', 'cancel_requested', 'cancelled'));

-- Inventory: a reservation holds every line it decided; released_at is set once, when a cancel gave the stock
-- back. A cancel that arrives before the order (messages on one queue are not ordered) leaves a 'cancelled'
-- reservation: the primary key then refuses the late OrderPlaced, so a cancelled order never takes stock.
-- lines NULL: a one-line reservation written before this migration (product_id × quantity), read as such.
ALTER TABLE inventory.reservations ADD COLUMN lines jsonb;
ALTER TABLE inventory.reservations ALTER COLUMN product_id DROP NOT NULL;
ALTER TABLE inventory.reservations ALTER COLUMN quantity DROP NOT NULL;
ALTER TABLE inventory.reservations ADD COLUMN released_at timestamptz;
ALTER TABLE inventory.reservations DROP CONSTRAINT reservations_result_check;
ALTER TABLE inventory.reservations ADD CONSTRAINT reservations_result_check
  CHECK (result IN ('reserved', 'out_of_stock', 'unknown_product', 'cancelled'));
