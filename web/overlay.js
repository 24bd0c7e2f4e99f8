// Caption overlay for OBS: one URL is the whole setup; every style is a URL parameter.
import { CaptionBook, Listener } from "./listener.js";
import { api } from "./room.js";

const params = new URLSearchParams(location.search);
const get = (name, fallback) => params.get(name) ?? fallback;
const options = {
  lang: get("lang", null),
  lines: Math.max(1, Number(get("lines", 2))),
  fontSize: get("fontSize", "42"),
  font: get("font", null),
  color: get("color", "#ffffff"),
  bg: get("bg", "rgba(0,0,0,0.55)"),
  outline: Number(get("outline", 2)),
  position: get("position", "bottom"),
  align: get("align", "center"),
  fade: Number(get("fade", 8)),
  showOriginal: ["1", "true", "yes"].includes(get("showOriginal", "0")),
  showLang: ["1", "true", "yes"].includes(get("showLang", "0")),
  width: get("width", "90"),
};

const root = document.documentElement.style;
root.setProperty("--size", /^\d+(\.\d+)?$/.test(options.fontSize) ? `${options.fontSize}px` : options.fontSize);
if (options.font) root.setProperty("--font", options.font);
root.setProperty("--color", options.color);
root.setProperty("--bg", options.bg);
root.setProperty("--align", options.align);
if (options.align === "left") root.setProperty("--original-left", "0");
if (options.align === "right") root.setProperty("--original-right", "0");
root.setProperty("--justify", options.position === "top" ? "flex-start" : "flex-end");
root.setProperty("--width", /^\d+$/.test(options.width) ? `${options.width}%` : options.width);
if (options.outline > 0) {
  const o = options.outline;
  root.setProperty("--outline-shadow",
    `${o}px ${o}px 0 #000, -${o}px ${o}px 0 #000, ${o}px -${o}px 0 #000, -${o}px -${o}px 0 #000`);
}

const book = new CaptionBook(options.lines, (c) => c.text);
const box = document.getElementById("captions");
const updatedAt = new Map();

const lines = new Map(); // caption id → its line, kept while shown: updated in place, never rebuilt

function lineFor(c) {
  let line = lines.get(c.id);
  if (!line) {
    line = document.createElement("div");
    line.className = "line";
    line.dataset.id = c.id;
    lines.set(c.id, line);
  }
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = c.text;
  if (options.showLang && c.source_lang) {
    // The language the speaker spoke: on a floor of several, viewers see who switched.
    const tag = document.createElement("span");
    tag.className = "lang";
    tag.textContent = c.source_lang.toUpperCase();
    text.prepend(tag, " ");
  }
  const parts = [text];
  if (options.showOriginal && c.source_text) {
    const original = document.createElement("span");
    original.className = "original text";
    original.textContent = c.source_text;
    parts.push(original);
  }
  const html = parts.map((part) => part.outerHTML).join("");
  if (line.innerHTML !== html) line.replaceChildren(...parts);
  return line;
}

function render() {
  const now = Date.now();
  const shown = book.list().filter((c) => c.text);
  const wanted = shown.map((c) => {
    const line = lineFor(c);
    const faded = options.fade > 0 && now - (updatedAt.get(c.id) ?? now) > options.fade * 1000;
    line.classList.toggle("hidden", faded);
    return line;
  });
  for (const [id, line] of lines) if (!wanted.includes(line)) lines.delete(id);
  const current = [...box.children];
  if (current.length !== wanted.length || current.some((line, i) => line !== wanted[i])) box.replaceChildren(...wanted);
}

function notice(text) {
  const box = document.getElementById("notice");
  box.textContent = text;
  box.hidden = !text;
}

function update(caption) {
  book.set(caption);
  updatedAt.set(caption.id, Date.now());
  requestAnimationFrame(render);
}

async function firstLanguage() {
  const info = await (await fetch(api("/languages"))).json();
  return info.targets[0].code;
}

async function start() {
  let lang = options.lang;
  while (!lang) {
    try { lang = await firstLanguage(); } catch (_) { await new Promise((r) => setTimeout(r, 2000)); }
  }
  new Listener({
    lang, audio: false, role: "overlay",
    // A language not offered would leave a transparent overlay: the streamer would see nothing
    // and could not tell why. Say it, on the overlay.
    onConnection: (state, detail) => notice(state === "gone" ? `Caption overlay: ${detail}` : ""),
    // Recent captions in the hello are history: shown only if still within the fade time.
    onHello: (hello) => { for (const c of hello.captions) { book.set(c); if (!updatedAt.has(c.id)) updatedAt.set(c.id, 0); } render(); },
    onCaption: update,
  });
}

if (options.fade > 0) setInterval(render, 500);
start();
