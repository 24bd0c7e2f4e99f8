// The room screen: two or three languages' captions at once, large, for people in the hall without
// a phone. Which languages is the link's: /screen?langs=es,fr (each screen its own link);
// layout=rows stacks them; lines=N; qr=1 puts the room's QR code in a corner. No audio.
import { CaptionBook, Listener } from "./listener.js";
import { api, room } from "./room.js";
import { t } from "./strings.js";

const params = new URLSearchParams(location.search);
const lines = Math.max(1, Math.min(12, Number(params.get("lines") || 4)));
const main = document.getElementById("languages");
if (params.get("layout") === "rows") main.classList.add("rows");

let sourceCode = "en";

function column(target) {
  const section = document.createElement("section");
  section.className = "language";
  const lang = target.code === "original" ? sourceCode : target.code;
  section.lang = lang;
  section.dir = lang === "ar" ? "rtl" : "ltr";
  const title = document.createElement("h2");
  const ai = document.createElement("span");
  ai.className = "ai";
  // The label the AI Act asks of machine interpretation; the speaker's own words need none.
  ai.textContent = target.code === "original" ? "" : t(lang, "ai");
  title.append(target.native, ai);
  const box = document.createElement("div");
  box.className = "lines";
  box.setAttribute("aria-live", "polite");
  // An accepted question from the audience: above the captions, never among them.
  const question = document.createElement("aside");
  question.className = "question";
  question.hidden = true;
  section.append(title, question, box);
  const showQuestion = (asked) => {
    const label = document.createElement("span");
    label.className = "question-label";
    label.textContent = t(lang, "question");
    const text = document.createElement("span");
    text.lang = asked.lang;
    text.textContent = asked.text;
    question.replaceChildren(label, text);
    question.hidden = false;
  };
  main.append(section);
  // The newest lines, a partial one last while it is spoken; each line updated in place.
  const book = new CaptionBook(lines, (c) => c.text);
  const shown = new Map();
  const render = () => {
    const wanted = book.list().filter((c) => c.text).map((c) => {
      const p = shown.get(c.id) || document.createElement("p");
      shown.set(c.id, p);
      p.dataset.id = c.id;
      p.classList.toggle("partial", !c.final);
      p.classList.toggle("corrected", Boolean(c.corrected));
      if (c.corrected) p.dataset.corrected = t(lang, "corrected");
      if (p.textContent !== c.text) p.textContent = c.text;
      return p;
    });
    for (const [id, p] of shown) if (!wanted.includes(p)) shown.delete(id);
    const current = [...box.children];
    if (current.length !== wanted.length || current.some((p, i) => p !== wanted[i])) box.replaceChildren(...wanted);
  };
  new Listener({
    lang: target.code, audio: false, role: "screen",
    onHello: (hello) => {
      book.reset(hello.captions);
      render();
      if (hello.question) showQuestion(hello.question);
    },
    onCaption: (caption) => { book.set(caption); requestAnimationFrame(render); },
    onQuestion: showQuestion,
  });
}

async function start() {
  let info = null;
  while (!info) {
    try { info = await (await fetch(api("/languages"))).json(); } catch (_) { await new Promise((r) => setTimeout(r, 2000)); }
  }
  // The Original: what the speaker says, for a bilingual screen (langs=original,es).
  const original = { code: "original", native: info.source.native };
  sourceCode = info.source.code;
  const offered = new Map([...info.targets, original].map((target) => [target.code, target]));
  const asked = (params.get("langs") || "").split(",").map((code) => code.trim()).filter((code) => offered.has(code));
  const chosen = asked.length ? asked : [...offered.keys()].slice(0, 2);
  for (const code of chosen.slice(0, 3)) column(offered.get(code));
  document.title = `${info.event_name} · ${chosen.map((code) => offered.get(code).native).join(" · ")}`;
  if (["1", "true", "yes"].includes(params.get("qr") || "")) {
    document.getElementById("qr").src = room ? `/r/${encodeURIComponent(room)}/qr.svg` : "/qr.svg";
    document.getElementById("join-url").textContent = info.room.name;
    document.getElementById("join").hidden = false;
  }
}

start();
