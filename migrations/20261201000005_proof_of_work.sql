-- Proof of work per show (0: off), and the challenges already spent on the Postgres
-- fallback (on Redis they are keys that expire with the challenge).
ALTER TABLE queue_configs ADD COLUMN pow_bits INT NOT NULL DEFAULT 0 CHECK (pow_bits BETWEEN 0 AND 32);

CREATE TABLE pow_spent (
    challenge  TEXT PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);
