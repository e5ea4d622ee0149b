// Quick answers in the message box: typing "/" and words lists the matching items of
// the agent's templates (the templates' own search, `q`) as an ARIA listbox.

import { h, fill } from "./dom.js";
import { t } from "./i18n.js";

const MAX_SHOWN = 20;
let counter = 0;

/** The words after a leading "/", or null when the box is not a quick-answer search. */
export function slashQuery(text) {
  const m = /^\/(.{0,100})$/s.exec(text);
  return m ? m[1].trim() : null;
}

export class QuickAnswers {
  constructor({ api, textarea }) {
    this.api = api;
    this.textarea = textarea;
    this.id = "answers-" + ++counter;
    this.items = [];
    this.active = -1;
    this.templates = null;
    this.asked = 0;
    this.el = h("ul", { id: this.id, role: "listbox", class: "answers", "aria-label": t("quickAnswers"), hidden: true });
    textarea.setAttribute("aria-controls", this.id);
    textarea.setAttribute("aria-expanded", "false");
    textarea.addEventListener("input", () => this.search());
  }

  async search() {
    const q = slashQuery(this.textarea.value);
    if (q === null) return this.close();
    const ticket = ++this.asked;
    try {
      this.templates ??= (await this.api.get("/v1/answer/templates")).templates;
      const pages = await Promise.all(
        this.templates.map((tpl) => this.api.get(`/v1/answer/template/${tpl.template_id}`, { q, num: MAX_SHOWN, sort: 1 })),
      );
      if (ticket !== this.asked) return; // a newer search is under way
      this.show(pages.flatMap((p) => p.items).slice(0, MAX_SHOWN));
    } catch (err) {
      console.warn("quick answers", err);
    }
  }

  show(items) {
    this.items = items;
    this.active = items.length ? 0 : -1;
    this.el.hidden = false;
    this.textarea.setAttribute("aria-expanded", "true");
    if (!items.length) {
      fill(this.el, h("li", { role: "option", "aria-disabled": "true", "aria-selected": "false" }, t("noAnswers")));
      this.textarea.removeAttribute("aria-activedescendant");
      return;
    }
    fill(
      this.el,
      items.map((item, i) =>
        h(
          "li",
          {
            role: "option",
            id: `${this.id}-${i}`,
            "aria-selected": String(i === this.active),
            onmousedown: (e) => e.preventDefault(), // keep the focus in the box
            onclick: () => this.insert(i),
          },
          h("div", { class: "q" }, item.question),
          h("div", {}, item.content),
        ),
      ),
    );
    this.mark();
  }

  mark() {
    [...this.el.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === this.active)));
    if (this.active >= 0) {
      this.textarea.setAttribute("aria-activedescendant", `${this.id}-${this.active}`);
      this.el.children[this.active]?.scrollIntoView({ block: "nearest" });
    }
  }

  close() {
    this.items = [];
    this.active = -1;
    this.el.hidden = true;
    this.textarea.setAttribute("aria-expanded", "false");
    this.textarea.removeAttribute("aria-activedescendant");
  }

  insert(i) {
    const item = this.items[i];
    if (!item) return;
    this.textarea.value = item.content;
    this.close();
    this.textarea.focus();
    this.textarea.setSelectionRange(item.content.length, item.content.length);
  }

  /** Handles a key in the box while the list is open; true when it was the list's. */
  keydown(e) {
    if (this.el.hidden) return false;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      if (!this.items.length) return true;
      const step = e.key === "ArrowDown" ? 1 : -1;
      this.active = (this.active + step + this.items.length) % this.items.length;
      this.mark();
    } else if (e.key === "Enter" && !e.ctrlKey && !e.metaKey && this.active >= 0) {
      this.insert(this.active);
    } else if (e.key === "Escape") {
      this.close();
    } else {
      return false;
    }
    e.preventDefault();
    return true;
  }
}
