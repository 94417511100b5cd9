-- A fair opening: users who join before `opens_at` wait in the pre-queue; at `opens_at`
-- they are drawn into the first places in the order of HMAC-SHA256(seed, user id). The
-- seed is chosen (and its SHA-256 published) when `opens_at` is set, and revealed after
-- the draw, with every drawn place, so anyone can check the order.
ALTER TABLE queue_configs ADD COLUMN opens_at TIMESTAMPTZ;

CREATE TABLE show_fairness (
    show_id        BIGINT PRIMARY KEY REFERENCES shows (id),
    seed           BYTEA NOT NULL,
    commitment     TEXT NOT NULL,
    -- The pre-queue closed (at opens_at): its size is final; late joiners queue behind.
    closed_at      TIMESTAMPTZ,
    pre_queue_size BIGINT,
    -- Drawn places are draw_base + 1 .. draw_base + pre_queue_size.
    draw_base      BIGINT,
    -- An instance drawing holds this lease; another takes over once it has passed.
    drawing_until  TIMESTAMPTZ,
    drawn_at       TIMESTAMPTZ
);

CREATE TABLE pre_queue (
    show_id   BIGINT NOT NULL REFERENCES shows (id),
    user_id   UUID NOT NULL,
    joined_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (show_id, user_id)
);

-- The draw's record: what the fairness endpoints publish.
CREATE TABLE draw_entries (
    show_id   BIGINT NOT NULL REFERENCES shows (id),
    seq       BIGINT NOT NULL,
    user_id   UUID NOT NULL,
    user_hash TEXT NOT NULL,
    hmac      TEXT NOT NULL,
    PRIMARY KEY (show_id, seq)
);
CREATE INDEX draw_entries_user ON draw_entries (show_id, user_id);

-- While the drawn places are being placed, the show admits nobody (late joiners are behind).
ALTER TABLE queue_state ADD COLUMN draw_base BIGINT;
ALTER TABLE queue_state ADD COLUMN draw_pending BOOLEAN NOT NULL DEFAULT false;
