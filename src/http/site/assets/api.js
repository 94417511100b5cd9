// The one way the pages talk to the service: JSON in and out, the bearer token, a bound on
// every request, and every failure turned into an ApiError that says what happened and
// when to try again. It also listens to what every answer says about the service: which
// store serves (the Boxoffice-Backend header) and the server's clock (Date).

/** How long a request may take before the page gives up on it. */
const REQUEST_TIMEOUT_MS = 15000;

export class ApiError extends Error {
  constructor(status, code, message, { retryAfterS = null, seatIds = [] } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
    this.seatIds = seatIds;
  }

  /** Worth retrying by itself: the network, a busy or switching service, a rate limit. */
  get transient() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

const backendListeners = new Set();
let clockOffsetMs = 0;

/** Calls `listener("redis" | "postgres")` whenever an answer names the serving store. */
export function onBackend(listener) {
  backendListeners.add(listener);
}

/** Now, on the server's clock (good to about a second), for countdowns. */
export function serverNow() {
  return Date.now() + clockOffsetMs;
}

function noteServer(response, sentAt) {
  const backend = response.headers.get("Boxoffice-Backend");
  if (backend) backendListeners.forEach((listener) => listener(backend));
  const date = Date.parse(response.headers.get("Date") ?? "");
  if (Number.isNaN(date)) return;
  // Date has whole seconds: only a drift of more than that is worth correcting.
  const offset = date + 500 - (sentAt + Date.now()) / 2;
  if (Math.abs(offset - clockOffsetMs) > 1000) clockOffsetMs = offset;
}

function retryAfter(response) {
  const value = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
  return Number.isFinite(value) && value >= 0 ? value : null;
}

async function body(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * `method path` with an optional bearer token, JSON body and extra headers. Resolves to
 * `{status, data}` for a 2xx; rejects with an ApiError otherwise (status 0: no answer).
 */
export async function api(method, path, { token, json, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, cache: "no-store" };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  init.signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  const sentAt = Date.now();
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", "The connection to the box office was lost.", { retryAfterS: 3 });
  }
  noteServer(response, sentAt);
  const data = await body(response);
  if (response.ok) return { status: response.status, data };
  const error = data?.error ?? {};
  throw new ApiError(response.status, error.code ?? `http_${response.status}`, error.message ?? response.statusText, {
    retryAfterS: retryAfter(response),
    seatIds: error.seat_ids ?? [],
  });
}

/** The claims of a JWT (not checked: the server checks; the page only reads them). */
export function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return {};
  }
}

/** A random UUID, also where crypto.randomUUID is missing (plain HTTP off localhost). */
export function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
