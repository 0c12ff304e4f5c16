/**
 * The node-wide count of bytes held on behalf of client connections (connectionsHeldBytesMax): each
 * connection's answers and deliveries not yet read (its socket's buffer, frames held for the end of
 * the turn), its push queue, and its requests in flight. Until 2026-12-07 each of these was bounded
 * per connection only, and connectionsMax connections (one user could open them all) multiplied them.
 *
 * Counting is cheap on the hot path: a holder is counted again when the server changes what it holds
 * (`note`), which adds the difference to the total. A socket drains without telling, so a count
 * only falls late: the total is an upper bound, and only when that bound says a hold does not fit
 * are all holders counted again (`fits`), one pass over the connections, and only near the limit.
 */
export class HeldBytes<H> {
  private readonly counted = new Map<H, number>();
  private countedTotal = 0;

  constructor(
    /** connectionsHeldBytesMax. */
    readonly bytesMax: number,
    /** What a holder holds now, in bytes. */
    private readonly holdsNow: (h: H) => number,
  ) {}

  /** Bytes held by every holder as last counted (at least what they hold now, see above). */
  get total(): number {
    return this.countedTotal;
  }

  /** What `h` holds changed: count it as it is now. */
  note(h: H): void {
    const now = this.holdsNow(h);
    this.countedTotal += now - (this.counted.get(h) ?? 0);
    this.counted.set(h, now);
  }

  /** `h` holds nothing any more (its connection closed). */
  forget(h: H): void {
    const was = this.counted.get(h);
    if (was === undefined) return;
    this.counted.delete(h);
    this.countedTotal -= was;
  }

  /** Whether `extraBytes` more fit within bytesMax; when the upper bound says no, every holder is counted again first. */
  fits(extraBytes: number): boolean {
    if (this.countedTotal + extraBytes <= this.bytesMax) return true;
    this.recount();
    return this.countedTotal + extraBytes <= this.bytesMax;
  }

  /** What `h` held when last counted (0: not counted). */
  heldBy(h: H): number {
    return this.counted.get(h) ?? 0;
  }

  /** Counts every holder again (a scrape, or a hold that the upper bound says does not fit); answers the total. */
  recount(): number {
    let total = 0;
    for (const h of this.counted.keys()) {
      const now = this.holdsNow(h);
      this.counted.set(h, now);
      total += now;
    }
    this.countedTotal = total;
    return total;
  }
}
