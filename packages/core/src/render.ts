/** Plain-text rendering shared by every command's human output. */

export interface Style {
  /** Colours a status word; identity when output is not a terminal. */
  status(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

export const PLAIN: Style = { status: (t) => t, dim: (t) => t, bold: (t) => t };

/**
 * Characters never written raw to a terminal, a JSON document, a log or a job summary: C0 and C1
 * control characters (ESC starts terminal escape sequences), DEL, the bidi controls that can
 * disguise text (embeddings, overrides, isolates, marks), the line and paragraph separators, and
 * lone surrogates (half of a character; not valid Unicode).
 */
const UNSAFE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|\p{Cs}/gu;
// The same without line feeds, for text printed over several lines.
const UNSAFE_BUT_NEWLINE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|\p{Cs}/gu;
// What JSON.stringify leaves raw among those (it escapes C0 and lone surrogates itself).
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const visible = (c: string) => `\\u{${c.codePointAt(0)!.toString(16)}}`;

/** Text from users (titles, messages) made safe to print: control characters become visible escapes. */
export function safeText(text: string): string {
  return text.replace(UNSAFE, visible);
}

/**
 * Multi-line text (error messages, stack traces) made safe to print: every line as `safeText`,
 * line feeds kept (a carriage return is escaped: it would let a line overwrite itself).
 */
export function safeLines(text: string): string {
  return text.replace(UNSAFE_BUT_NEWLINE, visible);
}

/**
 * JSON text with nothing a terminal or log viewer would act on: C1 controls, DEL, bidi controls
 * and the line separators written as \u escapes (JSON.stringify escapes C0 and lone surrogates
 * already). Parses back to exactly the same value.
 */
export function safeJson(value: unknown, space?: number): string {
  const text = JSON.stringify(value, null, space) ?? "null";
  return text.replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/**
 * `text` cut to at most `max` characters (UTF-16 units, what every limit here counts), ending
 * with `…` when cut. Cuts only between graphemes: never through a surrogate pair, a combining
 * mark, an emoji sequence or a CR LF.
 */
export function shorten(text: string, max: number): string {
  if (text.length <= max) return text;
  const room = Math.max(0, max - 1);
  let end = 0;
  for (const { segment, index } of graphemes.segment(text)) {
    if (index + segment.length > room) break;
    end = index + segment.length;
  }
  return `${text.slice(0, end)}…`;
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
  const cells = rows.map((row) => columns.map((c) => shorten(safeText(c.value(row)), c.max ?? 80)));
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
