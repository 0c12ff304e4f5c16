/**
 * A hello may carry the sender's address (`host:raftPort:clientPort:adminPort`): a node that does
 * not know the sender (it missed the configuration change that added it) asks its host through
 * `admitPeer`, which accepts it as a peer at that address or refuses it. Over real sockets:
 *
 * - a real WsTransport that advertises its address is admitted, delivers, and is answered at the
 *   address it sent;
 * - one the host refuses (say, it was removed) is closed with 4003 and counted, nothing delivered;
 * - a stranger without an address is refused without asking the host;
 * - a hello whose address is malformed is a bad handshake; the codec round-trips the field;
 * - admission needs a proof of the ID (issue 14): a stranger whose hello does not prove the
 *   cluster secret is refused with 4009 before the host is asked, whatever ID it claims (`__proto__`
 *   is not even an ID), and a transport with neither a secret nor TLS never admits anyone.
 */
import assert from 'node:assert/strict';
import { Encoder } from 'cbor-x';
import type { RaftMessage } from '../../machines/types.js';
import { formatMemberAddress, parseMemberAddress } from '../../transport/wire/address.js';
import { decodeFrame, encodeHandshake, HELLO_ADDRESS_BYTES_MAX, PROTOCOL_VERSION } from '../../transport/peer/codec.js';
import { CloseCode, TransportError, TransportErrorCode } from '../../transport/wire/errors.js';
import { WsTransport } from '../../transport/peer/wsTransport.js';
import { closeTransport, RawPeer, testSecret, waitFor } from './helpers.js';

const SELF = 'n0';
const CLUSTER = 'c1';
const SECRET = testSecret();
const cbor = (v: unknown): Uint8Array => new Encoder({ useRecords: false, structuredClone: false }).encode(v);
const heartbeat = (from: string, to: string, readCtx: number): RaftMessage => ({ type: 'heartbeat', from, to, term: 1, commit: 0, readCtx });

describe('transport: admitting a node from the address in its hello', function () {
  this.timeout(20_000);

  let server: WsTransport;
  const asked: string[] = [];
  const delivered: RaftMessage[] = [];
  const others: WsTransport[] = [];

  before(async function () {
    server = new WsTransport({
      nodeId: SELF,
      clusterId: CLUSTER,
      peers: { p1: null },
      clusterSecret: SECRET,
      admitPeer: (id, address) => {
        asked.push(`${id}@${address}`);
        if (id === 'removed') return false;
        const a = parseMemberAddress(address)!;
        server.setPeer(id, { host: a.host, port: a.raftPort });
        return true;
      },
    });
    await server.listen();
    server.onMessage = (m) => delivered.push(m);
  });

  after(async function () {
    await Promise.all([server, ...others].map(closeTransport));
  });

  /** A real transport named `id` that dials the server and advertises its own listening port. */
  async function node(id: string): Promise<{ t: WsTransport; got: RaftMessage[] }> {
    let port = 0;
    const t = new WsTransport({
      nodeId: id,
      clusterId: CLUSTER,
      peers: { [SELF]: server.address },
      clusterSecret: SECRET,
      advertisedAddress: () => (port === 0 ? null : formatMemberAddress({ host: '127.0.0.1', raftPort: port, clientPort: 1, adminPort: 1 })),
    });
    others.push(t);
    port = (await t.listen()).port;
    const got: RaftMessage[] = [];
    t.onMessage = (m) => got.push(m);
    return { t, got };
  }

  it('a node that advertises its address is admitted, delivers, and is answered at that address', async function () {
    const { t, got } = await node('newcomer');
    t.send(SELF, heartbeat('newcomer', SELF, 7));
    await waitFor(() => delivered.some((m) => m.from === 'newcomer' && m.type === 'heartbeat' && m.readCtx === 7), 'the newcomer to deliver');
    assert.equal(asked.filter((a) => a.startsWith('newcomer@')).length >= 1, true);
    assert.equal(server.stats().admittedPeers >= 1, true);
    // The server dials it back at the address from the hello.
    server.send('newcomer', heartbeat(SELF, 'newcomer', 8));
    await waitFor(() => got.some((m) => m.from === SELF && m.type === 'heartbeat' && m.readCtx === 8), 'the answer at the advertised address');
  });

  it('a node the host refuses is closed with 4003 and counted; nothing is delivered', async function () {
    const before = server.stats().rejected[TransportErrorCode.unknownPeer] ?? 0;
    const peer = await RawPeer.connect({
      url: `ws://127.0.0.1:${server.address.port}/`,
      clusterId: CLUSTER,
      from: 'removed',
      to: SELF,
      channel: 'control',
      secret: SECRET,
      address: '127.0.0.1:9:9:9',
    });
    assert.equal(await peer.closed(), CloseCode.unknownPeer);
    assert.equal(peer.welcomed, false);
    assert.equal(server.stats().rejected[TransportErrorCode.unknownPeer], before + 1);
    assert.deepEqual(
      asked.filter((a) => a.startsWith('removed@')),
      ['removed@127.0.0.1:9:9:9'],
    );
    assert.equal(delivered.filter((m) => m.from === 'removed').length, 0);
  });

  it('a stranger without an address is refused without asking the host', async function () {
    const n = asked.length;
    const peer = await RawPeer.connect({
      url: `ws://127.0.0.1:${server.address.port}/`,
      clusterId: CLUSTER,
      from: 'stranger',
      to: SELF,
      channel: 'control',
      secret: SECRET,
    });
    assert.equal(await peer.closed(), CloseCode.unknownPeer);
    assert.equal(asked.length, n);
  });

  it('a stranger with an address but no proof of the secret (none, or another secret) is refused with 4009 before the host is asked', async function () {
    const n = asked.length;
    const before = server.stats().rejected[TransportErrorCode.auth] ?? 0;
    for (const secret of [undefined, testSecret()]) {
      const peer = await RawPeer.connect({
        url: `ws://127.0.0.1:${server.address.port}/`,
        clusterId: CLUSTER,
        from: 'intruder',
        to: SELF,
        channel: 'control',
        address: '127.0.0.1:9:9:9',
        ...(secret !== undefined ? { secret } : {}),
      });
      assert.equal(await peer.closed(), CloseCode.auth);
      assert.equal(peer.welcomed, false);
    }
    assert.equal(server.stats().rejected[TransportErrorCode.auth], before + 2);
    assert.equal(asked.length, n, 'the host was not asked');
    assert.equal(server.stats().peers['intruder'], undefined);
  });

  it('__proto__ (or constructor) is not a node ID: a bad handshake, even with the secret; no object is touched', async function () {
    const n = asked.length;
    for (const id of ['__proto__', 'constructor']) {
      // The codec refuses to write it; the raw bytes are what an attacker would send.
      const bad = cbor([PROTOCOL_VERSION, 0, CLUSTER, id, SELF, 0, 1, Buffer.alloc(16), Buffer.alloc(32), Buffer.from('127.0.0.1:9:9:9', 'latin1')]);
      const peer = await RawPeer.connect({
        url: `ws://127.0.0.1:${server.address.port}/`,
        clusterId: CLUSTER,
        from: 'x',
        to: SELF,
        channel: 'control',
        hello: bad,
      });
      assert.equal(await peer.closed(), CloseCode.handshake);
    }
    assert.equal(asked.length, n);
    assert.equal(Object.prototype.hasOwnProperty.call(server.stats().peers, '__proto__'), false);
  });

  it("a hello in the receiver's own name, with the secret and an address, is refused with 4003 before the host is asked", async function () {
    const n = asked.length;
    const before = server.stats().rejected[TransportErrorCode.unknownPeer] ?? 0;
    const peer = await RawPeer.connect({
      url: `ws://127.0.0.1:${server.address.port}/`,
      clusterId: CLUSTER,
      from: SELF,
      to: SELF,
      channel: 'control',
      secret: SECRET,
      address: '127.0.0.1:9:9:9',
    });
    assert.equal(await peer.closed(), CloseCode.unknownPeer);
    assert.equal(peer.welcomed, false);
    assert.equal(asked.length, n, 'the host was not asked');
    assert.equal(server.stats().rejected[TransportErrorCode.unknownPeer], before + 1);
    assert.equal(server.stats().peers[SELF], undefined);
  });

  it('a transport with neither a secret nor TLS admits no stranger: its ID is only a claim', async function () {
    const asked2: string[] = [];
    const open = new WsTransport({ nodeId: SELF, clusterId: CLUSTER, peers: { p1: null }, admitPeer: (id) => (asked2.push(id), true) });
    await open.listen();
    try {
      const peer = await RawPeer.connect({
        url: `ws://127.0.0.1:${open.address.port}/`,
        clusterId: CLUSTER,
        from: 'stranger',
        to: SELF,
        channel: 'control',
        address: '127.0.0.1:9:9:9',
      });
      assert.equal(await peer.closed(), CloseCode.unknownPeer);
      assert.deepEqual(asked2, []);
    } finally {
      await closeTransport(open);
    }
  });

  it('a hello with a malformed address is a bad handshake (closed with 4004), the host is not asked', async function () {
    const n = asked.length;
    const before = server.stats().rejectedTotal;
    const bad = cbor([PROTOCOL_VERSION, 0, CLUSTER, 'odd', SELF, 0, 1, Buffer.alloc(16), Buffer.alloc(0), Buffer.from('not an address', 'latin1')]);
    const peer = await RawPeer.connect({
      url: `ws://127.0.0.1:${server.address.port}/`,
      clusterId: CLUSTER,
      from: 'odd',
      to: SELF,
      channel: 'control',
      hello: bad,
    });
    const code = await peer.closed();
    assert.equal(code, CloseCode.handshake);
    assert.equal(peer.welcomed, false);
    assert.equal(asked.length, n);
    assert.equal(server.stats().rejectedTotal, before + 1);
  });

  it('the codec: the address round-trips in a hello; a welcome never carries one; bad ones are schema errors', function () {
    const h = { kind: 'hello' as const, clusterId: CLUSTER, from: 'a', to: 'b', channel: 'data' as const, term: 3 };
    const auth = { nonce: new Uint8Array(16), proof: new Uint8Array(0) };
    const plain = (v: unknown): unknown =>
      v instanceof Uint8Array ? Array.from(v) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)])) : v;
    assert.deepEqual(
      plain(decodeFrame(encodeHandshake({ ...h, address: '[::1]:7001:7101:7201' }))),
      plain({ ...h, version: PROTOCOL_VERSION, ...auth, address: '[::1]:7001:7101:7201' }),
    );
    assert.deepEqual(plain(decodeFrame(encodeHandshake(h))), plain({ ...h, version: PROTOCOL_VERSION, ...auth }));
    const codeOf = (bytes: Uint8Array): string | undefined => {
      try {
        decodeFrame(bytes);
        return undefined;
      } catch (err) {
        return err instanceof TransportError ? err.code : 'not a TransportError';
      }
    };
    const hello = (address: unknown): Uint8Array => cbor([PROTOCOL_VERSION, 0, CLUSTER, 'a', 'b', 0, 1, Buffer.alloc(16), Buffer.alloc(0), address]);
    assert.equal(codeOf(hello('127.0.0.1:1:2:3')), TransportErrorCode.schema, 'text, not bytes');
    assert.equal(codeOf(hello(Buffer.from('127.0.0.1:1:2:70000'))), TransportErrorCode.schema, 'a port past 65535');
    assert.equal(codeOf(hello(Buffer.from(`${'h'.repeat(HELLO_ADDRESS_BYTES_MAX)}:1:2:3`))), TransportErrorCode.schema, 'too long');
    assert.equal(codeOf(hello(Buffer.from('héllo:1:2:3', 'utf8'))), TransportErrorCode.schema, 'not ASCII');
    assert.equal(
      codeOf(cbor([PROTOCOL_VERSION, 1, CLUSTER, 'a', 'b', 0, 1, Buffer.alloc(0), Buffer.from('127.0.0.1:1:2:3')])),
      TransportErrorCode.schema,
      'a welcome with an address',
    );
    assert.throws(() => encodeHandshake({ ...h, address: 'nope' }), TransportError);
  });
});
