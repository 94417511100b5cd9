-- What write-behind brings over from Redis, and what the Postgres fallback reads.

-- Every state change, exactly once: (show_id, stream_ms, stream_seq) is the Redis stream
-- entry id. `id` records the order of arrival.
CREATE TABLE write_behind_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY,
    show_id     BIGINT NOT NULL,
    stream_ms   BIGINT NOT NULL,
    stream_seq  BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    user_id     UUID,
    seq         BIGINT,
    seat_ids    BIGINT[] NOT NULL DEFAULT '{}',
    until_at    TIMESTAMPTZ,
    occurred_at TIMESTAMPTZ NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (show_id, stream_ms, stream_seq)
);
CREATE INDEX write_behind_events_arrival ON write_behind_events (id);

-- One row per place ever handed out in a show's queue.
CREATE TABLE queue_entries (
    show_id      BIGINT NOT NULL,
    seq          BIGINT NOT NULL,
    user_id      UUID NOT NULL,
    joined_at    TIMESTAMPTZ NOT NULL,
    admitted_at  TIMESTAMPTZ,
    claimed_at   TIMESTAMPTZ,
    left_at      TIMESTAMPTZ,
    expired_at   TIMESTAMPTZ,
    confirmed_at TIMESTAMPTZ,
    PRIMARY KEY (show_id, seq)
);
CREATE INDEX queue_entries_user ON queue_entries (show_id, user_id);

-- Seat holds while the breaker has moved user paths to Postgres.
CREATE TABLE holds (
    show_id    BIGINT NOT NULL,
    seat_id    BIGINT NOT NULL,
    user_id    UUID NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (show_id, seat_id),
    FOREIGN KEY (show_id, seat_id) REFERENCES seats (show_id, id)
);
CREATE INDEX holds_user ON holds (show_id, user_id);
