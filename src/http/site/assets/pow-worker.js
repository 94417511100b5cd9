// Solves a join's proof of work off the page's thread: finds a nonce such that
// SHA-256(challenge + ":" + nonce) starts with `bits` zero bits, and reports how many
// hashes it tried along the way so the page can show progress.
//
// in:  {challenge, bits}
// out: {tried} now and then, then {nonce, tried}

import { NonceSearch, utf8 } from "./sha256.js";

const REPORT_EVERY = 20000;

self.onmessage = ({ data: { challenge, bits } }) => {
  const search = new NonceSearch(utf8(`${challenge}:`));
  for (let nonce = 0; ; nonce++) {
    if (search.zeroBits(nonce) >= bits) {
      self.postMessage({ nonce: String(nonce), tried: nonce + 1 });
      return;
    }
    if (nonce % REPORT_EVERY === 0) self.postMessage({ tried: nonce });
  }
};
