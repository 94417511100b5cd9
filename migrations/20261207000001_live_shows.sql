-- A season, not one on-sale: the instances do a show's work (admission ticks, write-behind,
-- feeds) only while it is live, and learn which shows are live here, not by scanning the
-- catalog. An instance that sees fans in a show's line marks it (`busy_at`, at most every few
-- seconds); one that finds it quiet for a while, with its streams drained, removes the row
-- unless another instance marked it meanwhile. A show stays live until proven quiet, so a
-- deployment that was down keeps its unfinished shows.
CREATE TABLE live_shows (
    show_id BIGINT PRIMARY KEY REFERENCES shows (id),
    busy_at TIMESTAMPTZ NOT NULL
);

-- Every change to a show's queue settings (a new show's included) is announced on
-- `bo_show_changed` (payload: the show id), so every instance reads that show again within
-- a second instead of re-reading every show's settings every few seconds.
CREATE FUNCTION notify_show_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('bo_show_changed', NEW.show_id::text);
  RETURN NULL;
END $$;

CREATE TRIGGER queue_config_announced AFTER INSERT OR UPDATE ON queue_configs
  FOR EACH ROW EXECUTE FUNCTION notify_show_change();
