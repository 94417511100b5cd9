// Keeps a screen current: server-sent events while the stream can be had, polling while it
// can't. A stream that is refused (503: the instance has all the streams it takes) or that
// drops makes the page poll at once, as the server's `poll_after_ms` says, and try the
// stream again a minute later, so a million fans don't all come back to it at once.

/** How long the page polls before it tries the stream again. */
const STREAM_RETRY_MS = 60000;

export class Live {
  /**
   * url(): the stream's address (it carries the current token).
   * events: {name: handler(data)} for the stream's events.
   * poll(): one poll; resolves to the milliseconds until the next.
   * onMode(mode, everyMs): "live" or "polling".
   * failed(error): a poll failed; resolves to the milliseconds until the next.
   */
  constructor({ url, events, poll, onMode, failed }) {
    Object.assign(this, { url, events, poll, onMode, failed });
    this.source = null;
    this.timer = null;
    this.stopped = false;
    this.streamAgainAt = 0;
  }

  start() {
    if (typeof EventSource === "undefined") this.fallBack();
    else this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    this.source?.close();
    clearTimeout(this.timer);
  }

  /** Restarts the stream, e.g. with a new token. */
  reconnect() {
    this.source?.close();
    clearTimeout(this.timer);
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    const source = new EventSource(this.url());
    this.source = source;
    source.onopen = () => this.onMode("live");
    for (const [name, handler] of Object.entries(this.events)) {
      source.addEventListener(name, (event) => {
        if (this.source === source) handler(JSON.parse(event.data));
      });
    }
    source.onerror = () => {
      source.close();
      if (this.source === source) this.fallBack();
    };
  }

  fallBack() {
    this.source = null;
    this.streamAgainAt = Date.now() + STREAM_RETRY_MS * (0.8 + 0.4 * Math.random());
    this.next(0);
  }

  next(ms) {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), ms);
  }

  async tick() {
    if (this.stopped || this.source) return;
    if (Date.now() >= this.streamAgainAt && typeof EventSource !== "undefined") {
      this.connect();
      return;
    }
    let wait;
    try {
      wait = await this.poll();
    } catch (error) {
      wait = this.failed(error);
    }
    if (this.stopped || this.source) return;
    this.onMode("polling", wait);
    this.next(wait);
  }
}
