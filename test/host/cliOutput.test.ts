/**
 * CLI output for people (issue 19, bin/output.ts): tables on a terminal and JSON when piped, colour
 * only where it is wanted (NO_COLOR, FORCE_COLOR), and a progress line only on a terminal.
 */
import { expect } from 'chai';
import { formatColumns, membersTable, outputFormat, renderTable, sessionsTable, showRecord, statusTable, useColor, withProgress } from '../../bin/output.js';

const tty = { isTTY: true, write: () => true };
const pipe = { isTTY: false, write: () => true };
// eslint-disable-next-line no-control-regex -- terminal colour codes
const strip = (s: string): string => s.replace(/\x1b\[\d+m/g, '');

describe('CLI output: tables, JSON, colours, progress', function () {
  it('prints a record as its text, a leading U+FEFF kept; bytes that are not UTF-8 as base64; hex or base64 when asked', () => {
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, 0x68, 0x69]);
    // The default TextDecoder drops the mark: the CLI must not (2026-12-06).
    expect(new TextDecoder().decode(bom)).to.equal('hi');
    expect(showRecord(bom, 'utf8')).to.equal('\uFEFFhi');
    // A view into a larger buffer reads only its own bytes.
    const host = new Uint8Array([0x41, 0x68, 0xc3, 0xa9, 0x42]);
    expect(showRecord(host.subarray(1, 4), 'utf8')).to.equal('hé');
    expect(showRecord(new Uint8Array([0xff, 0x00]), 'utf8')).to.deep.equal({ base64: '/wA=' });
    expect(showRecord(bom, 'hex')).to.equal('efbbbf6869');
    expect(showRecord(bom, 'base64')).to.equal('77u/aGk=');
  });

  it('pads plain columns to their widest cell, two spaces apart, without trailing spaces', () => {
    const text = formatColumns([
      ['node', 'role', 'note'],
      ['n1', 'leader', ''],
      ['n10', 'µ', 'x'],
    ]);
    expect(text.split('\n')).to.deep.equal(['node  role    note', 'n1    leader', 'n10   µ       x']);
    expect(formatColumns([])).to.equal('');
  });

  it('prints a table on a terminal and JSON when piped, unless --output says otherwise', function () {
    expect(outputFormat(undefined, tty)).to.equal('table');
    expect(outputFormat(undefined, pipe)).to.equal('json');
    expect(outputFormat('json', tty)).to.equal('json');
    expect(outputFormat('table', pipe)).to.equal('table');
  });

  it('colours only on a terminal; NO_COLOR turns them off, FORCE_COLOR on', function () {
    expect(useColor(tty, {})).to.equal(true);
    expect(useColor(pipe, {})).to.equal(false);
    expect(useColor(tty, { NO_COLOR: '1' })).to.equal(false);
    expect(useColor(tty, { NO_COLOR: '1', FORCE_COLOR: '1' }), 'NO_COLOR wins').to.equal(false);
    expect(useColor(pipe, { FORCE_COLOR: '1' })).to.equal(true);
    expect(useColor(tty, { FORCE_COLOR: '0', TERM: 'dumb' })).to.equal(false);
  });

  it('aligns columns by the text people see, with or without colour codes', function () {
    const plain = renderTable(
      ['A', 'LONGER'],
      [
        [{ text: 'leader', style: 'green' }, 7],
        [null, 'x'],
      ],
      false,
    );
    expect(plain).to.equal(
      ['+--------+--------+', '| A      | LONGER |', '+--------+--------+', '| leader | 7      |', '| -      | x      |', '+--------+--------+'].join('\n'),
    );
    const coloured = renderTable(
      ['A', 'LONGER'],
      [
        [{ text: 'leader', style: 'green' }, 7],
        [null, 'x'],
      ],
      true,
    );
    expect(coloured).to.include('\x1b[32mleader\x1b[39m');
    expect(strip(coloured)).to.equal(plain);
  });

  it('status: one row per endpoint, lag from the leader of the newest term, a short error for a node that did not answer', function () {
    const t = statusTable(
      {
        'h:2': { node: 'n2', role: 'follower', term: 2, leader: 'n1', commitIndex: 9, appliedIndex: 9, lastIndex: 9, voters: ['n1', 'n2'], learners: [] },
        'h:1': {
          node: 'n1',
          role: 'leader',
          term: 2,
          leader: 'n1',
          commitIndex: 9,
          appliedIndex: 9,
          lastIndex: 10,
          voters: ['n1', 'n2'],
          learners: [],
          nodes: { n2: { lag: 1 } },
        },
        'h:3': { error: 'CLIENT_ERR_UNREACHABLE', message: `CLIENT_ERR_UNREACHABLE: ${'x'.repeat(200)}` },
      },
      false,
    );
    const lines = t.split('\n');
    expect(lines[1]).to.match(/^\| ENDPOINT +\| NODE \| ROLE +\| MEMBER \| TERM \| LEADER \| COMMIT \| APPLIED \| LAST \| LAG \| ERRORS/);
    expect(lines[3]).to.match(/^\| h:1 +\| n1 +\| leader +\| voter +\| 2 +\| n1 +\| 9 +\| 9 +\| 10 +\| 0 /);
    expect(lines[4]).to.match(/^\| h:2 +\| n2 +\| follower \| voter +\| 2 +\| n1 +\| 9 +\| 9 +\| 9 +\| 1 /);
    expect(lines[5]).to.include('| down ').and.include('CLIENT_ERR_UNREACHABLE: xxx').and.include('…');
    expect(lines[5]!.length).to.be.lessThan(200);
  });

  it('member list: voters and learners with the leader marked', function () {
    const t = membersTable(
      {
        node: 'n1',
        leader: 'n1',
        term: 3,
        members: {
          n1: { voter: true, address: 'a:1:2:3', self: true, match: 5, lag: 0 },
          n4: { voter: false, address: 'a:4:5:6', match: 2, lag: 3, state: 'replicate', recentActive: true },
        },
      },
      false,
    );
    expect(t)
      .to.match(/\| n1 \| voter +\| a:1:2:3 \| yes +\|/)
      .and.match(/\| n4 \| learner \| a:4:5:6 \| no +\| 2 +\| 3 +\| replicate +\| yes/);
    expect(t).to.include('answered by n1 (term 3; leader n1)');
  });

  it('shows progress only on a terminal, and clears the line when done', async function () {
    const written: string[] = [];
    const term = { isTTY: true, write: (s: string) => written.push(s) };
    let polls = 0;
    const v = await withProgress(new Promise((r) => setTimeout(() => r(42), 120)), async () => `step ${++polls}`, { stream: term, everyMs: 20 });
    expect(v).to.equal(42);
    expect(polls).to.be.greaterThan(0);
    expect(written.some((w) => w.includes('step 1'))).to.equal(true);
    expect(written.at(-1)).to.equal('\r\x1b[K');
    const piped: string[] = [];
    await withProgress(Promise.resolve(1), async () => 'x', { stream: { isTTY: false, write: (s: string) => piped.push(s) }, everyMs: 5 });
    expect(piped).to.deep.equal([]);
  });

  it("client list's footer counts its sessions in words that agree (it said '1 sessions' until 2026-12-07)", () => {
    const one = { id: 'a'.repeat(32), topic: 't', bytes: 3, records: 1 };
    expect(
      sessionsTable({ sessions: [one], truncated: false }, false)
        .split('\n')
        .pop(),
    ).to.equal('1 session');
    expect(
      sessionsTable({ sessions: [one, { ...one, id: 'b'.repeat(32) }], truncated: false }, false)
        .split('\n')
        .pop(),
    ).to.equal('2 sessions');
    expect(sessionsTable({ sessions: [], truncated: true }, false).split('\n').pop()).to.equal('0 sessions (truncated: --limit or the reply limit)');
  });
});
