// The fan's page, served at `/`: pick a show, wait in its queue, pick seats, hold them,
// buy them. Everything the fan has (identity, place, holds in flight, receipts) is kept in
// this browser, so a reload or a closed tab loses nothing. Screens live in queue.js
// (joining and waiting) and shop.js (seats, holds, purchase, receipt).

import { api, onBackend } from "./api.js";
import * as fmt from "./format.js";
import { begin, fail, go, persist, routes, setBackend, showScreen } from "./page.js";
import { ended, openShow } from "./queue.js";
import { connection } from "./queue-view.js";
import * as session from "./session.js";
import { receipt, seats } from "./shop.js";

const $ = (id) => document.getElementById(id);

async function concerts() {
  const run = begin();
  history.replaceState(null, "", location.pathname);
  session.forgetJourney();
  showScreen("concerts");
  connection(null);
  const list = $("concert-list");
  list.setAttribute("aria-busy", "true");
  const { data: summaries } = await persist(run, () => api("GET", "/v1/concerts"));
  const details = await Promise.all(
    summaries.map((concert) => persist(run, () => api("GET", `/v1/concerts/${concert.id}`)).then((r) => r.data)),
  );
  list.replaceChildren(...details.map(concertCard));
  if (details.length === 0) list.textContent = "Nothing is on sale right now. Come back soon!";
  list.setAttribute("aria-busy", "false");
}

function concertCard(concert) {
  const card = document.createElement("article");
  card.className = "card";
  const title = document.createElement("h2");
  title.textContent = concert.title;
  const shows = document.createElement("ul");
  shows.className = "shows";
  for (const show of concert.shows) {
    session.rememberShow(show.id, { title: concert.title, starts_at: show.starts_at });
    shows.append(showItem(concert, show));
  }
  card.append(title, shows);
  return card;
}

function showItem(concert, show) {
  const item = document.createElement("li");
  const date = document.createElement("span");
  date.className = "show-date";
  date.textContent = fmt.when(show.starts_at);
  const left = document.createElement("span");
  left.className = "muted";
  left.textContent = show.available > 0 ? `${fmt.count(show.available)} of ${fmt.count(show.seat_count)} seats free` : "Every seat is taken right now";
  const button = document.createElement("button");
  button.type = "button";
  button.className = "primary";
  button.textContent = session.receipt(show.id) ? "See your tickets" : session.place(show.id) ? "Back to your place" : "Join the queue";
  button.setAttribute("aria-label", `${button.textContent}: ${concert.title}, ${date.textContent}`);
  button.addEventListener("click", () => go("show", show.id));
  item.append(date, left, button);
  return item;
}

/** `#show/12` (or the show this browser was buying for) opens that show; else the list. */
function route() {
  const match = location.hash.match(/^#show\/(\d+)$/);
  const show = match ? Number(match[1]) : session.journey();
  return show ? go("show", show) : go("concerts");
}

Object.assign(routes, { concerts, show: openShow, seats, receipt, ended });
onBackend(setBackend);
window.addEventListener("offline", () => connection("offline"));
window.addEventListener("online", () => route());
window.addEventListener("hashchange", () => route());
route().catch(fail);
