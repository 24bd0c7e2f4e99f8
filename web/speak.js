// The speaker page: the speaker's microphone becomes the room's input (audio.input = "publish"),
// sent to /ws/publish/{room} (microphone.js). A dropped connection reconnects with back-off; what
// the microphone hears meanwhile is not kept (the room hears silence, not a burst of old speech).
// The key comes from the form or the URL's fragment (speak#key=…, never sent to the server), kept
// in this tab only.
import { Listener } from "./listener.js";
import { Microphone, canRecord } from "./microphone.js";
import { api, room } from "./room.js";
import { showTurn } from "./turn.js";

const $ = (id) => document.getElementById(id);
const KEY = `publish-key:${room || ""}`;
// Close codes after which trying again cannot help: the speaker must act.
// (4409: someone else publishes, or the room takes no published input; the server says which.)
const FINAL = new Map([[4401, "That publishing key was not accepted."], [4403, "The publishing key was changed: ask the operator for the new one."],
  [4409, ""], [4429, "Too many wrong keys from this address: wait a minute."]]);
const MAX_BACKLOG_BYTES = 64 * 1024; // about 0.7 s of PCM at 48 kHz: beyond it the network cannot keep up

const fragment = new URLSearchParams(location.hash.slice(1)).get("key");
if (fragment) {
  sessionStorage.setItem(KEY, fragment);
  history.replaceState(null, "", location.pathname);
}
$("key").value = sessionStorage.getItem(KEY) || "";

let session = null; // { key, microphone, socket, stopped, backoff, timer, dropped }

function show(state, words) {
  $("live").textContent = words;
  $("live").className = `badge state-${state}`;
}

function error(words) {
  $("error").textContent = words || "";
  $("error").hidden = !words;
}

async function microphones() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const select = $("microphone");
  const chosen = select.value;
  select.replaceChildren(new Option("The default microphone", ""),
    ...devices.filter((d) => d.kind === "audioinput" && d.deviceId && d.deviceId !== "default")
      .map((d, i) => new Option(d.label || `Microphone ${i + 1}`, d.deviceId)));
  select.value = chosen;
}

async function start(event) {
  event.preventDefault();
  error("");
  const key = $("key").value.trim();
  sessionStorage.setItem(KEY, key);
  let microphone;
  try {
    microphone = await Microphone.open({
      deviceId: $("microphone").value, processing: $("processing").checked, onLevel: level,
      onError: (e) => error(`The audio encoder failed: ${e.message}`),
    });
  } catch (e) {
    error(`The microphone could not be opened: ${e.message}`);
    return;
  }
  await microphones();
  session = { key, microphone, socket: null, stopped: false, backoff: 500, timer: 0, dropped: 0 };
  $("go").hidden = true;
  $("stop").hidden = false;
  connect(session);
}

function level(dbfs) {
  $("level").value = Math.max(-60, dbfs);
  $("level-db").textContent = `${Math.round(dbfs)} dBFS`;
}

function send(current, data) {
  const socket = current.socket;
  if (!socket || socket.readyState !== WebSocket.OPEN || !current.publishing) return;
  if (socket.bufferedAmount > MAX_BACKLOG_BYTES) {
    current.dropped += 1;
    show("reconnecting", "Live · the network is too slow: audio is being lost");
    return;
  }
  socket.send(data);
}

function connect(current) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const path = room ? `/ws/publish/${encodeURIComponent(room)}` : "/ws/publish";
  const socket = new WebSocket(`${scheme}://${location.host}${path}`);
  socket.binaryType = "arraybuffer";
  current.socket = socket;
  current.publishing = false;
  show("reconnecting", "Connecting…");
  socket.onopen = () => socket.send(JSON.stringify({
    type: "publish", key: current.key, who: "speaker page", ...current.microphone.format,
  }));
  socket.onmessage = ({ data }) => {
    if (typeof data !== "string") return;
    if (JSON.parse(data).type === "publishing") {
      current.publishing = true;
      // Encoded from now on only: audio from before would reach the room as a burst.
      current.microphone.send = (audio) => send(current, audio);
      current.backoff = 500;
      show("live", "● Live");
    }
  };
  socket.onclose = ({ code, reason }) => {
    if (current.stopped || current.socket !== socket) return;
    current.publishing = false;
    current.microphone.send = null;
    if (FINAL.has(code)) {
      stop();
      error(FINAL.get(code) || reason);
      return;
    }
    show("reconnecting", `Reconnecting…${reason ? ` (${reason})` : ""}`);
    const delay = current.backoff * (0.8 + Math.random() * 0.4);
    current.backoff = Math.min(current.backoff * 2, 5000);
    current.timer = setTimeout(() => connect(current), delay);
  };
}

function stop() {
  if (!session) return;
  session.stopped = true;
  clearTimeout(session.timer);
  session.socket?.close(1000, "the speaker stopped");
  session.microphone.close();
  session = null;
  $("go").hidden = false;
  $("stop").hidden = true;
  $("level").value = -60;
  $("level-db").textContent = "–";
  show("", "Not live");
}

// The room as the audience sees it: its languages' states, the listeners, the caption lag, and the
// latest caption of one language (followed as an overlay: not counted as a listener).
let follower = null;

function follow(lang) {
  follower?.close();
  $("caption").textContent = "";
  follower = lang && new Listener({
    lang, audio: false, role: "overlay", onCaption: (caption) => { $("caption").textContent = caption.text; },
  });
}

async function refresh() {
  try {
    const response = await fetch(api("/languages"));
    if (!response.ok) return;
    const body = await response.json();
    $("room-name").textContent = `Speaker · ${body.room.name}`;
    showTurn($("turn"), body.turn);
    const targets = body.targets;
    $("listeners").textContent = targets.reduce((sum, l) => sum + l.listeners, body.floor.listeners);
    const lags = targets.map((l) => l.lag_s).filter((lag) => lag !== null);
    $("lag").textContent = lags.length ? `${Math.max(...lags).toFixed(1)} s` : "–";
    $("languages").replaceChildren(...targets.map((l) => {
      const item = document.createElement("li");
      item.className = `state-${l.state}`;
      item.textContent = `${l.native} · ${l.state}`;
      return item;
    }));
    const select = $("follow");
    if (select.options.length !== targets.length) {
      const chosen = select.value;
      select.replaceChildren(...targets.map((l) => new Option(l.native, l.code)));
      select.value = targets.some((l) => l.code === chosen) ? chosen : targets[0]?.code || "";
      follow(select.value);
    }
  } catch {
    // The server is restarting: the next refresh tells.
  }
}

if (!canRecord()) {
  $("insecure").hidden = false;
  $("go").disabled = true;
} else {
  microphones();
}
$("start").addEventListener("submit", start);
$("stop").addEventListener("click", stop);
$("follow").addEventListener("change", () => follow($("follow").value));
refresh();
// Each second: a panel's next speaker waits on the turn light.
setInterval(refresh, 1000);
