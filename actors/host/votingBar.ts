/**
 * The voting bar (issue 9): a node on empty storage may have voted under its ID before it lost its
 * disk, so unless it starts a new cluster (--bootstrap) it must not vote or campaign until the
 * configuration holds it as a learner again. The bar outlives restarts as a marker file,
 * `<dataDir>/voting-barred`, written and removed through the storage `FileSystem` like every other
 * durable write (temporary file, fdatasync, rename, directory fsync).
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { NodeId } from '../../machines/types.js';
import { runSteps } from '../../storage/steps.js';
import type { FileSystem, Recovered } from '../../storage/types.js';

const VOTING_BAR_FILE = 'voting-barred';
const VOTING_BAR_TEMP_FILE = 'voting-barred.tmp';

/** What an operator reads when a node on empty storage may not vote (log and /status). */
export function votingBarredNote(id: NodeId, address: string): string {
  return (
    `this node started on empty storage without --bootstrap: it may have voted as ${id} before losing its data, so it does not vote or campaign ` +
    `until the cluster holds it as a learner again. On the cluster: \`sessionraft member remove ${id}\`, then \`sessionraft member add ${id} ${address} --promote-when-caught-up\` ` +
    `(or start it under a new ID with --join and add that). Only the nodes of a brand-new cluster start with --bootstrap.`
  );
}

/** What the bar is decided from at start. */
interface VotingBarStart {
  readonly id: NodeId;
  /** This node's address as members carry it (for the operator's instructions). */
  readonly address: string;
  readonly bootstrap: boolean;
  readonly join: boolean;
  readonly recovered: Recovered;
}

export class VotingBar {
  /** Mirrors the Raft node's bar (set at start, lifted once the configuration holds us as a learner). */
  barred = false;
  /** The bar was lifted with the log through this index: the marker goes once more is durable. */
  private liftIndex: number | null = null;

  constructor(
    private readonly fs: FileSystem,
    private readonly dataDir: string,
    private readonly logger: Logger,
  ) {}

  /** `<dataDir>/voting-barred`: present while this node may not vote. */
  get markerPath(): string {
    return join(this.dataDir, VOTING_BAR_FILE);
  }

  /**
   * Decides the bar from the recovered storage and the marker, makes a new bar durable before
   * anything else is written, and says so in the log. Rejects when the marker cannot be written.
   */
  async decideAtStart(s: VotingBarStart): Promise<void> {
    const rec = s.recovered;
    const emptyStorage = rec.hardState.term === 0 && rec.hardState.vote === null && rec.entries.length === 0 && rec.snapshot === null;
    const marked = this.fs.exists(this.markerPath);
    // A marker stays in force at start, whatever configuration the log holds: only Raft lifts the
    // bar (machines/core.ts liftVotingBar: the committed configuration holds this node as a learner
    // and the leader checked its log through the commit index), and `followRaft` mirrors it. Until
    // 2026-12-07 a configuration in the log that held this node as a learner lifted it here, which
    // could be one from before the node lost its disk (a review).
    this.barred = marked || (emptyStorage && !s.bootstrap);
    if (this.barred && !marked) await this.writeMarker(`${new Date().toISOString()} started on empty storage without --bootstrap\n`);
    if (this.barred && s.join) {
      this.logger.info(
        { code: 'NODE_JOINING' },
        `joining the cluster as a learner: run \`sessionraft member add ${s.id} ${s.address}\` against the cluster, then \`sessionraft member promote ${s.id}\` once it caught up (or \`member add --promote-when-caught-up\`)`,
      );
    } else if (this.barred) {
      this.logger.warn({ code: 'NODE_VOTING_BARRED' }, votingBarredNote(s.id, s.address));
    }
  }

  /**
   * After each step: Raft lifted its bar (`raftBarred` false). The host's copy follows, and the
   * marker stays until the log through `lastLogIndex` is durable. Until 2026-12-07 the host lifted
   * its copy as soon as any configuration held this node as a learner, a snapshot's included, while
   * Raft kept refusing votes (a review): /status said "not barred" and the marker went.
   */
  followRaft(raftBarred: boolean, lastLogIndex: number): void {
    if (!this.barred || raftBarred) return;
    this.barred = false;
    this.liftIndex = lastLogIndex;
    this.logger.info({ code: 'NODE_VOTING_BAR_LIFTED' }, 'the cluster holds this node as a learner: it votes once promoted');
  }

  /**
   * Every tick: removes the marker once the log through `liftIndex` (the configuration that lifted
   * the bar is at or below it) is durable. Until 2026-12-07 it waited for a later entry: with the
   * promotion already in the log at the lift and nothing written after it, the marker stayed, and a
   * restart then barred the node for good (a voter is never a learner again, so Raft never lifts it).
   */
  afterPersisted(persistedIndex: number): void {
    if (this.liftIndex === null || persistedIndex < this.liftIndex) return;
    this.liftIndex = null;
    void this.removeMarker();
  }

  /** Writes the marker and makes it durable: temporary file, fdatasync, rename, directory fsync. */
  private writeMarker(text: string): Promise<void> {
    const temp = join(this.dataDir, VOTING_BAR_TEMP_FILE);
    const bytes = new TextEncoder().encode(text);
    return new Promise((resolve, reject) => {
      const handle = this.fs.open(temp, 'create');
      // Closed exactly once: a second close could hit a descriptor number the process reused.
      let open = true;
      const close = (): void => {
        if (open) {
          open = false;
          handle.close();
        }
      };
      runSteps(
        [
          (next) => handle.write(bytes, 0, next),
          (next) => handle.sync(next),
          (next) => {
            close();
            this.fs.rename(temp, this.markerPath);
            this.fs.syncDir(this.dataDir, next);
          },
        ],
        (err) => {
          if (err !== null) {
            close();
            reject(err);
          } else resolve();
        },
      );
    });
  }

  /** Removes the marker durably (unlink, directory fsync); never rejects, a failure is logged. */
  private removeMarker(): Promise<void> {
    return new Promise((resolve) => {
      const failed = (err: Error): void => {
        if ((err as { code?: string }).code !== 'ENOENT') this.logger.error({ err }, 'cannot remove the voting-barred marker');
        resolve();
      };
      try {
        this.fs.unlink(this.markerPath);
      } catch (err) {
        failed(err as Error);
        return;
      }
      this.fs.syncDir(this.dataDir, (err) => (err === null ? resolve() : failed(err)));
    });
  }
}
