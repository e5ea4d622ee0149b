// The open conversation: its head (title, state, actions, queue position), the history
// paged backwards as the agent scrolls up (never all of it at once), live messages, the
// delivery state of the agent's own messages, and the user page beside it.

import { h, fill } from "./dom.js";
import { t } from "./i18n.js";
import { messageEl, placeByTime, updateDelivery } from "./messages.js";
import { Composer } from "./composer.js";

const PAGE = 30;
/** How often pending deliveries are re-read while the conversation is open. */
const DELIVERY_POLL_MS = 2_000;
const STATUS = { waiting: 1, serving: 2, finished: 3 };

export class Conversation {
  constructor({ api, me, els, onChange, onRead }) {
    Object.assign(this, { api, me, els, onChange, onRead });
    this.id = null;
    this.poll = null;
  }

  close() {
    this.id = null;
    clearInterval(this.poll);
    fill(this.els.main, h("p", { class: "placeholder" }, t("pick")));
    fill(this.els.user);
  }

  open(q) {
    clearInterval(this.poll);
    this.id = q.question_id;
    this.q = q;
    this.oldest = null;
    this.done = false;
    this.loading = false;
    this.shown = new Map();
    this.head = h("div", { class: "head" });
    this.log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": q.title, onscroll: () => this.log.scrollTop < 40 && this.older() });
    this.composer = new Composer({ api: this.api, me: this.me, question: () => this.q, onSent: (m) => this.append(m, true) });
    fill(this.els.main, this.head, this.log, this.composer.el);
    this.refreshHead(q);
    this.older().then(() => (this.log.scrollTop = this.log.scrollHeight));
    this.userPage(q);
    this.poll = setInterval(() => this.pollDeliveries(), DELIVERY_POLL_MS);
  }

  /** Re-draws the head (the question may have changed state). */
  refreshHead(q) {
    if (!q || q.question_id !== this.id) return;
    this.q = q;
    const mine = q.status === STATUS.serving;
    const act = (label, path) => h("button", { type: "button", onclick: () => this.act(path) }, t(label));
    const position = h("span", { class: "position", "aria-live": "polite" });
    fill(
      this.head,
      h("h2", {}, q.title),
      h("span", { class: "meta" }, q.user_name),
      q.status === STATUS.waiting ? position : null,
      q.status === STATUS.waiting ? act("serve", "serve") : null,
      mine ? act("quit", "quit") : null,
      mine && !this.finishRequested() ? act("requestFinish", "request_finish") : null,
      mine ? act("finish", "finish") : null,
    );
    this.composer.enable(mine);
    if (q.status === STATUS.waiting) {
      this.api
        .get(`/v1/question/${q.question_id}/position`)
        .then((p) => fill(position, t("position", { n: p.position, m: p.waiting, w: Math.ceil(p.estimated_wait / 60) })))
        .catch(() => {});
    }
  }

  /** Whether the agent already asked to end (the newest state notification says so). */
  finishRequested() {
    let last = null;
    for (const { m } of this.shown.values()) if (m.type === 4 && (!last || m.timestamp >= last.timestamp)) last = m;
    return last?.action === 3;
  }

  async act(path) {
    try {
      await this.api.post(`/v1/question/${this.id}/${path}`, { serv_id: this.me.serv_id });
    } catch (err) {
      fill(this.els.alert, err.message);
      this.els.alert.classList.remove("visually-hidden");
      setTimeout(() => this.els.alert.classList.add("visually-hidden"), 5000);
    }
    this.onChange();
  }

  /** The page before the oldest shown message. */
  async older() {
    if (this.loading || this.done) return;
    this.loading = true;
    const id = this.id;
    try {
      const page = await this.api.get(`/v1/question/${id}/message`, { num: PAGE, sort: -1, message_id: this.oldest || "" });
      if (id !== this.id) return;
      const before = this.log.scrollHeight;
      const fresh = page.messages.filter((m) => !this.shown.has(m.message_id));
      for (const m of fresh) {
        const el = this.element(m);
        el.dataset.ts = m.timestamp;
        this.log.prepend(el);
      }
      if (page.messages.length) this.oldest = page.messages[page.messages.length - 1].message_id;
      if (page.messages.length < PAGE) {
        this.done = true;
        this.log.prepend(h("div", { class: "msg note" }, t("noMore")));
      }
      this.log.scrollTop += this.log.scrollHeight - before;
    } catch (err) {
      console.warn("history", err);
    } finally {
      this.loading = false;
    }
  }

  element(m) {
    const el = messageEl(m, m.sender_type === 2);
    this.shown.set(m.message_id, { el, m });
    if (m.type === 4) queueMicrotask(() => this.refreshHead(this.q));
    return el;
  }

  /** Shows a live message in time order (the stream and the send answers race). */
  append(m) {
    const known = this.shown.get(m.message_id);
    if (known) {
      // The stream's copy of a message this page sent: the server's time places it.
      if (known.m.timestamp !== m.timestamp) {
        known.m.timestamp = m.timestamp;
        known.el.remove();
        placeByTime(this.log, known.el, m.timestamp);
      }
      return;
    }
    if (m.sender_type === 2 && m.type !== 4) m.fresh = true; // its delivery state is read next
    const atBottom = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 80;
    placeByTime(this.log, this.element(m), m.timestamp);
    if (atBottom || m.sender_type === 2) this.log.scrollTop = this.log.scrollHeight;
  }

  /** A message from the stream: shown if it belongs here. */
  live(m) {
    if (m.question_id !== this.id) return false;
    this.append(m);
    this.onRead(this.id);
    return true;
  }

  async pollDeliveries() {
    const pending = [...this.shown.values()].some(({ m }) => m.sender_type === 2 && m.delivery?.state === "pending");
    const unknown = [...this.shown.values()].some(({ m }) => m.sender_type === 2 && m.type !== 4 && m.delivery === undefined && m.fresh);
    if (!pending && !unknown) return;
    try {
      const page = await this.api.get(`/v1/question/${this.id}/message`, { num: PAGE, sort: -1 });
      for (const m of page.messages) {
        const shown = this.shown.get(m.message_id);
        if (!shown) continue;
        delete shown.m.fresh;
        if (m.delivery) {
          shown.m.delivery = m.delivery;
          updateDelivery(shown.el, m.delivery);
        }
      }
    } catch (err) {
      console.warn("deliveries", err);
    }
  }

  async userPage(q) {
    try {
      const u = await this.api.get("/v1/user", { question_id: q.question_id });
      if (q.question_id !== this.id) return;
      fill(
        this.els.user,
        h("h3", {}, t("user")),
        h(
          "dl",
          {},
          h("dt", {}, t("userName")), h("dd", {}, u.user_name),
          h("dt", {}, t("userId")), h("dd", {}, u.user_id),
          h("dt", {}, t("devices")), h("dd", {}, u.device_count),
          h("dt", {}, t("groups")), h("dd", {}, u.group_count),
        ),
      );
    } catch (err) {
      fill(this.els.user);
    }
  }
}
