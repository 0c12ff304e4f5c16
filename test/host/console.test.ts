/**
 * The console's parts without a cluster (issue 19): the chart is the machine's own definition, the
 * recorder's rings stay bounded, the routes answer GET and HEAD with self-contained documents, and
 * the topics view counts scheduled sessions within its bound. The browser test over a live cluster
 * is test/node/consoleBrowser.test.ts.
 */
import { expect } from 'chai';
import { request } from 'node:http';
import { setup, type InspectionEvent } from 'xstate';
import { AdminHttp } from '../../actors/host/adminHttp.js';
import { chartOf, raftChartJson } from '../../actors/host/console/chart.js';
import { ConsoleRecorder, samplesKept, transitionsKept } from '../../actors/host/console/recorder.js';
import { ConsoleRoutes, type ConsoleReply, type ConsoleSources } from '../../actors/host/console/routes.js';
import { StatusFetchCode, StatusFetchError } from '../../transport/peer/statusDial.js';
import { scheduledCountMax, topicsView } from '../../actors/host/console/views.js';
import type { HostStatus } from '../../actors/host/statusViews.js';
import type { RaftCore } from '../../machines/core.js';
import { createRaftMachine } from '../../machines/raftMachine.js';

function snapshotEvent(value: string, term: number, event: Record<string, unknown>): InspectionEvent {
  const actorRef = { sessionId: 'x:0' };
  return { type: '@xstate.snapshot', rootId: 'x:0', actorRef, event, snapshot: { value, context: { term } } } as unknown as InspectionEvent;
}

function status(node: string, nodes: HostStatus['nodes'] = {}): HostStatus {
  return {
    node,
    clusterId: 'test',
    pid: 1,
    uptimeMs: 1000,
    role: 'leader',
    term: 3,
    leader: node,
    leaderClient: null,
    vote: node,
    commitIndex: 10,
    appliedIndex: 10,
    lastIndex: 10,
    persistedIndex: 10,
    snapshotIndex: 0,
    corrupt: false,
    stopped: false,
    votingBarred: false,
    voters: Object.keys(nodes),
    learners: [],
    nodes,
    replayDelaysMs: [1000],
    features: { supported: ['restore-ahead', 'remove-on-ack'], enabled: [] },
    store: { appliedIndex: 10, activeSessions: 0, activeBytes: 0, dataFiles: 0, clients: 0 },
    client: { connections: 0, subscriptions: 0, rejectedTotal: 0 },
    transport: { sent: 0, received: 0, dropped: 0, rejectedTotal: 0, admittedPeers: 0 },
  };
}

interface FakeFile {
  replayClass: number;
  high: number;
  low: number;
  name: string;
  size: number;
  readCursor: number;
  restoredLengths: number[];
}

/** A consumer group as the console reads it: its items (deliveries, the held record's file) and dead letters. */
interface FakeGroup {
  topic: string;
  name: string;
  maxDeliveries: number;
  items: Map<number, { deliveries: number; inFlight: boolean; consumer: string; restore: { fileHigh: number; fileLow: number } }>;
  dead: Map<number, { restore: { fileHigh: number; fileLow: number } | null }>;
  deadTotal: number;
}

/**
 * A store with `records` stored records of 100 bytes in class 0 (file 0.1), due one second apart,
 * an empty file of class 1 (0.2), and `groups`.
 */
function fakeStore(
  records: number,
  sessions: { topic: string; bytes: number }[] = [],
  groups: FakeGroup[] = [],
): ConsoleSources['store'] extends () => infer S ? S : never {
  const file: FakeFile = { replayClass: 0, high: 0, low: 1, name: 'data/0/f.dat', size: records * 100, readCursor: 0, restoredLengths: [100, 100] };
  const other: FakeFile = { replayClass: 1, high: 0, low: 2, name: 'data/1/g.dat', size: 0, readCursor: 0, restoredLengths: [] };
  return {
    dataFiles: () => (groups.length > 0 ? [file, other] : [file]),
    consumerGroups: () => groups.values(),
    groupCounts: (g: FakeGroup) => {
      const items = [...g.items.values()];
      return {
        topic: g.topic,
        name: g.name,
        ready: items.filter((i) => !i.inFlight).length,
        inFlight: items.filter((i) => i.inFlight).length,
        redelivered: items.filter((i) => i.deliveries > 1).length,
        deadLettered: g.deadTotal,
        deadLetters: g.dead.size,
      };
    },
    recordHeaderAt: (_f: unknown, offset: number) => ({
      length: 100,
      isVoid: false,
      dueMs: 1_000_000 + (offset / 100) * 1000,
      sessionHigh: 0,
      sessionLow: 0,
      topicBytes: 1,
      recordCount: 1,
    }),
    listSessions: () => sessions.map((s, k) => ({ id: new Uint8Array(16).fill(k), topic: s.topic, records: [], bytes: s.bytes })),
    stats: () => ({ appliedIndex: 42 }),
    getSession: (id: Uint8Array) =>
      id[15] === 7 ? { id, topic: 'orders', records: [new TextEncoder().encode('first item'), Uint8Array.from([0xff, 0xfe])], bytes: 12 } : null,
  } as never;
}

function routes(nodes: HostStatus['nodes'] = {}, store = fakeStore(3), more: Partial<ConsoleSources> = {}): ConsoleRoutes {
  return new ConsoleRoutes({
    id: 'n1',
    clusterId: 'test',
    replayDelaysMs: [1000, 10_000],
    recorder: new ConsoleRecorder(),
    status: () => status('n1', nodes),
    store: () => store,
    ...more,
  });
}

async function reply(r: ConsoleReply | Promise<ConsoleReply> | null): Promise<ConsoleReply> {
  expect(r).to.not.equal(null);
  return await r!;
}

function bodyText(r: ConsoleReply): string {
  return typeof r.body === 'string' ? r.body : r.body.toString('utf8');
}

/** A viewer who may read every topic (the console without logins). */
const everyone = (): boolean => true;

describe('console: the chart is the Raft machine read at run time', function () {
  it('has the four roles, follower first, and every transition the machine defines', function () {
    const chart = raftChartJson();
    expect(chart.states.map((s) => s.key)).to.deep.equal(['follower', 'preCandidate', 'candidate', 'leader']);
    expect(chart.initial).to.equal('follower');
    const machine = createRaftMachine(null as unknown as RaftCore);
    let defined = 0;
    for (const node of [machine.root, ...Object.values(machine.root.states)]) {
      for (const ts of node.transitions.values()) defined += ts.length;
      defined += node.always?.length ?? 0;
    }
    expect(chart.transitions).to.have.length(defined);
    const has = (source: string, target: string | null, event: string): boolean =>
      chart.transitions.some((t) => t.source === source && t.target === target && t.event === event);
    expect(has('candidate', 'leader', 'always'), 'candidate -> leader once the campaign is won').to.equal(true);
    // Messages are judged by term once, at the root; the roles see current-term events.
    expect(has('preCandidate', 'candidate', 'current.voteResp')).to.equal(true);
    expect(has('leader', 'follower', 'tick'), 'a leader that lost its quorum steps down').to.equal(true);
    expect(has('*', 'follower', 'rpc.*'), 'the root adopts a newer term in any state').to.equal(true);
    expect(chart.transitions.find((t) => t.source === 'follower' && t.event === 'tick' && t.target === 'preCandidate')?.guard).to.equal('canCampaignAtTimeout');
  });

  it('reads after and always of any machine, so a new kind of transition shows up', function () {
    const m = setup({}).createMachine({
      id: 'tiny',
      initial: 'a',
      states: { a: { after: { 500: 'b' }, on: { GO: { target: 'b', actions: 'noted' } } }, b: { always: { target: 'a', guard: 'back' } } },
    } as never);
    const chart = chartOf(m);
    expect(chart.transitions).to.deep.include({ source: 'a', target: 'b', event: 'after 500', guard: null, actions: [], reenter: false });
    expect(chart.transitions).to.deep.include({ source: 'a', target: 'b', event: 'GO', guard: null, actions: ['noted'], reenter: false });
    expect(chart.transitions).to.deep.include({ source: 'b', target: 'a', event: 'always', guard: 'back', actions: [], reenter: false });
  });
});

describe('console: the recorder keeps bounded rings', function () {
  it('records a transition when the state or the term changes, with its event and peer, at most transitionsKept', function () {
    const r = new ConsoleRecorder(() => 5000);
    r.inspect(snapshotEvent('follower', 0, { type: 'xstate.init' }));
    r.inspect(snapshotEvent('follower', 0, { type: 'tick' }));
    r.inspect(snapshotEvent('preCandidate', 0, { type: 'tick' }));
    r.inspect(snapshotEvent('candidate', 1, { type: 'rpc.voteResp', msg: { from: 'n2' } }));
    expect(r.recentTransitions()).to.deep.equal([
      { at: 5000, from: null, to: 'follower', event: 'xstate.init', term: 0 },
      { at: 5000, from: 'follower', to: 'preCandidate', event: 'tick', term: 0 },
      { at: 5000, from: 'preCandidate', to: 'candidate', event: 'rpc.voteResp', peer: 'n2', term: 1 },
    ]);
    for (let k = 0; k < 3 * transitionsKept; k++) r.inspect(snapshotEvent(k % 2 === 0 ? 'leader' : 'follower', 2 + k, { type: 'tick' }));
    expect(r.recentTransitions(10_000)).to.have.length(transitionsKept);
    expect(r.recentTransitions(10_000).at(-1)!.term).to.equal(1 + 3 * transitionsKept);
  });

  it('ignores child actors and other inspection events', function () {
    const r = new ConsoleRecorder();
    r.inspect({ type: '@xstate.event', rootId: 'x:0', actorRef: { sessionId: 'x:0' }, event: { type: 'tick' } } as unknown as InspectionEvent);
    r.inspect({ ...snapshotEvent('leader', 1, { type: 'tick' }), rootId: 'other' } as InspectionEvent);
    expect(r.recentTransitions()).to.deep.equal([]);
  });

  it('closes one sample a second with entries committed and command latency, at most samplesKept', function () {
    let now = 10_000;
    const r = new ConsoleRecorder(() => now);
    r.afterTick(100);
    r.observeCommit(0.002);
    r.observeCommit(0.004);
    now += 1000;
    r.afterTick(150);
    expect(r.recentSamples()).to.deep.equal([
      { at: 11_000, committed: 50, commands: 2, latencyMeanMs: 3, latencyMaxMs: 4, deliveries: 0, deliveryLateMeanMs: null, deliveryLateMaxMs: null },
    ]);
    r.observeDeliveryLate(12);
    r.observeDeliveryLate(0);
    r.observeDeliveryLate(3);
    now += 1000;
    r.afterTick(150);
    expect(r.recentSamples().at(-1)).to.include({ at: 12_000, deliveries: 3, deliveryLateMeanMs: 5, deliveryLateMaxMs: 12 });
    for (let k = 0; k < samplesKept + 20; k++) {
      now += 1000;
      r.afterTick(150 + k);
    }
    expect(r.recentSamples()).to.have.length(samplesKept);
    expect(r.recentSamples().at(-1)!.latencyMeanMs).to.equal(null);
  });
});

describe('console: routes', function () {
  it('serves the page with a same-origin policy, and the page, script and styles name no other host', async function () {
    const r = routes();
    const page = await reply(r.handle('/', new URLSearchParams(), everyone));
    expect(page.status).to.equal(200);
    expect(page.contentType).to.match(/^text\/html/);
    expect(page.headers?.['content-security-policy']).to.include("default-src 'none'").and.include("script-src 'self'").and.include("connect-src 'self'");
    const js = await reply(r.handle('/console/console.js', new URLSearchParams(), everyone));
    const css = await reply(r.handle('/console/console.css', new URLSearchParams(), everyone));
    expect(js.status).to.equal(200);
    expect(js.contentType).to.match(/^text\/javascript/);
    expect(css.contentType).to.match(/^text\/css/);
    for (const doc of [page, js, css]) {
      // The SVG namespace is a name, not a request.
      const urls = bodyText(doc).match(/(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/gi) ?? [];
      expect(
        urls.filter((u) => u !== 'http://www.w3.org'),
        'no other host',
      ).to.deep.equal([]);
      expect(bodyText(doc)).to.not.match(/@import|fonts\.googleapis|cdn/i);
    }
    expect(bodyText(page)).to.include('<script type="module" src="/console/console.js"></script>');
  });

  it('escapes the node and cluster names it renders into the page', async function () {
    const r = new ConsoleRoutes({
      id: '<n1>',
      clusterId: '"x"&',
      replayDelaysMs: [],
      recorder: new ConsoleRecorder(),
      status: () => status('n1'),
      store: () => fakeStore(0),
    });
    const page = bodyText(await reply(r.handle('/', new URLSearchParams(), everyone)));
    expect(page).to.include('&lt;n1&gt;').and.include('&quot;x&quot;&amp;');
    expect(page).to.not.include('<n1>');
  });

  it('leaves other paths to the admin port (null)', function () {
    const r = routes();
    for (const p of ['/nope', '/console/nope', '/console/../status', '/console/console.js/x'])
      expect(r.handle(p, new URLSearchParams(), everyone), p).to.equal(null);
  });

  it('looks a session up by ID, and refuses an ID that is not 32 hex digits', async function () {
    const r = routes();
    const bad = await reply(r.handle('/console/session', new URLSearchParams('id=xyz'), everyone));
    expect(bad.status).to.equal(400);
    expect(JSON.parse(bodyText(bad)).error).to.equal('ADMIN_ERR_BAD_REQUEST');
    expect((await reply(r.handle('/console/session', new URLSearchParams(), everyone))).status).to.equal(400);
    const none = JSON.parse(bodyText(await reply(r.handle('/console/session', new URLSearchParams(`id=${'0'.repeat(32)}`), everyone))));
    expect(none).to.deep.equal({ node: 'n1', appliedIndex: 42, session: null });
    const one = JSON.parse(bodyText(await reply(r.handle('/console/session', new URLSearchParams(`id=${'0'.repeat(31)}7`), everyone))));
    expect(one.session.topic).to.equal('orders');
    expect(one.session.records).to.deep.equal([
      { text: 'first item', bytes: 10, cut: false },
      { base64: '//4=', bytes: 2, cut: false },
    ]);
    // A viewer without read on the topic (a monitor-only login, the metrics token): the counts, no records.
    const hidden = JSON.parse(bodyText(await reply(r.handle('/console/session', new URLSearchParams(`id=${'0'.repeat(31)}7`), (t) => t !== 'orders'))));
    expect(hidden.session).to.include({ topic: 'orders', recordCount: one.session.recordCount, recordsHidden: true });
    expect(hidden.session.records).to.deep.equal([]);
  });

  it('cluster.json lists a member that does not answer with the reason, not an error', async function () {
    const nodes: HostStatus['nodes'] = {
      n1: { role: 'leader', self: true, voter: true, raft: '127.0.0.1:1', client: '127.0.0.1:2', admin: '127.0.0.1:3' },
      // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
      n2: { role: 'follower', self: false, voter: true, raft: '127.0.0.1:4', client: '127.0.0.1:5', admin: '127.0.0.1:9' },
    };
    const c = JSON.parse(bodyText(await reply(routes(nodes).handle('/console/cluster.json', new URLSearchParams(), everyone))));
    expect(c.servedBy).to.equal('n1');
    expect(c.nodes.n1.ok).to.equal(true);
    expect(c.nodes.n1.view.status.role).to.equal('leader');
    expect(c.nodes.n2).to.include({ ok: false, admin: '127.0.0.1:9' });
  });

  it("cluster.json sends the viewer's login in clear only to loopback peers (no TLS here)", async function () {
    const nodes: HostStatus['nodes'] = {
      n1: { role: 'leader', self: true, voter: true, raft: '127.0.0.1:1', client: '127.0.0.1:2', admin: '127.0.0.1:3' },
      // A documentation address (TEST-NET-1): never reached, the login must not be sent there.
      n2: { role: 'follower', self: false, voter: true, raft: '192.0.2.1:4', client: '192.0.2.1:5', admin: '192.0.2.1:6' },
    };
    const c = JSON.parse(bodyText(await reply(routes(nodes).handle('/console/cluster.json', new URLSearchParams(), everyone, 'Basic dXNlcjpwdw=='))));
    expect(c.nodes.n2).to.deep.equal({ ok: false, admin: '192.0.2.1:6', error: 'not fetched: the login is not sent over plain HTTP beyond loopback' });
  });

  it('cluster.json asks peers over the peer link first, their admin port only when a peer does not serve it (2026-12-07)', async function () {
    const nodes: HostStatus['nodes'] = {
      n1: { role: 'leader', self: true, voter: true, raft: '127.0.0.1:1', client: '127.0.0.1:2', admin: '127.0.0.1:3' },
      n2: { role: 'follower', self: false, voter: true, raft: '127.0.0.1:4', client: '127.0.0.1:5', admin: '127.0.0.1:9' },
      n3: { role: 'follower', self: false, voter: true, raft: '127.0.0.1:6', client: '127.0.0.1:7', admin: '127.0.0.1:9' },
      n4: { role: 'follower', self: false, voter: true, raft: '127.0.0.1:8', client: '127.0.0.1:10', admin: '127.0.0.1:9' },
    };
    const asked: string[] = [];
    const peerView = (id: string): Promise<Uint8Array> => {
      asked.push(id);
      if (id === 'n2') return Promise.resolve(Buffer.from(JSON.stringify({ status: status('n2'), transitions: [], samples: [] })));
      if (id === 'n3') return Promise.reject(new StatusFetchError(StatusFetchCode.unsupported, 'n3 does not serve the status channel'));
      return Promise.reject(new StatusFetchError(StatusFetchCode.failed, 'no status from n4 within 800 ms'));
    };
    const c = JSON.parse(bodyText(await reply(routes(nodes, fakeStore(3), { peerView }).handle('/console/cluster.json', new URLSearchParams(), everyone))));
    expect(asked.sort()).to.deep.equal(['n2', 'n3', 'n4']);
    expect(c.nodes.n2.ok).to.equal(true);
    expect(c.nodes.n2.view.status.node).to.equal('n2');
    // An older node: asked on its admin port (nothing listens on port 9 here), as before.
    expect(c.nodes.n3).to.include({ ok: false, admin: '127.0.0.1:9' });
    expect(c.nodes.n3.error).to.not.match(/peer link/);
    expect(c.nodes.n4).to.deep.equal({ ok: false, admin: '127.0.0.1:9', error: 'over the peer link: no status from n4 within 800 ms' });
  });

  it('answers GET and HEAD through the admin port, and refuses other methods', async function () {
    const r = routes();
    const admin = new AdminHttp({
      host: '127.0.0.1',
      port: 0,
      metrics: async () => ({ contentType: 'text/plain', body: '' }),
      status: () => ({}),
      health: () => ({ ok: true }),
      console: (p, q, mayRead) => r.handle(p, q, mayRead),
    });
    const { port } = await admin.listen();
    const call = (method: string, path: string): Promise<{ status: number; type: string; body: string }> =>
      new Promise((res, rej) => {
        const req = request({ host: '127.0.0.1', port, path, method }, (rs) => {
          const chunks: Buffer[] = [];
          rs.on('data', (c: Buffer) => chunks.push(c));
          rs.on('end', () => res({ status: rs.statusCode!, type: String(rs.headers['content-type']), body: Buffer.concat(chunks).toString('utf8') }));
        });
        req.on('error', rej);
        req.end();
      });
    try {
      const get = await call('GET', '/');
      expect(get.status).to.equal(200);
      expect(get.body).to.include('sessionraft');
      const head = await call('HEAD', '/console/chart.json');
      expect(head).to.include({ status: 200, body: '' });
      expect((await call('POST', '/')).status).to.equal(405);
      expect((await call('DELETE', '/console/session?id=1')).status).to.equal(405);
      expect((await call('GET', '/console/missing')).status).to.equal(404);
      expect(JSON.parse((await call('GET', '/console/chart.json')).body).id).to.equal('raft');
    } finally {
      await new Promise<void>((res) => admin.close(res));
    }
  });
});

describe('console: topics view', function () {
  it('counts scheduled sessions per replay class with their next due times and restores in flight', function () {
    const t = topicsView(
      'n1',
      fakeStore(3, [
        { topic: 'orders', bytes: 5 },
        { topic: 'carts', bytes: 1 },
        { topic: 'orders', bytes: 2 },
      ]),
      [1000, 10_000],
      0,
    );
    expect(t.replayClasses).to.have.length(2);
    expect(t.replayClasses[0]).to.deep.include({
      replayClass: 0,
      delayMs: 1000,
      dataFiles: 1,
      scheduled: 3,
      scheduledAtLeast: false,
      scheduledBytes: 300,
      inFlight: 2,
    });
    expect(t.replayClasses[0]!.nextDueMs).to.deep.equal([1_000_000, 1_001_000, 1_002_000]);
    expect(t.replayClasses[1]).to.deep.include({ replayClass: 1, scheduled: 0, dataFiles: 0 });
    expect(t.topics).to.deep.equal([
      { topic: 'orders', sessions: 2, bytes: 7 },
      { topic: 'carts', sessions: 1, bytes: 1 },
    ]);
    expect(t.consumerGroups).to.deep.equal([]);
    expect(t.replayClasses[0]).to.include({ redelivered: 0, deadLettered: 0 });
  });

  it('lists consumer groups, and per replay class the records they redelivered and hold as dead letters', function () {
    // Until 2026-12-07: consumerGroups [] and redelivered / deadLettered null whatever groups held (a review).
    const inClass0 = { fileHigh: 0, fileLow: 1 };
    const inClass1 = { fileHigh: 0, fileLow: 2 };
    const groups: FakeGroup[] = [
      {
        topic: 'orders',
        name: 'billing',
        maxDeliveries: 5,
        items: new Map([
          [1, { deliveries: 2, inFlight: true, consumer: 'c1', restore: inClass0 }],
          [2, { deliveries: 1, inFlight: false, consumer: 'c1', restore: inClass0 }],
          [3, { deliveries: 3, inFlight: false, consumer: 'c2', restore: inClass1 }],
        ]),
        dead: new Map([
          [4, { restore: inClass0 }],
          [5, { restore: null }],
        ]),
        deadTotal: 7,
      },
      {
        topic: 'carts',
        name: 'audit',
        maxDeliveries: 5,
        items: new Map([[1, { deliveries: 2, inFlight: true, consumer: 'c3', restore: inClass0 }]]),
        dead: new Map(),
        deadTotal: 0,
      },
    ];
    const t = topicsView('n1', fakeStore(3, [], groups), [1000, 10_000], 0);
    expect(t.consumerGroups).to.deep.equal([
      { topic: 'carts', name: 'audit', ready: 0, inFlight: 1, redelivered: 1, deadLettered: 0, deadLetters: 0 },
      { topic: 'orders', name: 'billing', ready: 2, inFlight: 1, redelivered: 2, deadLettered: 7, deadLetters: 2 },
    ]);
    expect(t.replayClasses[0]).to.include({ replayClass: 0, redelivered: 2, deadLettered: 1 });
    expect(t.replayClasses[1]).to.include({ replayClass: 1, redelivered: 1, deadLettered: 0 });
  });

  it('stops counting at scheduledCountMax and says so', function () {
    const t = topicsView('n1', fakeStore(scheduledCountMax + 50), [1000], 0);
    expect(t.replayClasses[0]).to.deep.include({ scheduled: scheduledCountMax, scheduledAtLeast: true });
    expect(t.replayClasses[0]!.nextDueMs).to.have.length(5);
  });
});
