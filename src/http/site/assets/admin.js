// The operator's console, served at `/admin`: every show's queue (waiting, active, admit
// rate, holds, sales) and settings, and the deployment's state (which store serves, the
// breaker, the write-behind lag), refreshed every two seconds from the admin API,
// `/readyz` and `/metrics`. The admin token is pasted once and kept in this browser.

import { api, ApiError } from "./api.js";
import * as fmt from "./format.js";
import { clearNotice, notify } from "./page.js";
import * as saved from "./saved.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 2000;
const SETTINGS = [
  ["max_active", "Most active at once", "number", "1"],
  ["admit_per_second", "Admitted per second", "number", "any"],
  ["session_ttl_s", "Shopping time (s)", "number", "1"],
  ["hold_ttl_s", "Hold time (s)", "number", "1"],
  ["claim_window_s", "Claim window (s)", "number", "1"],
  ["max_seats_per_user", "Seats per fan", "number", "1"],
  ["pow_bits", "Proof of work (bits)", "number", "1"],
  ["on_sale_at", "On sale from (UTC, RFC 3339)", "text", null],
  ["opens_at", "Fair opening (UTC, RFC 3339)", "text", null],
  ["ends_at", "Sale ends (UTC, RFC 3339; now ends it for good)", "text", null],
  ["paused", "Paused", "checkbox", null],
  ["closed", "Closed to new fans", "checkbox", null],
  ["sold_out", "Sold out", "checkbox", null],
];

/** How each state of a sale reads on the console. */
const SALE_STATES = {
  scheduled: "Scheduled",
  pre_queue: "Pre-queue",
  on_sale: "On sale",
  paused: "Paused",
  sold_out: "Sold out",
  closed: "Closed",
  ended: "Ended",
};

let token = saved.load("admin");
let shows = [];
let timer = null;

const admin = (method, path, json) => api(method, path, { token, json });

function stat(label, value, state = "") {
  const box = document.createElement("div");
  box.className = "stat";
  const term = document.createElement("dt");
  term.textContent = label;
  const detail = document.createElement("dd");
  detail.textContent = value;
  if (state) detail.className = state;
  box.append(term, detail);
  return box;
}

/** `name{show="12"} 3` lines of the Prometheus text, by show. */
function perShow(metrics, name) {
  const values = new Map();
  const pattern = new RegExp(`^${name}\\{show="(\\d+)"\\} ([0-9.eE+-]+)$`, "gm");
  for (const [, show, value] of metrics.matchAll(pattern)) values.set(Number(show), Number(value));
  return values;
}

async function deployment() {
  let ready;
  try {
    ready = (await api("GET", "/readyz")).data;
  } catch (error) {
    // 503 still carries the body: which store is down.
    if (!(error instanceof ApiError)) throw error;
    ready = null;
  }
  const items = ready
    ? [
        stat("Serving from", ready.backend, ready.backend === "redis" ? "state-good" : "state-bad"),
        stat("Mode", ready.mode),
        stat("Redis", ready.redis, ready.redis === "up" ? "state-good" : "state-bad"),
        stat("Postgres", ready.postgres, ready.postgres === "up" ? "state-good" : "state-bad"),
        stat("Breaker", ready.breaker.replace("_", " "), ready.breaker === "closed" ? "state-good" : "state-bad"),
        stat("Write-behind backlog", fmt.count(ready.write_behind.backlog)),
        stat("Oldest unwritten", `${ready.write_behind.oldest_unwritten_s.toFixed(1)} s`),
      ]
    : [stat("Service", "cannot serve", "state-bad")];
  $("deployment").replaceChildren(...items);
  const problems = ready?.redis_problems ?? [];
  $("redis-problems").textContent = problems.length ? `Redis set-up: ${problems.join("; ")}` : "";
}

async function loadShows() {
  const { data: concerts } = await api("GET", "/v1/concerts");
  shows = concerts.flatMap((concert) => concert.shows.map((show) => ({ ...show, title: concert.title })));
  const panels = await Promise.all(shows.map(showPanel));
  $("shows").replaceChildren(...panels);
}

async function showPanel(show) {
  const panel = document.createElement("section");
  panel.className = "panel";
  panel.id = `show-${show.id}`;
  panel.setAttribute("aria-labelledby", `show-${show.id}-title`);
  const heading = document.createElement("h2");
  heading.id = `show-${show.id}-title`;
  heading.textContent = `Show ${show.id}: ${show.title}, ${fmt.when(show.starts_at)}`;
  const stats = document.createElement("dl");
  stats.className = "stats";
  stats.id = `show-${show.id}-stats`;
  const { data: config } = await admin("GET", `/v1/admin/shows/${show.id}/queue`);
  panel.append(heading, stats, settingsForm(show.id, config));
  return panel;
}

function settingsForm(showId, config) {
  const form = document.createElement("form");
  form.className = "settings";
  form.setAttribute("aria-label", `Queue settings of show ${showId}`);
  for (const [name, label, type, step] of SETTINGS) {
    const field = document.createElement("label");
    const input = document.createElement("input");
    input.name = name;
    input.type = type;
    if (step) input.step = step;
    if (type === "checkbox") {
      field.className = "check";
      input.checked = Boolean(config[name]);
    } else {
      input.value = config[name] ?? "";
    }
    field.append(type === "checkbox" ? input : label, type === "checkbox" ? label : input);
    form.append(field);
  }
  const save = document.createElement("button");
  save.type = "submit";
  save.className = "primary";
  save.textContent = "Save settings";
  const result = document.createElement("p");
  result.setAttribute("role", "status");
  result.className = "muted";
  form.append(save, result);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    saveSettings(showId, form, config, result).catch(showError);
  });
  return form;
}

/** Sends only what changed (an opening can't be re-sent once it came). */
async function saveSettings(showId, form, config, result) {
  const patch = {};
  for (const [name, , type] of SETTINGS) {
    const input = form.elements[name];
    const value = type === "checkbox" ? input.checked : type === "number" ? Number(input.value) : input.value.trim() || null;
    if (value !== (config[name] ?? null)) patch[name] = value;
  }
  if (Object.keys(patch).length === 0) {
    result.textContent = "Nothing changed.";
    return;
  }
  try {
    const { data } = await admin("PUT", `/v1/admin/shows/${showId}/queue`, patch);
    Object.assign(config, data);
    result.textContent = `Saved at ${fmt.clock(Date.now())}.`;
  } catch (error) {
    result.textContent = error instanceof ApiError ? `Not saved: ${error.message}` : "Not saved.";
  }
}

async function refreshStats() {
  const metrics = await fetch("/metrics", { cache: "no-store" }).then((response) => response.text()).catch(() => "");
  const unacked = perShow(metrics, "boxoffice_writebehind_unacked");
  const oldest = perShow(metrics, "boxoffice_writebehind_oldest_unacked_seconds");
  await Promise.all(
    shows.map(async (show) => {
      const { data: stats } = await admin("GET", `/v1/admin/shows/${show.id}/queue/stats`);
      const box = $(`show-${show.id}-stats`);
      if (!box) return;
      box.replaceChildren(
        stat("Sale", SALE_STATES[stats.state] ?? stats.state, stats.state === "on_sale" ? "state-good" : ""),
        stat("Waiting", fmt.count(stats.waiting)),
        stat("Active", fmt.count(stats.active)),
        stat("Admit rate", `${stats.admit_rate_per_s.toFixed(1)}/s`),
        stat("Joined", fmt.count(stats.joined_total)),
        stat("Admitted", fmt.count(stats.admitted_total)),
        stat("Seats held", fmt.count(stats.held)),
        stat("Seats sold", fmt.count(stats.sold)),
        stat("Backend", stats.backend, stats.backend === "redis" ? "state-good" : "state-bad"),
        stat("Unwritten events", fmt.count(unacked.get(show.id) ?? 0)),
        stat("Write-behind lag", `${(oldest.get(show.id) ?? 0).toFixed(1)} s`),
      );
    }),
  );
}

async function refresh() {
  if (document.hidden) return;
  try {
    await Promise.all([deployment(), refreshStats()]);
    clearNotice();
    $("updated").textContent = `Updated ${fmt.clock(Date.now())}`;
  } catch (error) {
    showError(error);
  }
}

function showError(error) {
  if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
    forget();
    notify("That token is not an admin token, or it has expired.", "Paste a fresh one from `boxoffice admin-token`.");
    return;
  }
  notify(error instanceof ApiError ? error.message : "The console could not reach the service.", "It tries again every two seconds.");
}

/** Only an admin may read a show's stats: no show 0 (404) means the token is an admin's. */
async function checkToken() {
  try {
    await admin("GET", "/v1/admin/shows/0/queue/stats");
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
  }
}

async function open() {
  $("token-screen").hidden = true;
  $("console").hidden = false;
  try {
    await checkToken();
    await loadShows();
    await refresh();
  } catch (error) {
    showError(error);
  }
  clearInterval(timer);
  timer = setInterval(refresh, REFRESH_MS);
}

function forget() {
  token = null;
  saved.forget("admin");
  clearInterval(timer);
  $("console").hidden = true;
  $("token-screen").hidden = false;
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("admin-token").value.trim();
  $("admin-token").value = "";
  saved.save("admin", token);
  open();
});
$("forget-token").addEventListener("click", forget);
if (token) open();
else forget();
