// The room as HLS (/r/{room}/hls/master.m3u8): every language an audio track, every language's
// subtitles a text track. hls.js (vendored from npm) where the browser has Media Source
// Extensions; Safari's own HLS otherwise. `?lang=es` chooses the audio (and subtitles) to start with.
import { api, room } from "./room.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const video = $("player");
const playlist = room ? `/r/${encodeURIComponent(room)}/hls/master.m3u8` : "/hls/master.m3u8";
const wanted = params.get("lang");
let hls = null;
let analyser = null;

$("playlist").textContent = new URL(playlist, location.href).href;
fetch(api("/languages")).then((r) => r.json()).then((info) => {
  $("event").textContent = info.event_name;
  document.title = `${info.event_name} · stream`;
}).catch(() => {});

// What leaves the page at given frequencies (dB): the chosen audio track, as the listener hears it.
window.__watch = {
  spectrum(hz) {
    if (!analyser) return hz.map(() => -Infinity);
    const bins = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(bins);
    const width = analyser.context.sampleRate / analyser.fftSize;
    return hz.map((f) => Math.max(...[-1, 0, 1].map((d) => bins[Math.round(f / width) + d])));
  },
  // The output's level now (dBFS over its last 20 ms or so).
  level() {
    if (!analyser) return -Infinity;
    const samples = new Float32Array(analyser.fftSize);
    analyser.getFloatTimeDomainData(samples);
    const recent = samples.subarray(samples.length - 1024);
    return 10 * Math.log10(recent.reduce((sum, x) => sum + x * x, 0) / recent.length);
  },
  get hls() { return hls; },
};

function fill(select, tracks, current, off) {
  const options = tracks.map((track, index) => {
    const option = document.createElement("option");
    option.value = String(index);
    option.textContent = track.name || track.lang;
    option.lang = track.lang || "";
    return option;
  });
  if (off) options.unshift(Object.assign(document.createElement("option"), { value: "-1", textContent: "Off" }));
  select.replaceChildren(...options);
  select.value = String(current);
}

function tracksReady() {
  const audio = hls.audioTracks;
  const subtitles = hls.subtitleTracks;
  if (wanted) {
    const index = audio.findIndex((t) => t.lang === wanted || (wanted === "original" && t.default));
    if (index >= 0 && index !== hls.audioTrack) hls.audioTrack = index;
    const text = subtitles.findIndex((t) => t.lang === wanted);
    if (text >= 0 && text !== hls.subtitleTrack) hls.subtitleTrack = text;
  }
  fill($("audio"), audio, hls.audioTrack, false);
  fill($("subtitles"), subtitles, hls.subtitleTrack, true);
}

function state(words) { $("state").textContent = words; }

// The chosen subtitles' cue now showing (hls.js keeps the chosen track "hidden", the others off).
function showCue() {
  const chosen = hls && hls.subtitleTrack >= 0 ? [...video.textTracks].find((t) => t.mode === "hidden") : null;
  const cues = chosen && chosen.activeCues ? [...chosen.activeCues] : [];
  $("caption").textContent = cues.map((cue) => cue.text).join("\n");
}

if (window.Hls && window.Hls.isSupported()) {
  hls = new window.Hls({ liveSyncDurationCount: 3, renderTextTracksNatively: true, debug: params.has("debug") });
  hls.on(window.Hls.Events.MANIFEST_PARSED, () => state("Ready"));
  hls.on(window.Hls.Events.AUDIO_TRACKS_UPDATED, tracksReady);
  hls.on(window.Hls.Events.SUBTITLE_TRACKS_UPDATED, tracksReady);
  hls.on(window.Hls.Events.AUDIO_TRACK_SWITCHED, () => { $("audio").value = String(hls.audioTrack); });
  hls.on(window.Hls.Events.SUBTITLE_TRACK_SWITCH, () => { $("subtitles").value = String(hls.subtitleTrack); });
  hls.on(window.Hls.Events.ERROR, (_, data) => {
    console.warn("hls.js", data.type, data.details, data.fatal, data.frag?.url, data.response?.code, data.reason, data.error?.message);
    if (data.fatal) state(`Error: ${data.details}`);
  });
  hls.loadSource(playlist);
  hls.attachMedia(video);
  // Subtitle segments go out half a second after their audio (a caption's words may come late):
  // a player nearer the live edge than its sync position (a young stream, a jump after a stall)
  // would reach a sentence before its subtitle. It goes back to the sync position.
  video.addEventListener("timeupdate", () => {
    const behind = hls.liveSyncPosition;
    if (behind != null && video.currentTime > behind + 0.5) video.currentTime = behind;
  });
  $("audio").addEventListener("change", (e) => { hls.audioTrack = Number(e.target.value); });
  $("subtitles").addEventListener("change", (e) => {
    hls.subtitleTrack = Number(e.target.value);
    showCue();
  });
  // The chosen subtitle track stays "hidden" (its cues change, the browser draws none): the page
  // draws them itself, large (`showCue`).
  hls.subtitleDisplay = false;
  video.textTracks.addEventListener("addtrack", ({ track }) => track.addEventListener("cuechange", showCue));
  video.textTracks.addEventListener("change", showCue);
} else if (video.canPlayType("application/vnd.apple.mpegurl")) {
  // Safari plays HLS itself, and offers the audio and subtitle tracks in its own controls.
  video.src = playlist;
  video.controls = true;
  $("audio").parentElement.hidden = true;
  $("subtitles").parentElement.hidden = true;
  state("Ready");
} else {
  state("This browser cannot play HLS");
}

// Playback (and the analyser) need a tap.
$("play").addEventListener("click", async () => {
  if (!analyser) {
    const context = new AudioContext();
    analyser = context.createAnalyser();
    analyser.fftSize = 8192;
    analyser.smoothingTimeConstant = 0;
    const source = context.createMediaElementSource(video);
    source.connect(analyser);
    analyser.connect(context.destination);
    await context.resume();
  }
  if (video.paused) await video.play().catch(() => {});
  else video.pause();
});
// The button says what it will do; the badge what the player does.
video.addEventListener("play", () => { $("play").textContent = "Pause"; state("● Live"); });
video.addEventListener("pause", () => { $("play").textContent = "Play"; state("Paused"); });
