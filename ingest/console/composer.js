// The message box: text (Ctrl+Enter or ⌘+Enter sends), pictures (file picker, paste,
// drag and drop; sent with upload progress) and quick answers: "/" and words open a
// listbox of the matching answers; arrows move, Enter or a click inserts one.

import { h, fill } from "./dom.js";
import { t } from "./i18n.js";
import { asJpeg, base64Of } from "./api.js";
import { QuickAnswers } from "./answers.js";

let counter = 0;

export class Composer {
  constructor({ api, me, question, onSent, sender, senderType = 2 }) {
    Object.assign(this, { api, me, question, onSent });
    this.sender = sender || me.serv_id;
    this.senderType = senderType;
    const id = "message-" + ++counter;
    this.text = h("textarea", { id, name: "text", maxlength: 12000, "aria-autocomplete": senderType === 2 ? "list" : null });
    this.file = h("input", { id: id + "-image", type: "file", accept: "image/*", class: "visually-hidden", onchange: () => this.pickFile() });
    this.status = h("span", { class: "progress", "aria-live": "polite" });
    this.button = h("button", { type: "submit", class: "primary" }, t("send"));
    this.answers = senderType === 2 ? new QuickAnswers({ api, textarea: this.text }) : null;
    this.el = h(
      "form",
      { class: "composer", onsubmit: (e) => { e.preventDefault(); this.sendText(); } },
      h("label", { for: id, class: "visually-hidden" }, t("message")),
      this.text,
      this.button,
      h(
        "div",
        { class: "tools" },
        h("label", { for: id + "-image", class: "attach" }, h("span", { class: "visually-hidden" }, t("image")), h("span", { "aria-hidden": "true" }, "+ " + t("attach"))),
        this.file,
        this.status,
      ),
      this.answers?.el,
    );
    this.text.addEventListener("keydown", (e) => {
      if (this.answers?.keydown(e)) return;
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        this.sendText();
      }
    });
    this.text.addEventListener("paste", (e) => {
      const file = [...(e.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
      if (file) {
        e.preventDefault();
        this.sendImage(file);
      }
    });
    this.el.addEventListener("dragover", (e) => { e.preventDefault(); this.el.classList.add("dragging"); });
    this.el.addEventListener("dragleave", () => this.el.classList.remove("dragging"));
    this.el.addEventListener("drop", (e) => {
      e.preventDefault();
      this.el.classList.remove("dragging");
      const file = [...(e.dataTransfer?.files || [])][0];
      if (file) this.sendImage(file);
    });
  }

  enable(on) {
    for (const el of [this.text, this.file, this.button]) el.disabled = !on;
  }

  path(kind) {
    return `/v1/question/${this.question().question_id}/message/${kind}`;
  }

  local(id, fields) {
    return { message_id: id, sender: this.sender, sender_type: this.senderType, timestamp: Date.now() / 1000, ...fields };
  }

  async sendText() {
    const text = this.text.value;
    if (!text.trim() || this.button.disabled) return;
    this.button.disabled = true;
    fill(this.status, t("sending"));
    try {
      const r = await this.api.post(this.path("send_text"), { sender: this.sender, sender_type: this.senderType, text });
      this.text.value = "";
      fill(this.status);
      this.onSent(this.local(r.message_id, { type: 3, text }));
    } catch (err) {
      fill(this.status, err.message);
    } finally {
      this.button.disabled = false;
      this.text.focus();
    }
  }

  pickFile() {
    const file = this.file.files[0];
    this.file.value = "";
    if (file) this.sendImage(file);
  }

  async sendImage(file) {
    const jpeg = await asJpeg(file);
    if (!jpeg) return fill(this.status, t("imageOnlyJpeg"));
    const image = await base64Of(jpeg);
    fill(this.status, t("uploaded", { p: 0 }));
    try {
      const r = await this.api.upload(this.path("send_image"), { sender: this.sender, sender_type: this.senderType, image }, (p) =>
        fill(this.status, t("uploaded", { p })),
      );
      fill(this.status);
      this.onSent(this.local(r.message_id, { type: 2, image_url: r.image_url }));
    } catch (err) {
      fill(this.status, err.message);
    }
  }
}
