-- Platform: run-time chaos flags shared by every instance, and the counters that make "every Nth" hold
-- across instances when Azure scales out.
CREATE SCHEMA IF NOT EXISTS platform;

CREATE TABLE platform.chaos_flags (
  id         integer     PRIMARY KEY CHECK (id = 1),
  document   jsonb       NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE SEQUENCE platform.gremlin_work_seq;
CREATE SEQUENCE platform.crash_inventory_seq;
CREATE SEQUENCE platform.crash_orders_seq;
