/**
 * What operators read from /metrics: a real in-process node's exposition parsed strictly (every
 * line a comment or a sample, valid names, one HELP and one TYPE per family, no series twice,
 * counters not falling between two scrapes), and docs/operations.md's metrics table against it:
 * every family the node exposes is in the table with its type, and every name the table lists
 * exists (a review, 2026-12-07: the table lacked twenty of them).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { parsePromText, type PromFamily } from '../support/promText.js';
import { httpGet, useInProcessCluster, waitFor } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const operationsMd = resolve(here, '../../../docs/operations.md');

/**
 * The metrics table of docs/operations.md: each name with its type. A name with a leading `_`
 * continues the row's first name cut at an underscore (`sessionraft_wal_fdatasyncs_total`,
 * `_batches_total`): the longest cut that makes an exposed name, else `sessionraft_`.
 */
function documentedMetrics(exposed: ReadonlySet<string>): { names: Map<string, string>; prefixes: string[] } {
  const text = readFileSync(operationsMd, 'utf8');
  const start = text.indexOf('## Metrics (`GET /metrics`)');
  expect(start, 'the Metrics section').to.be.at.least(0);
  const names = new Map<string, string>();
  const prefixes: string[] = [];
  for (const line of text.slice(start).split('\n').slice(1)) {
    if (line.startsWith('## ')) break;
    const cells = line.split(' | ');
    if (!line.startsWith('| `') || cells.length < 2) continue;
    const type = cells[1]!.trim();
    let first = '';
    for (const m of cells[0]!.matchAll(/`([^`]+)`/g)) {
      const raw = m[1]!.replace(/\{.*\}$/, '');
      if (raw.endsWith('*')) {
        prefixes.push(raw.slice(0, -1));
        continue;
      }
      if (first === '') first = raw;
      let name = raw;
      if (raw.startsWith('_')) {
        name = `sessionraft${raw}`;
        for (let cut = first.lastIndexOf('_'); cut > 0; cut = first.lastIndexOf('_', cut - 1)) {
          if (exposed.has(first.slice(0, cut) + raw)) {
            name = first.slice(0, cut) + raw;
            break;
          }
        }
      }
      // A row of both kinds ("gauge/counter"): the `_total` names are the counters.
      names.set(name, type.includes('/') ? (name.endsWith('_total') ? 'counter' : 'gauge') : type);
    }
  }
  return { names, prefixes };
}

describe('node: /metrics in the text format, and the documented table', function () {
  this.timeout(20_000);
  const suite = useInProcessCluster(1);

  async function scrape(): Promise<Map<string, PromFamily>> {
    const leader = await waitFor('a leader', () => suite.cluster.leader(), 5000);
    const r = await httpGet(`http://127.0.0.1:${leader.addresses.admin.port}/metrics`);
    expect(r.status).to.equal(200);
    expect(r.contentType).to.match(/^text\/plain; version=0\.0\.4/);
    return parsePromText(r.body);
  }

  it('parses strictly, with per-group series, and no counter falls between two scrapes', async function () {
    const c = suite.client();
    await c.createGroup('orders/"quoted"\\', 'billing');
    await c.createSession('orders/"quoted"\\');
    const first = await scrape();
    expect(first.get('sessionraft_group_ready')!.samples.map((s) => s.labels)).to.deep.include({ topic: 'orders/"quoted"\\', group: 'billing' });
    await c.createSession('orders/"quoted"\\');
    const second = await scrape();
    for (const [name, f] of first) {
      if (f.type !== 'counter') continue;
      for (const s of f.samples) {
        const after = second.get(name)?.samples.find((o) => JSON.stringify(o.labels) === JSON.stringify(s.labels));
        expect(after, `${name} ${JSON.stringify(s.labels)} in the second scrape`).not.to.equal(undefined);
        expect(after!.value, `${name} ${JSON.stringify(s.labels)}`).to.be.at.least(s.value);
      }
    }
  });

  it("lists in docs/operations.md every family the node exposes, with its type, and nothing that isn't", async function () {
    const families = await scrape();
    const { names, prefixes } = documentedMetrics(new Set(families.keys()));
    const exposed = [...families.values()].filter((f) => f.name.startsWith('sessionraft_'));
    const missing = exposed.filter((f) => !names.has(f.name)).map((f) => f.name);
    expect(missing, 'exposed, not in the table').to.deep.equal([]);
    const wrongType = exposed.filter((f) => names.get(f.name) !== f.type).map((f) => `${f.name}: ${f.type}, documented ${names.get(f.name)}`);
    expect(wrongType, 'documented with another type').to.deep.equal([]);
    const absent = [...names.keys()].filter((n) => !families.has(n));
    expect(absent, 'in the table, not exposed').to.deep.equal([]);
    for (const p of prefixes)
      expect(
        [...families.keys()].some((n) => n.startsWith(p)),
        `a family ${p}*`,
      ).to.equal(true);
    for (const f of families.keys()) expect(f.startsWith('sessionraft_') || prefixes.some((p) => f.startsWith(p)), `${f} documented`).to.equal(true);
  });
});
