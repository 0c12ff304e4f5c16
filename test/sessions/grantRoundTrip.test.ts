/**
 * A consume grant whose prefix holds ':' and names no group did not survive its text form, which
 * snapshots and the client library use (2026-12-07, found by a review): a replica restored from a
 * snapshot allowed what the others refused. The property test in test/transport/access.test.ts
 * now covers every grant; this is the replicas' view of it.
 */
import { expect } from 'chai';
import { AuthTable } from '../../actors/sessions/authTable.js';
import { formatGrant, parseGrant } from '../../transport/commands/access.js';

describe('sessions: a grant through a snapshot (issue 17, 2026-12-07)', () => {
  it("consume:orders::* (prefix 'orders:', any group) keeps its prefix through a snapshot load (it widened to 'orders')", () => {
    const g = parseGrant('consume:orders::*');
    expect(g).to.deep.equal({ action: 'consume', prefix: 'orders:', group: '' });
    expect(parseGrant(formatGrant(g))).to.deep.equal(g);
    const live = new AuthTable();
    live.putRole('w');
    live.grantPermission('w', g); // as applied from the log's RoleGrant (fields, not text)
    live.putUser('eve', null, 1, false);
    live.grantRole('eve', 'w');
    const restored = new AuthTable();
    restored.load(live.encode()); // as a follower installing a snapshot
    expect(Buffer.compare(Buffer.from(live.encode()), Buffer.from(restored.encode())), 'the encoded tables').to.equal(0);
    const onLive = live.allows('eve', 'consume', 'orders-secret', 'g');
    const onRestored = restored.allows('eve', 'consume', 'orders-secret', 'g');
    expect({ onLive, onRestored }).to.deep.equal({ onLive: false, onRestored: false });
  });
});
