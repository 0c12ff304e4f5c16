/** A benchmark's closing table as text: each column padded to its widest cell, two spaces apart. */
export function formatColumns(lines: readonly (readonly string[])[]): string {
  const widths = lines[0]!.map((_, k) => Math.max(...lines.map((l) => l[k]!.length)));
  return lines
    .map((l) =>
      l
        .map((c, k) => c.padEnd(widths[k]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
