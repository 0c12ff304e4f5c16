// The sessionraft console's one script (no framework, no build step): it polls this node's
// /console/*.json documents and fills the page. Text goes in through textContent only, never as
// HTML. Everything it requests is on this origin.

const SVG = 'http://www.w3.org/2000/svg';
const CLUSTER_EVERY_MS = 1000;
const TOPICS_EVERY_MS = 3000;
/** Transitions listed under each chart. */
const TRANSITIONS_SHOWN = 8;
/** Transitions kept from a replayed recording (the rest are counted, not kept). */
const REPLAY_KEPT = 20000;

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

async function getJson(path) {
  const r = await fetch(path, { cache: 'no-store', headers: { accept: 'application/json' } });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

const cell = (v) => (v === null || v === undefined ? '–' : String(v));

function ago(ms) {
  const s = Math.round(ms / 1000);
  if (Math.abs(s) < 60) return `${s} s`;
  if (Math.abs(s) < 3600) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function clock(at) {
  return new Date(at).toLocaleTimeString([], { hour12: false });
}

function duration(ms) {
  if (ms === null || ms === undefined) return '–';
  if (ms % 60000 === 0) return `${ms / 60000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

function fillBody(table, rows) {
  const tbody = table.tBodies[0];
  tbody.replaceChildren(...rows);
}

// ---- the state chart -----------------------------------------------------------------------

const BOX_W = 124;
const BOX_H = 40;
const GAP = 210;
const LINE_H = 12;
/** Makes marker ids unique across the page's charts. */
let chartSeq = 0;

/** Groups the chart's transitions into drawn edges: one per (source, target), with their events. */
function edgesOf(chart) {
  const byKey = new Map();
  for (const t of chart.transitions) {
    if (t.target === null) continue;
    const key = `${t.source}>${t.target}`;
    let e = byKey.get(key);
    if (e === undefined) byKey.set(key, (e = { source: t.source, target: t.target, events: [], guards: [] }));
    if (!e.events.includes(t.event)) e.events.push(t.event);
    if (t.guard !== null && !e.guards.includes(t.guard)) e.guards.push(t.guard);
  }
  return [...byKey.values()];
}

/**
 * The depth of an arc (as a fraction of its apex depth) at a fraction `s` of its span: the arcs
 * are cubic curves whose control points stand above their ends, x(t) = 3t² - 2t³, depth 4t(1 - t).
 */
function depthAt(s) {
  let a = 0;
  let b = 1;
  for (let k = 0; k < 30; k++) {
    const t = (a + b) / 2;
    if (3 * t * t - 2 * t * t * t < s) a = t;
    else b = t;
  }
  const t = (a + b) / 2;
  return 4 * t * (1 - t);
}

/**
 * Lays the chart out once: states on a line in definition order, edges between states as arcs
 * (forward above, backward below, nested by span so their labels do not overlap), self
 * transitions as loops, and the root's transitions from an "any state" mark.
 */
function layoutChart(chart) {
  const keys = chart.states.map((s) => s.key);
  const x = (k) => 40 + keys.indexOf(k) * GAP + BOX_W / 2;
  const edges = edgesOf(chart);
  const placed = { above: [], below: [] };
  const arcs = [];
  const loops = [];
  const fromAny = [];
  for (const e of edges) {
    if (e.source === '*') fromAny.push(e);
    else if (e.source === e.target) loops.push(e);
    else arcs.push(e);
  }
  arcs.sort((a, b) => Math.abs(keys.indexOf(a.source) - keys.indexOf(a.target)) - Math.abs(keys.indexOf(b.source) - keys.indexOf(b.target)));
  for (const e of arcs) {
    const i = keys.indexOf(e.source);
    const j = keys.indexOf(e.target);
    const side = i < j ? 'above' : 'below';
    const lo = Math.min(i, j);
    const hi = Math.max(i, j);
    // h: the arc's depth at its apex; it clears every narrower arc's label beneath it, measured
    // where that label sits (a curve is shallower away from its apex).
    let h = 30;
    for (const p of placed[side]) {
      if (!(p.lo < hi && lo < p.hi)) continue;
      const at = ((p.lo + p.hi) / 2 - lo) / (hi - lo);
      h = Math.max(h, (p.h + p.labelH + 10) / Math.max(0.3, depthAt(at)));
    }
    const labelH = e.events.length * LINE_H + 4;
    placed[side].push({ lo, hi, h, labelH });
    arcs[arcs.indexOf(e)] = { ...e, i, j, side, h, labelH };
  }
  // A state's self transitions (re-entries) are listed inside its box, under its name.
  const loopLines = loops.reduce((m, e) => Math.max(m, e.events.length), 0);
  const boxH = BOX_H + loopLines * LINE_H;
  const aboveH = Math.max(...placed.above.map((p) => p.h + p.labelH), 40) + 16;
  const belowH = Math.max(...placed.below.map((p) => p.h + p.labelH), 30) + 12;
  const anyH = fromAny.length > 0 ? 56 : 0;
  const top = anyH + aboveH;
  const width = 40 * 2 + (keys.length - 1) * GAP + BOX_W;
  const height = top + boxH + belowH;
  return { keys, x, arcs, loops, fromAny, top, boxH, width, height, anyH };
}

function textBlock(x, y, lines, cls, grow) {
  const t = svg('text', { x, y, class: cls, 'text-anchor': 'middle' });
  lines.forEach((line, k) => t.append(svg('tspan', { x, dy: k === 0 ? 0 : LINE_H }, line)));
  if (grow === 'up') t.setAttribute('y', String(y - (lines.length - 1) * LINE_H));
  return t;
}

/** An SVG of the chart; `current` is the state to fill, `last` the transition to draw bold. */
function drawChart(chart, L, current, last, label) {
  const uid = ++chartSeq;
  const root = svg('svg', { viewBox: `0 0 ${L.width} ${L.height}`, width: L.width, height: L.height, role: 'img', 'aria-label': label, class: 'statechart' });
  root.append(svg('title', {}, label));
  const defs = svg('defs');
  for (const [id, cls] of [
    ['arrow', 'arrowhead'],
    ['arrow-hot', 'arrowhead hot'],
  ]) {
    defs.append(
      svg(
        'marker',
        { id: `${id}-${uid}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
        svg('path', { d: 'M0,0 L10,5 L0,10 z', class: cls }),
      ),
    );
  }
  root.append(defs);
  const marker = (hot) => `url(#${hot ? 'arrow-hot' : 'arrow'}-${uid})`;
  // The last transition is drawn bold where the chart has it: that edge, on one of its events.
  const isLast = (s, t, events) =>
    last !== null && last !== undefined && last.from === s && last.to === t && (events.includes(last.event) || events.includes('always'));
  const top = L.top;
  const bottom = L.top + L.boxH;
  for (const e of L.arcs) {
    const x1 = L.x(e.source) + (e.i < e.j ? 14 : -14);
    const x2 = L.x(e.target) + (e.i < e.j ? -14 : 14);
    const y0 = e.side === 'above' ? top : bottom;
    const dir = e.side === 'above' ? -1 : 1;
    const peak = y0 + (dir * e.h) / 0.75;
    const hot = isLast(e.source, e.target, e.events);
    root.append(
      svg(
        'path',
        { d: `M${x1},${y0} C${x1},${peak} ${x2},${peak} ${x2},${y0}`, class: `edge${hot ? ' hot' : ''}`, 'marker-end': marker(hot) },
        svg('title', {}, `${e.source} → ${e.target} on ${e.events.join(', ')}${e.guards.length ? ` (guards: ${e.guards.join(', ')})` : ''}`),
      ),
    );
    const mx = (x1 + x2) / 2;
    const apex = y0 + dir * e.h;
    root.append(textBlock(mx, e.side === 'above' ? apex - 5 : apex + 13, e.events, `edge-label${hot ? ' hot' : ''}`, e.side === 'above' ? 'up' : 'down'));
  }
  if (L.fromAny.length > 0) {
    const ax = 40 + 8;
    const ay = 22;
    root.append(svg('circle', { cx: ax, cy: ay, r: 6, class: 'any' }));
    root.append(svg('text', { x: ax + 12, y: ay + 4, class: 'any-label' }, 'from any state:'));
    let k = 0;
    for (const e of L.fromAny) {
      const tx = L.x(e.target) + 20 + k * 8;
      root.append(
        svg(
          'path',
          { d: `M${ax},${ay + 6} C${ax},${top - 10} ${tx},${ay + 10} ${tx},${top}`, class: 'edge any-edge', 'marker-end': marker(false) },
          svg('title', {}, `any state → ${e.target} on ${e.events.join(', ')}`),
        ),
      );
      root.append(svg('text', { x: ax + 118, y: ay + 4, class: 'edge-label any-events' }, `${e.events.join(', ')} → ${e.target}`));
      k++;
    }
  }
  for (const k of L.keys) {
    const cur = k === current;
    const g = svg('g', { class: `state${cur ? ' current' : ''}`, 'data-state': k });
    g.append(svg('rect', { x: L.x(k) - BOX_W / 2, y: top, width: BOX_W, height: L.boxH, rx: 10, ry: 10 }));
    g.append(svg('text', { x: L.x(k), y: top + 25, 'text-anchor': 'middle', class: 'state-name' }, k));
    const loop = L.loops.find((e) => e.source === k);
    if (loop !== undefined) {
      const hot = isLast(k, k, loop.events);
      g.append(
        textBlock(
          L.x(k),
          top + 25 + LINE_H + 2,
          loop.events.map((ev) => `↻ ${ev}`),
          `loop-label${hot ? ' hot' : ''}`,
          'down',
        ),
      );
      g.append(svg('title', {}, `${k}${cur ? ' (current state)' : ''}; re-entered on ${loop.events.join(', ')}`));
    } else if (cur) {
      g.append(svg('title', {}, `${k}: current state`));
    }
    root.append(g);
  }
  return root;
}

function transitionsTable(list, caption) {
  const t = el(
    'table',
    { class: 'transitions' },
    el('caption', {}, caption),
    el('thead', {}, el('tr', {}, ...['Time', 'From', 'To', 'Event', 'From peer', 'Term'].map((h) => el('th', { scope: 'col' }, h)))),
  );
  const tb = el('tbody');
  for (const r of list)
    tb.append(
      el(
        'tr',
        {},
        el('td', {}, clock(r.at)),
        el('td', {}, cell(r.from)),
        el('td', {}, r.to),
        el('td', {}, el('code', {}, r.event)),
        el('td', {}, cell(r.peer)),
        el('td', {}, cell(r.term)),
      ),
    );
  if (list.length === 0) tb.append(el('tr', {}, el('td', { colspan: 6 }, 'none recorded yet')));
  t.append(tb);
  return t;
}

// ---- live view ------------------------------------------------------------------------------

const state = { chart: null, layout: null, cluster: null, errors: 0 };

function roleBadge(role) {
  return el('span', { class: `badge role-${role}` }, role);
}

function linksText(view, id) {
  const nodes = view.status.nodes;
  const out = [];
  for (const [peer, n] of Object.entries(nodes)) {
    if (peer === id || n.links === undefined) continue;
    out.push(`${peer} ${n.links.control}/${n.links.data}`);
  }
  return out.length > 0 ? out.join(', ') : '–';
}

function leaderOf(cluster) {
  let best = null;
  for (const e of Object.values(cluster.nodes)) {
    if (!e.ok || e.view.status.role !== 'leader') continue;
    if (best === null || e.view.status.term > best.status.term) best = e.view;
  }
  return best;
}

function renderNodes(cluster) {
  const leader = leaderOf(cluster);
  $('leader-name').textContent = leader === null ? 'none (election in progress?)' : `${leader.node} (term ${leader.status.term})`;
  const rows = [];
  for (const [id, e] of Object.entries(cluster.nodes)) {
    if (!e.ok) {
      rows.push(
        el(
          'tr',
          { class: 'down', 'data-node': id },
          el('th', { scope: 'row' }, id),
          el('td', {}, roleBadge('down')),
          el('td', { colspan: 7 }, `no answer from ${cell(e.admin)}: ${e.error}`),
          el('td', {}, '–'),
        ),
      );
      continue;
    }
    const s = e.view.status;
    const lagView = leader?.status.nodes[id];
    const lag = s.role === 'leader' ? 0 : lagView?.lag;
    rows.push(
      el(
        'tr',
        { class: s.role === 'leader' ? 'is-leader' : '', 'data-node': id, 'data-role': s.role },
        el('th', { scope: 'row' }, id),
        el('td', {}, roleBadge(s.role)),
        el('td', {}, cell(s.term)),
        el('td', {}, cell(s.leader)),
        el('td', {}, cell(s.commitIndex)),
        el('td', {}, cell(s.appliedIndex)),
        el('td', {}, cell(s.lastIndex)),
        el('td', {}, cell(lag)),
        el('td', { class: 'links' }, linksText(e.view, id)),
        el('td', {}, ago(s.uptimeMs)),
      ),
    );
  }
  fillBody($('nodes-table'), rows);
}

function sparkline(container, series, opts) {
  const W = 560;
  const H = 120;
  const pad = { l: 44, r: 8, t: 10, b: 22 };
  const n = Math.max(...series.map((s) => s.points.length), 2);
  const max = Math.max(opts.floor, ...series.flatMap((s) => s.points.filter((p) => p !== null)));
  const sx = (k) => pad.l + (k / (n - 1)) * (W - pad.l - pad.r);
  const sy = (v) => H - pad.b - (v / max) * (H - pad.t - pad.b);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': opts.label, class: 'sparkline' });
  root.append(svg('title', {}, opts.label));
  root.append(svg('line', { x1: pad.l, y1: sy(0), x2: W - pad.r, y2: sy(0), class: 'axis' }));
  root.append(svg('line', { x1: pad.l, y1: sy(max), x2: W - pad.r, y2: sy(max), class: 'grid' }));
  root.append(svg('text', { x: pad.l - 6, y: sy(max) + 4, 'text-anchor': 'end', class: 'tick' }, opts.fmt(max)));
  root.append(svg('text', { x: pad.l - 6, y: sy(0) + 4, 'text-anchor': 'end', class: 'tick' }, '0'));
  root.append(svg('text', { x: pad.l, y: H - 4, class: 'tick' }, opts.span));
  root.append(svg('text', { x: W - pad.r, y: H - 4, 'text-anchor': 'end', class: 'tick' }, 'now'));
  for (const s of series) {
    let d = '';
    s.points.forEach((v, k) => {
      if (v === null) return;
      d += `${d === '' || s.points[k - 1] === null ? 'M' : 'L'}${sx(k + (n - s.points.length)).toFixed(1)},${sy(v).toFixed(1)} `;
    });
    root.append(svg('path', { d: d === '' ? 'M0,0' : d, class: `series ${s.cls}` }));
  }
  const legend = el('p', { class: 'legend' }, ...series.map((s) => el('span', { class: `key ${s.cls}` }, `${s.name}: ${s.now}`)));
  container.replaceChildren(root, legend);
}

function renderSeries(cluster) {
  const leader = leaderOf(cluster);
  const self = cluster.nodes[cluster.servedBy];
  const view = leader ?? (self?.ok ? self.view : null);
  const samples = view?.samples ?? [];
  const span = samples.length > 1 ? `${ago(samples[samples.length - 1].at - samples[0].at)} ago` : '';
  const last = samples[samples.length - 1];
  sparkline(
    $('chart-throughput'),
    [{ name: `entries/s (${view?.node ?? '–'})`, cls: 's1', points: samples.map((s) => s.committed), now: last ? String(last.committed) : '–' }],
    {
      label: `Entries committed per second over the last ${samples.length} seconds`,
      floor: 10,
      fmt: (v) => String(Math.round(v)),
      span,
    },
  );
  sparkline(
    $('chart-latency'),
    [
      { name: 'mean ms', cls: 's1', points: samples.map((s) => s.latencyMeanMs), now: last?.latencyMeanMs ?? '–' },
      { name: 'largest ms', cls: 's2', points: samples.map((s) => s.latencyMaxMs), now: last?.latencyMaxMs ?? '–' },
    ],
    { label: `Commit latency per second (mean and largest) over the last ${samples.length} seconds`, floor: 1, fmt: (v) => v.toFixed(v < 10 ? 1 : 0), span },
  );
  sparkline(
    $('chart-lateness'),
    [
      { name: 'mean ms', cls: 's1', points: samples.map((s) => s.deliveryLateMeanMs ?? null), now: last?.deliveryLateMeanMs ?? '–' },
      { name: 'largest ms', cls: 's2', points: samples.map((s) => s.deliveryLateMaxMs ?? null), now: last?.deliveryLateMaxMs ?? '–' },
    ],
    {
      label: `Delivery lateness after the due time per second (mean and largest) over the last ${samples.length} seconds`,
      floor: 1,
      fmt: (v) => v.toFixed(v < 10 ? 1 : 0),
      span,
    },
  );
}

/** The cards drawn last, by node, with what they showed: redrawn only when that changed. */
const cardsShown = new Map();

function renderMachines(cluster) {
  const box = $('machines');
  const cards = [];
  let changed = false;
  for (const [id, e] of Object.entries(cluster.nodes)) {
    const ts = e.ok ? e.view.transitions : [];
    const sig = e.ok ? `${e.view.status.role}|${e.view.status.term}|${ts.length}|${ts[ts.length - 1]?.at}` : `down|${e.error}`;
    const shown = cardsShown.get(id);
    if (shown !== undefined && shown.sig === sig) {
      cards.push(shown.card);
      continue;
    }
    changed = true;
    const card = el('article', { class: 'machine', 'data-node': id, 'aria-labelledby': `m-${id}` });
    cardsShown.set(id, { sig, card });
    if (!e.ok) {
      card.append(el('h3', { id: `m-${id}` }, `${id}: unreachable`), el('p', {}, e.error));
      card.classList.add('down');
      cards.push(card);
      continue;
    }
    const s = e.view.status;
    const last = ts[ts.length - 1] ?? null;
    card.dataset.current = s.role;
    card.append(el('h3', { id: `m-${id}` }, `${id}: `, el('span', { class: 'current-state' }, s.role), ` (term ${s.term})`));
    card.append(el('div', { class: 'scroll' }, drawChart(state.chart, state.layout, s.role, last, `Raft state chart of ${id}; current state ${s.role}`)));
    card.append(el('div', { class: 'scroll' }, transitionsTable(ts.slice(-TRANSITIONS_SHOWN).reverse(), `Recent transitions of ${id}, newest first`)));
    cards.push(card);
  }
  if (changed || box.children.length !== cards.length) box.replaceChildren(...cards);
}

function renderMembers(cluster) {
  const leader = leaderOf(cluster);
  const self = cluster.nodes[cluster.servedBy];
  const view = leader ?? (self?.ok ? self.view : null);
  if (view === null) return;
  const s = view.status;
  $('membership-line').textContent =
    `Voters: ${s.voters.join(', ') || 'none'}. Learners: ${s.learners.join(', ') || 'none'}. As seen by ${view.node}${leader === null ? ' (no leader: no progress known)' : ' (the leader)'}; to change membership use the CLI (sessionraft member ...).`;
  const rows = [];
  for (const id of [...s.voters, ...s.learners]) {
    const n = s.nodes[id];
    rows.push(
      el(
        'tr',
        { 'data-node': id },
        el('th', { scope: 'row' }, id),
        el('td', {}, s.voters.includes(id) ? 'voter' : 'learner'),
        el('td', {}, cell(n?.raft)),
        el('td', {}, cell(n?.match)),
        el('td', {}, cell(n?.next)),
        el('td', {}, cell(n?.lag)),
        el('td', {}, cell(n?.state)),
        el('td', {}, n?.recentActive === undefined ? '–' : n.recentActive ? 'yes' : 'no'),
      ),
    );
  }
  fillBody($('members-table'), rows);
}

async function pollCluster() {
  try {
    const c = await getJson('/console/cluster.json');
    state.cluster = c;
    state.errors = 0;
    renderNodes(c);
    renderSeries(c);
    renderMachines(c);
    renderMembers(c);
    const live = $('live');
    live.textContent = `live, updated ${clock(c.at)}`;
    live.className = 'live ok';
  } catch (err) {
    state.errors++;
    const live = $('live');
    live.textContent = `no answer from this node (${err.message}); retrying`;
    live.className = 'live stale';
  } finally {
    setTimeout(pollCluster, CLUSTER_EVERY_MS);
  }
}

async function pollTopics() {
  try {
    const t = await getJson('/console/topics.json');
    const now = Date.now();
    fillBody(
      $('classes-table'),
      t.replayClasses.map((c) =>
        el(
          'tr',
          {},
          el('th', { scope: 'row' }, String(c.replayClass)),
          el('td', {}, duration(c.delayMs)),
          el('td', {}, String(c.dataFiles)),
          el('td', {}, `${c.scheduledAtLeast ? '≥ ' : ''}${c.scheduled}`),
          el('td', {}, c.nextDueMs.length === 0 ? '–' : c.nextDueMs.map((d) => (d <= now ? 'due now' : `in ${ago(d - now)}`)).join(', ')),
          el('td', {}, String(c.inFlight)),
          el('td', {}, cell(c.redelivered)),
          el('td', {}, cell(c.deadLettered)),
        ),
      ),
    );
    const rows = t.topics.map((x) => el('tr', {}, el('th', { scope: 'row' }, x.topic), el('td', {}, String(x.sessions)), el('td', {}, String(x.bytes))));
    if (rows.length === 0) rows.push(el('tr', {}, el('td', { colspan: 3 }, 'no active sessions')));
    if (t.topicsTotal > t.topics.length) rows.push(el('tr', {}, el('td', { colspan: 3 }, `and ${t.topicsTotal - t.topics.length} more topics`)));
    fillBody($('topics-table'), rows);
    const groups = (t.consumerGroups ?? []).map((g) =>
      el(
        'tr',
        {},
        el('th', { scope: 'row' }, g.topic),
        el('td', {}, g.name),
        el('td', {}, String(g.ready)),
        el('td', {}, String(g.inFlight)),
        el('td', {}, String(g.redelivered)),
        el('td', {}, String(g.deadLetters)),
        el('td', {}, String(g.deadLettered)),
      ),
    );
    if (groups.length === 0) groups.push(el('tr', {}, el('td', { colspan: 7 }, 'no consumer groups')));
    fillBody($('groups-table'), groups);
  } catch {
    // shown by the cluster poll's status line
  } finally {
    setTimeout(pollTopics, TOPICS_EVERY_MS);
  }
}

function setupLookup() {
  $('lookup').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const id = $('session-id').value.trim();
    const out = $('lookup-result');
    try {
      const r = await fetch(`/console/session?id=${encodeURIComponent(id)}`, { cache: 'no-store' });
      const body = await r.json();
      if (!r.ok) return out.replaceChildren(el('p', { class: 'error' }, body.message ?? `HTTP ${r.status}`));
      if (body.session === null)
        return out.replaceChildren(el('p', {}, `No active session ${id} on ${body.node} (applied through index ${body.appliedIndex}).`));
      const s = body.session;
      const dl = el(
        'dl',
        { class: 'session' },
        el('dt', {}, 'ID'),
        el('dd', {}, el('code', {}, s.id)),
        el('dt', {}, 'Topic'),
        el('dd', {}, s.topic),
        el('dt', {}, 'Records'),
        el('dd', {}, `${s.recordCount} (${s.bytes} bytes)`),
      );
      const list = el(
        'ol',
        { class: 'records' },
        ...s.records.map((r) => el('li', {}, r.text !== undefined ? r.text : `base64 ${r.base64}`, r.cut ? ` … (${r.bytes} bytes)` : '')),
      );
      const note = s.recordsHidden ? [el('p', {}, 'Records are shown to users with the read permission on this topic.')] : [];
      out.replaceChildren(el('p', {}, `As applied by ${body.node} through index ${body.appliedIndex}:`), dl, list, ...note);
    } catch (err) {
      out.replaceChildren(el('p', { class: 'error' }, err.message));
    }
  });
}

// ---- replay of an --inspect-file recording --------------------------------------------------

const replay = { steps: [], nodes: [], timer: null };

/** Transitions per node from inspection lines, as the node's recorder derives them. */
async function readRecording(file) {
  const last = new Map();
  const steps = [];
  let dropped = 0;
  let lines = 0;
  let bad = 0;
  const reader = file.stream().pipeThrough(new TextDecoderStream()).getReader();
  let rest = '';
  const take = (line) => {
    if (line.trim() === '') return;
    lines++;
    let r;
    try {
      r = JSON.parse(line);
    } catch {
      bad++;
      return;
    }
    if (r.type !== '@xstate.snapshot' || (r.rootId !== undefined && r.sessionId !== r.rootId)) return;
    const node = String(r.node ?? r.sessionId ?? '?');
    const to = typeof r.snapshot?.value === 'string' ? r.snapshot.value : JSON.stringify(r.snapshot?.value ?? null);
    const term = typeof r.snapshot?.context?.term === 'number' ? r.snapshot.context.term : null;
    const prev = last.get(node);
    if (prev !== undefined && prev.to === to && prev.term === term) return;
    last.set(node, { to, term });
    const step = {
      at: Number(r.ts) || 0,
      node,
      from: prev?.to ?? null,
      to,
      event: String(r.event?.type ?? 'unknown'),
      peer: typeof r.event?.msg?.from === 'string' ? r.event.msg.from : undefined,
      term,
    };
    if (steps.length < REPLAY_KEPT) steps.push(step);
    else dropped++;
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    rest += value;
    let nl;
    while ((nl = rest.indexOf('\n')) >= 0) {
      take(rest.slice(0, nl));
      rest = rest.slice(nl + 1);
    }
  }
  take(rest);
  steps.sort((a, b) => a.at - b.at);
  return { steps, nodes: [...last.keys()].sort(), lines, bad, dropped };
}

function renderReplay() {
  const k = Number($('replay-step').value);
  const upTo = replay.steps.slice(0, k + 1);
  const cards = [];
  for (const node of replay.nodes) {
    const mine = upTo.filter((s) => s.node === node);
    const last = mine[mine.length - 1] ?? null;
    const current = last?.to ?? null;
    const card = el('article', { class: 'machine', 'data-node': node, 'aria-labelledby': `r-${node}` });
    card.append(
      el(
        'h3',
        { id: `r-${node}` },
        `${node}: `,
        el('span', { class: 'current-state' }, current ?? 'not started'),
        last?.term !== null && last?.term !== undefined ? ` (term ${last.term})` : '',
      ),
    );
    card.append(
      el(
        'div',
        { class: 'scroll' },
        drawChart(state.chart, state.layout, current, last, `Replayed Raft state chart of ${node}; state ${current ?? 'not started'}`),
      ),
    );
    card.append(
      el('div', { class: 'scroll' }, transitionsTable(mine.slice(-TRANSITIONS_SHOWN).reverse(), `Transitions of ${node} up to this step, newest first`)),
    );
    cards.push(card);
  }
  $('replay-machines').replaceChildren(...cards);
  const s = replay.steps[k];
  $('replay-where').textContent =
    s === undefined
      ? 'no transitions in this file'
      : `step ${k + 1} of ${replay.steps.length}: ${clock(s.at)} ${s.node} ${s.from ?? 'start'} → ${s.to} on ${s.event}`;
}

function setupReplay() {
  $('replay-file').addEventListener('change', async () => {
    const f = $('replay-file').files[0];
    if (f === undefined) return;
    $('replay-where').textContent = `reading ${f.name}…`;
    $('replay-controls').hidden = false;
    const r = await readRecording(f);
    replay.steps = r.steps;
    replay.nodes = r.nodes;
    $('replay-step').max = String(Math.max(0, r.steps.length - 1));
    $('replay-step').value = '0';
    renderReplay();
    if (r.bad > 0 || r.dropped > 0) $('replay-where').textContent += ` (${r.bad} unreadable lines, ${r.dropped} transitions past ${REPLAY_KEPT} left out)`;
  });
  $('replay-step').addEventListener('input', renderReplay);
  $('replay-play').addEventListener('click', () => {
    if (replay.timer !== null) {
      clearInterval(replay.timer);
      replay.timer = null;
      $('replay-play').textContent = 'Play';
      return;
    }
    $('replay-play').textContent = 'Pause';
    replay.timer = setInterval(() => {
      const s = $('replay-step');
      if (Number(s.value) >= Number(s.max)) {
        clearInterval(replay.timer);
        replay.timer = null;
        $('replay-play').textContent = 'Play';
        return;
      }
      s.value = String(Number(s.value) + 1);
      renderReplay();
    }, 400);
  });
}

async function main() {
  setupLookup();
  setupReplay();
  for (;;) {
    try {
      state.chart = await getJson('/console/chart.json');
      state.layout = layoutChart(state.chart);
      break;
    } catch (err) {
      $('live').textContent = `cannot load the chart (${err.message}); retrying`;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  pollCluster();
  pollTopics();
}

main();
