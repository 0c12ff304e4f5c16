/**
 * The store digest for /status?digest=1, bounded in cost: hashing the whole store takes hundreds of
 * milliseconds on the event loop with tens of MiB of sessions, and 100 concurrent requests stalled
 * writes for 2.5 s (issue 14). The digest is cached per applied index, and recomputed at most once
 * per `recomputeIntervalMsMin`; in between, a request gets the last digest with the index it was
 * computed at (`digestIndex`), so a reader can tell a current digest (digestIndex equals
 * appliedIndex) from an older one. An idle node always answers the digest of its applied state.
 */
export interface StoreDigest {
  readonly digest: string;
  /** The applied index the digest was computed at. */
  readonly digestIndex: number;
}

export class DigestCache {
  private cached: StoreDigest | null = null;
  private computedAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly compute: () => string,
    private readonly appliedIndex: () => number,
    private readonly nowMs: () => number,
    private readonly recomputeIntervalMsMin = 1000,
  ) {}

  get(): StoreDigest {
    const index = this.appliedIndex();
    if (this.cached !== null && this.cached.digestIndex === index) return this.cached;
    const now = this.nowMs();
    if (this.cached !== null && now - this.computedAtMs < this.recomputeIntervalMsMin) return this.cached;
    this.cached = { digest: this.compute(), digestIndex: index };
    this.computedAtMs = now;
    return this.cached;
  }
}
