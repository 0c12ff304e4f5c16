/**
 * A strict reader of the Prometheus text exposition format (0.0.4) as operators' scrapers read it:
 * every line a `# HELP`, a `# TYPE` or a sample `name{label="value",...} value`; names and label
 * names valid; one HELP (not empty) and one TYPE per family, before its samples; each sample
 * belonging to the family it follows (histograms: `_bucket`, `_sum`, `_count`); no series twice.
 * Throws on the first fault, saying which line.
 */

export type PromType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PromFamily {
  readonly name: string;
  readonly type: PromType;
  readonly help: string;
  readonly samples: PromSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** A float as Prometheus reads one (Go's ParseFloat: NaN and Inf in any case; prom-client writes `Nan`). */
const VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|nan|[+-]?inf)$/i;

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`no '=' in the labels of: ${line}`);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`label name ${JSON.stringify(name)} invalid in: ${line}`);
    if (Object.hasOwn(labels, name)) throw new Error(`label ${name} twice in: ${line}`);
    if (text[eq + 1] !== '"') throw new Error(`label ${name} not quoted in: ${line}`);
    let j = eq + 2;
    let value = '';
    for (;;) {
      const ch = text[j];
      if (ch === undefined) throw new Error(`label ${name} unterminated in: ${line}`);
      if (ch === '"') break;
      if (ch === '\\') {
        const next = text[j + 1];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else throw new Error(`bad escape in label ${name} of: ${line}`);
        j += 2;
        continue;
      }
      value += ch;
      j++;
    }
    labels[name] = value;
    i = j + 1;
    if (i < text.length) {
      if (text[i] !== ',') throw new Error(`expected ',' after label ${name} in: ${line}`);
      i++;
    }
  }
  return labels;
}

/** The families of `text`, in order. */
export function parsePromText(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  const helps = new Map<string, string>();
  const seen = new Set<string>();
  let current: PromFamily | null = null;
  if (!text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (m === null) {
        if (/^# (HELP|TYPE) /.test(line)) throw new Error(`malformed comment: ${line}`);
        continue;
      }
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`metric name ${JSON.stringify(name)} invalid: ${line}`);
      if (kind === 'HELP') {
        if (helps.has(name)) throw new Error(`second HELP for ${name}`);
        if (rest.trim() === '') throw new Error(`empty HELP for ${name}`);
        helps.set(name, rest);
        continue;
      }
      if (families.has(name)) throw new Error(`second TYPE for ${name}`);
      if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`unknown type ${rest} of ${name}`);
      current = { name, type: rest as PromType, help: helps.get(name) ?? '', samples: [] };
      families.set(name, current);
      continue;
    }
    const m = /^([^{\s]+)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    if (m === null) throw new Error(`not a sample line: ${line}`);
    const [, name, labelText, valueText] = m as unknown as [string, string, string | undefined, string];
    if (!NAME.test(name)) throw new Error(`metric name ${JSON.stringify(name)} invalid: ${line}`);
    if (!VALUE.test(valueText)) throw new Error(`value ${JSON.stringify(valueText)} invalid: ${line}`);
    if (current === null) throw new Error(`a sample before any TYPE: ${line}`);
    const f: PromFamily = current;
    const suffixes = f.type === 'histogram' ? ['_bucket', '_sum', '_count'] : f.type === 'summary' ? ['', '_sum', '_count'] : [''];
    if (!suffixes.some((s) => name === f.name + s)) throw new Error(`sample ${name} under the TYPE of ${f.name}: ${line}`);
    const labels = labelText === undefined ? {} : parseLabels(labelText, line);
    if (f.type === 'histogram' && name.endsWith('_bucket') && labels.le === undefined) throw new Error(`a bucket without le: ${line}`);
    const key = `${name}{${Object.keys(labels)
      .sort()
      .map((k) => `${k}=${JSON.stringify(labels[k])}`)
      .join(',')}}`;
    if (seen.has(key)) throw new Error(`series twice: ${key}`);
    seen.add(key);
    const lower = valueText.toLowerCase();
    const value = lower === 'nan' ? NaN : lower === '+inf' || lower === 'inf' ? Infinity : lower === '-inf' ? -Infinity : Number(valueText);
    if (f.type === 'counter' && !(value >= 0)) throw new Error(`a counter below 0 or NaN: ${line}`);
    f.samples.push({ name, labels, value });
  }
  for (const [name, f] of families) if (f.help === '') throw new Error(`no HELP for ${name}`);
  for (const name of helps.keys()) if (!families.has(name)) throw new Error(`HELP without TYPE for ${name}`);
  return families;
}
