-- Reservations commit here synchronously; sold_seats' primary key is the final arbiter that
-- no seat is sold twice, whatever Redis lost.
CREATE TABLE reservations (
    id         UUID PRIMARY KEY,
    show_id    BIGINT NOT NULL REFERENCES shows (id),
    user_id    UUID NOT NULL,
    seat_ids   BIGINT[] NOT NULL,
    status     TEXT NOT NULL DEFAULT 'confirmed' CHECK (status IN ('confirmed')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX reservations_user_id ON reservations (user_id);

CREATE TABLE sold_seats (
    show_id        BIGINT NOT NULL,
    seat_id        BIGINT NOT NULL,
    reservation_id UUID NOT NULL REFERENCES reservations (id),
    PRIMARY KEY (show_id, seat_id),
    FOREIGN KEY (show_id, seat_id) REFERENCES seats (show_id, id)
);

-- An Idempotency-Key belongs to one user; `fingerprint` is what the first request asked
-- for, so a key reused for a different request is refused instead of replayed.
CREATE TABLE idempotency_keys (
    user_id        UUID NOT NULL,
    key            TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    reservation_id UUID REFERENCES reservations (id),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
