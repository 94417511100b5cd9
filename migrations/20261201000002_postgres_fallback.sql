-- Serving from Postgres when Redis cannot: one mode for the whole deployment, the queue's
-- counters, the gaps in its seq space, and what the queue and hold rules need per row.

-- The deployment's backend. One row. `epoch` grows with every switch; `pinned` keeps the mode
-- where an operator put it (no automatic switching either way).
CREATE TABLE backend_mode (
    id         BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    mode       TEXT NOT NULL DEFAULT 'redis' CHECK (mode IN ('redis', 'postgres', 'rebuilding')),
    epoch      BIGINT NOT NULL DEFAULT 0,
    pinned     BOOLEAN NOT NULL DEFAULT false,
    reason     TEXT NOT NULL DEFAULT '',
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO backend_mode DEFAULT VALUES;

-- Every Postgres-side write of the queue and holds starts with this: it waits while a switch
-- back to Redis holds the mode lock, then reads the mode as committed now (a new snapshot:
-- the function is volatile), so no write lands in Postgres after Redis took over. It also
-- fixes the transaction's "now" (an injected time in tests, the server's clock otherwise).
CREATE FUNCTION bo_fence(injected TIMESTAMPTZ) RETURNS TABLE (mode TEXT, now TIMESTAMPTZ)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(740600);
    RETURN QUERY SELECT m.mode, coalesce(injected, clock_timestamp()) FROM backend_mode m;
END
$$;

-- The instances of the deployment and what they see of Redis, so the switch back waits until
-- every live instance can reach it (one instance cut off from Redis must not flip everyone).
CREATE TABLE backend_instances (
    id             TEXT PRIMARY KEY,
    seen_at        TIMESTAMPTZ NOT NULL,
    redis_ok_since TIMESTAMPTZ
);

-- A show's queue counters while Postgres serves it (Redis keeps its own meanwhile).
-- `cursor`: every place with a seq up to it, outside the holes, has been admitted or skipped.
CREATE TABLE queue_state (
    show_id        BIGINT PRIMARY KEY REFERENCES shows (id),
    last_seq       BIGINT NOT NULL DEFAULT 0,
    cursor         BIGINT NOT NULL DEFAULT 0,
    admitted_total BIGINT NOT NULL DEFAULT 0,
    tokens         DOUBLE PRECISION,
    tokens_at      TIMESTAMPTZ,
    -- Redis has had this show's queue: if its keys vanish, Redis lost them (a show never
    -- loaded has nothing to lose).
    redis_loaded   BOOLEAN NOT NULL DEFAULT false
);
INSERT INTO queue_state (show_id, redis_loaded) SELECT id, true FROM shows;

-- Seqs that Redis may have handed out but Postgres never heard of, left free at a switch to
-- Postgres so that places made afterwards stay behind them. A token whose seq lies in a hole
-- is reinstated when it is presented; positions don't count holes.
CREATE TABLE queue_holes (
    show_id BIGINT NOT NULL REFERENCES shows (id),
    lo      BIGINT NOT NULL,
    hi      BIGINT NOT NULL CHECK (hi > lo),
    PRIMARY KEY (show_id, lo)
);

-- When an admitted user's claim window or session ends.
ALTER TABLE queue_entries ADD COLUMN active_until TIMESTAMPTZ;

-- Live places: neither left, expired nor confirmed.
CREATE INDEX queue_entries_waiting ON queue_entries (show_id, seq)
    WHERE admitted_at IS NULL AND left_at IS NULL AND expired_at IS NULL AND confirmed_at IS NULL;
CREATE INDEX queue_entries_active ON queue_entries (show_id, active_until)
    WHERE admitted_at IS NOT NULL AND left_at IS NULL AND expired_at IS NULL AND confirmed_at IS NULL;
