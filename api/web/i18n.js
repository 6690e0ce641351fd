// The pages' language: their texts from the message catalogue (GET /api/v1/i18n: Korean and English), times
// in the city's time zone. A person's language is the one they chose (their account's, else the one last
// chosen on this machine), else the first of their browser's languages citywatch has, else the city's.
"use strict";
const I18N = { lang: "ko", tz: "Asia/Seoul", default: "ko", languages: [], messages: {} };

async function loadI18n() {
  const c = await (await fetch("/api/v1/i18n")).json();
  Object.assign(I18N, { tz: c.timezone, default: c.default, languages: c.languages, messages: c.messages });
  const have = c.languages.map((l) => l.code);
  const browser = (navigator.languages || [navigator.language]).map((l) => l.toLowerCase().split("-")[0]).find((l) => have.includes(l));
  setLang(localStorage.getItem("cw-lang") || browser || c.default);
}

function setLang(lang) {
  I18N.lang = I18N.messages[lang] ? lang : I18N.default;
  document.documentElement.lang = I18N.lang;
  translate(document);
}

// a text by its key, its {placeholders} filled from params
function t(key, params = {}) {
  const text = I18N.messages[I18N.lang]?.[key] ?? I18N.messages[I18N.default]?.[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, k) => (params[k] ?? m));
}

// elements written in the page: data-i18n (their text), data-i18n-attr ("placeholder:key title:key")
function translate(root) {
  for (const e of root.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  for (const e of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of e.dataset.i18nAttr.split(" ")) {
      const [attr, key] = pair.split(":");
      e.setAttribute(attr, t(key));
    }
  }
}

// a time as people in the city read it: their language's format, the city's time zone
function fmtTime(at) {
  if (!at) return "—";
  return new Intl.DateTimeFormat(I18N.lang === "ko" ? "ko-KR" : "en-GB", {
    timeZone: I18N.tz, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  }).format(new Date(at));
}

// a time of day as a wall clock shows it: hours and minutes, 24-hour, in the city's time zone
function fmtClock(at) {
  return new Intl.DateTimeFormat(I18N.lang === "ko" ? "ko-KR" : "en-GB",
    { timeZone: I18N.tz, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(new Date(at));
}

// the language switch: the account keeps the choice (and this machine, for the sign-in page)
function languageSwitch(onChange) {
  const sel = document.createElement("select");
  sel.id = "lang"; sel.setAttribute("aria-label", t("lang.label"));
  for (const l of I18N.languages) {
    const o = document.createElement("option");
    o.value = l.code; o.textContent = l.name; o.selected = l.code === I18N.lang;
    sel.append(o);
  }
  sel.addEventListener("change", () => { localStorage.setItem("cw-lang", sel.value); setLang(sel.value); onChange?.(sel.value); });
  return sel;
}

// a text that counts something: key.one or key.other, as the language's plural rules say for n
function tn(key, n, params = {}) {
  const form = new Intl.PluralRules(I18N.lang).select(n);
  const k = I18N.messages[I18N.lang]?.[`${key}.${form}`] !== undefined ? `${key}.${form}` : `${key}.other`;
  return t(k, { n, ...params });
}
