// How the pages say numbers, times and prices to people.

const number = new Intl.NumberFormat();
const money = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });
const clockTime = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });

export const count = (n) => number.format(n);

export const price = (cents) => money.format(cents / 100);

export const when = (iso) => dateTime.format(new Date(iso));

export const clock = (ms) => clockTime.format(new Date(ms));

/** 75 → "1:15"; 3725 → "1:02:05". Never negative. */
export function countdown(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

/** An ETA in words: "less than a minute", "about 4 minutes", "about 2 hours". */
export function eta(seconds) {
  if (seconds === null || seconds === undefined) return "We're measuring how fast the line moves…";
  if (seconds < 60) return "Your turn comes in less than a minute.";
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `Your turn comes in about ${minutes} minute${minutes === 1 ? "" : "s"}.`;
  const hours = Math.round(minutes / 60);
  return `Your turn comes in about ${hours} hours.`;
}

/** "3 seats" / "1 seat". */
export const seats = (n) => `${n} seat${n === 1 ? "" : "s"}`;
