-- A switch to Postgres hands each show's holds over: Redis may have acknowledged holds the
-- write-behind had not mirrored yet. Until the show's old event stream is written to its end
-- (or the hand-over bound passes, when Redis stays unreachable), Postgres decides no hold and
-- no sale of the show, so no seat acknowledged to one fan goes to another.
ALTER TABLE queue_state ADD COLUMN holds_handover BOOLEAN NOT NULL DEFAULT false;
