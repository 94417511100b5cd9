-- The life of a sale: settings an operator sees and sets, which also move by themselves
-- (see domain::life). `on_sale_at`: joining opens then (scheduled before it); `closed`: no
-- new places, those in line go on; `sold_out`: every seat sold (set by the sale itself, or
-- by an operator holding the rest back); `ends_at`: the sale is over (the show's start plus a
-- grace unless moved; an operator ends it now by setting it to now). `released_at`: when the
-- ended show's Redis keys were removed, its write-behind drained; Postgres keeps its history.
ALTER TABLE queue_configs
    ADD COLUMN on_sale_at  TIMESTAMPTZ,
    ADD COLUMN closed      BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN sold_out    BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN ends_at     TIMESTAMPTZ,
    ADD COLUMN released_at TIMESTAMPTZ;

UPDATE queue_configs c SET ends_at = s.starts_at + interval '6 hours' FROM shows s WHERE s.id = c.show_id;

-- The ended shows still to let go, found without reading the catalog.
CREATE INDEX queue_configs_to_release ON queue_configs (ends_at) WHERE released_at IS NULL;

-- Letting go of an ended show is no change to its settings: nobody needs to read it again.
DROP TRIGGER queue_config_announced ON queue_configs;
CREATE TRIGGER queue_config_announced AFTER INSERT OR UPDATE ON queue_configs
  FOR EACH ROW WHEN (NEW.released_at IS NULL) EXECUTE FUNCTION notify_show_change();
