// Joining a show's queue and following one's place in it: the proof of work when the show
// asks for it, the pre-queue until a fair opening, the place pushed by the queue stream
// (or polled), the draw checked in the browser, and the hand-over to the seat map.

import { api, ApiError } from "./api.js";
import { showDraw } from "./draw.js";
import * as fmt from "./format.js";
import { Live } from "./live.js";
import { begin, check, explain, fail, go, notify, onStop, persist, showScreen, Stopped } from "./page.js";
import * as view from "./queue-view.js";
import * as session from "./session.js";

const $ = (id) => document.getElementById(id);

/** A join whose proof of work is refused (expired, spent) is tried with a new puzzle this often. */
const POW_TRIES = 3;
/** How long a fan waits before trying a paused queue again. */
const PAUSED_RETRY_MS = 15000;
const PRE_QUEUE_SEQ = 0;

let currentShow = null;

/** The queue screen of a show: my place (joining first if I have none), followed live. */
export async function openShow(showId) {
  const run = begin();
  currentShow = showId;
  history.replaceState(null, "", `#show/${showId}`);
  session.setJourney(showId);
  showScreen("queue");
  const info = await session.showInfo(run, showId);
  $("queue-show").textContent = info ? `${info.title}: ${fmt.when(info.starts_at)}` : `Show ${showId}`;
  if (session.receipt(showId)) return go("receipt", showId);
  if (session.order(showId) && (await replayOrder(run, showId))) return go("receipt", showId);
  const standing = (await placeNow(run, showId)) ?? (await join(run, showId));
  await follow(run, showId, standing);
}

/** The queue screen saying my place lapsed, with a way back in. */
export async function ended(showId, reason) {
  begin();
  currentShow = showId;
  session.forgetPlace(showId);
  showScreen("queue");
  view.connection(null);
  view.ended(reason);
}

/** A purchase the page sent before a reload: asked again with its key (the answer is the same). */
async function replayOrder(run, showId) {
  const order = session.order(showId);
  const place = session.place(showId);
  if (!place) return false;
  try {
    const { data } = await persist(run, () => reserve(showId, place.token, order));
    session.setReceipt(showId, { ...order, reservation: data });
    session.forgetOrder(showId);
    session.forgetPlace(showId);
    return true;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    session.forgetOrder(showId);
    return false;
  }
}

export function reserve(showId, token, order) {
  return api("POST", `/v1/shows/${showId}/reservations`, {
    token,
    json: { seat_ids: order.seat_ids },
    headers: { "Idempotency-Key": order.key },
  });
}

/** Where my saved place stands, or null when I have none (or its token is no good). */
async function placeNow(run, showId) {
  const place = session.place(showId);
  if (!place) return null;
  try {
    const { data } = await persist(run, () => api("GET", `/v1/shows/${showId}/queue`, { token: place.token }));
    return data;
  } catch (error) {
    if (!(error instanceof ApiError) || error.transient) throw error;
    session.forgetPlace(showId);
    return null;
  }
}

async function join(run, showId) {
  let user = await session.identity(run);
  for (let tries = 1; ; tries++) {
    const pow = await proofOfWork(run, showId, user.token);
    try {
      const json = pow ? { pow } : {};
      const { data } = await persist(run, () => api("POST", `/v1/shows/${showId}/queue`, { token: user.token, json }));
      session.setPlace(showId, data.queue_token);
      return data;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (error.code === "pow_invalid" && tries < POW_TRIES) continue;
      if (error.status === 401) {
        session.forgetIdentity();
        user = await session.identity(run);
        continue;
      }
      if (error.code !== "queue_closed" && error.code !== "not_on_sale_yet") throw error;
      const why = error.code === "queue_closed" ? "This queue is paused right now: nobody new can join." : "This sale hasn't opened yet.";
      notify(why, "We'll try again every 15 seconds.");
      await new Promise((resolve) => setTimeout(resolve, PAUSED_RETRY_MS));
    }
  }
}

/** The solved puzzle for a join, or null when the show asks for none. */
async function proofOfWork(run, showId, token) {
  const { data } = await persist(run, () => api("GET", `/v1/shows/${showId}/challenge`, { token }));
  if (!data.bits) return null;
  view.solving(data.bits);
  const nonce = await solve(data.challenge, data.bits);
  check(run);
  return { challenge: data.challenge, nonce };
}

function solve(challenge, bits) {
  return new Promise((resolve, reject) => {
    const worker = new Worker("/assets/pow-worker.js", { type: "module" });
    onStop(() => {
      worker.terminate();
      reject(new Stopped());
    });
    worker.onmessage = ({ data }) => {
      view.solvingProgress(data.tried, bits, Boolean(data.nonce));
      if (!data.nonce) return;
      worker.terminate();
      resolve(data.nonce);
    };
    worker.onerror = () => {
      worker.terminate();
      reject(new Error("the puzzle could not be solved in this browser"));
    };
    worker.postMessage({ challenge, bits });
  });
}

/** Follows my place until I'm admitted (then the seat map) or it lapses. */
async function follow(run, showId, first) {
  let fairness = null;
  let steps = Promise.resolve();
  const token = () => session.place(showId)?.token;
  const refresh = async () => {
    const { data } = await persist(run, () => api("GET", `/v1/shows/${showId}/queue`, { token: token() }));
    return data;
  };

  const step = async (standing) => {
    check(run);
    if (standing.queue_token) session.setPlace(showId, standing.queue_token);
    const drawnButUntold = session.place(showId)?.seq === PRE_QUEUE_SEQ && standing.status !== "pre_queue";
    // The draw placed me: a poll with the pre-queue token answers the drawn place's token.
    if (drawnButUntold && standing.status !== "expired") return step(await refresh());
    switch (standing.status) {
      case "pre_queue":
        fairness ??= (await persist(run, () => api("GET", `/v1/shows/${showId}/fairness`))).data;
        view.preQueue(fairness);
        break;
      case "waiting":
        view.waiting(standing);
        showDraw(run, showId);
        break;
      case "active":
        go("seats", showId);
        break;
      default:
        ended(showId, "Your place has lapsed: you left the queue, or your turn came and went.");
    }
  };
  const next = (standing) => {
    steps = steps.then(() => step(standing)).catch(handleError);
    return steps;
  };
  const handleError = (error) => {
    if (error instanceof Stopped) return;
    notify(explain(error), "Reload the page to try again; your place is kept.");
  };

  const live = new Live({
    url: () => `/v1/shows/${showId}/queue/events?access_token=${encodeURIComponent(token())}`,
    events: {
      position: (data) => next(data),
      active: (data) => next({ status: "active", ...data }),
      expired: () => next({ status: "expired" }),
    },
    poll: async () => {
      const { data } = await api("GET", `/v1/shows/${showId}/queue`, { token: token() });
      await next(data);
      return data.poll_after_ms || 1000;
    },
    failed: (error) => {
      if (error instanceof ApiError && !error.transient) {
        ended(showId, "This browser's place could not be confirmed. Join again to get a new one.");
        return 60000;
      }
      const seconds = error.retryAfterS ?? 5;
      notify(explain(error), `We'll check again in ${seconds} seconds. You keep your place.`);
      return seconds * 1000;
    },
    onMode: view.connection,
  });
  onStop(() => live.stop());
  await next(first);
  check(run);
  live.start();
}

async function leave() {
  const showId = currentShow;
  const place = session.place(showId);
  const run = begin();
  if (place) {
    try {
      await persist(run, () => api("DELETE", `/v1/shows/${showId}/queue`, { token: place.token }));
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 404) throw error;
    }
  }
  session.forgetPlace(showId);
  return go("concerts");
}

$("leave").addEventListener("click", () => leave().catch(fail));
$("rejoin").addEventListener("click", () => go("show", currentShow));
$("back-to-concerts").addEventListener("click", () => go("concerts"));
