// The demo customer (/console/demo, on with KEFU_CONSOLE_DEMO=1): plays a user of an
// app, so that a conversation with the console can be held in a second tab. Its
// session is held in this tab only (sessionStorage) and sent as a Bearer token.

import { client } from "./api.js";
import { h, fill } from "./dom.js";
import { Feed } from "./feed.js";
import { t, setLanguage, pickLanguage } from "./i18n.js";
import { messageEl, placeByTime } from "./messages.js";
import { Composer } from "./composer.js";

const root = document.getElementById("root");
const KEY = "kefu.demo";
setLanguage(pickLanguage());

function startForm() {
  const params = new URLSearchParams(location.search);
  const identify = h("input", { id: "identify", value: params.get("identify") || "" });
  const userId = h("input", { id: "user-id", value: "demo-" + Math.random().toString(36).slice(2, 8), required: true, maxlength: 64 });
  const name = h("input", { id: "user-name", value: params.get("name") || "", maxlength: 64 });
  const title = h("input", { id: "question-title", required: true, maxlength: 200 });
  const alert = h("div", { role: "alert" });
  fill(
    root,
    h(
      "form",
      {
        class: "signin",
        onsubmit: async (e) => {
          e.preventDefault();
          fill(alert);
          try {
            const s = await client().post("/console/demo/session", { identify: identify.value, user_id: userId.value, user_name: name.value || undefined });
            const api = client({ bearer: s.session });
            const q = await api.post("/v1/question/new", { title: title.value });
            const state = { session: s.session, user_id: s.user_id, question_id: q.question_id, title: title.value };
            sessionStorage.setItem(KEY, JSON.stringify(state));
            chat(state);
          } catch (err) {
            fill(alert, err.message);
          }
        },
      },
      h("h1", {}, "Kefu demo customer"),
      h("label", { for: "identify" }, "App (identify)"),
      identify,
      h("label", { for: "user-id" }, "User ID"),
      userId,
      h("label", { for: "user-name" }, "Name"),
      name,
      h("label", { for: "question-title" }, "Question"),
      title,
      h("button", { type: "submit", class: "primary" }, "Ask"),
      alert,
    ),
  );
}

function chat(state) {
  const api = client({ bearer: state.session });
  const shown = new Map();
  const log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": state.title });
  const add = (m) => {
    if (m.question_id && m.question_id !== state.question_id) return;
    const known = shown.get(m.message_id);
    if (known) {
      known.remove(); // the stream's copy of a sent message: the server's time places it
      placeByTime(log, known, m.timestamp);
      return;
    }
    const el = messageEl(m, m.sender_type === 1);
    shown.set(m.message_id, el);
    placeByTime(log, el, m.timestamp);
    log.scrollTop = log.scrollHeight;
  };
  const me = { serv_id: state.user_id };
  const composer = new Composer({ api, me, sender: state.user_id, senderType: 1, question: () => ({ question_id: state.question_id }), onSent: add });
  const conn = h("span", { class: "conn connecting", role: "status" }, t("connecting"));
  const leave = h("button", { type: "button", onclick: () => { sessionStorage.removeItem(KEY); feed.stop(); startForm(); } }, "New customer");
  fill(
    root,
    h("header", { class: "bar" }, h("span", { class: "brand" }, state.title), conn, h("span", {}, state.user_id), leave),
    h("section", { class: "conversation demo" }, log, composer.el),
  );
  const feed = new Feed(`/v1/user/${encodeURIComponent(state.user_id)}/stream`, {
    headers: api.headers(false),
    onState: (s) => { conn.className = "conn " + s; fill(conn, t(s === "connected" ? "connected" : s === "closed" ? "revoked" : s)); },
    onEvent: (e) => e.type === "message" && add(e.data),
    onReload: () => history(),
    onRevoked: () => { sessionStorage.removeItem(KEY); startForm(); },
  });
  async function history() {
    const page = await api.get(`/v1/question/${state.question_id}/message`, { num: 50, sort: -1 });
    page.messages.reverse().forEach(add);
  }
  history().then(() => feed.start());
}

const saved = sessionStorage.getItem(KEY);
saved ? chat(JSON.parse(saved)) : startForm();
