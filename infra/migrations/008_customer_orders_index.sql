-- A signed-in customer's orders, newest first (GET /api/me/orders, issue 28): one range scan of this index at any
-- table size, the same keyset order as the operator listing (created_at DESC, id DESC). Built in the migration's
-- transaction (CONCURRENTLY cannot run in one): it locks writes to orders.orders while it builds.
CREATE INDEX orders_customer_created_idx ON orders.orders (customer_id, created_at DESC, id DESC);
