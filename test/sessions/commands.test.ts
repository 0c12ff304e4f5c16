import { expect } from 'chai';
import fc from 'fast-check';
import {
  CommandError,
  CommandErrorCode,
  CommandKind,
  CommandView,
  FEATURES_KNOWN,
  REPLAY_CLASSES_MAX,
  RESTORE_HOLD_MS_MAX,
  STORED_RECORD_HEADER_BYTES,
  commandId,
  dataFileName,
  decodeCommand,
  defaultCodecLimits,
  encodeAppend,
  encodeCommand,
  parseCommand,
  secretEquals,
  type Command,
  type Envelope,
} from '../../transport/commands/codec.js';

const SAFE = Number.MAX_SAFE_INTEGER;
/** The flags are the low bits: the next one up is a flag this version does not know (whatever flags come later). */
const UNKNOWN_FEATURE_BIT = FEATURES_KNOWN + 1;
if ((FEATURES_KNOWN & UNKNOWN_FEATURE_BIT) !== 0 || (UNKNOWN_FEATURE_BIT & (UNKNOWN_FEATURE_BIT - 1)) !== 0)
  throw new Error('the feature flags are not the low bits');
const arbId = fc.tuple(fc.integer({ min: 0, max: SAFE }), fc.integer({ min: 1, max: SAFE })).map(([t, i]) => commandId(t, i));
const arbClass = fc.integer({ min: 0, max: REPLAY_CLASSES_MAX - 1 });
const arbRecord = fc.uint8Array({ maxLength: 300 });
const arbSecret = fc.uint8Array({ minLength: 16, maxLength: 16 });
const arbEnvelope: fc.Arbitrary<Envelope | null> = fc.option(
  fc
    .tuple(arbId, arbSecret, fc.integer({ min: 1, max: SAFE }), fc.nat())
    .map(([client, secret, seq, k]) => ({ client, secret, seq, ackedBelowSeq: k % (seq + 1) })),
  { nil: null },
);
// Topics: printable, 1..256 UTF-8 bytes.
const arbTopic = fc
  .string({ unit: fc.oneof(fc.constantFrom('a', 'b', 'z', '.', '/', '-', ' '), fc.constantFrom('é', 'ж', '語', '😀')), minLength: 1, maxLength: 60 })
  .filter((s) => new TextEncoder().encode(s).length <= 256);
const arbLength = fc.integer({ min: STORED_RECORD_HEADER_BYTES, max: 1_000_000 });

const arbCommand: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant(CommandKind.sessionCreate), topic: arbTopic, envelope: arbEnvelope }),
  fc.record({ kind: fc.constant(CommandKind.sessionAppend), session: arbId, bytes: arbRecord, envelope: arbEnvelope }),
  fc.record({ kind: fc.constant(CommandKind.sessionRewrite), session: arbId, bytes: arbRecord, envelope: arbEnvelope }),
  fc.record({
    kind: fc.constant(CommandKind.sessionStore),
    session: arbId,
    replayClass: arbClass,
    dueMs: fc.integer({ min: 0, max: SAFE }),
    file: arbId,
    offset: fc.integer({ min: 0, max: SAFE }),
    length: arbLength,
    envelope: arbEnvelope,
  }),
  fc.record({ kind: fc.constant(CommandKind.sessionDestroy), session: arbId, envelope: arbEnvelope }),
  // Restore ahead (issue 20): with its hold or without.
  fc
    .record(
      {
        kind: fc.constant(CommandKind.sessionRestore),
        replayClass: arbClass,
        file: arbId,
        length: arbLength,
        holdMs: fc.integer({ min: 1, max: RESTORE_HOLD_MS_MAX }),
      },
      { requiredKeys: ['kind', 'replayClass', 'file', 'length'] },
    )
    .map((r): Command => r),
  fc.record({ kind: fc.constant(CommandKind.sessionCommit), replayClass: arbClass, file: arbId, length: arbLength }),
  fc.record({ kind: fc.constant(CommandKind.dataCreate), replayClass: arbClass }),
  fc.record({ kind: fc.constant(CommandKind.dataDelete), replayClass: arbClass, file: arbId }),
  fc.record({ kind: fc.constant(CommandKind.clientRegister), secret: arbSecret }),
  // Feature flags: any non-empty set of the bits this version knows.
  fc.record({ kind: fc.constant(CommandKind.featureEnable), features: fc.integer({ min: 1, max: FEATURES_KNOWN }) }),
  // Issue 16, dead letters: group 16 | restore 16.
  fc.record({ kind: fc.constantFrom(CommandKind.deadLetterReplay, CommandKind.deadLetterDelete), group: arbId, restore: arbId }),
  // Group answers: group 16 | restore 16 | delivery u32; GroupAck with the session it removes (and who asks) or without.
  fc
    .record(
      {
        kind: fc.constantFrom(CommandKind.groupAck, CommandKind.groupDeadLetter, CommandKind.groupNack),
        group: arbId,
        restore: arbId,
        delivery: fc.integer({ min: 1, max: 0xffffffff }),
        readyAtMs: fc.integer({ min: 0, max: SAFE }),
        remove: fc.record({ session: arbId, user: fc.oneof(fc.constant(''), fc.stringMatching(/^[A-Za-z0-9_.@-]{1,64}$/)) }),
      },
      { requiredKeys: ['kind', 'group', 'restore', 'delivery'] },
    )
    .map((r): Command => {
      const { kind, group, restore, delivery } = r;
      if (kind === CommandKind.groupNack) return { kind, group, restore, delivery, readyAtMs: r.readyAtMs ?? 0 };
      if (kind === CommandKind.groupAck && r.remove !== undefined) return { kind, group, restore, delivery, remove: r.remove };
      return { kind, group, restore, delivery };
    }),
);

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** A comparable form (Uint8Arrays as hex). */
function plain(c: Command): unknown {
  return JSON.parse(JSON.stringify(c, (_k, v: unknown) => (v instanceof Uint8Array ? hex(v) : v)));
}

describe('sessions: command codec', () => {
  it('round-trips every command kind (property)', () => {
    fc.assert(
      fc.property(arbCommand, (c) => {
        const data = encodeCommand(c);
        expect(plain(decodeCommand(data))).to.deep.equal(plain(c));
        // Encoding is canonical: decode then encode gives the same bytes.
        expect(hex(encodeCommand(decodeCommand(data)))).to.equal(hex(data));
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws anything but CommandError on arbitrary bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.boolean(), (raw, validHeader) => {
        // Every kind, the group, auth and feature kinds included (28: one past the last).
        const data = validHeader && raw.length >= 3 ? Uint8Array.from([2, raw[1]! % 28, raw[2]! & 1, ...raw.subarray(3)]) : raw;
        try {
          decodeCommand(data);
        } catch (err) {
          expect(err).to.be.instanceOf(CommandError);
          expect((err as CommandError).code).to.match(/^SESSIONS_ERR_/);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('rejects every truncation of a valid command', () => {
    fc.assert(
      fc.property(arbCommand, fc.nat(), (c, cut) => {
        const data = encodeCommand(c);
        const n = cut % data.length;
        const v = new CommandView();
        const err = parseCommand(v, data.subarray(0, n), defaultCodecLimits);
        // Append/rewrite may be cut inside their record and stay valid (the record is the rest).
        const recordKinds = c.kind === CommandKind.sessionAppend || c.kind === CommandKind.sessionRewrite;
        const envelopeBytes = 'envelope' in c && c.envelope !== null ? 48 : 0;
        // An ack that removes a session, cut right before that session, is a plain ack.
        const plainAck = c.kind === CommandKind.groupAck && c.remove !== undefined && n === 3 + 16 + 16 + 4;
        // A restore with a hold, cut right before the hold, is a restore without one.
        const plainRestore = c.kind === CommandKind.sessionRestore && c.holdMs !== undefined && n === 3 + 1 + 16 + 4;
        if (plainAck || plainRestore) expect(err).to.equal(null);
        else if (!(recordKinds && n >= 3 + envelopeBytes + 16)) expect(err).to.not.equal(null);
      }),
      { numRuns: 1000 },
    );
  });

  const session = commandId(3, 7);
  const file = commandId(2, 5);
  const store: Command = { kind: CommandKind.sessionStore, session, replayClass: 1, dueMs: 1000, file, offset: 0, length: 100, envelope: null };

  function mutate(c: Command, f: (b: Uint8Array) => Uint8Array | void): Uint8Array {
    const b = encodeCommand(c);
    return f(b) ?? b;
  }

  const limits = { topicBytesMax: 8, recordBytesMax: 16, storedRecordBytesMax: 1000 };
  const secret = new Uint8Array(16).fill(0xa5);
  const register: Command = { kind: CommandKind.clientRegister, secret };
  const removeAck: Command = { kind: CommandKind.groupAck, group: commandId(1, 4), restore: commandId(1, 9), delivery: 2, remove: { session, user: '' } };
  const removeAckAs: Command = { kind: CommandKind.groupAck, group: commandId(1, 4), restore: commandId(1, 9), delivery: 2, remove: { session, user: 'dave' } };
  // Envelope: client ID at 3, secret at 3 + 16, seq at 3 + 32, ackedBelowSeq at 3 + 40.
  const rejections: [string, Uint8Array, CommandErrorCode][] = [
    ['empty', new Uint8Array(0), CommandErrorCode.truncated],
    ['two bytes', Uint8Array.of(2, 2), CommandErrorCode.truncated],
    ['version 3', mutate(register, (b) => void (b[0] = 3)), CommandErrorCode.version],
    ['version 0', mutate(register, (b) => void (b[0] = 0)), CommandErrorCode.version],
    ['format 1 (before client secrets)', Uint8Array.of(1, 10, 0), CommandErrorCode.formatRetired],
    [
      'a format 1 enveloped append',
      Uint8Array.of(1, 2, 1, ...commandId(1, 2), 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, ...session, 0x61),
      CommandErrorCode.formatRetired,
    ],
    ['Confirm in the log', Uint8Array.of(2, 0, 0), CommandErrorCode.confirmInLog],
    ['kind 28', Uint8Array.of(2, 28, 0), CommandErrorCode.kind],
    ['a FeatureEnable of no flag', Uint8Array.of(2, CommandKind.featureEnable, 0, 0, 0, 0, 0), CommandErrorCode.feature],
    // The lowest bit above every known flag (they are the low bits), so a new flag never makes it known.
    [
      'a FeatureEnable of a flag this version does not know',
      Uint8Array.of(2, CommandKind.featureEnable, 0, ...[24, 16, 8, 0].map((shift) => (UNKNOWN_FEATURE_BIT >>> shift) & 0xff)),
      CommandErrorCode.feature,
    ],
    ['a FeatureEnable of the highest bit', Uint8Array.of(2, CommandKind.featureEnable, 0, 0x80, 0, 0, 1), CommandErrorCode.feature],
    ['a FeatureEnable cut short', Uint8Array.of(2, CommandKind.featureEnable, 0, 0, 0, 1), CommandErrorCode.truncated],
    ['a FeatureEnable with a byte after', Uint8Array.of(2, CommandKind.featureEnable, 0, 0, 0, 0, 1, 0), CommandErrorCode.trailing],
    ['a FeatureEnable with an envelope', Uint8Array.of(2, CommandKind.featureEnable, 1, 0, 0, 0, 1), CommandErrorCode.flags],
    ['kind 255', Uint8Array.of(2, 255, 0), CommandErrorCode.kind],
    ['unknown flag', Uint8Array.of(2, 10, 2), CommandErrorCode.flags],
    ['envelope on DataCreate', Uint8Array.of(2, 8, 1, ...new Uint8Array(49)), CommandErrorCode.flags],
    ['envelope on ClientRegister', Uint8Array.of(2, 10, 1, ...new Uint8Array(64)), CommandErrorCode.flags],
    [
      'envelope cut',
      mutate({ kind: CommandKind.sessionDestroy, session, envelope: { client: session, secret, seq: 1, ackedBelowSeq: 0 } }, (b) => b.subarray(0, 20)),
      CommandErrorCode.truncated,
    ],
    [
      'envelope cut in the secret',
      mutate({ kind: CommandKind.sessionDestroy, session, envelope: { client: session, secret, seq: 1, ackedBelowSeq: 0 } }, (b) => b.subarray(0, 3 + 16 + 8)),
      CommandErrorCode.truncated,
    ],
    [
      'envelope seq 0',
      mutate({ kind: CommandKind.sessionDestroy, session, envelope: { client: session, secret, seq: 1, ackedBelowSeq: 0 } }, (b) => void (b[3 + 39] = 0)),
      CommandErrorCode.envelope,
    ],
    [
      'acked above seq',
      mutate({ kind: CommandKind.sessionDestroy, session, envelope: { client: session, secret, seq: 1, ackedBelowSeq: 1 } }, (b) => void (b[3 + 47] = 2)),
      CommandErrorCode.envelope,
    ],
    [
      'client index 0',
      mutate(
        { kind: CommandKind.sessionDestroy, session, envelope: { client: commandId(1, 1), secret, seq: 1, ackedBelowSeq: 0 } },
        (b) => void (b[3 + 15] = 0),
      ),
      CommandErrorCode.id,
    ],
    ['register without its secret', Uint8Array.of(2, 10, 0), CommandErrorCode.truncated],
    ['register with 15 secret bytes', Uint8Array.of(2, 10, 0, ...new Uint8Array(15)), CommandErrorCode.truncated],
    [
      'session index 0',
      mutate({ kind: CommandKind.sessionDestroy, session: commandId(1, 1), envelope: null }, (b) => void (b[3 + 15] = 0)),
      CommandErrorCode.id,
    ],
    [
      'session term beyond 2^53',
      mutate({ kind: CommandKind.sessionAppend, session, bytes: new Uint8Array(1), envelope: null }, (b) => void (b[3] = 0xff)),
      CommandErrorCode.id,
    ],
    [
      'destroy with trailing byte',
      Uint8Array.of(...encodeCommand({ kind: CommandKind.sessionDestroy, session, envelope: null }), 0),
      CommandErrorCode.trailing,
    ],
    ['register with trailing byte', Uint8Array.of(2, 10, 0, ...new Uint8Array(16), 1, 0x61, 0), CommandErrorCode.trailing],
    // Issue 17: after the secret, an optional owner (a user name); an empty or invalid one is refused.
    ['register with an empty owner', Uint8Array.of(2, 10, 0, ...new Uint8Array(17)), CommandErrorCode.auth],
    ['UserPut with a bad name', Uint8Array.of(2, 17, 0, 1, 0x20, 0), CommandErrorCode.auth],
    ['UserPut with a hash that is not one', Uint8Array.of(2, 17, 0, 1, 0x61, 3, 1, 2, 3), CommandErrorCode.auth],
    ['RoleGrant with an unknown action', Uint8Array.of(2, 23, 0, 1, 0x72, 9, 0, 0, 0), CommandErrorCode.auth],
    ['RoleGrant admin with a prefix', Uint8Array.of(2, 23, 0, 1, 0x72, 5, 0, 1, 0x61, 0), CommandErrorCode.auth],
    ['empty topic', Uint8Array.of(2, 1, 0, 0, 0), CommandErrorCode.topicEmpty],
    ['topic too long', encodeCommand({ kind: CommandKind.sessionCreate, topic: 'ninechars', envelope: null }), CommandErrorCode.topicTooLong],
    ['topic with a control character', encodeCommand({ kind: CommandKind.sessionCreate, topic: 'a\nb', envelope: null }), CommandErrorCode.topicInvalid],
    ['topic not UTF-8', Uint8Array.of(2, 1, 0, 0, 2, 0xc3, 0x28), CommandErrorCode.topicInvalid],
    ['topic cut', Uint8Array.of(2, 1, 0, 0, 5, 0x61), CommandErrorCode.truncated],
    [
      'record too large',
      encodeCommand({ kind: CommandKind.sessionAppend, session, bytes: new Uint8Array(17), envelope: null }),
      CommandErrorCode.recordTooLarge,
    ],
    [
      'rewrite too large',
      encodeCommand({ kind: CommandKind.sessionRewrite, session, bytes: new Uint8Array(17), envelope: null }),
      CommandErrorCode.recordTooLarge,
    ],
    ['store class 16', mutate(store, (b) => void (b[3 + 16] = 16)), CommandErrorCode.replayClass],
    ['store due beyond 2^53', mutate(store, (b) => void (b[3 + 17] = 0xff)), CommandErrorCode.number],
    ['store offset beyond 2^53', mutate(store, (b) => void (b[3 + 17 + 8 + 16] = 0xff)), CommandErrorCode.number],
    ['store length below a header', encodeCommand({ ...store, length: 39 } as Command), CommandErrorCode.length],
    ['store length above the limit', encodeCommand({ ...store, length: 1001 } as Command), CommandErrorCode.length],
    ['store cut', mutate(store, (b) => b.subarray(0, b.length - 1)), CommandErrorCode.truncated],
    [
      'restore class 200',
      encodeCommand({ kind: CommandKind.sessionRestore, replayClass: 1, file, length: 100 }).map((x, i) => (i === 3 ? 200 : x)),
      CommandErrorCode.replayClass,
    ],
    ['commit length 0', encodeCommand({ kind: CommandKind.sessionCommit, replayClass: 1, file, length: 0 }), CommandErrorCode.length],
    ['DataCreate class 16', Uint8Array.of(2, 8, 0, 16), CommandErrorCode.replayClass],
    ['DataCreate without class', Uint8Array.of(2, 8, 0), CommandErrorCode.truncated],
    [
      'DataDelete file index 0',
      mutate({ kind: CommandKind.dataDelete, replayClass: 0, file: commandId(1, 1) }, (b) => void (b[4 + 15] = 0)),
      CommandErrorCode.id,
    ],
    // Remove on ack: group 16 | restore 16 | delivery u32 | session 16 | userLen u8 | user.
    ['an ack removing session index 0', mutate(removeAck, (b) => void (b[3 + 36 + 15] = 0)), CommandErrorCode.id],
    ['an ack removing a session whose term is beyond 2^53', mutate(removeAck, (b) => void (b[3 + 36] = 0xff)), CommandErrorCode.id],
    ['an ack with a session and no user byte', mutate(removeAck, (b) => b.subarray(0, b.length - 1)), CommandErrorCode.truncated],
    ['an ack with part of a session', mutate(removeAck, (b) => b.subarray(0, b.length - 2)), CommandErrorCode.truncated],
    ['an ack with a byte after its session and no user', Uint8Array.from([...encodeCommand(removeAck), 0]), CommandErrorCode.trailing],
    ['an ack with a byte after its user', Uint8Array.from([...encodeCommand(removeAckAs), 0]), CommandErrorCode.trailing],
    ['an ack whose user is cut', mutate(removeAckAs, (b) => b.subarray(0, b.length - 1)), CommandErrorCode.truncated],
    ['an ack whose user is not a name', mutate(removeAckAs, (b) => void (b[b.length - 1] = 0x20)), CommandErrorCode.auth],
    ['an ack of delivery 0', mutate(removeAck, (b) => void b.fill(0, 3 + 32, 3 + 36)), CommandErrorCode.number],
  ];

  for (const [name, data, code] of rejections) {
    it(`rejects ${name} with ${code}`, () => {
      const v = new CommandView();
      expect(parseCommand(v, data, limits)).to.equal(code);
      expect(() => decodeCommand(data, limits))
        .to.throw(CommandError)
        .with.property('code', code);
    });
  }

  it('says what a format 1 entry is: retired, written before client secrets', () => {
    expect(() => decodeCommand(Uint8Array.of(1, 10, 0))).to.throw(CommandError, /format 1 is retired.*secret/);
  });

  it('carries the secret in the envelope and in ClientRegister, at the offsets the view gives', () => {
    const client = commandId(4, 9);
    const data = encodeCommand({
      kind: CommandKind.sessionAppend,
      session,
      bytes: Uint8Array.of(1, 2, 3),
      envelope: { client, secret, seq: 7, ackedBelowSeq: 5 },
    });
    expect(data[0]).to.equal(2);
    expect(data.length).to.equal(3 + 48 + 16 + 3);
    const v = new CommandView();
    expect(parseCommand(v, data, limits)).to.equal(null);
    expect([v.clientHigh, v.clientLow, v.seq, v.ackedBelowSeq, v.secretAt]).to.deep.equal([4, 9, 7, 5, 3 + 16]);
    expect(hex(data.subarray(v.secretAt, v.secretAt + 16))).to.equal(hex(secret));
    const reg = encodeCommand(register);
    expect(reg.length).to.equal(3 + 16);
    expect(parseCommand(v, reg, limits)).to.equal(null);
    expect(hex(reg.subarray(v.secretAt, v.secretAt + 16))).to.equal(hex(secret));
    expect(() => encodeCommand({ kind: CommandKind.clientRegister, secret: new Uint8Array(15) })).to.throw(RangeError);
    expect(() =>
      encodeCommand({ kind: CommandKind.sessionDestroy, session, envelope: { client, secret: new Uint8Array(0), seq: 1, ackedBelowSeq: 0 } }),
    ).to.throw(RangeError);
  });

  it('compares secrets in place, every byte (no early exit), never past the data', () => {
    const data = Uint8Array.of(9, 9, ...secret, 9);
    expect(secretEquals(secret, data, 2)).to.equal(true);
    for (let k = 0; k < 16; k++) {
      const other = secret.slice();
      other[k] = other[k]! ^ 1;
      expect(secretEquals(other, data, 2), `byte ${k}`).to.equal(false);
    }
    expect(secretEquals(secret, data, 4)).to.equal(false); // runs past the end
    expect(secretEquals(secret, data, -1)).to.equal(false);
    expect(secretEquals(new Uint8Array(15), data, 2)).to.equal(false);
  });

  it('accepts the limits exactly', () => {
    const v = new CommandView();
    expect(parseCommand(v, encodeCommand({ kind: CommandKind.sessionCreate, topic: 'eightchr', envelope: null }), limits)).to.equal(null);
    expect(parseCommand(v, encodeCommand({ kind: CommandKind.sessionAppend, session, bytes: new Uint8Array(16), envelope: null }), limits)).to.equal(null);
    expect(parseCommand(v, encodeCommand({ ...store, length: 1000 } as Command), limits)).to.equal(null);
    expect(parseCommand(v, encodeCommand({ ...store, length: 40 } as Command), limits)).to.equal(null);
  });

  it('encodes an append compactly (3 + 16 + record bytes), the same as the generic encoder', () => {
    const rec = new Uint8Array(128).fill(7);
    const fast = encodeAppend(session, rec);
    expect(fast.length).to.equal(3 + 16 + 128);
    expect(hex(fast)).to.equal(hex(encodeCommand({ kind: CommandKind.sessionAppend, session, bytes: rec, envelope: null })));
  });

  it('names data files by class and creating ID', () => {
    expect(dataFileName(2, 1, 255)).to.equal('data/2/000000000000000100000000000000ff.dat');
  });

  it('refuses to encode values the format cannot carry', () => {
    expect(() => encodeCommand({ kind: CommandKind.dataCreate, replayClass: 16 })).to.throw(RangeError);
    expect(() => encodeCommand({ ...store, offset: -1 } as Command)).to.throw(RangeError);
    expect(() => encodeCommand({ kind: CommandKind.sessionDestroy, session: new Uint8Array(15), envelope: null })).to.throw(RangeError);
  });
});
