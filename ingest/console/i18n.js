// The console's texts in English and Chinese: Chinese for a zh* browser, English
// otherwise; the choice can be switched and is remembered.

const TEXTS = {
  en: {
    title: "Kefu",
    agentId: "Agent ID",
    password: "Password",
    signIn: "Sign in",
    signOut: "Sign out",
    signingIn: "Signing in…",
    language: "Language",
    waiting: "Waiting",
    serving: "Serving",
    finished: "Finished",
    leaveMessages: "Leave messages",
    serve: "Serve",
    quit: "Quit",
    requestFinish: "Request finish",
    finish: "Finish",
    send: "Send",
    message: "Message",
    image: "Image",
    attach: "Attach image",
    connected: "Connected",
    reconnecting: "Reconnecting…",
    connecting: "Connecting…",
    empty: "Nothing here.",
    pick: "Pick a question from a list.",
    older: "Loading older messages…",
    noMore: "The beginning of the conversation.",
    position: "Position {n} of {m}, about {w} min",
    user: "User",
    userId: "User ID",
    userName: "Name",
    devices: "Devices",
    groups: "Groups",
    pending: "pending",
    delivered: "delivered",
    failed: "failed",
    sending: "Sending…",
    uploaded: "Uploading {p}%",
    seconds: "{n} s",
    minutes: "{n} min",
    hours: "{n} h",
    unread: "{n} unread",
    shortcuts: "Keyboard shortcuts",
    close: "Close",
    soundOn: "Enable sound",
    soundEnabled: "Sound on",
    notifyOn: "Enable notifications",
    quickAnswers: "Quick answers",
    noAnswers: "No quick answer matches.",
    tag: "Tag",
    saveTag: "Save tag",
    subject: "Subject",
    contact: "Contact",
    newQuestion: "New question: {title}",
    revoked: "Your session ended; sign in again.",
    actionNote1: "Serving started",
    actionNote2: "The agent quit",
    actionNote3: "Asked to finish",
    actionNote4: "Finished",
    actionNote5: "Timed out",
    actionNote6: "Reopened by the user",
    keySend: "Send the message",
    keyMove: "Next / previous in the list",
    keyOpen: "Open the selected question",
    keyHelp: "Show this help",
    keySlash: "Quick answers (in the message box)",
    error: "Error",
    imageOnlyJpeg: "Only images can be sent.",
  },
  zh: {
    title: "Kefu",
    agentId: "客服账号",
    password: "密码",
    signIn: "登录",
    signOut: "退出登录",
    signingIn: "正在登录…",
    language: "语言",
    waiting: "待解决",
    serving: "解决中",
    finished: "已解决",
    leaveMessages: "留言",
    serve: "开始回答",
    quit: "退出回答",
    requestFinish: "请求结束",
    finish: "完成",
    send: "发送",
    message: "消息",
    image: "图片",
    attach: "添加图片",
    connected: "已连接",
    reconnecting: "正在重新连接…",
    connecting: "正在连接…",
    empty: "暂无内容。",
    pick: "从列表中选择一个问题。",
    older: "正在加载更早的消息…",
    noMore: "已到对话开头。",
    position: "排队第 {n} 位（共 {m} 位），约 {w} 分钟",
    user: "用户",
    userId: "用户ID",
    userName: "用户名",
    devices: "用户设备数",
    groups: "用户组数",
    pending: "发送中",
    delivered: "已送达",
    failed: "发送失败",
    sending: "正在发送…",
    uploaded: "上传中 {p}%",
    seconds: "{n} 秒",
    minutes: "{n} 分钟",
    hours: "{n} 小时",
    unread: "{n} 条未读",
    shortcuts: "快捷键",
    close: "关闭",
    soundOn: "开启提示音",
    soundEnabled: "提示音已开启",
    notifyOn: "开启桌面通知",
    quickAnswers: "快速回答",
    noAnswers: "没有匹配的快速回答。",
    tag: "标签",
    saveTag: "保存标签",
    subject: "主题",
    contact: "联系人",
    newQuestion: "新问题：{title}",
    revoked: "会话已结束，请重新登录。",
    actionNote1: "客服开始处理",
    actionNote2: "客服退出处理",
    actionNote3: "客服请求结束处理",
    actionNote4: "本问题已完成处理",
    actionNote5: "本问题已超时",
    actionNote6: "用户重开问题",
    keySend: "发送消息",
    keyMove: "列表中的下一个 / 上一个",
    keyOpen: "打开选中的问题",
    keyHelp: "显示本帮助",
    keySlash: "快速回答（在消息框中）",
    error: "错误",
    imageOnlyJpeg: "只能发送图片。",
  },
};

const STORE = "kefu.lang";

export function pickLanguage(languages = navigator.languages || [navigator.language]) {
  const saved = localStorage.getItem(STORE);
  if (saved && TEXTS[saved]) return saved;
  return (languages[0] || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}

let lang = "en";

export function setLanguage(next, remember = false) {
  lang = TEXTS[next] ? next : "en";
  if (remember) localStorage.setItem(STORE, lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}

export function language() {
  return lang;
}

/** t("position", {n: 1}) */
export function t(key, vars = {}) {
  const text = TEXTS[lang][key] ?? TEXTS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

export const LANGUAGES = [
  ["en", "English"],
  ["zh", "中文"],
];
