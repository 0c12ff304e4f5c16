/** Jittered exponential backoff for reconnects: delay_n = min(max, min * 2^n), drawn in [d/2, d]. */
export function backoffDelayMs(attempt: number, minMs: number, maxMs: number, random: () => number): number {
  const exp = Math.min(attempt, 30);
  const ceiling = Math.min(maxMs, minMs * 2 ** exp);
  return ceiling / 2 + random() * (ceiling / 2);
}
