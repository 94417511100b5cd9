-- Retention: what a season leaves in Postgres is deleted once kept long enough, in bounded
-- batches (see store::postgres::retention). These indexes find it without reading the rest.
CREATE INDEX queue_configs_ends_at ON queue_configs (ends_at);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
CREATE INDEX pow_spent_expires ON pow_spent (expires_at);
