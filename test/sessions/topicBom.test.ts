/**
 * A topic that starts with U+FEFF (a byte order mark is a valid character, and the codec keeps it)
 * is the same topic wherever a replica reads it back: from a stored record's bytes (the leader's
 * deliver-ahead path, `recordTopicAt`; the scan that counts scheduled sessions per topic), from the
 * restore's parse, and from the command itself. A decoder with its default BOM handling dropped it
 * and named another topic.
 */
import { expect } from 'chai';
import { SessionsStore } from '../../actors/sessions/store.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { sessionView } from '../../actors/host/console/views.js';
import { Harness } from './helpers.js';

describe('a topic that starts with a byte order mark', () => {
  for (const topic of ['\uFEFForders', '\uFEFF\uFEFF', 'orders\uFEFF', 'orders']) {
    it(`reads back as itself from a stored record: ${JSON.stringify(topic)}`, () => {
      const store = new SessionsStore({ fs: new MemorySessionFs(), defer: (fn) => fn() });
      const h = new Harness([store], { replayDelaysMs: [1_000] });
      const session = h.createSession(topic, ['hello']);
      expect(store.getSession(session)?.topic).to.equal(topic);
      h.planner.storeSession(session, 0, {});
      h.settle();
      const files = store.dataFiles();
      expect(files.length).to.equal(1);
      const header = store.recordHeaderAt(files[0]!, 0);
      expect(store.recordTopicAt(files[0]!, 0, header)).to.equal(topic);
      // The scan counts it under its own topic; its restore, counted off by apply, takes it back.
      expect(store.scheduledOf(topic).classes.map((c) => c.sessions)).to.deep.equal([1]);
      h.now += 1_000;
      h.scheduler.tick();
      h.settle();
      expect(store.getSession(session)?.topic).to.equal(topic);
      expect(store.scheduledOf().classes).to.deep.equal([]);
    });
  }

  it('the console shows a record that starts with the mark as it is', () => {
    const store = new SessionsStore({ fs: new MemorySessionFs(), defer: (fn) => fn() });
    const h = new Harness([store], { replayDelaysMs: [1_000] });
    const session = h.createSession('orders', ['\uFEFFhello', 'plain']);
    const got = sessionView('n1', store, Buffer.from(session).toString('hex'), () => true);
    expect(got.status).to.equal(200);
    const body = got.body as { session: { records: readonly { text?: string }[] } | null };
    const records = body.session!.records;
    expect(records.map((r) => r.text)).to.deep.equal(['\uFEFFhello', 'plain']);
  });
});
