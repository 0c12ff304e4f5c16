/**
 * UTF-8 of strings that repeat on the hot path (topics, group and consumer names), made once and
 * shared: encoding a topic for every SessionCreate and every stored record was 2-3 % of the
 * leader's main thread on the delayed benchmark (TextEncoder.encode and its allocation).
 *
 * The arrays returned are shared: callers only read them (copy them into what they build). Pure:
 * no clock, no randomness; what is cached changes no output.
 *
 * Memory: at most UTF8_CACHE_STRINGS_MAX strings of at most UTF8_CACHE_CHARS_MAX characters (about
 * 200 KB at worst); when full it starts over (a workload with more distinct topics than that gains
 * nothing and loses only the lookups).
 */
const UTF8_CACHE_STRINGS_MAX = 256;
const UTF8_CACHE_CHARS_MAX = 256;

const encoder = new TextEncoder();
const cache = new Map<string, Uint8Array>();

export function utf8Of(s: string): Uint8Array {
  let b = cache.get(s);
  if (b !== undefined) return b;
  b = encoder.encode(s);
  if (s.length <= UTF8_CACHE_CHARS_MAX) {
    if (cache.size >= UTF8_CACHE_STRINGS_MAX) cache.clear();
    cache.set(s, b);
  }
  return b;
}
