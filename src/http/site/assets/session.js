// Who the fan is and what they hold, as this browser remembers it: the identity token, the
// show being bought, the place in each show's queue (its queue token is the proof of
// place), a purchase in flight (with its Idempotency-Key) and the receipts.

import { api, claims, serverNow } from "./api.js";
import { persist } from "./page.js";
import * as saved from "./saved.js";

/** An identity is renewed when it has less than this left. */
const RENEW_BEFORE_MS = 60 * 60 * 1000;

export async function identity(run) {
  const user = saved.load("user");
  if (user && Date.parse(user.expires_at) - serverNow() > RENEW_BEFORE_MS) return user;
  const { data } = await persist(run, () => api("POST", "/v1/tokens", { json: {} }));
  saved.save("user", data);
  return data;
}

export function forgetIdentity() {
  saved.forget("user");
}

/** `{title, starts_at}` of a show, from the catalog (remembered once read). */
export async function showInfo(run, showId) {
  const known = saved.load(`show.${showId}`);
  if (known) return known;
  const { data: concerts } = await persist(run, () => api("GET", "/v1/concerts"));
  for (const concert of concerts) {
    const show = concert.shows.find((s) => s.id === showId);
    if (show) return rememberShow(showId, { title: concert.title, starts_at: show.starts_at });
  }
  return null;
}

export function rememberShow(showId, info) {
  saved.save(`show.${showId}`, info);
  return info;
}

/** The queue token of my place in a show, and its claims (`seq`, and `draw` if drawn). */
export function place(showId) {
  const token = saved.load(`queue.${showId}`)?.token;
  return token ? { token, ...claims(token) } : null;
}

export function setPlace(showId, token) {
  saved.save(`queue.${showId}`, { token });
}

export function forgetPlace(showId) {
  saved.forget(`queue.${showId}`);
}

export const order = (showId) => saved.load(`order.${showId}`);
export const setOrder = (showId, value) => saved.save(`order.${showId}`, value);
export const forgetOrder = (showId) => saved.forget(`order.${showId}`);

export const receipt = (showId) => saved.load(`receipt.${showId}`);
export const setReceipt = (showId, value) => saved.save(`receipt.${showId}`, value);
export const forgetReceipt = (showId) => saved.forget(`receipt.${showId}`);

/** The show this browser is buying for, so a reload comes back to it. */
export const journey = () => saved.load("journey");
export const setJourney = (showId) => saved.save("journey", showId);
export const forgetJourney = () => saved.forget("journey");
