// Once admitted: the seat map with live holds, picking seats, holding them with a
// countdown, buying them (with an Idempotency-Key kept across reloads) and the receipt.

import { api, ApiError, randomId, serverNow } from "./api.js";
import { showDraw } from "./draw.js";
import * as fmt from "./format.js";
import { Live } from "./live.js";
import { begin, check, explain, fail, go, notify, onStop, persist, showScreen } from "./page.js";
import { reserve } from "./queue.js";
import { connection } from "./queue-view.js";
import { SeatMap } from "./seat-view.js";
import * as session from "./session.js";

const $ = (id) => document.getElementById(id);

/** How often the seat map is read while its stream can't be had. */
const SEAT_POLL_MS = 3000;
const SESSION_OVER = "Your shopping time is over, so your seats went back on sale. You can join the queue again.";

let shop = null;

/** The seat map of a show I'm active in. */
export async function seats(showId) {
  const run = begin();
  history.replaceState(null, "", `#show/${showId}`);
  showScreen("seats");
  const place = session.place(showId);
  if (!place) return go("show", showId);
  const info = await session.showInfo(run, showId);
  $("seats-show").textContent = info ? `${info.title}: ${fmt.when(info.starts_at)}` : `Show ${showId}`;
  showDraw(run, showId);
  shop = new Shop(run, showId, place.token);
  await shop.start();
}

class Shop {
  constructor(run, showId, token) {
    Object.assign(this, { run, showId, token });
    this.base = `/v1/shows/${showId}`;
    this.map = new SeatMap($("seat-map"), (id) => this.pick(id));
    this.maxSeats = 4;
    this.holdsExpire = null;
    this.activeUntil = null;
  }

  call(method, path, json, headers) {
    return persist(this.run, () => api(method, `${this.base}${path}`, { token: this.token, json, headers }));
  }

  async start() {
    // A poll claims the session and says how long it lasts.
    const { data: standing } = await this.call("GET", "/queue");
    if (standing.status !== "active") return this.over(standing.status);
    this.activeUntil = Date.parse(standing.active_until);
    this.ticking();
    const live = new Live({
      url: () => `${this.base}/seats/events?access_token=${encodeURIComponent(this.token)}`,
      events: {
        snapshot: (list) => this.drawMap(list),
        seats: (delta) => this.map.apply(delta),
        expired: () => this.over("expired"),
      },
      poll: async () => {
        const { data } = await api("GET", `${this.base}/seats`, { token: this.token });
        this.drawMap(data);
        return SEAT_POLL_MS;
      },
      failed: (error) => this.failed(error),
      onMode: connection,
    });
    onStop(() => live.stop());
    await this.refreshHolds();
    live.start();
  }

  drawMap(list) {
    this.maxSeats = list.max_seats_per_user ?? this.maxSeats;
    this.map.render(list);
    this.map.setMine([...this.map.mine]);
    this.summarise();
  }

  failed(error) {
    if (error instanceof ApiError && error.code === "not_active") {
      this.over("expired");
      return 60000;
    }
    const seconds = error.retryAfterS ?? 3;
    notify(explain(error), `We'll check the seats again in ${seconds} seconds. Your holds are kept.`);
    return seconds * 1000;
  }

  /** The session and hold countdowns; when one runs out, the server is asked what's true. */
  ticking() {
    const timer = setInterval(() => {
      const now = serverNow();
      $("session-countdown").textContent = fmt.countdown((this.activeUntil - now) / 1000);
      if (this.holdsExpire) $("hold-countdown").textContent = fmt.countdown((this.holdsExpire - now) / 1000);
      if (now > this.activeUntil + 1000) {
        clearInterval(timer);
        this.recheckSession().catch(fail);
      } else if (this.holdsExpire && now > this.holdsExpire + 1000) {
        this.holdsExpire = null;
        this.refreshHolds().catch(fail);
      }
    }, 250);
    onStop(() => clearInterval(timer));
  }

  async recheckSession() {
    const { data } = await this.call("GET", "/queue");
    if (data.status !== "active") return this.over(data.status);
    this.activeUntil = Date.parse(data.active_until);
    this.ticking();
  }

  over(status) {
    const reason = status === "waiting" ? "You're back in line." : SESSION_OVER;
    return status === "waiting" ? go("show", this.showId) : go("ended", this.showId, reason);
  }

  async refreshHolds() {
    const { data } = await this.call("GET", "/holds");
    this.holdsExpire = data.expires_at ? Date.parse(data.expires_at) : null;
    this.map.setMine(data.seat_ids);
    this.summarise();
  }

  pick(id) {
    const status = this.map.status(id);
    if (status === "mine") return notify("This seat is already held for you.", "Buy it, or release it in your basket.");
    if (status !== "available" && status !== "selected") {
      return notify(`${this.map.describe(id)} is ${status === "sold" ? "sold" : "held by someone else"}.`, "Pick another seat.");
    }
    const room = this.maxSeats - this.map.mine.size - this.map.selected.size;
    if (status === "available" && room <= 0) {
      return notify(`You can have up to ${this.maxSeats} seats at a time.`, "Unpick a seat first.");
    }
    this.map.toggle(id);
    this.summarise();
  }

  summarise() {
    const picked = this.map.selected.size;
    const room = this.maxSeats - this.map.mine.size;
    $("selection-summary").textContent =
      picked > 0 ? `${fmt.seats(picked)} picked, ${fmt.price(this.total(this.map.selected))}.` : `Pick up to ${fmt.seats(Math.max(0, room))}.`;
    $("hold").disabled = picked === 0;
    $("hold").textContent = picked > 0 ? `Hold ${fmt.seats(picked)}` : "Hold selected seats";
    this.drawBasket();
  }

  total(ids) {
    return [...ids].reduce((sum, id) => sum + (this.map.seat(id)?.price_cents ?? 0), 0);
  }

  drawBasket() {
    const mine = [...this.map.mine].sort((a, b) => a - b);
    $("held").hidden = mine.length === 0;
    const items = mine.map((id) => {
      const item = document.createElement("li");
      const label = document.createElement("span");
      label.textContent = this.map.seat(id) ? this.map.describe(id) : `Seat ${id}`;
      const release = document.createElement("button");
      release.type = "button";
      release.className = "link";
      release.textContent = "Release";
      release.setAttribute("aria-label", `Release ${label.textContent}`);
      release.addEventListener("click", () => this.release(id).catch(fail));
      item.append(label, release);
      return item;
    });
    $("held-list").replaceChildren(...items);
    $("held-total").textContent = fmt.price(this.total(mine));
    $("buy").textContent = `Buy ${fmt.seats(mine.length)}`;
  }

  async hold() {
    const ids = [...this.map.selected];
    $("hold").disabled = true;
    try {
      await this.call("POST", "/holds", { seat_ids: ids });
      this.map.clearSelection();
      await this.refreshHolds();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (error.code === "seat_unavailable") {
        this.map.taken(error.seatIds);
        const names = error.seatIds.map((id) => this.map.describe(id)).join("; ");
        notify(`Someone else just took ${names}. Nothing was held.`, "Your other picks are still selected: pick another seat and hold again.");
      } else if (error.code === "not_active") {
        return this.over("expired");
      } else {
        notify(error.message, "Change your picks and try again.");
      }
      this.summarise();
    }
  }

  async release(id) {
    try {
      await this.call("DELETE", `/holds/${id}`);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 404) throw error;
    }
    await this.refreshHolds();
  }

  async buy() {
    const seatIds = [...this.map.mine].sort((a, b) => a - b);
    let order = session.order(this.showId);
    if (!order || order.seat_ids.join() !== seatIds.join()) {
      const seats = seatIds.map((id) => ({ ...this.map.seat(id) }));
      order = { key: randomId(), seat_ids: seatIds, seats, total_cents: this.total(seatIds) };
      session.setOrder(this.showId, order);
    }
    $("buy").disabled = true;
    try {
      const { data } = await persist(this.run, () => reserve(this.showId, this.token, order));
      session.setReceipt(this.showId, { ...order, reservation: data });
      session.forgetOrder(this.showId);
      session.forgetPlace(this.showId);
      return go("receipt", this.showId);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      session.forgetOrder(this.showId);
      if (error.code === "not_active") return this.over("expired");
      const names = error.seatIds.map((id) => this.map.describe(id)).join("; ");
      notify(
        error.code === "seat_sold" ? `${names} sold to someone else first.` : error.code === "hold_missing" ? `Your hold on ${names} ran out.` : error.message,
        "Nothing was bought and nothing was charged. Pick your seats again.",
      );
      await this.refreshHolds();
    } finally {
      $("buy").disabled = false;
    }
  }
}

/** The receipt of my purchase for a show, kept in this browser and confirmed by the server. */
export async function receipt(showId) {
  const run = begin();
  history.replaceState(null, "", `#show/${showId}`);
  showScreen("receipt");
  const kept = session.receipt(showId);
  const info = await session.showInfo(run, showId);
  const user = await session.identity(run);
  let reservation = kept.reservation;
  try {
    reservation = (await persist(run, () => api("GET", `/v1/reservations/${kept.reservation.id}`, { token: user.token }))).data;
  } catch (error) {
    // Another identity (renewed since) can't read it; the kept copy is the receipt.
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
  }
  check(run);
  $("receipt-show").textContent = info ? `${info.title}: ${fmt.when(info.starts_at)}` : `Show ${showId}`;
  $("receipt-seats").replaceChildren(
    ...kept.seats.map((seat) => {
      const item = document.createElement("li");
      item.textContent = `Row ${seat.row} seat ${seat.number}, ${seat.section}: ${fmt.price(seat.price_cents)}`;
      return item;
    }),
  );
  $("receipt-total").textContent = fmt.price(kept.total_cents);
  $("receipt-id").textContent = reservation.id;
  $("receipt-time").textContent = fmt.when(reservation.created_at);
}

$("hold").addEventListener("click", () => shop?.hold().catch(fail));
$("buy").addEventListener("click", () => shop?.buy().catch(fail));
$("receipt-done").addEventListener("click", () => go("concerts"));
