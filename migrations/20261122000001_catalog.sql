-- Concerts, shows, their seats and queue settings. Postgres is the source of truth; Redis
-- caches all of it.
CREATE TABLE concerts (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title      TEXT NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE shows (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    concert_id BIGINT NOT NULL REFERENCES concerts (id),
    starts_at  TIMESTAMPTZ NOT NULL,
    seat_count INTEGER NOT NULL CHECK (seat_count > 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX shows_concert_id ON shows (concert_id);

CREATE TABLE queue_configs (
    show_id            BIGINT PRIMARY KEY REFERENCES shows (id),
    max_active         INTEGER NOT NULL CHECK (max_active > 0),
    admit_per_second   DOUBLE PRECISION NOT NULL CHECK (admit_per_second >= 0),
    session_ttl_s      INTEGER NOT NULL CHECK (session_ttl_s > 0),
    hold_ttl_s         INTEGER NOT NULL CHECK (hold_ttl_s > 0),
    max_seats_per_user INTEGER NOT NULL CHECK (max_seats_per_user > 0),
    claim_window_s     INTEGER NOT NULL CHECK (claim_window_s > 0),
    paused             BOOLEAN NOT NULL DEFAULT false,
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE seats (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    show_id     BIGINT NOT NULL REFERENCES shows (id),
    section     TEXT NOT NULL,
    row_label   TEXT NOT NULL,
    number      INTEGER NOT NULL CHECK (number > 0),
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    UNIQUE (show_id, section, row_label, number),
    -- lets sold_seats check that a seat belongs to the show it is sold for
    UNIQUE (show_id, id)
);
