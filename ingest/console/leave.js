// Leave messages (留言) of the agent's apps: listed, opened and tagged.

import { h, fill, since } from "./dom.js";
import { t } from "./i18n.js";

const PAGE = 50;
const FIELDS = ["contact", "callback", "tel", "email", "user_id", "content"];

export class LeaveMessages {
  constructor({ api, el }) {
    this.api = api;
    this.main = el;
    this.visible = false;
  }

  hide() {
    this.visible = false;
  }

  async show(list) {
    this.visible = true;
    this.list = list;
    fill(this.main, h("p", { class: "placeholder" }, t("pick")));
    try {
      const { leavemessages } = await this.api.get("/v1/leavemessages", { num: PAGE });
      if (!this.visible) return;
      list.setAttribute("aria-label", t("leaveMessages"));
      if (!leavemessages.length) return fill(list, h("li", { class: "placeholder", role: "option", "aria-disabled": "true" }, t("empty")));
      fill(
        list,
        leavemessages.map((m) =>
          h(
            "li",
            { role: "option", "aria-selected": "false", "data-leave": m.id, onclick: () => this.open(m.id) },
            h("div", { class: "t" }, m.subject || m.content.slice(0, 40)),
            h("div", { class: "meta" }, h("span", {}, m.contact), h("span", {}, since(m.create_time, t)), m.tag ? h("span", { class: "badge" }, m.tag) : null),
          ),
        ),
      );
    } catch (err) {
      fill(list, h("li", { role: "option", "aria-disabled": "true" }, err.message));
    }
  }

  async open(id) {
    const { leavemessage: m } = await this.api.get(`/v1/leavemessage/${id}`);
    const tag = h("input", { id: "leave-tag", maxlength: 45, value: m.tag });
    const note = h("span", { role: "status" });
    fill(
      this.main,
      h(
        "div",
        { class: "leave" },
        h("h2", {}, m.subject),
        h("dl", {}, FIELDS.flatMap((f) => (m[f] ? [h("dt", {}, f === "contact" ? t("contact") : f), h("dd", {}, m[f])] : []))),
        h(
          "form",
          {
            onsubmit: async (e) => {
              e.preventDefault();
              try {
                await this.api.post(`/v1/leavemessage/${id}/tag`, { tag: tag.value });
                fill(note, "✓");
                this.show(this.list);
              } catch (err) {
                fill(note, err.message);
              }
            },
          },
          h("label", { for: "leave-tag" }, t("tag"), " "),
          tag,
          " ",
          h("button", { type: "submit" }, t("saveTag")),
          " ",
          note,
        ),
      ),
    );
  }
}
