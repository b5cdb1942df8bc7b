-- The outbox relay claims rows with a short lease and publishes with no transaction open: a claimed row is
-- skipped by other relays until its lease ends, and becomes due again by itself if its relay died.
ALTER TABLE orders.outbox ADD COLUMN lease_until timestamptz;
ALTER TABLE inventory.outbox ADD COLUMN lease_until timestamptz;

-- Retention (the relay timers' housekeeping) deletes by age, oldest first, in bounded batches.
CREATE INDEX processed_messages_processed_idx ON orders.processed_messages (processed_at);
CREATE INDEX processed_messages_processed_idx ON inventory.processed_messages (processed_at);
CREATE INDEX dead_letters_created_idx ON orders.dead_letters (created_at);
CREATE INDEX dead_letters_created_idx ON inventory.dead_letters (created_at);
CREATE INDEX reservations_created_idx ON inventory.reservations (created_at);
CREATE INDEX restocks_created_idx ON inventory.restocks (created_at);
