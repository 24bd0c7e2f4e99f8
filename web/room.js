// Which room a page belongs to: its path says so on a server of several rooms (/r/{room}/…); a
// page at the top of a one-room server belongs to its only room.
const match = location.pathname.match(/^\/r\/([a-z0-9-]+)(?:\/|$)/);

export const room = match ? match[1] : null;

// A room's API path: /api/rooms/{room}/languages, or /api/languages on a one-room server.
export function api(path, id = room) {
  return id ? `/api/rooms/${encodeURIComponent(id)}${path}` : `/api${path}`;
}

// A listener's WebSocket path for one language of a room.
export function listenPath(lang, id = room) {
  const language = encodeURIComponent(lang);
  return id ? `/ws/listen/${encodeURIComponent(id)}/${language}` : `/ws/listen/${language}`;
}
