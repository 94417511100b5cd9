-- Lanes: one show's queue split over several Redis hash slots (docs/capacity.md, "One show
-- past one master"). Each lane has an event stream of its own, so a write-behind entry is
-- named by its lane (0: the show's own stream) as well as its stream id: two streams on
-- two masters can hand out the same id.
ALTER TABLE queue_configs ADD COLUMN lanes SMALLINT NOT NULL DEFAULT 1 CHECK (lanes BETWEEN 1 AND 16);

ALTER TABLE write_behind_events ADD COLUMN lane SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE write_behind_events DROP CONSTRAINT write_behind_events_pkey;
ALTER TABLE write_behind_events ADD PRIMARY KEY (show_id, lane, stream_ms, stream_seq);
