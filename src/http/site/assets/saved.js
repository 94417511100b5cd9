// What the fan's browser keeps between visits (localStorage): the identity, the queue
// token of each show (the proof of place), a purchase in flight with its Idempotency-Key,
// and receipts. A browser that refuses storage still works; it just forgets on reload.

const PREFIX = "boxoffice.";

export function load(key) {
  try {
    const text = localStorage.getItem(PREFIX + key);
    return text === null ? null : JSON.parse(text);
  } catch {
    return null;
  }
}

export function save(key, value) {
  try {
    localStorage.setItem(PREFIX + key, JSON.stringify(value));
  } catch {
    // Private mode or a full disk: the page goes on without remembering.
  }
}

export function forget(key) {
  try {
    localStorage.removeItem(PREFIX + key);
  } catch {
    // As above.
  }
}
