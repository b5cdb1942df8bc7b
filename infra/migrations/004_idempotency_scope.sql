-- Idempotency keys belong to the caller that sent them (the customer id until callers have an identity of their
-- own): another caller's key neither replays that caller's order nor reveals that it exists. A key used by two
-- customers is two records.
ALTER TABLE orders.idempotency_keys ADD COLUMN scope text;
-- Records written before scoping belong to their order's customer; one without an order (a request that never
-- placed one) is unreachable now and simply expires.
UPDATE orders.idempotency_keys k SET scope = o.customer_id FROM orders.orders o WHERE o.id = k.order_id;
UPDATE orders.idempotency_keys SET scope = '' WHERE scope IS NULL;
ALTER TABLE orders.idempotency_keys ALTER COLUMN scope SET NOT NULL;
ALTER TABLE orders.idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE orders.idempotency_keys ADD PRIMARY KEY (scope, key);
