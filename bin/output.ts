/**
 * CLI output for people and for programs (issue 19): a table on a terminal (like `etcdctl endpoint
 * status -w table`), JSON when piped or with `--output json`; colours only on a terminal (NO_COLOR
 * turns them off, FORCE_COLOR on); a progress line on a terminal for long operations.
 */

type OutputFormat = 'table' | 'json';

// The mark kept: a record that starts with U+FEFF is printed as it is.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A record as the CLI prints it (`--encoding`): its text when it is valid UTF-8 (a leading U+FEFF
 * included), `{ base64 }` when it is not; or hex, or base64.
 */
export function showRecord(r: Uint8Array, enc: 'utf8' | 'base64' | 'hex'): unknown {
  const b = Buffer.from(r.buffer, r.byteOffset, r.byteLength);
  if (enc === 'hex') return b.toString('hex');
  if (enc === 'base64') return b.toString('base64');
  try {
    return utf8.decode(r);
  } catch {
    return { base64: b.toString('base64') };
  }
}

interface Stream {
  readonly isTTY?: boolean;
  write(s: string): unknown;
}

/** `--output` when given, else a table on a terminal and JSON otherwise. */
export function outputFormat(flag: string | undefined, stream: Stream = process.stdout): OutputFormat {
  if (flag === 'table' || flag === 'json') return flag;
  return stream.isTTY === true ? 'table' : 'json';
}

/** Colours: never with NO_COLOR (any value), always with FORCE_COLOR (but 0), else on a terminal. */
export function useColor(stream: Stream = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false') return true;
  return stream.isTTY === true && env.TERM !== 'dumb';
}

type Style = 'bold' | 'dim' | 'green' | 'yellow' | 'red' | 'cyan';
const SGR: Record<Style, [number, number]> = { bold: [1, 22], dim: [2, 22], green: [32, 39], yellow: [33, 39], red: [31, 39], cyan: [36, 39] };

/** A table cell: its text and how to colour it. */
interface Cell {
  readonly text: string;
  readonly style?: Style;
}

type CellLike = Cell | string | number | boolean | null | undefined;

function toCell(v: CellLike): Cell {
  if (v === null || v === undefined) return { text: '-' };
  if (typeof v === 'object') return v;
  return { text: String(v) };
}

function paint(text: string, style: Style | undefined, color: boolean): string {
  if (!color || style === undefined) return text;
  const [on, off] = SGR[style];
  return `\x1b[${on}m${text}\x1b[${off}m`;
}

/** Characters a terminal shows for `s` (code points; the tables hold ASCII and a few symbols). */
function width(s: string): number {
  return [...s].length;
}

/** Plain columns: each padded to its widest cell, two spaces apart (the first line is the head). */
export function formatColumns(lines: readonly (readonly string[])[]): string {
  if (lines.length === 0) return '';
  const widths = lines[0]!.map((_, k) => Math.max(...lines.map((l) => width(l[k] ?? ''))));
  return lines
    .map((l) =>
      l
        .map((c, k) => c + ' '.repeat(widths[k]! - width(c)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * An etcdctl-style table:
 *
 *   +----------+------+
 *   | ENDPOINT | ROLE |
 *   +----------+------+
 *   | a        | b    |
 *   +----------+------+
 */
export function renderTable(head: readonly string[], rows: readonly (readonly CellLike[])[], color: boolean): string {
  const cells = rows.map((r) => head.map((_, k) => toCell(r[k])));
  const widths = head.map((h, k) => Math.max(width(h), ...cells.map((r) => width(r[k]!.text))));
  const rule = '+' + widths.map((w) => '-'.repeat(w + 2)).join('+') + '+';
  const line = (r: readonly Cell[]): string =>
    '|' + r.map((c, k) => ` ${paint(c.text, c.style, color)}${' '.repeat(widths[k]! - width(c.text))} `).join('|') + '|';
  return [rule, line(head.map((h) => ({ text: h, style: 'bold' as const }))), rule, ...cells.map(line), rule].join('\n');
}

function role(r: unknown): Cell {
  const text = typeof r === 'string' ? r : '-';
  const style: Style | undefined =
    text === 'leader' ? 'green' : text === 'candidate' || text === 'preCandidate' ? 'yellow' : text === 'down' || text === 'unknown' ? 'red' : undefined;
  return style !== undefined ? { text, style } : { text };
}

interface StatusLike {
  readonly node?: string;
  readonly role?: string;
  readonly term?: number;
  readonly leader?: string | null;
  readonly commitIndex?: number;
  readonly appliedIndex?: number;
  readonly lastIndex?: number;
  readonly voters?: readonly string[];
  readonly learners?: readonly string[];
  readonly corrupt?: boolean;
  readonly votingNote?: string;
  readonly nodes?: Record<string, { lag?: number }>;
  readonly error?: string;
  readonly message?: string;
}

/** Characters of an error message a table shows (the JSON output has all of it). */
const errorChars = 60;

function errorText(code: string, message: string | undefined): string {
  let m = (message ?? '').startsWith(code) ? (message ?? '').slice(code.length).replace(/^[:\s]+/, '') : (message ?? '');
  if (m.length > errorChars) m = `${m.slice(0, errorChars - 1)}…`;
  return m.length > 0 ? `${code}: ${m}` : code;
}

/** `client status`: one row per endpoint; lag is the leader's view (the newest term's leader). */
export function statusTable(byEndpoint: Record<string, unknown>, color: boolean): string {
  const entries = Object.entries(byEndpoint).sort(([a], [b]) => a.localeCompare(b)) as [string, StatusLike][];
  let leader: StatusLike | null = null;
  for (const [, s] of entries) if (s.role === 'leader' && (leader === null || (s.term ?? 0) > (leader.term ?? 0))) leader = s;
  const rows = entries.map(([ep, s]) => {
    if (s.error !== undefined)
      return [ep, '-', role('down'), '-', '-', '-', '-', '-', '-', '-', { text: errorText(s.error, s.message), style: 'red' as const }];
    const lag = s.role === 'leader' ? 0 : s.node !== undefined ? leader?.nodes?.[s.node]?.lag : undefined;
    const kind = s.node !== undefined && s.learners?.includes(s.node) ? 'learner' : s.node !== undefined && s.voters?.includes(s.node) ? 'voter' : '-';
    const notes = [s.corrupt === true ? 'log corrupt' : '', s.votingNote ?? ''].filter((x) => x.length > 0).join('; ');
    return [
      ep,
      s.node,
      role(s.role),
      kind,
      s.term,
      s.leader ?? '-',
      s.commitIndex,
      s.appliedIndex,
      s.lastIndex,
      lag === undefined ? '-' : { text: String(lag), ...(lag > 0 ? { style: 'yellow' as const } : {}) },
      notes.length > 0 ? { text: notes, style: 'yellow' as const } : '',
    ];
  });
  return renderTable(['ENDPOINT', 'NODE', 'ROLE', 'MEMBER', 'TERM', 'LEADER', 'COMMIT', 'APPLIED', 'LAST', 'LAG', 'ERRORS / NOTES'], rows, color);
}

interface MembersLike {
  readonly node: string;
  readonly leader: string | null;
  readonly term: number;
  readonly members: Record<
    string,
    { voter: boolean; address: string | null; self?: true; match?: number; next?: number; lag?: number; state?: string; recentActive?: boolean }
  >;
}

/** `member list`: the configuration in force, one row per member. */
export function membersTable(v: MembersLike, color: boolean): string {
  const rows = Object.entries(v.members).map(([id, m]) => [
    id,
    m.voter ? 'voter' : { text: 'learner', style: 'cyan' as const },
    m.address,
    id === v.leader ? { text: 'yes', style: 'green' as const } : 'no',
    m.match,
    m.lag === undefined ? '-' : { text: String(m.lag), ...(m.lag > 0 ? { style: 'yellow' as const } : {}) },
    m.state,
    m.recentActive === undefined ? '-' : m.recentActive ? 'yes' : { text: 'no', style: 'red' as const },
  ]);
  return `${renderTable(['ID', 'KIND', 'ADDRESS', 'LEADER', 'MATCH', 'LAG', 'REPLICATION', 'ACTIVE'], rows, color)}\nanswered by ${v.node} (term ${v.term}; leader ${v.leader ?? 'none'})`;
}

/** `client list`: active sessions. */
export function sessionsTable(
  v: { sessions: readonly { id: string; topic: string; bytes: number; records: number }[]; truncated: boolean },
  color: boolean,
): string {
  const t = renderTable(
    ['ID', 'TOPIC', 'RECORDS', 'BYTES'],
    v.sessions.map((s) => [s.id, s.topic, s.records, s.bytes]),
    color,
  );
  return `${t}\n${v.sessions.length} ${v.sessions.length === 1 ? 'session' : 'sessions'}${v.truncated ? ' (truncated: --limit or the reply limit)' : ''}`;
}

interface TopicsLike {
  readonly node: string;
  readonly at: number;
  readonly appliedIndex: number;
  readonly replayClasses: readonly {
    replayClass: number;
    delayMs: number | null;
    dataFiles: number;
    scheduled: number;
    scheduledAtLeast: boolean;
    nextDueMs: readonly number[];
    inFlight: number;
    redelivered: number | null;
    deadLettered: number | null;
  }[];
  readonly topics: readonly { topic: string; sessions: number; bytes: number }[];
  readonly topicsTotal: number;
  readonly consumerGroups: readonly {
    topic: string;
    name: string;
    ready: number;
    inFlight: number;
    redelivered: number;
    deadLettered: number;
    deadLetters: number;
  }[];
}

function delay(ms: number | null): string {
  if (ms === null) return '-';
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function dueIn(at: number, now: number): string {
  const ms = at - now;
  if (ms <= 0) return 'due';
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

/** `client topics`: replay classes (scheduled, next due, in flight) and active sessions per topic. */
export function topicsTables(v: TopicsLike, color: boolean): string {
  const classes = renderTable(
    ['CLASS', 'DELAY', 'FILES', 'SCHEDULED', 'NEXT DUE IN', 'IN FLIGHT', 'REDELIVERED', 'DEAD-LETTERED'],
    v.replayClasses.map((c) => [
      c.replayClass,
      delay(c.delayMs),
      c.dataFiles,
      `${c.scheduledAtLeast ? '>=' : ''}${c.scheduled}`,
      c.nextDueMs.length === 0 ? '-' : c.nextDueMs.map((d) => dueIn(d, v.at)).join(' '),
      c.inFlight,
      c.redelivered,
      c.deadLettered,
    ]),
    color,
  );
  const topics = renderTable(
    ['TOPIC', 'ACTIVE SESSIONS', 'BYTES'],
    v.topics.map((t) => [t.topic, t.sessions, t.bytes]),
    color,
  );
  const more = v.topicsTotal > v.topics.length ? `\n(${v.topicsTotal - v.topics.length} more topics)` : '';
  // Until 2026-12-07 this said "none (not in this version)" whatever the cluster held.
  const groups =
    v.consumerGroups.length === 0
      ? 'consumer groups: none'
      : renderTable(
          ['TOPIC', 'GROUP', 'READY', 'IN FLIGHT', 'REDELIVERED', 'DEAD LETTERS', 'DEAD-LETTERED IN ALL'],
          v.consumerGroups.map((g) => [g.topic, g.name, g.ready, g.inFlight, g.redelivered, g.deadLetters, g.deadLettered]),
          color,
        );
  return `${classes}\n${topics}${more}\n${groups}\nas applied by ${v.node} through index ${v.appliedIndex}`;
}

const SPINNER = ['|', '/', '-', '\\'];

/**
 * Runs `work` and, on a terminal, shows a progress line on stderr, refreshed from `poll` every
 * `everyMs` until it ends (nothing is shown elsewhere: output for programs stays clean).
 */
export async function withProgress<T>(work: Promise<T>, poll: () => Promise<string>, opts: { stream?: Stream; everyMs?: number } = {}): Promise<T> {
  const stream = opts.stream ?? process.stderr;
  if (stream.isTTY !== true) return work;
  const t0 = Date.now();
  let frame = 0;
  let text = 'starting';
  let done = false;
  const draw = (): void => {
    if (!done) stream.write(`\r\x1b[K${SPINNER[frame++ % SPINNER.length]} ${text} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  };
  const timer = setInterval(() => {
    draw();
    poll().then(
      (t) => (text = t),
      (err: unknown) => (text = `waiting (${err instanceof Error ? err.message : String(err)})`),
    );
  }, opts.everyMs ?? 500);
  draw();
  try {
    return await work;
  } finally {
    done = true;
    clearInterval(timer);
    stream.write('\r\x1b[K');
  }
}

/**
 * A list of flat records (`user list`, `role list`, `client feature`, `groups`, `pending`, `dead`)
 * as a table: a column per key of the first record, upper-cased; a list joined with commas.
 */
export function recordsTable(rows: readonly Record<string, unknown>[], color: boolean): string {
  if (rows.length === 0) return '(none)';
  const keys = Object.keys(rows[0]!);
  const cell = (v: unknown): CellLike => (Array.isArray(v) ? v.join(', ') : typeof v === 'object' && v !== null ? JSON.stringify(v) : (v as CellLike));
  const head = keys.map((k) => k.replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase());
  return renderTable(
    head,
    rows.map((r) => keys.map((k) => cell(r[k]))),
    color,
  );
}
