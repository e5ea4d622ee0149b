// The agent console: sign-in, the lists (waiting, serving, finished, leave messages),
// the live stream, the title count and the keyboard. The conversation and the message
// box live in conversation.js and composer.js.

import { client, ApiFailure } from "./api.js";
import { h, fill, since } from "./dom.js";
import { Feed } from "./feed.js";
import { t, setLanguage, pickLanguage, language, LANGUAGES } from "./i18n.js";
import { titleFor, enableSound, chime, enableNotifications, desktop, soundEnabled } from "./notify.js";
import { Conversation } from "./conversation.js";
import { LeaveMessages } from "./leave.js";

const api = client();
const root = document.getElementById("root");
/** How often the lists are re-read besides the stream (a question served elsewhere). */
const LIST_REFRESH_MS = 15_000;
const LIST_PAGE = 50; // the API's largest page

const app = {
  me: null,
  feed: null,
  tab: "waiting",
  lists: { waiting: [], serving: [], finished: [] },
  selected: 0,
  unread: new Map(),
  opened: new Set(),
  conversation: null,
  leave: null,
  timer: null,
  els: {},
};
window.kefuConsole = app; // for the browser tests' diagnostics only

function showError(err) {
  const text = err instanceof ApiFailure ? err.message : String(err);
  fill(app.els.alert || root, text);
}

// ---- sign-in ----

function signInForm(reason = "") {
  app.feed?.stop();
  clearInterval(app.timer);
  document.title = t("title");
  const alert = h("div", { role: "alert", id: "signin-alert" }, reason);
  const servId = h("input", { id: "serv-id", name: "serv_id", autocomplete: "username", required: true, maxlength: 20 });
  const password = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { class: "primary", type: "submit" }, t("signIn"));
  const form = h(
    "form",
    {
      class: "signin",
      onsubmit: async (e) => {
        e.preventDefault();
        submit.disabled = true;
        fill(alert);
        try {
          const me = await api.post("/console/session", { serv_id: servId.value, password: password.value });
          start(me);
        } catch (err) {
          fill(alert, err instanceof ApiFailure ? err.message : t("error"));
          submit.disabled = false;
          password.select();
        }
      },
    },
    h("h1", {}, t("title")),
    h("label", { for: "serv-id" }, t("agentId")),
    servId,
    h("label", { for: "password" }, t("password")),
    password,
    submit,
    alert,
    languagePicker(() => signInForm(reason)),
  );
  fill(root, form);
  servId.focus();
}

function languagePicker(redraw) {
  const select = h(
    "select",
    { "aria-label": t("language"), onchange: () => { setLanguage(select.value, true); redraw(); } },
    LANGUAGES.map(([code, name]) => h("option", { value: code, selected: code === language() }, name)),
  );
  return select;
}

async function signOut() {
  try {
    await api.send("DELETE", "/console/session");
  } catch (err) {
    console.warn("sign-out", err);
  }
  app.me = null;
  signInForm();
}

// ---- the work ----

function start(me) {
  app.me = me;
  app.unread.clear();
  app.opened.clear();
  layout();
  app.conversation = new Conversation({ api, me, els: app.els, onChange: () => reload(), onRead: (id) => markRead(id) });
  app.leave = new LeaveMessages({ api, el: app.els.main });
  app.feed?.stop();
  app.feed = new Feed(`/v1/serv/${encodeURIComponent(me.serv_id)}/stream`, {
    onState: (state) => connection(state),
    onEvent: (e) => onEvent(e),
    onReload: () => reload(),
    onRevoked: () => signInForm(t("revoked")),
  });
  app.feed.start();
  reload();
  clearInterval(app.timer);
  app.timer = setInterval(() => reload(), LIST_REFRESH_MS);
}

function connection(state) {
  const el = app.els.conn;
  if (!el) return;
  el.className = "conn " + state;
  fill(el, t(state === "connected" ? "connected" : state === "closed" ? "revoked" : state));
}

function layout() {
  const conn = h("span", { class: "conn connecting", role: "status", "aria-live": "polite" }, t("connecting"));
  const sound = h("button", { type: "button", onclick: () => enableSound().then(() => fill(sound, t("soundEnabled"))) }, soundEnabled() ? t("soundEnabled") : t("soundOn"));
  const notify = h("button", { type: "button", onclick: () => enableNotifications().then((ok) => ok && sound.after(notify) && notify.remove()) }, t("notifyOn"));
  const tabs = h("div", { class: "tabs", role: "tablist" });
  const items = h("ul", { class: "items", role: "listbox", "aria-label": t("waiting"), tabindex: 0 });
  const main = h("section", { class: "conversation", "aria-label": t("message") }, h("p", { class: "placeholder" }, t("pick")));
  const user = h("aside", { class: "user", "aria-label": t("user") });
  const alert = h("div", { role: "alert", class: "visually-hidden" });
  app.els = { conn, tabs, items, main, user, alert };
  fill(
    root,
    h(
      "header",
      { class: "bar" },
      h("span", { class: "brand" }, t("title")),
      conn,
      sound,
      "Notification" in window && Notification.permission !== "granted" ? notify : null,
      languagePicker(() => start(app.me)),
      h("button", { type: "button", "aria-label": t("shortcuts"), onclick: () => shortcuts() }, "?"),
      h("span", {}, app.me.serv_id),
      h("button", { type: "button", onclick: () => signOut() }, t("signOut")),
    ),
    h("div", { class: "work" }, h("nav", { class: "lists", "aria-label": t("waiting") }, tabs, items), main, user),
    alert,
  );
  drawTabs();
}

function drawTabs() {
  const names = [["waiting", app.lists.waiting.length], ["serving", app.lists.serving.length], ["finished", null], ["leaveMessages", null]];
  fill(
    app.els.tabs,
    names.map(([name, n]) =>
      h(
        "button",
        { type: "button", role: "tab", "aria-selected": String(app.tab === name), onclick: () => switchTab(name) },
        t(name),
        n ? ` (${n})` : "",
      ),
    ),
  );
}

function switchTab(name) {
  app.tab = name;
  app.selected = 0;
  drawTabs();
  if (name === "leaveMessages") {
    app.conversation.close();
    app.leave.show(app.els.items);
    return;
  }
  app.leave.hide();
  drawList();
}

async function reload() {
  if (!app.me) return;
  const who = encodeURIComponent(app.me.serv_id);
  try {
    const [waiting, serving, finished] = await Promise.all([
      api.get("/v1/question/list", { sort: 1, num: LIST_PAGE }),
      api.get(`/v1/serv/${who}/tasks`, { num: LIST_PAGE }),
      api.get(`/v1/serv/${who}/overs`, { num: LIST_PAGE }),
    ]);
    app.lists = { waiting: waiting.questions, serving: serving.questions, finished: finished.questions };
  } catch (err) {
    if (err instanceof ApiFailure && [10011, 30004, 30018, 30019].includes(err.code)) return signInForm(t("revoked"));
    console.warn("reload", err);
    return;
  }
  drawTabs();
  if (app.tab !== "leaveMessages") drawList();
  app.conversation.refreshHead(find(app.conversation.id));
  updateTitle();
}

function find(id) {
  for (const list of Object.values(app.lists)) {
    const q = list.find((q) => q.question_id === id);
    if (q) return q;
  }
  return null;
}

function currentList() {
  return app.lists[app.tab] || [];
}

function drawList() {
  const list = currentList();
  const items = app.els.items;
  items.setAttribute("aria-label", t(app.tab));
  if (list.length === 0) return fill(items, h("li", { class: "placeholder", role: "option", "aria-disabled": "true" }, t("empty")));
  app.selected = Math.min(app.selected, list.length - 1);
  fill(
    items,
    list.map((q, i) => {
      const unread = app.unread.get(q.question_id) || 0;
      return h(
        "li",
        {
          role: "option",
          id: "q-" + q.question_id,
          "data-question": q.question_id,
          "aria-selected": String(i === app.selected),
          onclick: () => { app.selected = i; open(q); },
        },
        h("div", { class: "t" }, q.title),
        h(
          "div",
          { class: "meta" },
          h("span", {}, q.user_name),
          h("span", {}, since(q.timestamp, t)),
          unread ? h("span", { class: "badge", "aria-label": t("unread", { n: unread }) }, unread) : null,
        ),
      );
    }),
  );
  items.setAttribute("aria-activedescendant", "q-" + list[app.selected].question_id);
}

function open(q) {
  app.opened.add(q.question_id);
  markRead(q.question_id);
  drawList();
  app.conversation.open(q);
}

function markRead(id) {
  if (app.unread.delete(id)) drawList();
  updateTitle();
}

function updateTitle() {
  const unseen = app.lists.waiting.filter((q) => !app.opened.has(q.question_id)).length;
  let unread = 0;
  for (const n of app.unread.values()) unread += n;
  document.title = titleFor(unseen + unread);
}

function onEvent(e) {
  if (e.type === "question") {
    const q = e.data;
    if (!app.lists.waiting.some((w) => w.question_id === q.question_id)) {
      app.lists.waiting.push({ ...q, user_name: q.user_name || q.user_id, labels: [] });
    }
    chime();
    desktop(t("newQuestion", { title: q.title }));
    drawTabs();
    if (app.tab === "waiting") drawList();
    updateTitle();
    reload(); // the full item (name, avatar, labels)
  } else if (e.type === "message") {
    const m = e.data;
    const shown = app.conversation.live(m);
    if (!shown && m.sender_type === 1) {
      app.unread.set(m.question_id, (app.unread.get(m.question_id) || 0) + 1);
      if (app.tab !== "leaveMessages") drawList();
      updateTitle();
    }
    if (m.type === 4) reload(); // a state change
  }
}

// ---- keyboard ----

function typing(target) {
  return target.closest("input, textarea, select, [contenteditable]");
}

document.addEventListener("keydown", (e) => {
  if (!app.me || typing(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
  const list = currentList();
  if (e.key === "j" || e.key === "k") {
    if (list.length === 0) return;
    app.selected = Math.max(0, Math.min(list.length - 1, app.selected + (e.key === "j" ? 1 : -1)));
    drawList();
    document.getElementById("q-" + list[app.selected].question_id)?.scrollIntoView({ block: "nearest" });
    e.preventDefault();
  } else if (e.key === "Enter" && list[app.selected] && (e.target === document.body || e.target === app.els.items)) {
    open(list[app.selected]);
    e.preventDefault();
  } else if (e.key === "?") {
    shortcuts();
    e.preventDefault();
  }
});

function shortcuts() {
  const rows = [["Ctrl+Enter / ⌘+Enter", "keySend"], ["j / k", "keyMove"], ["Enter", "keyOpen"], ["/", "keySlash"], ["?", "keyHelp"]];
  const dialog = h(
    "dialog",
    { "aria-label": t("shortcuts"), onclose: () => dialog.remove() },
    h("h2", {}, t("shortcuts")),
    h("table", {}, rows.map(([keys, what]) => h("tr", {}, h("td", {}, h("kbd", {}, keys)), h("td", {}, t(what))))),
    h("form", { method: "dialog" }, h("button", { class: "primary" }, t("close"))),
  );
  document.body.append(dialog);
  dialog.showModal();
}

// ---- start ----

setLanguage(pickLanguage());
(async () => {
  try {
    start(await api.get("/console/session"));
  } catch (err) {
    signInForm();
  }
})();
