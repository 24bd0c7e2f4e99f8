// The panel's turn light (a room with `consecutive = true`): whether the next speaker may begin, or
// must wait while the last one is still being interpreted (GET …/languages and …/status: `turn`).
export function showTurn(element, turn) {
  element.hidden = !turn;
  if (!turn) return;
  const spoken = turn.spoken ? ` (${turn.spoken})` : "";
  const left = turn.wait_s === null ? "" : ` · about ${Math.ceil(turn.wait_s)} s`;
  element.textContent = {
    speaking: `● Speaking${spoken}`,
    interpreting: `Wait: still being interpreted${spoken} into ${turn.languages.join(", ")}${left}`,
    clear: "Clear: the next speaker may begin",
  }[turn.light];
  element.className = `badge turn turn-${turn.light}`;
}
