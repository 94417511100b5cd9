// The queue screen's panels: the proof-of-work puzzle, the pre-queue countdown, the place
// in line and the lapsed place. Only drawing here; fan.js decides what to show.

import { serverNow } from "./api.js";
import * as fmt from "./format.js";

const $ = (id) => document.getElementById(id);
const PANELS = ["pow", "pre-queue", "waiting", "queue-ended"];
/** A screen reader hears the place at most this often (the number on screen is live). */
const ANNOUNCE_EVERY_MS = 20000;

let openingTimer = null;
let announced = { text: "", at: 0 };

function show(panel) {
  PANELS.forEach((name) => ($(name).hidden = name !== panel));
  if (panel !== "pre-queue") clearInterval(openingTimer);
  $("leave").hidden = panel === "queue-ended" || panel === "pow";
}

/** Says `text` to screen readers; routine updates no more than every 20 s. */
function announce(text, urgent = false) {
  const now = Date.now();
  if (text === announced.text || (!urgent && now - announced.at < ANNOUNCE_EVERY_MS)) return;
  announced = { text, at: now };
  $("place-announcer").textContent = text;
}

export function solving(bits) {
  show("pow");
  $("pow-progress").value = 0;
  $("pow-progress").textContent = "0%";
  $("pow-detail").textContent = `Difficulty: ${bits} bits.`;
}

/** Progress of the puzzle: tries against the expected 2^bits (shown below 100% until solved). */
export function solvingProgress(tried, bits, done = false) {
  const expected = 2 ** bits;
  const percent = done ? 100 : Math.min(99, Math.floor((100 * tried) / expected));
  $("pow-progress").value = percent;
  $("pow-progress").textContent = `${percent}%`;
  $("pow-detail").textContent = done ? "Solved." : `${fmt.count(tried)} tries so far.`;
}

export function preQueue(fairness) {
  show("pre-queue");
  $("commitment").textContent = fairness?.commitment ?? "(not published yet)";
  const opensAt = Date.parse(fairness?.opens_at ?? "");
  $("opening-at").textContent = Number.isNaN(opensAt) ? "" : `Opens at ${fmt.clock(opensAt)}.`;
  const tick = () => {
    const left = (opensAt - serverNow()) / 1000;
    $("opening-countdown").textContent = left > 0 ? fmt.countdown(left) : "Drawing places…";
    if (left > 0 && Math.ceil(left) % 60 === 0) announce(`The queue opens in ${Math.ceil(left / 60)} minutes.`, true);
  };
  tick();
  clearInterval(openingTimer);
  openingTimer = setInterval(tick, 250);
  announce("You're in the pre-queue. Places are drawn at random when the queue opens.", true);
}

export function waiting(standing) {
  show("waiting");
  const position = standing.position ?? 1;
  $("position").textContent = fmt.count(position);
  $("ahead").textContent = standing.ahead ? `${fmt.count(standing.ahead)} ahead of you` : "You're next.";
  $("eta").textContent = fmt.eta(standing.eta_seconds);
  announce(`You are number ${fmt.count(position)} in line. ${fmt.eta(standing.eta_seconds)}`);
}

export function ended(reason) {
  show("queue-ended");
  $("ended-reason").textContent = reason;
  announce(reason, true);
}

/** "Live" while a stream pushes; "checking every N s" while the page polls. */
export function connection(mode, everyMs) {
  const pill = $("connection");
  pill.dataset.mode = mode ?? "";
  pill.textContent =
    mode === "live" ? "Live updates" : mode === "polling" ? `Checking every ${Math.max(1, Math.round(everyMs / 1000))} s` : mode === "offline" ? "Offline" : "";
}
