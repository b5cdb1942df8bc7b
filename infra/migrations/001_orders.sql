-- Orders service: owns orders, its idempotency records, its outbox and its processed-message records.
CREATE SCHEMA IF NOT EXISTS orders;

CREATE TABLE orders.orders (
  id          uuid PRIMARY KEY,
  customer_id text        NOT NULL,
  product_id  text        NOT NULL,
  quantity    integer     NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
  status      text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'shipped', 'rejected', 'failed')),
  reason      text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
-- Newest-first listing with keyset paging, optionally filtered by status.
CREATE INDEX orders_created_idx ON orders.orders (created_at DESC, id DESC);
CREATE INDEX orders_status_created_idx ON orders.orders (status, created_at DESC, id DESC);

-- Every status change, written in the same transaction as the change: proves "one final transition per order".
CREATE TABLE orders.status_changes (
  order_id    uuid        NOT NULL REFERENCES orders.orders (id),
  from_status text        NOT NULL,
  to_status   text        NOT NULL,
  reason      text,
  message_id  text,
  changed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (order_id, to_status)
);

-- IETF Idempotency-Key records: the stored response is replayed for the same key and the same payload.
CREATE TABLE orders.idempotency_keys (
  key             text        PRIMARY KEY,
  fingerprint     text        NOT NULL,
  response_status integer     NOT NULL,
  response_body   text        NOT NULL, -- text, not jsonb: a replay returns the very same bytes
  order_id        uuid,
  created_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz NOT NULL
);
CREATE INDEX idempotency_keys_expires_idx ON orders.idempotency_keys (expires_at);

CREATE TABLE orders.outbox (
  id              bigserial   PRIMARY KEY,
  message_id      text        NOT NULL UNIQUE,
  queue           text        NOT NULL,
  type            text        NOT NULL,
  body            jsonb       NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  attempts        integer     NOT NULL DEFAULT 0,
  last_error      text,
  published_at    timestamptz
);
CREATE INDEX outbox_unpublished_idx ON orders.outbox (next_attempt_at, id) WHERE published_at IS NULL;
CREATE INDEX outbox_published_idx ON orders.outbox (published_at) WHERE published_at IS NOT NULL;

CREATE TABLE orders.processed_messages (
  message_id   text        PRIMARY KEY,
  type         text        NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders.dead_letters (
  id             bigserial   PRIMARY KEY,
  queue          text        NOT NULL,
  message_id     text,
  order_id       uuid,
  body           jsonb,
  error          text        NOT NULL,
  delivery_count integer     NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now()
);
