// The live event stream (SSE) read with fetch, so that reconnecting can send
// Last-Event-ID itself and the connection state is always known:
//   connecting → connected → (lost) reconnecting → connected …; closed when revoked.
// After a `reset` event, or a gap longer than LONG_GAP_MS, the owner is told to re-read
// its lists (`onReload`); the server replays what it kept since Last-Event-ID.

export const LONG_GAP_MS = 30_000;
const MAX_DELAY_MS = 5_000;

/** Splits SSE text into events; `rest` is an unfinished tail to prepend next time. */
export function parseSse(text) {
  const events = [];
  const blocks = text.replace(/\r\n?/g, "\n").split("\n\n");
  const rest = blocks.pop();
  for (const block of blocks) {
    const event = { id: null, event: "message", data: [] };
    let any = false;
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      any = true;
      if (field === "id") event.id = value;
      else if (field === "event") event.event = value;
      else if (field === "data") event.data.push(value);
    }
    if (any) events.push({ ...event, data: event.data.join("\n") });
  }
  return { events, rest };
}

/** The wait before reconnect attempt `attempt` (0, 1, …): 0.5 s doubling to 5 s. */
export function retryDelay(attempt, random = Math.random) {
  const base = Math.min(MAX_DELAY_MS, 500 * 2 ** attempt);
  return Math.round(base * (0.8 + 0.4 * random()));
}

export class Feed {
  /**
   * @param url the stream
   * @param opts {headers, onEvent(e), onState(state), onReload(reason), onRevoked(reason), fetch, now}
   */
  constructor(url, opts) {
    this.url = url;
    this.opts = opts;
    this.fetch = opts.fetch || ((...a) => fetch(...a));
    this.now = opts.now || (() => Date.now());
    this.lastEventId = null;
    this.state = "idle";
    this.attempt = 0;
    this.lostAt = null;
    this.abort = null;
    this.stopped = false;
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.opts.onState?.(state);
  }

  start() {
    this.stopped = false;
    this.setState("connecting");
    this.loop();
  }

  stop() {
    this.stopped = true;
    this.abort?.abort();
    this.setState("closed");
  }

  async loop() {
    while (!this.stopped) {
      const outcome = await this.once();
      if (this.stopped || outcome === "revoked") return;
      if (this.lostAt === null) this.lostAt = this.now();
      this.setState("reconnecting");
      const delay = outcome === "resume" ? 0 : retryDelay(this.attempt++);
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /** One connection, until it ends: "ended", "resume", "failed" or "revoked". */
  async once() {
    this.abort = new AbortController();
    const headers = { accept: "text/event-stream", ...(this.opts.headers || {}) };
    if (this.lastEventId) headers["last-event-id"] = this.lastEventId;
    let res;
    try {
      res = await this.fetch(this.url, { headers, credentials: "same-origin", signal: this.abort.signal, cache: "no-store" });
    } catch {
      return "failed";
    }
    // (With KEFU_ERROR_HTTP_STATUS=always-200 a refusal is a 200 with a JSON body.)
    if (!res.ok || !(res.headers.get("content-type") || "").startsWith("text/event-stream")) {
      let body = {};
      try {
        body = await res.json();
      } catch {}
      // A session that is unknown, unbound or disabled will not come back by retrying.
      if ([401, 403, 404].includes(res.status) || [10011, 30004, 30018, 30019].includes(body.error)) {
        this.setState("closed");
        this.opts.onRevoked?.(body.debug || `HTTP ${res.status}`);
        return "revoked";
      }
      return "failed";
    }
    const gap = this.lostAt === null ? 0 : this.now() - this.lostAt;
    const first = this.state === "connecting";
    this.attempt = 0;
    this.lostAt = null;
    this.setState("connected");
    if (!first) this.opts.onReload?.(gap > LONG_GAP_MS ? "gap" : "reconnected");
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return "ended";
        const { events, rest } = parseSse(buffer + decoder.decode(value, { stream: true }));
        buffer = rest;
        for (const e of events) {
          const verdict = this.handle(e);
          if (verdict) {
            this.abort.abort();
            return verdict;
          }
        }
      }
    } catch {
      return "failed";
    }
  }

  handle(e) {
    if (e.event === "revoked") {
      this.stopped = true;
      this.setState("closed");
      this.opts.onRevoked?.(e.data);
      return "revoked";
    }
    if (e.event === "resume") return "resume";
    if (e.id) this.lastEventId = e.id;
    if (e.event === "reset") {
      this.opts.onReload?.("reset");
      return null;
    }
    let data = e.data;
    try {
      data = JSON.parse(e.data);
    } catch {}
    this.opts.onEvent?.({ type: e.event, id: e.id, data });
    return null;
  }
}
