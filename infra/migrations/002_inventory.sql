-- Inventory service: owns products and stock, its reservations, its outbox and its processed-message records.
CREATE SCHEMA IF NOT EXISTS inventory;

CREATE TABLE inventory.products (
  product_id text        PRIMARY KEY,
  name       text        NOT NULL,
  available  integer     NOT NULL CHECK (available >= 0),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per order that moved stock. The primary key makes a second decrement for the same order impossible,
-- whatever message id it arrives under.
CREATE TABLE inventory.reservations (
  order_id    uuid        PRIMARY KEY,
  product_id  text        NOT NULL,
  quantity    integer     NOT NULL,
  result      text        NOT NULL CHECK (result IN ('reserved', 'out_of_stock', 'unknown_product')),
  message_id  text        NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE inventory.restocks (
  id         bigserial   PRIMARY KEY,
  product_id text        NOT NULL REFERENCES inventory.products (product_id),
  quantity   integer     NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE inventory.outbox (
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
CREATE INDEX outbox_unpublished_idx ON inventory.outbox (next_attempt_at, id) WHERE published_at IS NULL;
CREATE INDEX outbox_published_idx ON inventory.outbox (published_at) WHERE published_at IS NOT NULL;

CREATE TABLE inventory.processed_messages (
  message_id   text        PRIMARY KEY,
  type         text        NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE inventory.dead_letters (
  id             bigserial   PRIMARY KEY,
  queue          text        NOT NULL,
  message_id     text,
  order_id       uuid,
  body           jsonb,
  error          text        NOT NULL,
  delivery_count integer     NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now()
);

-- Seed catalog (shared with the peers' implementations).
INSERT INTO inventory.products (product_id, name, available) VALUES
  ('PROD-001', 'PlayStation 5', 100),
  ('PROD-002', 'Xbox Series X', 75),
  ('PROD-003', 'Nintendo Switch', 150),
  ('PROD-004', 'ASUS ROG laptop', 50),
  ('PROD-005', 'SteelSeries headset', 200)
ON CONFLICT (product_id) DO NOTHING;
