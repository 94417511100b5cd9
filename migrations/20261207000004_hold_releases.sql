-- The releases the write-behind recorded, by show and time: a hold an instance acknowledged
-- and hands over at a switch is not kept when its holder released it (through any instance)
-- after taking it.
CREATE INDEX write_behind_events_releases ON write_behind_events (show_id, stream_ms) WHERE kind = 'release';
