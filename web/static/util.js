// Small pure helpers for the demo page.

const ADJECTIVES = [
  "amber", "bold", "brisk", "calm", "clever", "cosmic", "crisp", "daring", "eager", "fancy",
  "gentle", "golden", "happy", "jolly", "lively", "lucky", "mellow", "merry", "misty", "nimble",
  "quiet", "rapid", "rosy", "sunny", "swift", "tidy", "vivid", "witty", "young", "zesty",
];
const NOUNS = [
  "badger", "comet", "falcon", "fern", "harbor", "heron", "island", "koala", "lantern", "maple",
  "meadow", "otter", "panda", "pebble", "pine", "puffin", "quartz", "river", "robin", "saturn",
  "sparrow", "summit", "tiger", "tulip", "valley", "walrus", "willow", "yak", "zebra", "orchid",
];

function pick(list) {
  const i = crypto.getRandomValues(new Uint32Array(1))[0] % list.length;
  return list[i];
}

/**
 * A room name such as "merry-otter-k3q7…": two words to recognise it by,
 * then 104 random bits (21 base-32 letters) so that nobody finds the room
 * by guessing. Rooms are open to whoever knows the name.
 */
export function randomRoomName() {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  const bytes = crypto.getRandomValues(new Uint8Array(13));
  let bits = 0;
  let acc = 0;
  let tail = "";
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      tail += alphabet[(acc >> bits) & 31];
    }
  }
  if (bits > 0) tail += alphabet[(acc << (5 - bits)) & 31];
  return `${pick(ADJECTIVES)}-${pick(NOUNS)}-${tail}`;
}

/** Mirrors the server's rule: 1-64 of A-Z a-z 0-9 . _ - */
export function validRoom(room) {
  return /^[A-Za-z0-9._-]{1,64}$/.test(room);
}

/**
 * Mirrors the server's rule: at most 64 bytes of UTF-8, printable in Go's
 * sense (letters, marks, numbers, punctuation, symbols and the ASCII space).
 */
export function validName(name) {
  const n = name.trim().toLowerCase();
  if (n === "you" || n === "me" || n.endsWith("(you)")) return false; // would pass for the local user
  return new TextEncoder().encode(name).length <= 64 && /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]*$/u.test(name);
}

/** A peer's name, or "Guest" plus the start of its id. */
export function displayName(name, id) {
  if (name) return name;
  return id ? `Guest ${String(id).slice(0, 4)}` : "Guest";
}

/** Up to two initials for an avatar. */
export function initials(name) {
  const words = String(name || "?").trim().split(/\s+/).filter(Boolean);
  const letters = words.slice(0, 2).map((w) => [...w][0].toUpperCase());
  return letters.join("") || "?";
}

/** HH:MM in the user's locale. */
export function formatTime(date) {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** What to tell the user when joining a room failed with err (a SignalingError). */
export function joinErrorText(err) {
  switch (err.code) {
    case "room_full":
      return "That room is full. Try another room name.";
    case "bad_room":
      return "That room name is not allowed.";
    case "bad_name":
      return "That display name is not allowed.";
    default:
      return `Could not join: ${err.message || err.code}`;
  }
}
