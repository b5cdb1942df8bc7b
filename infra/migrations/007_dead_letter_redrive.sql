-- Dead-letter redrive (GET/POST /api/dead-letters): a dead letter is redriven at most once, and says when and how.
ALTER TABLE orders.dead_letters ADD COLUMN redriven_at timestamptz;
ALTER TABLE orders.dead_letters ADD COLUMN redrive_message_id text;
ALTER TABLE inventory.dead_letters ADD COLUMN redriven_at timestamptz;
ALTER TABLE inventory.dead_letters ADD COLUMN redrive_message_id text;

-- An order failed by a poison message and reopened (failed → pending) by a redrive: its failure moves here, so
-- status_changes still holds one final transition per order and the history of the failure is kept. No foreign
-- key (a TRUNCATE of orders must not need it): order retention deletes these rows with their order.
CREATE TABLE orders.reopened_orders (
  order_id          uuid        NOT NULL,
  failed_reason     text,
  failed_message_id text,
  failed_at         timestamptz NOT NULL,
  dead_letter       text        NOT NULL,
  reopened_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reopened_orders_order_idx ON orders.reopened_orders (order_id);
