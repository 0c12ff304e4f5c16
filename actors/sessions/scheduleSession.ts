/**
 * Schedule: one client request that creates a session on a topic with one record and stores it for
 * replay (issue 20: the delayed-delivery job, which took three requests and three Raft rounds in a
 * row). It is three of the ten commands, as before: SessionCreate, SessionAppend, SessionStore,
 * under the envelope's seq, seq + 1 and seq + 2. What changes is who waits:
 *
 * - the append is proposed in the same batch as the create, right behind it. The session's ID is
 *   the create's entry ID, which nobody knows until the batch is appended: the planner writes it
 *   into the append just before Raft appends the batch (Planner.submitAfterCreate and bind), so
 *   create and append commit in one round. The node's `scheduleBinding` 'idle' does this only when
 *   nothing else is in the leader's flight (the default until 2026-12-06);
 * - otherwise the append is proposed once the leader appended the create, and the two commit in
 *   the same round or in two overlapping ones;
 * - the store is planned right behind the append (bound the same way, or not), when the planner
 *   can project the session's record (Planner.storeAfterCreate, storeAfterAppend: a new session
 *   with one append), so it commits with the append; otherwise it is planned once both are
 *   applied (from applied state). The answer is the store's, with the session's ID as its value;
 *   if the create or the append was refused, theirs.
 * - a retry whose create was applied by an earlier attempt goes on from it as before: the append
 *   once its answer is known, the store behind it (Planner.storeAfterAppend).
 *
 * Exactly-once: each step is answered from the client table when an earlier attempt applied it,
 * so a retry (same seqs) finishes what that attempt started; a retry that arrives while an
 * earlier attempt is still in flight is answered UNKNOWN_OUTCOME (retry later), never proposed a
 * second time. Once anything may have been appended, a failure is UNKNOWN_OUTCOME, never a code
 * that reads as "nothing applied".
 */
import { CommandKind, SCHEDULE_SEQS, type Command, type Envelope } from '../../transport/commands/codec.js';
import type { Entry } from '../../machines/types.js';
import { ResultCode, SessionsErrorCode } from './errors.js';
import type { CommandResult } from './types.js';

type Err = { readonly code: string; readonly message: string };
type Cb<E extends Err> = (err: E | null, result?: CommandResult, entry?: Entry) => void;

/** What the chain needs from the session node (SessionNode supplies it); `H` names a planned create. */
interface ScheduleSteps<E extends Err, H> {
  /** The applied result of the envelope's client for `seq` (SessionsStore.clientResult). */
  clientResult(env: Envelope, seq: number): CommandResult | 'stale' | 'unknown' | 'auth' | 'owner' | undefined;
  /** A command of the envelope's client with a seq in [first, first + count) is in the leader's flight. */
  seqsInFlight(env: Envelope, first: number, count: number): boolean;
  /**
   * Proposes `cmd` through the planner (no dedup: the chain did it); `onAppended` gets its entry ID.
   * Returns the planned command, or null when it was refused at once (`cb` has the error).
   */
  propose(cmd: Command, cb: Cb<E>, onAppended: (id: Uint8Array) => void): H | null;
  /**
   * Whether the append and the store go into the create's batch: always by default, or with
   * `scheduleBinding` 'idle' only when nothing is in the leader's flight (Planner.inFlight 0).
   * Binding under load once measured worse at 5,000/s falling due, when that row fell behind; since
   * it keeps up, binding every schedule is level there and a quarter faster at 16 producers
   * (docs/performance.md, "Every schedule in one round").
   */
  bindToCreate(): boolean;
  /** Planner.submitAfterCreate: the append, in the create's batch, bound to its ID; a refusal goes to `cb`. */
  proposeAfter(create: H, bytes: Uint8Array, envelope: Envelope | null, cb: Cb<E>): void;
  /** Planner.storeAfterCreate: the store behind that append, bound the same way; false when it must wait. */
  storeAfterCreate(create: H, replayClass: number, envelope: Envelope | null, topic: string, appendBytes: number, cb: Cb<E>): boolean;
  /** SessionNode.submit: answers an applied seq from the client table. */
  submit(cmd: Command, cb: Cb<E>): void;
  /**
   * Planner.storeAfterAppend: plan the store now, behind the append just proposed, with the record
   * projected from one append of `appendBytes` on `topic`; false when it must wait for them to apply.
   */
  storeAfterAppend(session: Uint8Array, replayClass: number, envelope: Envelope | null, topic: string, appendBytes: number, cb: Cb<E>): boolean;
  /** SessionNode.storeSession. */
  storeSession(session: Uint8Array, replayClass: number, envelope: Envelope | null, cb: Cb<E>): void;
  error(code: string, message: string): E;
}

/** Results the client table does not remember (a retry of the same seq may still apply). */
const NOT_RECORDED: ReadonlySet<string> = new Set([ResultCode.clientWindow, ResultCode.clientUnknown, ResultCode.seqStale]);

export function scheduleSession<E extends Err, H>(
  steps: ScheduleSteps<E, H>,
  req: { readonly topic: string; readonly bytes: Uint8Array; readonly replayClass: number; readonly envelope: Envelope | null },
  cb: Cb<E>,
): void {
  const env0 = req.envelope;
  const envAt = (k: number): Envelope | null => (env0 === null ? null : { ...env0, seq: env0.seq + k });
  if (env0 !== null && steps.seqsInFlight(env0, env0.seq, SCHEDULE_SEQS))
    return cb(steps.error('UNKNOWN_OUTCOME', `an earlier attempt of this schedule (seq ${env0.seq}) is still in flight: retry it later`));
  let finished = false;
  let proposed = false;
  let appendStarted = false;
  let session: Uint8Array | null = null;
  let created: CommandResult | null = null;
  let appended: CommandResult | null = null;
  /** The store was planned behind the append (storeAfterAppend); its answer, once applied. */
  let storedAhead = false;
  let stored: { r: CommandResult; entry: Entry | undefined } | null = null;
  const finish = (err: E | null, result?: CommandResult, entry?: Entry): void => {
    if (finished) return;
    finished = true;
    if (err !== null && proposed && err.code !== 'UNKNOWN_OUTCOME')
      return cb(steps.error('UNKNOWN_OUTCOME', `part of the schedule may be applied (${err.code}: ${err.message}); retry it with the same seqs`));
    cb(err, result, entry);
  };
  /** A later step's answer once the create applied: the session exists, whatever the step says. */
  const afterCreate = (step: 'append' | 'store', r: CommandResult, entry?: Entry): void => {
    if (r.ok || !NOT_RECORDED.has(r.code)) return finish(null, { ...r, value: session }, entry);
    // "Not applied, not remembered" (the client's window, an evicted client, a stale seq): a retry
    // with the same seqs goes on from the create, so the outcome is unknown, not a refusal.
    finish(steps.error('UNKNOWN_OUTCOME', `the session was created; its ${step} was not applied (${r.code}): retry with the same seqs`));
  };
  const toStore = (): void => {
    if (created === null || appended === null || finished) return;
    if (!created.ok) return finish(null, created);
    if (created.value === null || session === null || Buffer.compare(created.value, session) !== 0)
      // Another request reused this schedule's seq (a create under the same envelope): nothing of ours is whole.
      return finish(steps.error('UNKNOWN_OUTCOME', `seq ${env0?.seq ?? 0} was used by another request of this client`));
    if (!appended.ok) return afterCreate('append', appended);
    if (storedAhead) {
      if (stored !== null) afterCreate('store', stored.r, stored.entry);
      return;
    }
    steps.storeSession(session, req.replayClass, envAt(2), (err, r, entry) => (err !== null ? finish(err) : afterCreate('store', r!, entry)));
  };
  const append = (): void => {
    if (appendStarted) return;
    appendStarted = true;
    proposed = true;
    let answered = false;
    steps.submit({ kind: CommandKind.sessionAppend, session: session!, bytes: req.bytes, envelope: envAt(1) }, (err, r) => {
      answered = true;
      if (err !== null) return finish(err);
      appended = r!;
      toStore();
    });
    // Answered at once (a retry's remembered append, or a refusal): nothing in flight to plan behind.
    if (answered || finished) return;
    storedAhead = steps.storeAfterAppend(session!, req.replayClass, envAt(2), req.topic, req.bytes.length, (err, r, entry) => {
      if (err !== null) return finish(err);
      stored = { r: r!, entry };
      toStore();
    });
  };
  const seen = env0 === null ? undefined : steps.clientResult(env0, env0.seq);
  if (seen === 'auth') return cb(steps.error(SessionsErrorCode.clientAuth, 'the envelope does not carry the secret of its client ID'));
  if (seen === 'owner') return cb(steps.error(SessionsErrorCode.clientOwner, 'the client ID was registered by another user'));
  if (seen === 'stale') return cb(null, { ok: false, code: ResultCode.seqStale, value: null });
  if (typeof seen === 'object') {
    // A retry: the create was applied by an earlier attempt; go on from its answer.
    created = { ...seen, duplicate: true };
    if (!seen.ok || seen.value === null) return cb(null, created);
    session = seen.value;
    return append();
  }
  if (env0 !== null) {
    // The create was never applied, but an earlier attempt's append was (against no session: its
    // create was refused without being remembered). The schedule changed nothing; a new create now
    // would be followed by that remembered append result, leaving an empty session.
    const next = steps.clientResult(env0, env0.seq + 1);
    if (typeof next === 'object') return cb(null, { ...next, duplicate: true, value: null });
  }
  proposed = true;
  // Asked before the create joins the flight (it would count itself).
  const bindAhead = steps.bindToCreate();
  const create = steps.propose(
    { kind: CommandKind.sessionCreate, topic: req.topic, envelope: env0 },
    (err, r) => {
      if (err !== null) {
        // Every error after the leader accepted the create is UNKNOWN_OUTCOME; any other is a
        // refusal before it was appended, and then nothing of the schedule is in the log.
        if (session === null && err.code !== 'UNKNOWN_OUTCOME') proposed = false;
        return finish(err);
      }
      created = r!;
      if (created.ok && session === null && created.value !== null) {
        // Applied, but the planner never reported it appended (it lost and regained leadership in
        // between, dropping what it tracked): go on from the applied create.
        session = created.value;
        append();
      }
      toStore();
    },
    (id) => {
      session = id;
      append();
    },
  );
  if (create === null || finished || !bindAhead) return;
  appendStarted = true;
  let answered = false;
  steps.proposeAfter(create, req.bytes, envAt(1), (err, r) => {
    answered = true;
    if (err !== null) return finish(err);
    appended = r!;
    toStore();
  });
  if (answered || finished) return;
  storedAhead = steps.storeAfterCreate(create, req.replayClass, envAt(2), req.topic, req.bytes.length, (err, r, entry) => {
    if (err !== null) return finish(err);
    stored = { r: r!, entry };
    toStore();
  });
}
