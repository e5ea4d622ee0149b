// What tells the agent something happened while looking elsewhere: the count at the
// start of the tab title, a sound (after one click: browsers block sound before a
// gesture) and desktop notifications when permitted.

import { t } from "./i18n.js";

let audio = null;

export function titleFor(count) {
  return count > 0 ? `(${count}) ${t("title")}` : t("title");
}

export function enableSound() {
  audio = audio || new AudioContext();
  return audio.resume().then(() => true);
}

export function soundEnabled() {
  return audio !== null && audio.state === "running";
}

export function chime() {
  if (!soundEnabled()) return;
  const osc = audio.createOscillator();
  const gain = audio.createGain();
  osc.frequency.value = 880;
  gain.gain.setValueAtTime(0.15, audio.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.4);
  osc.connect(gain).connect(audio.destination);
  osc.start();
  osc.stop(audio.currentTime + 0.4);
}

export function canNotify() {
  return "Notification" in window && Notification.permission === "granted";
}

export async function enableNotifications() {
  if (!("Notification" in window)) return false;
  return (await Notification.requestPermission()) === "granted";
}

export function desktop(text) {
  if (canNotify() && document.hidden) new Notification(t("title"), { body: text });
}
