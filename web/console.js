// The operator console: every room at a glance (its state, input and languages; start and stop),
// and one room in detail: the input (level, mute, pause), each language's state and lags, languages
// added and removed, the glossary, the latest captions side by side, the URLs to hand out and the
// talks' transcripts. The page holds nothing secret: everything it shows comes from endpoints that
// need the operator token, which it takes from the sign-in form or the URL's fragment
// (console#token=…, never sent to the server), keeps in this tab's sessionStorage and sends as a
// header. The fragment is cleared from the address bar at once: no history, bookmark or screen
// share keeps it.
import { Listener } from "./listener.js";
import { Player, preferredCodec } from "./player.js";
import { api } from "./room.js";
import { showTurn } from "./turn.js";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "operator-token";
const fragment = new URLSearchParams(location.hash.slice(1)).get("token");
if (fragment) {
  sessionStorage.setItem(TOKEN_KEY, fragment);
  history.replaceState(null, "", location.pathname);
}
const headers = { "X-Operator-Token": sessionStorage.getItem(TOKEN_KEY) || "" };
const captions = new Map(); // lang → Map(caption id → caption); engines number utterances per language
const followed = new Map(); // lang → Listener
let languages = [];
let input = { muted: false, paused: false };
let glossaryRows = []; // [{ term, keep, translations: { lang: text } }]
let lastWarning = ""; // what the last change would cost, when the server warns of it
let current = null; // the room shown in detail
const path = (endpoint) => api(endpoint, current);

// A refused token sends the operator back to the sign-in form, with the server's reason.
class SignInNeeded extends Error {}

async function authorized(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...headers, ...options.headers } });
  if (response.status === 401 || response.status === 429) {
    const reason = response.status === 429 ? await response.text() : "That token was not accepted.";
    signIn(headers["X-Operator-Token"] ? reason : "");
    throw new SignInNeeded(reason);
  }
  return response;
}

async function getJson(path) {
  const response = await authorized(path);
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

// A request that changes something; resolves to the response's JSON, or throws with the server's words.
async function send(method, path, body) {
  const response = await authorized(path, {
    method, headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.detail || `${response.status}`);
  lastWarning = response.headers.get("X-Glossary-Warning") || "";
  return answer;
}

const seconds = (value) => (value == null ? "–" : `${value.toFixed(2)} s`);
const quantiles = (lag) => (lag && lag.n ? `${seconds(lag.p50)} / ${seconds(lag.p95)}` : "–");

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
}

// On a phone a table's rows are cards (console.css): each cell says which column it is.
function labelCells(table) {
  const titles = [...table.tHead.rows[0].cells].map((th) => th.textContent);
  for (const row of table.tBodies[0].rows) {
    [...row.cells].forEach((td, index) => { td.dataset.label = titles[index] ?? ""; });
  }
}

// The operator listens to one language at a time from the console, as the audience hears it (its
// connection is the console's: not counted as a listener).
const [monitorCodec] = await preferredCodec();
const monitorPlayer = new Player();
let monitor = null; // { lang, listener }
window.__monitorStats = () => (monitor ? { lang: monitor.lang, ...monitorPlayer.stats } : null);

async function toggleMonitor(code) {
  const previous = monitor?.lang;
  if (monitor) {
    monitor.listener.close();
    await monitorPlayer.stop();
    monitor = null;
  }
  if (previous !== code) {
    await monitorPlayer.start(1);
    const listener = new Listener({
      lang: code, audio: true, codec: monitorCodec, role: "console", room: current,
      onAudio: (payload, utterance, frameCodec, end) => {
        if (monitorPlayer.running) monitorPlayer.push(payload, utterance, frameCodec, end);
      },
    });
    monitor = { lang: code, listener };
  }
  renderStatus(await getJson(path("/status")));
}

// The light at the top: the worst of the input, the controls and the languages, with the reason.
// Red: something has stopped; amber: the audience hears nothing new for a reason; green: live.
function health(status) {
  const input = status.input;
  if (status.state === "failed") return ["red", `Room failed: ${status.detail}`];
  if (status.state !== "running") return ["amber", `Room ${status.state}${status.detail ? `: ${status.detail}` : ""}`];
  const named = (l) => `${l.native} ${l.state}${l.detail ? `: ${l.detail}` : ""}`;
  // Stalled: speech went in and nothing came out, even after its interpreter was restarted.
  const failed = status.languages.filter((l) => l.state === "failed" || l.state === "stalled");
  if (input.state === "failed" || input.state === "stalled") {
    return ["red", `Input ${input.state}${input.detail ? `: ${input.detail}` : ""}`];
  }
  if (failed.length) return ["red", failed.map(named).join(" · ")];
  if (input.paused) return ["amber", "Paused: listeners are told the talk resumes shortly"];
  if (input.muted) return ["amber", "Microphone muted"];
  if (input.state === "ended") return ["amber", "The input has ended"];
  if (input.failover?.active === "backup") return ["amber", `The backup input carries the talk (primary: ${input.failover.primary})`];
  if (input.silent) return ["amber", `No sound from the input for ${Math.round(input.silent_s)} s`];
  const waiting = status.languages.filter((l) => l.state !== "ready");
  if (waiting.length) return ["amber", waiting.map(named).join(" · ")];
  return ["green", `● Live: the input and ${status.languages.length} language(s)`];
}

function renderStatus(status) {
  $("room-title").textContent = status.room.name;
  const source = status.input;
  $("input-description").textContent = source.description;
  const flags = [source.muted && "muted", source.paused && "paused"].filter(Boolean);
  const net = source.network;
  const shown = [source.detail ? `${source.state}: ${source.detail}` : source.state,
    source.delay_s >= 0.01 && `delay ${source.delay_s.toFixed(2)} s`,
    net && `buffer ${net.buffered_s.toFixed(2)} s, ${net.gaps} gap(s), ${net.dropped_s.toFixed(1)} s lost to bursts`,
  ].filter(Boolean).join(" · ");
  $("input-state").textContent = flags.length ? `${shown} (${flags.join(", ")})` : shown;
  $("level").value = Math.max(-60, source.level_dbfs);
  $("level-db").textContent = `${source.level_dbfs.toFixed(0)} dBFS`;
  setInput(source);
  renderInputs(source.failover);
  showTurn($("turn"), status.turn);
  const transcript = status.transcript;
  $("transcript").textContent = transcript.state === "failing"
    ? `failing: ${transcript.detail} (retrying; ${transcript.pending} caption(s) waiting, ${transcript.dropped} lost)`
    : transcript.state;
  $("transcript").className = transcript.state === "failing" ? "warning" : "";
  const body = $("languages").tBodies[0];
  body.replaceChildren();
  for (const lang of status.languages) {
    const row = body.insertRow();
    row.dataset.lang = lang.code;
    cell(row, `${lang.native} (${lang.code})`);
    cell(row, lang.engine ?? "–");
    if (lang.models) row.cells[row.cells.length - 1].title = lang.models;
    cell(row, lang.detail ? `${lang.state}: ${lang.detail}` : lang.state, `state-${lang.state}`);
    if (lang.stalls) row.cells[row.cells.length - 1].title = `${lang.stalls} stall(s); the last: ${lang.last_stall}`;
    cell(row, seconds(lang.lag_s));
    cell(row, quantiles(lang.lags?.audio));
    cell(row, quantiles(lang.lags?.caption));
    cell(row, lang.tokens_per_minute == null ? "–" : String(lang.tokens_per_minute));
    cell(row, String(lang.listeners));
    cell(row, missedOf(lang.fidelity), lang.fidelity && missedCount(lang.fidelity) ? "missed" : "");
    cell(row, lang.behind_s == null ? "–" : `${lang.behind_s.toFixed(1)} s${lang.tempo > 1 ? ` · ${lang.tempo}×` : ""}`);
    const hear = document.createElement("button");
    hear.type = "button";
    hear.textContent = monitor?.lang === lang.code ? "Stop listening" : "Listen";
    hear.setAttribute("aria-pressed", String(monitor?.lang === lang.code));
    hear.setAttribute("aria-label", `Listen to ${lang.native}`);
    hear.addEventListener("click", () => toggleMonitor(lang.code));
    const tone = document.createElement("button");
    tone.type = "button";
    tone.textContent = "Test tone";
    tone.setAttribute("aria-label", `Send a test tone to ${lang.native}`);
    tone.addEventListener("click", () => send("POST", path(`/languages/${encodeURIComponent(lang.code)}/tone`)));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", `Remove ${lang.native}`);
    remove.disabled = status.languages.length === 1;
    remove.addEventListener("click", () => removeLanguage(lang));
    const actions = row.insertCell();
    actions.className = "actions";
    actions.append(hear, tone, remove);
  }
  labelCells($("languages"));
  const addable = $("addable");
  const chosen = addable.value;
  addable.replaceChildren(...status.addable.map((l) => new Option(`${l.native} (${l.name})`, l.code)));
  if (status.addable.some((l) => l.code === chosen)) addable.value = chosen;
  $("add-language").hidden = status.addable.length === 0;
  followLanguages(status.languages.map((l) => l.code));
  const [colour, words] = health(status);
  $("health").textContent = words;
  $("health").className = `badge health-${colour}`;
  document.title = `${colour === "red" ? "⚠ " : ""}Console · ${status.room.name}`;
  $("unreachable").hidden = status.urls.reachable_by_phones;
  $("urls").replaceChildren(...[
    ["Audience", status.urls.audience], ["Join (QR code)", status.urls.join],
    ...Object.entries(status.urls.overlays).map(([lang, url]) => [`Overlay ${lang} (OBS browser source)`, url]),
    ...Object.entries(status.urls.streams).map(([lang, url]) => [`Audio ${lang} (OBS media source)`, url]),
    ...(status.urls.hls ? [["HLS, every language (players, CDNs)", status.urls.hls],
                           ["Watch page (HLS in the browser)", status.urls.watch]] : []),
  ].map(([label, url]) => {
    const item = document.createElement("li");
    const code = document.createElement("code");
    code.textContent = url;
    item.append(`${label}: `, code);
    return item;
  }));
  $("outputs").textContent = status.outputs.map(outputWords).join(" · ");
}

// "Recording: writing (12.4 MB)", "HLS: stopped: No space left on device".
const OUTPUT_NAMES = { hls: "HLS", recording: "Recording", zoom: "Zoom captions", youtube: "YouTube captions",
                       push: "Pushed stream", stream: "HTTP streams", sse: "Caption events (SSE)" };

function outputWords(output) {
  const name = OUTPUT_NAMES[output.name] || output.name;
  const size = output.written ? ` (${(output.written / 1e6).toFixed(1)} MB)` : "";
  return `${name}: ${output.state}${size}${output.detail ? `: ${output.detail}` : ""}`;
}

// What the language's captions lost of the numbers, names and terms said: "1 of 12 numbers".
function missedCount(f) {
  return f.numbers_missed + f.names_missed + f.terms_missed;
}

function missedOf(f) {
  if (!f || !(f.numbers + f.names + f.terms)) return "–";
  const parts = [["numbers", f.numbers, f.numbers_missed], ["names", f.names, f.names_missed],
    ["terms", f.terms, f.terms_missed]].filter(([, said]) => said);
  return parts.map(([kind, said, lost]) => `${lost} of ${said} ${kind}`).join(", ");
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
      if (caption.continues) item.classList.add("continues");
      if (caption.corrected) text.classList.add("corrected");
      for (const miss of caption.misses || []) {
        const flag = document.createElement("span");
        flag.className = "miss";
        flag.textContent = miss;
        item.append(flag);
      }
      if (lang !== "original") {
        // A misheard name or a wrong number, put right for every listener.
        const fix = document.createElement("button");
        fix.type = "button";
        fix.textContent = "Correct";
        fix.setAttribute("aria-label", `Correct ${lang} caption ${caption.id}`);
        fix.addEventListener("click", () => startCorrection(lang, caption));
        item.append(fix);
      }
      return item;
    }));
    column.append(title, list);
    return column;
  }));
}

// The correction form stands apart from the captions' lists, which are drawn again as they come.
let correcting = null; // { lang, id }

function startCorrection(lang, caption) {
  correcting = { lang, id: caption.id };
  $("correction-which").textContent = `${caption.id} (${lang})`;
  $("correction-text").value = caption.text;
  $("correction-status").textContent = "";
  $("correction").hidden = false;
  $("correction-text").focus();
}

$("correction-cancel").addEventListener("click", () => { correcting = null; $("correction").hidden = true; });
$("correction").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!correcting) return;
  const { lang, id } = correcting;
  try {
    const sent = await send("POST", path(`/languages/${encodeURIComponent(lang)}/captions/${id}`),
                            { text: $("correction-text").value });
    onCaption(sent);
    correcting = null;
    $("correction").hidden = true;
    $("correction-status").textContent = "";
  } catch (error) {
    $("correction-status").textContent = `Not sent: ${error.message}`;
  }
});

// An export fetched with the token in a header, then saved: a link carrying it would leak it.
async function download(url, name) {
  const response = await authorized(url);
  if (!response.ok) return;
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

async function renderTalks() {
  const talks = await getJson(path("/transcripts"));
  $("talks").replaceChildren(...talks.map((talk) => {
    const item = document.createElement("li");
    item.append(`${talk.id} · ${talk.event_name} · `);
    if (talk.running) {
      const now = document.createElement("strong");
      now.className = "running";
      now.textContent = "running now (exports so far)";
      item.append(now, " · ");
    }
    if (talk.rehearsal) item.append("rehearsal · ");
    for (const [lang, formats] of Object.entries(talk.exports)) {
      for (const [format, url] of Object.entries(formats)) {
        const link = document.createElement("a");
        link.href = url;
        link.textContent = `${lang === "original" ? "Original" : lang}.${format}`;
        link.addEventListener("click", (event) => { event.preventDefault(); download(url, `${talk.id}.${lang}.${format}`); });
        item.append(link, " ");
      }
    }
    const whole = document.createElement("a");
    whole.href = talk.bundle;
    whole.textContent = "everything (.zip)";
    whole.addEventListener("click", (event) => { event.preventDefault(); download(talk.bundle, `${talk.id}.zip`); });
    const report = document.createElement("button");
    report.type = "button";
    report.textContent = "Report";
    report.setAttribute("aria-label", `Report of talk ${talk.id}`);
    report.addEventListener("click", () => showReport(talk.id));
    const summarize = document.createElement("button");
    summarize.type = "button";
    summarize.textContent = talk.summaries ? "Summaries" : "Summarise";
    summarize.setAttribute("aria-label", `Summaries of talk ${talk.id}`);
    summarize.addEventListener("click", () => showSummaries(talk));
    item.append(whole, " ", report, " ", summarize);
    return item;
  }));
}

// A talk's summaries, one per language, made on demand by the chat deployment (marked AI-generated).
async function showSummaries(talk) {
  const url = `/api/summaries/${encodeURIComponent(talk.id)}`;
  $("summaries").hidden = false;
  $("summaries-title").textContent = `Summaries of talk ${talk.id}`;
  $("summaries-notice").textContent = talk.summaries ? "" : "Summarising…";
  $("summaries-list").replaceChildren();
  const response = await authorized(url, talk.summaries ? {} : { method: "POST" });
  const answer = await response.json();
  if (!response.ok) {
    $("summaries-notice").textContent = `No summaries: ${answer.detail || response.status}`;
    return;
  }
  $("summaries-notice").textContent = `${answer.notice} (${answer.model})`;
  $("summaries-list").replaceChildren(...answer.languages.map((summary) => {
    const term = document.createElement("dt");
    term.textContent = summary.lang === "original" ? "Original" : summary.lang;
    const text = document.createElement("dd");
    text.textContent = summary.text;
    text.lang = summary.lang === "original" ? "" : summary.lang;
    return [term, text];
  }).flat());
  renderTalks();
}

// The report of a talk: listeners per channel over time (a line each), and what each language cost.
const CHART = { width: 640, height: 180, pad: 28 };
const LINE_COLOURS = ["#58a6ff", "#3fb950", "#d29922", "#f85149", "#bc8cff", "#39c5cf", "#ff7b72", "#e3b341"];

async function showReport(talkId) {
  const report = await getJson(path(`/report?talk=${encodeURIComponent(talkId)}`));
  $("report-title").textContent = `Report of talk ${report.talk} (${(report.duration_s / 60).toFixed(1)} min, ` +
    `~$${report.cost_usd.toFixed(2)} at list prices, ${report.corrections} correction(s))`;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${CHART.width} ${CHART.height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Listeners per channel over the talk");
  const times = report.timeline.map((point) => point.at_s);
  const last = Math.max(1, ...times);
  const peak = Math.max(1, ...report.channels.map((channel) => channel.peak));
  const x = (at) => CHART.pad + (at / last) * (CHART.width - 2 * CHART.pad);
  const y = (count) => CHART.height - CHART.pad - (count / peak) * (CHART.height - 2 * CHART.pad);
  report.channels.forEach((channel, index) => {
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", report.timeline.map((p) => `${x(p.at_s)},${y(p.listeners[channel.lang] || 0)}`).join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", LINE_COLOURS[index % LINE_COLOURS.length]);
    line.setAttribute("stroke-width", "2");
    line.dataset.lang = channel.lang;
    const name = document.createElementNS("http://www.w3.org/2000/svg", "title");
    name.textContent = `${channel.lang}: peak ${channel.peak}, ${channel.listener_minutes} listener-minutes`;
    line.append(name);
    svg.append(line);
  });
  const rows = report.channels.map((c) => {
    const tr = document.createElement("tr");
    for (const value of [c.lang, c.peak, c.average, c.listener_minutes, c.hls_peak, c.hls_listener_minutes]) {
      tr.insertCell().textContent = String(value);
    }
    return tr;
  });
  const usage = report.languages.map((l) => {
    const tr = document.createElement("tr");
    const cost = l.cost_usd == null ? "–" : `$${l.cost_usd.toFixed(2)}`;
    const billed = l.tokens != null ? `${l.tokens} tokens` : l.audio_minutes != null ? `${l.audio_minutes} min` : "–";
    for (const value of [l.lang, l.engine, l.captions, l.missed, l.corrected, seconds(l.lag_p50_s), billed, cost]) {
      tr.insertCell().textContent = String(value);
    }
    return tr;
  });
  $("report-chart").replaceChildren(svg);
  $("report-channels").tBodies[0].replaceChildren(...rows);
  $("report-languages").tBodies[0].replaceChildren(...usage);
  $("report-csv").onclick = () => download(path(`/report?talk=${encodeURIComponent(talkId)}&format=csv`), `${talkId}-report.csv`);
  $("report").hidden = false;
}

// Every room at a glance; the one in detail is chosen here.
function renderRooms(rooms) {
  const body = $("rooms").tBodies[0];
  body.replaceChildren();
  for (const room of rooms) {
    const row = body.insertRow();
    row.dataset.room = room.id;
    row.className = room.id === current ? "current" : "";
    const show = document.createElement("button");
    show.type = "button";
    show.textContent = room.name;
    if (room.id === current) show.setAttribute("aria-current", "true");
    show.addEventListener("click", () => selectRoom(room.id));
    row.insertCell().append(show);
    cell(row, room.detail ? `${room.state}: ${room.detail}` : room.state, `state-${room.state}`);
    cell(row, room.input);
    cell(row, room.targets.map((l) => `${l.code} ${l.state}`).join(" · "));
    cell(row, String(room.targets.reduce((sum, l) => sum + l.listeners, 0)));
    const toggle = document.createElement("button");
    toggle.type = "button";
    const running = room.state === "running" || room.state === "starting";
    toggle.textContent = running ? "Stop" : "Start";
    toggle.setAttribute("aria-label", `${running ? "Stop" : "Start"} ${room.name}`);
    toggle.addEventListener("click", () => startOrStop(room, running ? "stop" : "start"));
    row.insertCell().append(toggle);
  }
  labelCells($("rooms"));
}

function showRoomError(message) {
  $("room-error").textContent = message;
  $("room-error").hidden = !message;
}

async function startOrStop(room, action) {
  if (action === "stop" && !confirm(`Stop ${room.name}? Its listeners stay connected and are told.`)) return;
  try {
    await send("POST", `/api/rooms/${encodeURIComponent(room.id)}/${action}`);
    showRoomError("");
  } catch (error) { showRoomError(error.message); }
  await refresh();
}

// Show another room in detail: its listeners (the monitor, the caption followers) are its own.
async function selectRoom(id) {
  if (id === current) return;
  current = id;
  if (monitor) { monitor.listener.close(); await monitorPlayer.stop(); monitor = null; }
  for (const listener of followed.values()) listener.close();
  followed.clear();
  captions.clear();
  languages = [];
  glossaryRows = rowsFrom(await getJson(path("/glossary")));
  $("glossary-status").textContent = "";
  await refresh();
  renderTalks();
  await renderPublishing();
}

// A room with a backup input: both inputs' state, which carries the talk, and the operator's hold.
function renderInputs(failover) {
  $("inputs").hidden = !failover;
  if (!failover) return;
  $("primary-input").textContent = failover.primary;
  $("backup-input").textContent = failover.backup;
  if (document.activeElement !== $("input-mode")) $("input-mode").value = failover.mode;
  const behind = failover.behind_s ? `, ${failover.behind_s.toFixed(1)} s behind` : "";
  $("input-active").textContent = `The ${failover.active} carries the talk${behind}`;
}

$("input-mode").addEventListener("change", async () => {
  await send("POST", path("/input"), { source: $("input-mode").value });
  renderStatus(await getJson(path("/status")));
});

// A room fed by a publisher (audio.input = "publish"): the speaker's link, its QR code and the key,
// fetched when the room is shown and when its key changes (who publishes is the input's state).
async function renderPublishing() {
  const status = await getJson(path("/status"));
  $("publishing").hidden = !status.urls.speaker;
  if (!status.urls.speaker) return;
  const info = await getJson(path("/publish"));
  $("cannot-record").hidden = info.speaker_page_can_record;
  $("speaker-link").textContent = info.speaker_page;
  $("publish-key").textContent = info.key;
  $("publish-ws").textContent = info.websocket;
  $("publish-whip").textContent = info.whip;
  $("rtmp").hidden = !info.rtmp;
  $("publish-rtmp").textContent = info.rtmp || "";
  $("srt").hidden = !info.srt;
  $("publish-srt").textContent = info.srt || "";
  const qr = await authorized(path("/publish/qr.svg"));
  if (qr.ok) $("speaker-qr").src = `data:image/svg+xml,${encodeURIComponent(await qr.text())}`;
}

$("new-key").addEventListener("click", async () => {
  await send("POST", path("/publish/key"));
  await renderPublishing();
});

async function refresh() {
  renderRooms(await getJson("/api/rooms"));
  renderStatus(await getJson(path("/status")));
  renderQuestions(await getJson(path("/questions")));
}

// The moderation queue: pending questions, each with what was typed and the floor's wording (which
// the moderator may edit), to accept, reject or merge into another; and listeners who wait to ask
// aloud, to give the floor to (their phone becomes the room's input) and to end. A question being
// edited is left alone by the refresh.
function renderQuestions(all) {
  const shown = all.filter((q) => q.state === "pending" || q.state === "speaking");
  const typed = shown.filter((q) => !q.spoken && q.state === "pending"); // what a typed one may merge into
  $("questions-empty").hidden = shown.length > 0;
  const list = $("questions");
  const key = (q) => `${q.id}:${q.state}`;
  const keys = new Set(shown.map(key));
  for (const item of [...list.children]) if (!keys.has(item.dataset.key)) item.remove();
  for (const q of shown) {
    const existing = list.querySelector(`li[data-key="${key(q)}"]`);
    if (existing) {
      existing.refresh?.(typed); // the questions it may merge into, asked since it was drawn
      continue;
    }
    const item = document.createElement("li");
    item.dataset.key = key(q);
    item.append(...(q.spoken ? spokenQuestion(q, item) : typedQuestion(q, typed, item)));
    list.append(item);
  }
}

// A button that acts on a question, then takes its item away (the refresh brings its next state).
function act(item, label, run) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  button.addEventListener("click", async () => {
    $("questions-error").textContent = "";
    try {
      await run();
      item.remove();
    } catch (error) {
      $("questions-error").textContent = error.message;
    }
  });
  return button;
}

function buttons(...children) {
  const box = document.createElement("div");
  box.className = "buttons";
  box.append(...children);
  return box;
}

function typedQuestion(q, typed, item) {
  const words = document.createElement("p");
  words.className = "typed";
  words.lang = q.lang;
  words.textContent = `#${q.id} · ${q.lang}: ${q.text}`; // the number the merge list names
  const wording = document.createElement("textarea");
  wording.className = "wording";
  wording.value = q.floor_text;
  wording.setAttribute("aria-label", `Question ${q.id} in the floor's language`);
  const note = document.createElement("p");
  note.className = "hint";
  note.textContent = q.translated ? "" : `No translation from ${q.lang}: shown as typed.`;
  const accept = act(item, "Accept", () => send("POST", path(`/questions/${q.id}/accept`), { text: wording.value }));
  const reject = act(item, "Reject", () => send("POST", path(`/questions/${q.id}/reject`)));
  const into = document.createElement("select");
  into.setAttribute("aria-label", `Merge question ${q.id} into`);
  const merge = act(item, "Merge into", () => send("POST", path(`/questions/${q.id}/merge`), { into: Number(into.value) }));
  item.refresh = (others) => {
    const chosen = into.value;
    into.replaceChildren(...others.filter((o) => o.id !== q.id).map((o) => new Option(`#${o.id}`, String(o.id))));
    if ([...into.options].some((o) => o.value === chosen)) into.value = chosen;
    merge.disabled = into.options.length === 0;
  };
  item.refresh(typed);
  return [words, wording, note, buttons(accept, reject, merge, into)];
}

function spokenQuestion(q, item) {
  const words = document.createElement("p");
  words.className = "typed";
  if (q.state === "speaking") {
    item.className = "speaking";
    words.textContent = `#${q.id} · ${q.lang}: asking aloud now: the room hears this listener`;
    return [words, buttons(act(item, "End", () => send("POST", path(`/questions/${q.id}/end`))))];
  }
  words.textContent = `#${q.id} · ${q.lang}: wants to ask aloud`;
  const give = act(item, "Give the floor", () => send("POST", path(`/questions/${q.id}/accept`)));
  const reject = act(item, "Reject", () => send("POST", path(`/questions/${q.id}/reject`)));
  return [words, buttons(give, reject)];
}

function setInput(state) {
  input = { muted: state.muted, paused: state.paused };
  $("mute").textContent = input.muted ? "Unmute" : "Mute";
  $("mute").setAttribute("aria-pressed", String(input.muted));
  $("pause").textContent = input.paused ? "Resume the talk" : "Pause the talk";
  $("pause").setAttribute("aria-pressed", String(input.paused));
}

// One caption follower per offered language; a language added gets one, a removed one loses it.
function followLanguages(codes) {
  const changed = codes.join() !== languages.join();
  languages = codes;
  for (const lang of codes) {
    if (followed.has(lang)) continue;
    followed.set(lang, new Listener({
      lang, audio: false, codec: "pcm", role: "console", room: current,
      onHello: (hello) => { for (const c of hello.captions) onCaption(c); },
      onCaption,
    }));
  }
  for (const [lang, listener] of followed) {
    if (!codes.includes(lang)) { listener.close(); followed.delete(lang); captions.delete(lang); }
  }
  if (changed) { renderCaptions(); renderGlossary(); }
}

function showLanguageError(message) {
  $("language-error").textContent = message;
  $("language-error").hidden = !message;
}

async function removeLanguage(lang) {
  if (!confirm(`Stop offering ${lang.native}? Its ${lang.listeners} listener(s) will be disconnected.`)) return;
  try {
    await send("DELETE", path(`/languages/${encodeURIComponent(lang.code)}`));
    showLanguageError("");
  } catch (error) { showLanguageError(error.message); }
  renderStatus(await getJson(path("/status")));
}

$("add-language").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await send("POST", path("/languages"), { code: $("addable").value });
    showLanguageError("");
  } catch (error) { showLanguageError(error.message); }
  renderStatus(await getJson(path("/status")));
});

// The glossary as rows: a term kept as it is, or a term with its translation per language.
// What the console does not edit (from an imported file: translations to avoid, terms matched
// with their capitals, priority terms), kept and sent back with what it does.
let glossaryExtras = { avoid: {}, exact_case: [], priority: [] };

function rowsFrom(glossary) {
  glossaryExtras = { avoid: glossary.avoid, exact_case: glossary.exact_case, priority: glossary.priority };
  renderGlossaryExtras();
  const rows = glossary.keep.map((term) => ({ term, keep: true, translations: {} }));
  const byTerm = new Map();
  for (const [lang, terms] of Object.entries(glossary.terms)) {
    for (const [term, translation] of Object.entries(terms)) {
      if (!byTerm.has(term)) byTerm.set(term, { term, keep: false, translations: {} });
      byTerm.get(term).translations[lang] = translation;
    }
  }
  return [...rows, ...byTerm.values()];
}

function glossaryFrom(rows) {
  const glossary = { keep: [], terms: {}, avoid: glossaryExtras.avoid };
  for (const row of rows) {
    const term = row.term.trim();
    if (!term) continue;
    if (row.keep) { glossary.keep.push(term); continue; }
    for (const [lang, text] of Object.entries(row.translations)) {
      if (!text.trim()) continue;
      (glossary.terms[lang] ||= {})[term] = text.trim();
    }
  }
  // A term removed here loses its capitals rule and its priority with it.
  const present = new Set([...glossary.keep, ...[...Object.values(glossary.terms), ...Object.values(glossary.avoid)]
    .flatMap((terms) => Object.keys(terms))]);
  glossary.exact_case = glossaryExtras.exact_case.filter((t) => present.has(t));
  glossary.priority = glossaryExtras.priority.filter((t) => present.has(t));
  return glossary;
}

function renderGlossaryExtras() {
  const avoided = Object.values(glossaryExtras.avoid).reduce((n, t) => n + Object.keys(t).length, 0);
  const parts = [avoided && `${avoided} translation(s) to avoid`,
    glossaryExtras.exact_case.length && `${glossaryExtras.exact_case.length} term(s) matched with their capitals`,
    glossaryExtras.priority.length && `${glossaryExtras.priority.length} priority term(s)`].filter(Boolean);
  $("glossary-extras").textContent = parts.length ? `From the imported file, kept: ${parts.join(", ")}.` : "";
}

// A vendor's spreadsheet (CSV or TSV, a column per language): applied whole, or refused with the
// line and column of its first problem.
$("glossary-file").addEventListener("change", async (event) => {
  const [file] = event.target.files;
  if (!file) return;
  const kind = /\.tbx$/i.test(file.name) ? "application/x-tbx"
    : /\.tsv$/i.test(file.name) ? "text/tab-separated-values" : "text/csv";
  const response = await authorized(path("/glossary"), { method: "PUT", headers: { "Content-Type": kind }, body: file });
  const answer = await response.json();
  event.target.value = "";
  if (!response.ok) {
    $("glossary-status").textContent = `Not applied: ${answer.detail || response.status}`;
    return;
  }
  glossaryRows = rowsFrom(answer);
  renderGlossary();
  const warning = response.headers.get("X-Glossary-Warning");
  $("glossary-status").textContent = `Applied ${file.name}: from the next sentence on.` + (warning ? ` Warning: ${warning}.` : "");
});
$("export-glossary").addEventListener("click", () => download(path("/glossary?format=csv"), `glossary-${current}.csv`));

// A rehearsal: the recording is uploaded, played through the room, then its checklist is shown.
const VERDICTS = { pass: "✓ pass", warn: "⚠ look at", fail: "✗ fix" };

function renderRehearsal(rehearsal) {
  const words = {
    none: "",
    playing: `Playing ${rehearsal.recording}: ${rehearsal.played_s.toFixed(0)} of ${rehearsal.duration_s.toFixed(0)} s…`,
    finishing: `${rehearsal.recording} has played; waiting for the last captions…`,
    failed: `The rehearsal failed: ${rehearsal.detail}`,
  };
  const checklist = rehearsal.checklist;
  if (rehearsal.state !== "done" || !checklist) {
    $("rehearsal-status").textContent = words[rehearsal.state];
    return rehearsal.state === "playing" || rehearsal.state === "finishing";
  }
  const fails = checklist.lines.filter((line) => line.verdict === "fail").length;
  const warns = checklist.lines.filter((line) => line.verdict === "warn").length;
  $("rehearsal-status").textContent = `Rehearsal of ${checklist.recording} (${checklist.played_s.toFixed(0)} s, ` +
    `for a talk of ${checklist.hours} h): ` + (fails || warns ? `${fails} to fix, ${warns} to look at.` : "ready, nothing to fix.");
  const rows = checklist.lines.map((line) => {
    const row = document.createElement("tr");
    row.className = line.verdict;
    cell(row, line.check);
    cell(row, VERDICTS[line.verdict]);
    cell(row, line.found);
    cell(row, line.fix);
    return row;
  });
  $("checklist").tBodies[0].replaceChildren(...rows);
  labelCells($("checklist"));
  $("checklist").hidden = false;
  return false;
}

async function followRehearsal() {
  if (renderRehearsal(await getJson(path("/rehearsal")))) setTimeout(followRehearsal, 1000);
}

$("rehearse").addEventListener("submit", async (event) => {
  event.preventDefault();
  const [file] = $("rehearsal-file").files;
  if (!file) return;
  const query = `?hours=${encodeURIComponent($("rehearsal-hours").value)}&name=${encodeURIComponent(file.name)}`;
  const response = await authorized(path(`/rehearsal${query}`), {
    method: "POST", headers: { "Content-Type": "audio/wav" }, body: file,
  });
  const answer = await response.json();
  if (!response.ok) {
    $("rehearsal-status").textContent = `Not started: ${answer.detail || response.status}`;
    return;
  }
  $("checklist").hidden = true;
  renderRehearsal(answer);
  setTimeout(followRehearsal, 1000);
});

function glossaryLanguages() {
  const extra = glossaryRows.flatMap((row) => Object.keys(row.translations)).filter((l) => !languages.includes(l));
  return [...languages, ...new Set(extra)];
}

function textInput(value, label, onInput) {
  const field = document.createElement("input");
  field.type = "text";
  field.value = value;
  field.setAttribute("aria-label", label);
  field.addEventListener("input", () => onInput(field.value));
  return field;
}

function renderGlossary() {
  const langs = glossaryLanguages();
  const head = $("glossary").tHead;
  head.replaceChildren();
  const top = head.insertRow();
  for (const title of ["Term (as spoken)", "Keep as is", ...langs, ""]) {
    const th = document.createElement("th");
    th.textContent = title;
    top.append(th);
  }
  const body = $("glossary").tBodies[0];
  body.replaceChildren();
  glossaryRows.forEach((row, index) => {
    const tr = body.insertRow();
    tr.insertCell().append(textInput(row.term, `Term ${index + 1}`, (v) => { row.term = v; }));
    const keep = document.createElement("input");
    keep.type = "checkbox";
    keep.checked = row.keep;
    keep.setAttribute("aria-label", `Keep term ${index + 1} as is`);
    keep.addEventListener("change", () => { row.keep = keep.checked; renderGlossary(); });
    tr.insertCell().append(keep);
    for (const lang of langs) {
      const field = textInput(row.translations[lang] || "", `Term ${index + 1} in ${lang}`,
                              (v) => { row.translations[lang] = v; });
      field.disabled = row.keep;
      tr.insertCell().append(field);
    }
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "✕";
    remove.setAttribute("aria-label", `Remove term ${index + 1}`);
    remove.addEventListener("click", () => { glossaryRows.splice(index, 1); renderGlossary(); });
    tr.insertCell().append(remove);
  });
  labelCells($("glossary"));
}

$("add-term").addEventListener("click", () => {
  glossaryRows.push({ term: "", keep: false, translations: {} });
  renderGlossary();
  $("glossary").tBodies[0].lastElementChild.querySelector("input").focus();
});

// A term with neither a translation nor "keep" would be dropped on the way: say so instead.
function untranslated(rows) {
  const index = rows.findIndex((row) => row.term.trim() && !row.keep
    && !Object.values(row.translations).some((text) => text.trim()));
  return index < 0 ? "" : `term ${index + 1} (“${rows[index].term.trim()}”) has no translation: give one, or tick Keep`;
}

$("apply-glossary").addEventListener("click", async () => {
  const missing = untranslated(glossaryRows);
  if (missing) {
    $("glossary-status").textContent = `Not applied: ${missing}.`;
    return;
  }
  try {
    const applied = await send("PUT", path("/glossary"), glossaryFrom(glossaryRows));
    const count = applied.keep.length + Object.values(applied.terms).reduce((n, t) => n + Object.keys(t).length, 0);
    $("glossary-status").textContent = `Applied (${count} entries): from the next sentence on.` +
      (lastWarning ? ` Warning: ${lastWarning}.` : "");
  } catch (error) {
    $("glossary-status").textContent = `Not applied: ${error.message}`;
  }
});

function onCaption(caption) {
  if (!caption.final) return;
  const kept = captions.get(caption.lang) || new Map();
  kept.set(caption.id, caption);
  while (kept.size > 20) kept.delete(Math.min(...kept.keys()));
  captions.set(caption.lang, kept);
  renderCaptions();
}

async function controlInput(change) {
  try {
    setInput(await send("POST", path("/input"), change));
  } catch (error) { showRoomError(error.message); }
  renderStatus(await getJson(path("/status")));
}

$("mute").addEventListener("click", () => controlInput({ muted: !input.muted }));
$("pause").addEventListener("click", () => controlInput({ paused: !input.paused }));

let timers = [];

function signIn(message) {
  for (const timer of timers) clearInterval(timer);
  timers = [];
  sessionStorage.removeItem(TOKEN_KEY);
  headers["X-Operator-Token"] = "";
  $("console").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
  $("sign-in-error").hidden = !message;
  $("token").focus();
}

$("sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = $("token").value.trim();
  $("token").value = "";
  sessionStorage.setItem(TOKEN_KEY, token);
  headers["X-Operator-Token"] = token;
  start();
});

async function start() {
  if (!headers["X-Operator-Token"]) { signIn(""); return; }
  try {
    const rooms = await getJson("/api/rooms");
    current = current && rooms.some((r) => r.id === current) ? current : rooms[0].id;
    const status = await getJson(path("/status"));
    $("sign-in").hidden = true;
    $("console").hidden = false;
    glossaryRows = rowsFrom(await getJson(path("/glossary")));
    renderRooms(rooms);
    renderStatus(status);
    renderTalks();
    followRehearsal();
    await renderPublishing();
  } catch (error) {
    if (error instanceof SignInNeeded) return;
    throw error;
  }
  timers = [
    setInterval(refresh, 1000),
    setInterval(renderTalks, 10000),
  ];
}

start();
