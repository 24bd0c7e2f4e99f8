// The audience page: choose a language, tap to listen, read the captions.
import { CaptionBook, Listener } from "./listener.js";
import { Microphone, canRecord } from "./microphone.js";
import { Player, preferredCodec } from "./player.js";
import { api, room } from "./room.js";
import { t } from "./strings.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const player = new Player();
const book = new CaptionBook(50);
let listener = null;
let lang = null;
let talkStartedAt = null;
let languages = [];
let spoken = ["en"]; // the floor's languages, its default first
let aloudLanguages = []; // the languages a question may be asked aloud in
const FLOOR = "original"; // the speaker's own voice with the source captions
const RIGHT_TO_LEFT = new Set(["ar"]);
let listening = "idle"; // idle, playing, stopped
const shown = new Map(); // caption id → its paragraph: captions are updated in place, never rebuilt
const announced = new Set(); // finished captions already read out to screen readers
// Opus wherever the page can decode it (WebCodecs, else WebAssembly); `?codec=pcm` asks for PCM.
const [codec, decoder] = await preferredCodec(params.get("codec"));
// The original under the interpretation, as the listener set it last time: off until asked for.
const mix = { balance: Number(localStorage.getItem("balance")) || 0, ducking: localStorage.getItem("ducking") !== "0" };
// Watching a stream that runs behind the room: audio and captions held back this many seconds.
// The link's `?delay=`, else the listener's own choice, else the room's default (its `delay_s`).
const MAX_DELAY_S = 60;
const chosenDelay = params.get("delay") ?? localStorage.getItem(`delay:${room || ""}`);
let delay = 0;
let connection = 0; // which connection a held-back caption belongs to: a stale one is dropped
let floorListener = null; // the Original channel's audio, only while it is mixed in
let spentBefore = 0; // bytes received by the listeners this page closed

// What leaves the page, at given frequencies (dB): the balance as a listener hears it.
window.__listenerSpectrum = (hz) => player.spectrum(hz);
window.__listenerStats = { playedSeconds: 0, underruns: 0, bufferedSeconds: 0, mode: "none", connection: "idle",
                           codec: "pcm", audioBytes: 0, radio: { playing: false, time: 0, ahead: 0 } };

// The languages on offer; the operator may add or remove one during the talk, so this runs again.
async function loadLanguages(first = true) {
  const response = await fetch(api("/languages"));
  const info = await response.json();
  const title = room ? `${info.event_name} · ${info.room.name}` : info.event_name;
  $("event").textContent = title;
  document.title = title;
  spoken = info.spoken.map((l) => l.code);
  $("ask").hidden = !info.questions;
  aloudLanguages = info.ask_aloud;
  offerAloud();
  if (first) setDelay(chosenDelay !== null ? Number(chosenDelay) : info.delay_s, false);
  const offered = [...info.targets, info.floor];
  if (offered.map((l) => l.code).join() === languages.map((l) => l.code).join()) return;
  languages = offered;
  const box = $("languages");
  box.replaceChildren(...languages.map((l) => {
    const button = document.createElement("button");
    button.type = "button";
    button.lang = l.code;
    button.textContent = l.native;
    button.dataset.lang = l.code;
    if (l.code === FLOOR) { button.lang = spoken[0]; button.className = "floor"; }
    button.setAttribute("aria-label", l.code === FLOOR ? l.native : `${l.native} (${l.name})`);
    button.addEventListener("click", () => choose(l.code));
    return button;
  }));
  for (const b of box.children) b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
  if (!first) return;
  const wanted = params.get("lang") || localStorage.getItem("lang");
  if (wanted && languages.some((l) => l.code === wanted)) choose(wanted);
}

// The language the page speaks to the listener in: the channel's, or the floor's default.
const pageLang = () => (lang === FLOOR ? spoken[0] : lang);

function choose(code) {
  lang = code;
  window.__listenerStats.lang = code;
  localStorage.setItem("lang", code);
  document.documentElement.lang = pageLang();
  document.documentElement.dir = RIGHT_TO_LEFT.has(pageLang()) ? "rtl" : "ltr";
  for (const b of $("languages").children) b.setAttribute("aria-pressed", String(b.dataset.lang === code));
  const chosen = languages.find((l) => l.code === code);
  $("listening-to").textContent = chosen ? chosen.native : code;
  $("choose").hidden = true;
  $("listen").hidden = false;
  $("mix").hidden = code === FLOOR; // the Original channel is the original already
  applyStrings();
  connect();
  $("captions").focus();
}

// The page's own words, in the listener's language.
function applyStrings() {
  const here = pageLang();
  $("choose-title").textContent = t(here, "choose");
  $("volume-label").textContent = t(here, "volume");
  $("captions-only-label").textContent = t(here, "captionsOnly");
  $("change").textContent = t(here, "change");
  $("play").textContent = t(here, { idle: "listen", playing: "stop", stopped: "resume" }[listening]);
  $("interpretation-label").textContent = t(here, "interpretation");
  $("original-label").textContent = t(here, "original");
  $("ducking-label").textContent = t(here, "ducking");
  $("screen-off-label").textContent = t(here, "screenOff");
  $("radio-state").textContent = t(here, "buffering");
  $("delay-label").textContent = t(here, "delay");
  $("ai-label").textContent = t(here, "ai");
  $("ai-label").hidden = lang === FLOOR;
  $("struggling-text").textContent = t(here, "struggling");
  $("struggling-action").textContent = t(here, "captionsOnly");
  $("question-label").textContent = t(here, "question");
  $("ask-label").textContent = t(here, "ask");
  $("ask-send").textContent = t(here, "askSend");
  $("aloud-start").textContent = t(here, "aloud");
  $("aloud-finish").textContent = t(here, "aloudFinish");
  offerAloud();
  $("text-size").setAttribute("aria-label", t(here, "textSize"));
  $("contrast").setAttribute("aria-label", t(here, "contrast"));
}

// The Original channel's audio is fetched only while it is heard under the interpretation.
function syncFloor() {
  $("ducking").parentElement.hidden = mix.balance <= 0; // ducking means nothing without the original
  const wanted = mix.balance > 0 && lang && lang !== FLOOR && listening === "playing" && !$("captions-only").checked
    && !onRadio();
  if (wanted && !floorListener) {
    floorListener = new Listener({
      lang: FLOOR, audio: true, codec,
      onAudio: (payload, utterance, frameCodec, end) => {
        if (player.running) player.push(payload, utterance, frameCodec, end, "floor");
      },
    });
  } else if (!wanted && floorListener) {
    spentBefore += floorListener.receivedBytes;
    floorListener.close();
    floorListener = null;
    player.clear("floor");
  }
}

function connect() {
  connection += 1;
  spentBefore += listener?.receivedBytes || 0;
  listener?.close();
  player.clear();
  book.reset([]);
  $("question").hidden = true; // the new channel's hello brings its own
  for (const p of shown.values()) p.remove();
  shown.clear();
  render();
  // No audio until the listener taps to listen: a phone that only reads pays for captions only.
  const audio = listening === "playing" && !$("captions-only").checked && !onRadio();
  listener = new Listener({
    lang, audio, codec,
    onHello: (hello) => {
      talkStartedAt = hello.talk_started_at; book.reset(hello.captions); render(); onStatus(hello);
      if (hello.question) showQuestion(hello.question);
    },
    onCaption: (caption) => {
      if (delay <= 0) { book.set(caption); render(); return; }
      const held = connection;
      setTimeout(() => { if (held === connection) { book.set(caption); render(); } }, delay * 1000);
    },
    onAudio: (payload, utterance, frameCodec, end) => {
      if (player.running) player.push(payload, utterance, frameCodec, end);
    },
    onQuestion: showQuestion,
    onSkipped: () => { window.__listenerStats.skippedUtterances = (window.__listenerStats.skippedUtterances || 0) + 1; },
    onStatus,
    onConnection: setConnection,
  });
  syncFloor();
}

// A question from the audience the moderator accepted: shown above the captions, never among them.
function showQuestion(question) {
  $("question-text").textContent = question.text;
  $("question-text").lang = question.lang;
  $("question").hidden = false;
}

// The listener's own question, in the channel's language, for the moderator.
$("ask-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const here = pageLang();
  const state = $("ask-state");
  $("ask-send").disabled = true;
  const text = $("ask-text").value;
  try {
    const response = await fetch(api("/questions"), {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ lang, text }),
    });
    if (response.ok) {
      // Cleared unless the listener has begun the next one meanwhile.
      if ($("ask-text").value === text) $("ask-text").value = "";
      state.textContent = t(here, "askSent");
    } else if (response.status === 429) {
      state.textContent = t(here, "askWait");
    } else {
      state.textContent = (await response.json().catch(() => ({}))).detail || t(here, "askFailed");
    }
  } catch {
    state.textContent = t(here, "askFailed");
  } finally {
    $("ask-send").disabled = false;
  }
});

// A question asked aloud, in the language the listener listens in (one the floor's engine hears): the
// phone waits for the moderator, then its microphone is the room's input until the listener
// finishes, the time is up or the moderator ends it (/ws/ask, see the README).
let aloud = null; // { microphone, socket, speaking, timer }
const ALOUD_ENDINGS = { heard: "aloudHeard", time: "aloudTimeUp", ended: "aloudEnded", declined: "aloudDeclined" };

function offerAloud() {
  $("aloud").hidden = !(canRecord() && lang && aloudLanguages.includes(pageLang()));
}

function aloudState(words) {
  $("aloud-state").textContent = words;
}

$("aloud-start").addEventListener("click", async () => {
  const here = pageLang();
  let microphone;
  try {
    microphone = await Microphone.open({ onLevel: (level) => { $("aloud-level").value = Math.max(-60, level); } });
  } catch {
    aloudState(t(here, "aloudMic"));
    return;
  }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${room ? `/ws/ask/${encodeURIComponent(room)}` : "/ws/ask"}`);
  socket.binaryType = "arraybuffer";
  const current = aloud = { microphone, socket, speaking: false, timer: 0, ending: "" };
  $("aloud-start").hidden = true;
  $("aloud-finish").hidden = false;
  socket.onopen = () => socket.send(JSON.stringify({ type: "ask", lang: here, ...microphone.format }));
  socket.onmessage = ({ data }) => {
    const message = JSON.parse(data);
    if (message.type === "waiting") aloudState(t(here, "aloudWaiting"));
    else if (message.type === "over") current.ending = message.why;
    else if (message.type === "speak") {
      current.speaking = true;
      microphone.send = (audio) => { if (socket.readyState === WebSocket.OPEN) socket.send(audio); };
      aloudState(t(here, "aloudSpeak"));
      $("aloud-level").hidden = $("aloud-clock").hidden = false;
      const until = Date.now() + message.seconds * 1000;
      const tick = () => { $("aloud-clock").textContent = `${Math.max(0, Math.ceil((until - Date.now()) / 1000))} s`; };
      tick();
      current.timer = setInterval(tick, 250);
    }
  };
  socket.onclose = ({ reason }) => {
    if (aloud !== current) return;
    endAloud();
    aloudState(ALOUD_ENDINGS[current.ending] ? t(here, ALOUD_ENDINGS[current.ending]) : reason || t(here, "askFailed"));
  };
});

// One tap: a listener who speaks has finished (what was sent still plays); one who waits withdraws.
$("aloud-finish").addEventListener("click", () => {
  if (!aloud) return;
  if (aloud.speaking) {
    aloud.microphone.send = null;
    aloud.socket.send(JSON.stringify({ type: "done" }));
  } else {
    aloud.socket.close(1000, "withdrawn");
    endAloud();
    aloudState("");
  }
});

function endAloud() {
  clearInterval(aloud.timer);
  aloud.microphone.close();
  aloud = null;
  $("aloud-start").hidden = false;
  $("aloud-finish").hidden = $("aloud-level").hidden = $("aloud-clock").hidden = true;
}

// The interpreter's own state: the operator reads the reason in /api/status; the audience, plain words.
function onStatus(status) {
  if (status.state === "error") setConnection("error", status.detail);
  else if (status.state === "failed") setConnection("error", t(pageLang(), "unavailable"));
  else if (status.state === "paused") setConnection("paused");
  else if (["stopped", "stopping"].includes(status.state)) setConnection("ended");
  else if (status.state === "starting") setConnection("connecting");
  else if (status.state === "ready") setConnection("live");
}

function setConnection(state, detail) {
  window.__listenerStats.connection = state;
  const badge = $("connection");
  badge.hidden = false; // shown once there is a connection to speak of (not over the picker)
  badge.className = `badge state-${state}`;
  const here = pageLang();
  const words = { connecting: t(here, "connecting"), live: t(here, "live"), reconnecting: t(here, "reconnecting"),
                  paused: t(here, "paused"), ended: t(here, "ended"), gone: t(here, "removed") };
  badge.textContent = words[state] || detail || state;
  if (state === "gone") {
    // The operator stopped offering this language: what is on offer now, in place of a listening
    // panel that has nothing left to play (a language picked there goes on playing).
    $("listen").hidden = true;
    $("choose").hidden = false;
    loadLanguages(false);
  }
}

// Captions appended and updated in place; a finished one is read out once, politely.
function render() {
  const box = $("captions");
  const stick = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  // A piece of a sentence whose translation the next piece carries (the offline engine's fragments)
  // closes empty: the next piece shows the sentence, so it takes no line of its own.
  const continued = new Set(book.list().map((c) => c.continues).filter(Boolean));
  const current = book.list().filter((c) => (c.text || c.source_text) && !(c.final && !c.text && continued.has(c.id)));
  const ids = new Set(current.map((c) => c.id));
  for (const [id, p] of shown) if (!ids.has(id)) { p.remove(); shown.delete(id); }
  for (const c of current) {
    let p = shown.get(c.id);
    if (!p) {
      p = document.createElement("p");
      p.dataset.id = c.id;
      shown.set(c.id, p);
      box.append(p);
    }
    // A sentence the speaker went on with after a pause reads as the same paragraph going on.
    p.className = `${c.final ? "final" : "partial"}${c.continues ? " continues" : ""}${c.corrected ? " corrected" : ""}`;
    // A caption a person corrected after it was final says so, in the page's language.
    if (c.corrected) p.dataset.corrected = t(pageLang(), "corrected");
    // The Original channel and a sentence passed through read in the language spoken.
    const written = c.passthrough && c.source_lang ? c.source_lang : pageLang();
    if (p.lang !== written) p.lang = written;
    if (p.textContent !== (c.text || "…")) p.textContent = c.text || "…";
    if (c.final && c.text && !announced.has(c.id)) {
      announced.add(c.id);
      $("announce").textContent = c.text;
    }
  }
  if (stick) box.scrollTop = box.scrollHeight;
}

// Listen, stop, resume: stopping silences the page at once; resuming plays from live.
$("play").addEventListener("click", async () => {
  if ($("captions-only").checked) return;
  if (listening === "playing") {
    await stopListening();
    listening = "stopped";
  } else {
    await startListening();
    listening = "playing";
  }
  connect(); // with audio now, or back to captions only
  applyStrings();
});

// Listening with the screen off: an <audio> element playing the language's continuous stream
// (/stream/es.ogg), which phones keep playing when the screen locks or the page is hidden, with
// lock-screen controls; Web Audio may be suspended there. It costs the element's buffer in lag.
// Chosen by the listener: a page cannot start it by itself once hidden (playback needs a tap).
const radio = $("radio");
const onRadio = () => $("screen-off").checked;
// The element buffers seconds of the stream before it sounds: say so rather than seem broken.
const buffering = (shown) => { $("radio-state").hidden = !shown; };
radio.addEventListener("playing", () => buffering(false));
radio.addEventListener("waiting", () => buffering(Boolean(radio.getAttribute("src"))));

function streamUrl() {
  const kind = radio.canPlayType('audio/ogg; codecs="opus"') ? "ogg" : "mp3";
  return room ? `/stream/${encodeURIComponent(room)}/${lang}.${kind}` : `/stream/${lang}.${kind}`;
}

// How late audio may play before whole utterances are skipped: ?maxLag= within reason (a huge value
// would let the page buffer without end, a tiny one skip every utterance).
function maxLag() {
  const asked = Number(params.get("maxLag"));
  return asked ? Math.min(Math.max(asked, 1), 30) : undefined;
}

async function startListening() {
  if (!onRadio()) {
    await player.start(Number($("volume").value), maxLag());
    player.setMix(mix);
    return;
  }
  radio.src = streamUrl(); // from live, every time
  buffering(true);
  radio.volume = Number($("volume").value);
  await radio.play().catch(() => {});
  if ("mediaSession" in navigator) {
    const chosen = languages.find((l) => l.code === lang);
    navigator.mediaSession.metadata = new MediaMetadata({
      title: chosen ? chosen.native : lang, artist: $("event").textContent, album: t(pageLang(), "interpretation"),
    });
    navigator.mediaSession.setActionHandler("play", () => { radio.src = streamUrl(); radio.play(); });
    navigator.mediaSession.setActionHandler("pause", () => radio.pause());
    navigator.mediaSession.setActionHandler("stop", () => { if (listening === "playing") $("play").click(); });
  }
}

async function stopListening() {
  buffering(false);
  if (radio.getAttribute("src")) { radio.pause(); radio.removeAttribute("src"); radio.load(); }
  await player.stop();
}

$("screen-off").addEventListener("change", async () => {
  $("mix").hidden = onRadio() || lang === FLOOR; // the stream is the channel alone
  if (listening === "playing") { await stopListening(); await startListening(); }
  connect();
});
$("balance").value = String(mix.balance);
$("ducking").checked = mix.ducking;
$("balance").addEventListener("input", (e) => {
  mix.balance = Number(e.target.value);
  localStorage.setItem("balance", String(mix.balance));
  player.setMix(mix);
  syncFloor();
});
$("ducking").addEventListener("change", (e) => {
  mix.ducking = e.target.checked;
  localStorage.setItem("ducking", mix.ducking ? "1" : "0");
  player.setMix(mix);
});

// Larger captions and high contrast, kept in the browser.
const SIZES = ["normal", "large", "larger"];
function applyView() {
  document.documentElement.dataset.text = localStorage.getItem("textSize") || "normal";
  document.documentElement.dataset.contrast = localStorage.getItem("contrast") || "normal";
  $("contrast").setAttribute("aria-pressed", String(document.documentElement.dataset.contrast === "high"));
}
$("text-size").addEventListener("click", () => {
  const now = SIZES.indexOf(document.documentElement.dataset.text);
  localStorage.setItem("textSize", SIZES[(now + 1) % SIZES.length]);
  applyView();
});
$("contrast").addEventListener("click", () => {
  localStorage.setItem("contrast", document.documentElement.dataset.contrast === "high" ? "normal" : "high");
  applyView();
});
applyView();
// The delay, from 0 to a minute; `remember`: the listener chose it (kept for this room).
function setDelay(seconds, remember = true) {
  delay = Math.min(MAX_DELAY_S, Math.max(0, Number.isFinite(seconds) ? seconds : 0));
  $("delay").value = String(delay);
  if (remember) localStorage.setItem(`delay:${room || ""}`, String(delay));
  player.setMix({ delay });
  window.__listenerStats.delay = delay;
}
$("delay").addEventListener("change", (e) => { setDelay(Number(e.target.value)); connect(); });
$("volume").addEventListener("input", (e) => { player.setVolume(Number(e.target.value)); radio.volume = Number(e.target.value); });
$("captions-only").addEventListener("change", (e) => {
  $("play").hidden = e.target.checked;
  connect();
});
$("change").addEventListener("click", () => {
  $("choose").hidden = false;
  $("languages").querySelector('[aria-pressed="true"]')?.focus();
});

// What the page costs the phone's data plan: bytes over the last minute, shown beside "Playing".
const spent = []; // [seconds, bytes so far], four a second over the last minute
const troubles = []; // [seconds, underruns and skips so far]
function totalBytes() { return spentBefore + (listener?.receivedBytes || 0) + (floorListener?.receivedBytes || 0); }

function perMinute(now) {
  spent.push([now, totalBytes()]);
  while (now - spent[0][0] > 60) spent.shift();
  const [then, before] = spent[0];
  return now - then >= 5 ? ((totalBytes() - before) * 60) / (now - then) : null;
}

// The connection cannot keep up with the audio: it runs dry or skips again and again (here, or
// utterances the server skipped for this phone), or plays further and further behind live.
const BEHIND_S = 3;
function struggling(now) {
  const stats = player.stats;
  const count = (stats.underruns || 0) + (stats.skips || 0) + (window.__listenerStats.skippedUtterances || 0);
  troubles.push([now, count]);
  while (troubles.length && now - troubles[0][0] > 30) troubles.shift();
  const audio = listening === "playing" && !$("captions-only").checked && !onRadio();
  return audio && (troubles.at(-1)[1] - troubles[0][1] >= 3 || (stats.lagSeconds || 0) >= BEHIND_S);
}

setInterval(() => {
  const now = Date.now() / 1000;
  const rate = perMinute(now);
  Object.assign(window.__listenerStats, player.stats, { mode: player.mode, lang, codec, mix: { ...mix },
                                                        floorConnected: !!floorListener, decoder,
                                                        receivedBytes: listener?.receivedBytes || 0,
                                                        audioBytes: listener?.audioBytes || 0,
                                                        bytesPerMinute: rate,
                                                        radio: { playing: !radio.paused, time: radio.currentTime,
                                                                 ahead: radio.buffered.length ? radio.buffered.end(radio.buffered.length - 1) - radio.currentTime : 0 } });
  const behind = player.stats.lagSeconds || 0;
  const data = rate === null ? "" : ` · ${rate >= 1e6 ? `${(rate / 1e6).toFixed(1)} MB` : `${Math.round(rate / 1e3)} KB`}/min`;
  $("live").textContent = player.running
    ? `${t(pageLang(), "playing")}${behind >= 0.5 ? ` · ${behind.toFixed(1)} ${t(pageLang(), "behind")}` : ""}${data}`
    : (lang ? data.replace(/^ · /, "") : "");
  $("struggling").hidden = !struggling(now);
}, 250);
$("struggling-action").addEventListener("click", () => {
  $("captions-only").checked = true;
  $("captions-only").dispatchEvent(new Event("change"));
});

// At the top of a server of several rooms, the page lists them: each has its own page.
async function chooseRoom() {
  const rooms = await (await fetch("/api/rooms")).json();
  if (rooms.length < 2) return false;
  const here = navigator.language.slice(0, 2);
  $("choose-title").textContent = t(here, "room");
  // The event's name heads the list, as it heads each room's page.
  $("event").textContent = (await (await fetch(api("/languages", rooms[0].id))).json()).event_name;
  $("connection").hidden = true;
  $("languages").replaceChildren(...rooms.map((r) => {
    const link = document.createElement("a");
    link.className = "room";
    link.href = `/r/${encodeURIComponent(r.id)}/${location.search}`;
    link.textContent = r.name;
    link.dataset.room = r.id;
    return link;
  }));
  return true;
}

async function start() {
  if (!room && await chooseRoom().catch(() => false)) return;
  loadLanguages().then(
    () => setInterval(() => loadLanguages(false).catch(() => {}), 20000),
    () => { setConnection("reconnecting"); setTimeout(start, 2000); },
  );
}
start();
