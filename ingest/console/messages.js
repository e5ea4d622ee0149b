// One message as the console shows it (also used by the demo customer's page).

import { h, clock } from "./dom.js";
import { t } from "./i18n.js";

export const TYPE = { audio: 1, image: 2, text: 3, note: 4 };

/** The delivery state line of a message delivered to the user's IM. */
export function deliveryText(delivery) {
  if (!delivery) return "";
  const state = t(delivery.state);
  return delivery.state === "failed" && delivery.last_error ? `${state}: ${delivery.last_error}` : state;
}

/** `mine`: whether the message is on this page's side (right-aligned). */
export function messageEl(m, mine) {
  if (m.type === TYPE.note) {
    return h("div", { class: "msg note", "data-message": m.message_id }, t("actionNote" + m.action), " · ", clock(m.timestamp));
  }
  let body;
  if (m.type === TYPE.image) body = h("img", { src: m.image_url, alt: t("image"), loading: "lazy" });
  else if (m.type === TYPE.audio) body = h("audio", { controls: true, preload: "none", src: m.audio_url, "aria-label": `${m.audio_len || ""} s` });
  else body = h("div", { class: "text" }, m.text);
  const state = h("div", { class: "state" + (m.delivery?.state === "failed" ? " failed" : ""), "data-state": m.delivery?.state || "" }, deliveryText(m.delivery));
  return h(
    "div",
    { class: "msg" + (mine ? " mine" : ""), "data-message": m.message_id },
    h("div", { class: "who" }, m.sender, " · ", clock(m.timestamp)),
    body,
    mine ? state : null,
  );
}

/** Updates a shown message's delivery state in place. */
export function updateDelivery(el, delivery) {
  const state = el.querySelector(".state");
  if (!state || !delivery) return;
  state.className = "state" + (delivery.state === "failed" ? " failed" : "");
  state.dataset.state = delivery.state;
  state.textContent = deliveryText(delivery);
}

/** Puts a message element into `log` after every message not later than `timestamp`
 * (live messages can arrive out of order: the stream races the send's answer). */
export function placeByTime(log, el, timestamp) {
  el.dataset.ts = timestamp;
  let after = log.lastElementChild;
  while (after && after.dataset.ts && Number(after.dataset.ts) > timestamp) after = after.previousElementSibling;
  if (after) after.after(el);
  else log.prepend(el);
}
