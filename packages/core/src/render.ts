/** Plain-text rendering shared by every command's human output. */

export interface Style {
  /** Colours a status word; identity when output is not a terminal. */
  status(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

export const PLAIN: Style = { status: (t) => t, dim: (t) => t, bold: (t) => t };

// C0 and C1 control characters, DEL, and the bidi overrides that can disguise text.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Text from users (titles, messages) made safe to print: control characters become visible escapes. */
export function safeText(text: string): string {
  return text.replace(UNSAFE, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

function truncate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  /** Longest cell before it is shortened with an ellipsis. */
  max?: number;
  /** Applied after alignment, so colour codes do not break the columns. */
  style?: (cell: string, row: T) => string;
}

/** An aligned table with a header row. Cells are made safe and shortened to `max`. */
export function table<T>(
  rows: readonly T[],
  columns: readonly Column<T>[],
  style: Style = PLAIN,
): string {
  const cells = rows.map((row) =>
    columns.map((c) => truncate(safeText(c.value(row)), c.max ?? 80)),
  );
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...cells.map((r) => r[i]!.length)),
  );
  const line = (parts: string[]) => parts.join("  ").trimEnd();
  const header = line(columns.map((c, i) => style.dim(c.header.padEnd(widths[i]!))));
  const body = cells.map((r, k) =>
    line(
      r.map((cell, i) => {
        const padded = cell.padEnd(widths[i]!);
        const colour = columns[i]!.style;
        return colour ? colour(padded, rows[k]!) : padded;
      }),
    ),
  );
  return [header, ...body].join("\n");
}

export const plural = (n: number, word: string, many = `${word}s`) =>
  `${n} ${n === 1 ? word : many}`;
