// What every screen of the fan's page shares: which screen shows, the notice that tells a
// person what went wrong and what happens next, retrying what is worth retrying, and
// stopping a screen's work when the page moves on.

import { ApiError, sleep } from "./api.js";

const $ = (id) => document.getElementById(id);

/** Thrown into a screen's work when the page has moved to another screen. */
export class Stopped extends Error {}

let generation = 0;
let cleanups = [];
let backend = "redis";

/** Starts a screen's work: what the previous screen left running stops. */
export function begin() {
  generation += 1;
  cleanups.splice(0).forEach((cleanup) => cleanup());
  clearNotice();
  return generation;
}

/** Runs `cleanup` when the current screen's work stops. */
export function onStop(cleanup) {
  cleanups.push(cleanup);
}

/** Throws Stopped when `run` is not the current screen's work any more. */
export function check(run) {
  if (run !== generation) throw new Stopped();
}

export const isCurrent = (run) => run === generation;

/** The screens, registered by fan.js: `go("seats", showId)`. */
export const routes = {};

export function go(name, ...args) {
  return routes[name](...args).catch(fail);
}

export function showScreen(name) {
  for (const screen of document.querySelectorAll(".screen")) screen.hidden = screen.id !== `screen-${name}`;
  $("draw-result").hidden = true;
  const heading = $(`screen-${name}`).querySelector("h1");
  if (document.activeElement !== heading) heading.focus({ preventScroll: false });
}

export function setBackend(name) {
  backend = name;
  $("backend-banner").hidden = name !== "postgres";
}

export function notify(text, next = "") {
  $("notice-text").textContent = text;
  $("notice-next").textContent = next;
  $("notice").hidden = false;
}

export function clearNotice() {
  $("notice").hidden = true;
}

$("notice-close").addEventListener("click", clearNotice);

/** What went wrong, in words a fan understands. */
export function explain(error) {
  if (!(error instanceof ApiError)) return "Something went wrong in this page.";
  if (error.status === 0) return navigator.onLine === false ? "You're offline." : "We lost the connection to the box office.";
  if (error.status === 429) return "Lots of requests are coming from your connection right now.";
  if (error.status === 503 && backend === "postgres") return "The box office is working from its backup system and is busy.";
  if (error.status >= 500) return "The box office is very busy right now.";
  if (error.status === 401) return "Your session with the box office has ended.";
  return error.message;
}

/** Seconds to wait before trying again: what the server said, else a growing backoff. */
function pause(error, tries) {
  const base = error.retryAfterS ?? Math.min(30, 2 ** tries);
  return Math.max(1, base) * (0.9 + 0.2 * Math.random());
}

/**
 * Runs `attempt` until it succeeds or fails for a reason retrying won't fix (that error is
 * thrown). Between tries the fan is told why and when the next try comes; nothing is lost
 * meanwhile (joins, holds and purchases are idempotent or checked first).
 */
export async function persist(run, attempt) {
  for (let tries = 0; ; tries++) {
    check(run);
    try {
      const result = await attempt();
      check(run);
      clearNotice();
      return result;
    } catch (error) {
      if (!(error instanceof ApiError) || !error.transient) throw error;
      const seconds = pause(error, tries);
      notify(explain(error), `We'll try again in ${Math.round(seconds)} seconds. You keep your place.`);
      await sleep(seconds * 1000);
    }
  }
}

/** The last word on an error nobody handled: say it, and what the fan can do. */
export function fail(error) {
  if (error instanceof Stopped) return;
  console.error(error);
  notify(explain(error), "Reload the page to try again; your place and seats are kept.");
}
