/**
 * The simulator's simple disk model (used unless --disk-faults selects the real WAL on SimDisk):
 * what a node made durable survives a crash; of the writes still waiting for their fsync, a random
 * prefix survives. Writes are group-committed: everything issued while a sync runs goes into the
 * next one.
 */
import type { Entry, HardState, SnapshotMeta } from '../../machines/types.js';
import { crc32Bytes } from '../../storage/crc.js';
import type { DurableLog, LogWrite, Recovered, SnapshotBytes, SnapshotReader, SnapshotStore } from '../../storage/types.js';
import type { Rng } from './rng.js';
import type { Scheduler } from './scheduler.js';

export interface DiskLatency {
  syncMsMin: number;
  syncMsMax: number;
  /** A snapshot save takes this long, when set (else like a sync, up to twice as long). */
  snapshotSaveMs?: number;
}

/** What survives a crash. */
export class MemDisk {
  hardState: HardState = { term: 0, vote: null };
  readonly entries = new Map<number, Entry>();
  snapshot: { meta: SnapshotMeta; data: Uint8Array } | null = null;
  /** Called whenever the durable hard state changes (the checker watches it). */
  onHardState: ((hs: HardState) => void) | null = null;

  applyWrite(w: LogWrite): void {
    if (w.truncateFrom !== undefined) {
      for (const i of [...this.entries.keys()]) if (i >= w.truncateFrom) this.entries.delete(i);
    }
    for (const e of w.entries) this.entries.set(e.index, e);
    if (w.hardState !== undefined) {
      this.hardState = w.hardState;
      this.onHardState?.(w.hardState);
    }
  }

  recover(): Recovered {
    const base = this.snapshot?.meta.index ?? 0;
    const entries: Entry[] = [];
    for (let i = base + 1; this.entries.has(i); i++) entries.push(this.entries.get(i)!);
    return { hardState: this.hardState, snapshot: this.snapshot?.meta ?? null, entries, tornBytes: 0, corruption: null };
  }
}

export class MemDurableLog implements DurableLog {
  onDurable: (seq: number) => void = () => undefined;
  onFatal: (err: Error) => void = () => undefined;
  private nextSeq = 1;
  /** Written but not yet synced. */
  private queued: { seq: number; w: LogWrite }[] = [];
  private inFlight: { seq: number; w: LogWrite }[] = [];
  private crashed = false;

  constructor(
    private readonly disk: MemDisk,
    private readonly scheduler: Scheduler,
    private readonly rng: Rng,
    private readonly latency: DiskLatency,
    /** Planted bug: report a write durable as soon as it is written, before its fsync. */
    private readonly skipFsync: boolean,
  ) {}

  write(w: LogWrite): number {
    const seq = this.nextSeq++;
    this.queued.push({ seq, w });
    if (this.skipFsync) this.scheduler.schedule(0, () => !this.crashed && this.onDurable(seq));
    if (this.inFlight.length === 0) this.startSync();
    return seq;
  }

  private startSync(): void {
    this.inFlight = this.queued;
    this.queued = [];
    const delay = this.rng.int(this.latency.syncMsMin, this.latency.syncMsMax);
    this.scheduler.schedule(delay, () => {
      if (this.crashed) return;
      const batch = this.inFlight;
      this.inFlight = [];
      for (const { w } of batch) this.disk.applyWrite(w);
      if (!this.skipFsync) this.onDurable(batch[batch.length - 1]!.seq);
      if (this.queued.length > 0) this.startSync();
    });
  }

  compact(throughIndex: number): void {
    // Entries at or below a durable snapshot are never read again; drop them lazily.
    for (const i of [...this.disk.entries.keys()]) if (i <= throughIndex) this.disk.entries.delete(i);
  }

  close(cb: (err: Error | null) => void): void {
    cb(null);
  }

  /** The process died: a random prefix of the unsynced writes reached the disk anyway. */
  crash(): void {
    if (this.crashed) return;
    this.crashed = true;
    const unsynced = [...this.inFlight, ...this.queued];
    const kept = this.rng.int(0, unsynced.length);
    for (let k = 0; k < kept; k++) this.disk.applyWrite(unsynced[k]!.w);
  }
}

export class MemSnapshotStore implements SnapshotStore {
  private crashed = false;
  private pending: { meta: SnapshotMeta; data: Uint8Array }[] = [];

  constructor(
    private readonly disk: MemDisk,
    private readonly scheduler: Scheduler,
    private readonly rng: Rng,
    private readonly latency: DiskLatency,
  ) {}

  save(meta: SnapshotMeta, bytes: SnapshotBytes, cb: (err: Error | null) => void, _dataCrc?: number): void {
    const data = bytes instanceof Uint8Array ? bytes : Buffer.concat(bytes);
    const item = { meta, data };
    this.pending.push(item);
    this.scheduler.schedule(this.latency.snapshotSaveMs ?? this.rng.int(this.latency.syncMsMin, this.latency.syncMsMax * 2), () => {
      if (this.crashed) return;
      this.pending.splice(this.pending.indexOf(item), 1);
      if (this.disk.snapshot === null || this.disk.snapshot.meta.index < meta.index) this.disk.snapshot = item;
      cb(null);
    });
  }

  load(): { meta: SnapshotMeta; data: Uint8Array } | null {
    return this.disk.snapshot;
  }

  openData(meta: SnapshotMeta): SnapshotReader | null {
    const snap = this.disk.snapshot;
    if (snap === null || snap.meta.index !== meta.index || snap.meta.term !== meta.term) return null;
    // What was saved (a later save replaces the disk's snapshot, not these bytes).
    const data = snap.data;
    return { byteLength: data.byteLength, dataCrc: crc32Bytes(data, 0), read: (offset, length) => data.slice(offset, offset + length), close: () => undefined };
  }

  crash(): void {
    this.crashed = true;
    // A save still in progress may or may not have completed its rename.
    for (const item of this.pending) {
      if (this.rng.chance(0.5) && (this.disk.snapshot === null || this.disk.snapshot.meta.index < item.meta.index)) {
        this.disk.snapshot = item;
      }
    }
  }
}
