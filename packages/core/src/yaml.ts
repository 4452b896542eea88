import { isAlias, isCollection, LineCounter, type Node, parseDocument, visit } from "yaml";
import { invalidInput } from "./errors.js";

/** At most this many alias expansions: a "billion laughs" document is refused, not expanded. */
export const YAML_MAX_ALIASES = 100;

/**
 * Parses one YAML document strictly: every error *and* warning of the parser (an unresolved
 * tag such as `!foo`, a duplicate key, a second document, …) and a collection used as a mapping
 * key (which JavaScript could only stringify) is an InvalidInput naming the line and column.
 * Nothing is printed as a side effect (the yaml library would otherwise warn on stderr).
 */
export function parseYamlStrict(text: string, what: string, file: string): unknown {
  const lines = new LineCounter();
  const refuse = (problem: string, offset: number | undefined, code: string): never => {
    const pos = offset === undefined ? undefined : lines.linePos(offset);
    throw invalidInput(
      `${what} is not valid YAML: ${problem}${pos ? ` (line ${pos.line}, column ${pos.col})` : ""}`,
      { file, ...(pos ? { line: pos.line, column: pos.col } : {}), yaml_code: code },
    );
  };
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(text, {
      lineCounter: lines,
      prettyErrors: false,
      uniqueKeys: true,
      logLevel: "silent",
    });
  } catch (error) {
    return refuse((error as Error).message, undefined, "PARSE_FAILED");
  }
  const first = doc.errors[0] ?? doc.warnings[0];
  if (first) {
    refuse(
      first.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, ""),
      first.pos[0],
      first.code,
    );
  }
  visit(doc, {
    Pair(_, pair) {
      const key = pair.key as Node | null;
      const target = isAlias(key) ? key.resolve(doc) : key;
      if (isCollection(target)) {
        refuse(
          "a mapping key is itself a list or mapping; keys must be plain text",
          key?.range?.[0],
          "COLLECTION_KEY",
        );
      }
    },
  });
  try {
    return doc.toJS({ maxAliasCount: YAML_MAX_ALIASES });
  } catch (error) {
    return refuse((error as Error).message, undefined, "RESOLVE_FAILED");
  }
}
