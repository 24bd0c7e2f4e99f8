// The operator console: the input, each language's state and lag, the latest captions side by side,
// the URLs to hand out and the talks' transcripts. The operator token comes in the page's URL.
import { Listener } from "./listener.js";

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get("token") || "";
const headers = { "X-Operator-Token": token };
const captions = new Map(); // lang → Map(caption id → caption); engines number utterances per language
let languages = [];
let muted = false;

async function getJson(path) {
  const response = await fetch(path, { headers });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
}

function renderStatus(status) {
  const input = status.input;
  $("input-description").textContent = input.description;
  $("input-state").textContent = input.muted ? `${input.state} (muted)` : input.state;
  $("level").value = Math.max(-60, input.level_dbfs);
  $("level-db").textContent = `${input.level_dbfs.toFixed(0)} dBFS`;
  muted = input.muted;
  $("mute").textContent = muted ? "Unmute" : "Mute";
  $("mute").setAttribute("aria-pressed", String(muted));
  const body = $("languages").tBodies[0];
  body.replaceChildren();
  for (const lang of status.languages) {
    const row = body.insertRow();
    row.dataset.lang = lang.code;
    cell(row, `${lang.native} (${lang.code})`);
    cell(row, lang.detail ? `${lang.state}: ${lang.detail}` : lang.state, `state-${lang.state}`);
    cell(row, lang.lag_s == null ? "–" : `${lang.lag_s.toFixed(2)} s`);
    cell(row, String(lang.listeners));
  }
  const ready = status.languages.every((l) => l.state === "ready");
  $("health").textContent = ready ? "● All languages live" : "Attention";
  $("health").className = `badge state-${ready ? "live" : "reconnecting"}`;
  $("unreachable").hidden = status.urls.reachable_by_phones;
  $("urls").replaceChildren(...[
    ["Audience", status.urls.audience], ["Join (QR code)", status.urls.join],
    ...Object.entries(status.urls.overlays).map(([lang, url]) => [`Overlay ${lang}`, url]),
  ].map(([label, url]) => {
    const item = document.createElement("li");
    const code = document.createElement("code");
    code.textContent = url;
    item.append(`${label}: `, code);
    return item;
  }));
}

function renderCaptions() {
  $("captions").replaceChildren(...languages.map((lang) => {
    const column = document.createElement("div");
    column.dataset.lang = lang;
    const title = document.createElement("h3");
    title.textContent = lang;
    const list = document.createElement("ol");
    const latest = [...(captions.get(lang) || new Map()).values()].sort((a, b) => b.id - a.id).slice(0, 6);
    list.replaceChildren(...latest.map((caption) => {
      const item = document.createElement("li");
      const source = document.createElement("span");
      source.className = "source";
      source.textContent = caption.source_text;
      const text = document.createElement("span");
      text.className = "translation";
      text.textContent = caption.text;
      item.append(source, text);
      return item;
    }));
    column.append(title, list);
    return column;
  }));
}

async function renderTalks() {
  const talks = await getJson("/api/talks");
  $("talks").replaceChildren(...talks.map((talk) => {
    const item = document.createElement("li");
    item.append(`${talk.id} · ${talk.event_name} · `);
    for (const [lang, formats] of Object.entries(talk.exports)) {
      for (const [format, url] of Object.entries(formats)) {
        const link = document.createElement("a");
        link.href = `${url}&token=${encodeURIComponent(token)}`;
        link.textContent = `${lang}.${format}`;
        item.append(link, " ");
      }
    }
    return item;
  }));
}

function follow(lang) {
  new Listener({
    lang, audio: false, codec: "pcm",
    onHello: (hello) => { for (const c of hello.captions) onCaption(c); },
    onCaption,
  });
}

function onCaption(caption) {
  if (!caption.final) return;
  const kept = captions.get(caption.lang) || new Map();
  kept.set(caption.id, caption);
  while (kept.size > 20) kept.delete(Math.min(...kept.keys()));
  captions.set(caption.lang, kept);
  renderCaptions();
}

$("mute").addEventListener("click", async () => {
  await fetch("/api/input", {
    method: "POST", headers: { ...headers, "Content-Type": "application/json" },
    body: JSON.stringify({ muted: !muted }),
  });
  renderStatus(await getJson("/api/status"));
});

async function start() {
  const status = await getJson("/api/status");
  languages = status.languages.map((l) => l.code);
  renderStatus(status);
  renderCaptions();
  languages.forEach(follow);
  renderTalks();
  setInterval(async () => renderStatus(await getJson("/api/status")), 1000);
  setInterval(renderTalks, 10000);
}

start();
