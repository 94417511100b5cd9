-- A stream entry may name several users: a join entry carries every join of one batched
-- script call, their seqs following one another from `seq`. So an event (one entry, still
-- identified by its stream id) names its users as an array, in order.
ALTER TABLE write_behind_events ADD COLUMN user_ids UUID[] NOT NULL DEFAULT '{}';
UPDATE write_behind_events SET user_ids = ARRAY[user_id] WHERE user_id IS NOT NULL;
ALTER TABLE write_behind_events DROP COLUMN user_id;
