/**
 * UTF-8 fields that repeat in entries (a topic in every SessionCreate, a consumer's name in every
 * GroupDeliver), decoded once: `TextDecoder` with `fatal` cost 1-2 µs a call, and the leader decodes
 * each command it plans and each entry it applies (the consumer's name: 1.5-2 % of the leader's time
 * at 128 producers in the delayed benchmark, 2026-12-06). A small ring of recent (bytes, text)
 * pairs answers a field whose bytes it holds without decoding or allocating.
 *
 * Pure: the same bytes give the same string either way, and invalid UTF-8 throws as the decoder
 * does (it is never cached). Memory: RECENT_MAX copies of at most RECENT_BYTES_MAX bytes each.
 */
const RECENT_MAX = 16;
const RECENT_BYTES_MAX = 256;

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const recentBytes: Uint8Array[] = [];
const recentText: string[] = [];
let nextSlot = 0;

function sameAt(cached: Uint8Array, data: Uint8Array, at: number): boolean {
  for (let i = 0; i < cached.length; i++) if (cached[i] !== data[at + i]) return false;
  return true;
}

/** The text of data[at, at + len) (fatal: throws a TypeError on invalid UTF-8, like TextDecoder). */
export function utf8Text(data: Uint8Array, at: number, len: number): string {
  if (len > RECENT_BYTES_MAX) return decoder.decode(data.subarray(at, at + len));
  for (let k = 0; k < recentBytes.length; k++) {
    const b = recentBytes[k]!;
    if (b.length === len && sameAt(b, data, at)) return recentText[k]!;
  }
  const text = decoder.decode(data.subarray(at, at + len));
  // A copy of its own (`slice` of a Buffer, such as a data file's read window, would be a view).
  recentBytes[nextSlot] = new Uint8Array(data.subarray(at, at + len));
  recentText[nextSlot] = text;
  nextSlot = (nextSlot + 1) % RECENT_MAX;
  return text;
}
