/**
 * The console's one HTML page, rendered by the node that serves it: the sections and their empty
 * tables, filled and refreshed by assets/console.js from the /console/*.json documents. Everything
 * it loads comes from the same admin port (a Content-Security-Policy of 'self' says so to the
 * browser too).
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Nothing but this origin: no page, script, style, font or connection elsewhere. */
export const consoleCsp =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export function consolePage(node: string, clusterId: string): string {
  const n = esc(node);
  const c = esc(clusterId);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sessionraft console: cluster ${c} (served by ${n})</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/console.css">
<script type="module" src="/console/console.js"></script>
</head>
<body data-node="${n}" data-cluster="${c}">
<header>
  <h1>sessionraft <span class="muted">console</span></h1>
  <p>Cluster <strong>${c}</strong>, served by node <strong>${n}</strong>. Read-only.
    <span id="live" class="live" role="status" aria-live="polite">connecting…</span></p>
  <nav aria-label="Sections">
    <a href="#cluster">Cluster</a> <a href="#charts">State charts</a> <a href="#topics">Topics</a>
    <a href="#membership">Membership</a> <a href="#replay">Replay a recording</a>
  </nav>
</header>
<main>
<section id="cluster" aria-labelledby="h-cluster">
  <h2 id="h-cluster">Cluster</h2>
  <p id="leader-line" class="leader-line">Leader: <strong id="leader-name">unknown</strong></p>
  <div class="scroll">
  <table id="nodes-table">
    <caption>Every node's own view of itself; lag is the leader's view (entries it has that the node lacks).</caption>
    <thead><tr><th scope="col">Node</th><th scope="col">Role</th><th scope="col">Term</th><th scope="col">Leader</th><th scope="col">Commit</th><th scope="col">Applied</th><th scope="col">Last</th><th scope="col">Lag</th><th scope="col">Links (control / data)</th><th scope="col">Uptime</th></tr></thead>
    <tbody></tbody>
  </table>
  </div>
  <div class="figures">
    <figure><figcaption id="cap-throughput">Throughput: entries committed per second (leader), last 5 minutes</figcaption>
      <div id="chart-throughput" class="spark"></div></figure>
    <figure><figcaption id="cap-latency">Commit latency in ms (leader, mean and largest per second), last 5 minutes</figcaption>
      <div id="chart-latency" class="spark"></div></figure>
    <figure><figcaption id="cap-lateness">Delivery lateness in ms after the due time (leader: first deliveries to consumers, mean and largest per second), last 5 minutes</figcaption>
      <div id="chart-lateness" class="spark"></div></figure>
  </div>
</section>
<section id="charts" aria-labelledby="h-charts">
  <h2 id="h-charts">State charts</h2>
  <p>The Raft statechart of each node, drawn from the machine's own definition (<a href="/console/chart.json">chart.json</a>);
    the current state is filled, the last transition is drawn bold, and the recent transitions are listed with their events.</p>
  <div id="machines" class="machines"></div>
</section>
<section id="topics" aria-labelledby="h-topics">
  <h2 id="h-topics">Topics</h2>
  <div class="scroll">
  <table id="classes-table">
    <caption>Stored sessions per replay class (this node's applied state)</caption>
    <thead><tr><th scope="col">Class</th><th scope="col">Delay</th><th scope="col">Data files</th><th scope="col">Scheduled</th><th scope="col">Next due</th><th scope="col">In flight</th><th scope="col">Redelivered</th><th scope="col">Dead-lettered</th></tr></thead>
    <tbody></tbody>
  </table>
  </div>
  <div class="scroll">
  <table id="topics-table">
    <caption>Active sessions per topic</caption>
    <thead><tr><th scope="col">Topic</th><th scope="col">Active sessions</th><th scope="col">Bytes</th></tr></thead>
    <tbody></tbody>
  </table>
  </div>
  <div class="scroll">
  <table id="groups-table">
    <caption>Consumer groups (this node's applied state)</caption>
    <thead><tr><th scope="col">Topic</th><th scope="col">Group</th><th scope="col">Ready</th><th scope="col">In flight</th><th scope="col">Redelivered</th><th scope="col">Dead letters</th><th scope="col">Dead-lettered in all</th></tr></thead>
    <tbody></tbody>
  </table>
  </div>
  <h3>Look up a session</h3>
  <form id="lookup" class="lookup" action="#" role="search">
    <label for="session-id">Session ID (32 hexadecimal digits)</label>
    <input id="session-id" name="id" autocomplete="off" spellcheck="false" pattern="[0-9a-fA-F]{32}" size="34">
    <button type="submit">Look up</button>
  </form>
  <div id="lookup-result" aria-live="polite"></div>
</section>
<section id="membership" aria-labelledby="h-membership">
  <h2 id="h-membership">Membership</h2>
  <p id="membership-line"></p>
  <div class="scroll">
  <table id="members-table">
    <caption>The configuration in force and each member's replication progress (leader's view)</caption>
    <thead><tr><th scope="col">Member</th><th scope="col">Kind</th><th scope="col">Raft address</th><th scope="col">Match</th><th scope="col">Next</th><th scope="col">Lag</th><th scope="col">Replication</th><th scope="col">Recently active</th></tr></thead>
    <tbody></tbody>
  </table>
  </div>
</section>
<section id="replay" aria-labelledby="h-replay">
  <h2 id="h-replay">Replay a recording</h2>
  <p>Open a file written by <code>sessionraft node --inspect-file</code> (JSON lines); it is read in this browser, never uploaded.</p>
  <p><label for="replay-file">Recording</label> <input type="file" id="replay-file" accept=".jsonl,.json,.log,.txt,application/json"></p>
  <div id="replay-controls" class="replay-controls" hidden>
    <button type="button" id="replay-play">Play</button>
    <label for="replay-step">Step</label> <input type="range" id="replay-step" min="0" max="0" value="0">
    <span id="replay-where" aria-live="polite"></span>
  </div>
  <div id="replay-machines" class="machines"></div>
</section>
</main>
<footer><p>Documents: <a href="/console/cluster.json">cluster.json</a> · <a href="/console/topics.json">topics.json</a> · <a href="/status">/status</a> · <a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a></p></footer>
<noscript><p>The console needs JavaScript (one small script from this node); the JSON documents above work without it.</p></noscript>
</body>
</html>
`;
}
