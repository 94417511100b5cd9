// A fan whose place the fair opening drew sees where the draw put them, and their own
// browser checks it: the published seed must hash to the commitment published before the
// opening, and HMAC-SHA256(seed, my user id) must be the `draw` claim of my queue token
// and the HMAC of my entry in the published list.

import { api } from "./api.js";
import * as fmt from "./format.js";
import { isCurrent, persist } from "./page.js";
import * as session from "./session.js";
import { fromHex, hex, hmacSha256, sha256, utf8 } from "./sha256.js";

const $ = (id) => document.getElementById(id);
const told = new Map();

/**
 * Shows where the draw put my place in a show, if the draw gave it. It never holds up the
 * screen: the check's answers come when they come (and are asked once per show).
 */
export function showDraw(run, showId) {
  const place = session.place(showId);
  if (!place?.draw) return;
  if (!told.has(showId)) told.set(showId, check(run, showId, place));
  told
    .get(showId)
    .then((result) => isCurrent(run) && render(showId, result))
    .catch(() => told.delete(showId));
}

function render(showId, { rank, size, entryUrl, checked }) {
  $("draw-summary").textContent =
    rank && size ? `The draw gave you place ${fmt.count(rank)} of the ${fmt.count(size)} people in the pre-queue.` : "Your place was drawn at the opening.";
  $("draw-check").textContent = checked
    ? "Checked in your browser: the seed matches the commitment published before the opening, and your place is HMAC-SHA256(seed, your id)."
    : "Your browser could not check your place against the published draw yet.";
  $("fairness-link").href = `/v1/shows/${showId}/fairness`;
  $("entry-link").href = entryUrl;
  $("draw-result").hidden = false;
}

async function check(run, showId, place) {
  const get = (path) => persist(run, () => api("GET", path)).then((response) => response.data);
  const base = `/v1/shows/${showId}/fairness`;
  const entryUrl = `${base}/entries?after_seq=${place.seq - 1}&limit=1`;
  const [fairness, first, mine] = await Promise.all([get(base), get(`${base}/entries?limit=1`), get(entryUrl)]);
  const firstSeq = first.entries[0]?.seq;
  const entry = mine.entries[0];
  let checked = false;
  if (fairness.seed && entry) {
    const seed = fromHex(fairness.seed);
    const key = hex(hmacSha256(seed, utf8(place.sub)));
    checked =
      hex(sha256(seed)) === fairness.commitment &&
      key === place.draw &&
      entry.hmac === key &&
      entry.user_hash === hex(sha256(utf8(place.sub)));
  }
  return { rank: firstSeq ? place.seq - firstSeq + 1 : null, size: fairness.pre_queue_size, entryUrl, checked };
}
