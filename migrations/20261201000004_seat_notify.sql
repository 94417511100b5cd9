-- Every change to a show's holds or sales is announced on `bo_seats` (payload: the show
-- id), so instances streaming that show's seat map while the deployment serves from
-- Postgres resync it. Postgres delivers one notification per transaction and payload,
-- however many rows changed. On Redis (which announces seat changes itself) nothing is
-- sent: a NOTIFY serializes the commits of every notifying transaction, which would slow
-- the write-behind's mirror of the holds.
CREATE FUNCTION notify_seat_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT mode FROM backend_mode) = 'redis' THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('bo_seats', OLD.show_id::text);
  ELSE
    PERFORM pg_notify('bo_seats', NEW.show_id::text);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER holds_announced AFTER INSERT OR UPDATE OR DELETE ON holds
  FOR EACH ROW EXECUTE FUNCTION notify_seat_change();
CREATE TRIGGER sales_announced AFTER INSERT OR DELETE ON sold_seats
  FOR EACH ROW EXECUTE FUNCTION notify_seat_change();
