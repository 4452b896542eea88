import { existsSync, realpathSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { GitError } from "./errors.js";

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
const FORBIDDEN = /[\u0000-\u0020\u007f~^:?*[\\]/;

/**
 * Characters that make one name look like another: invisible and formatting characters (zero
 * width spaces and joiners, bidi controls, soft hyphen, byte order mark, tag characters), every
 * kind of space and separator, control, private-use, unassigned and surrogate code points,
 * variation selectors, the combining grapheme joiner, and the blank-looking Hangul fillers and
 * braille blank.
 */
const INVISIBLE =
  // biome-ignore lint/suspicious/noMisleadingCharacterClass: each is matched alone, combining ones too, on purpose
  /[\p{Cf}\p{Z}\p{Cc}\p{Co}\p{Cn}\p{Cs}\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164\ufe00-\ufe0f\uffa0\u{e0100}-\u{e01ef}]/u;
/** Letters of the scripts that hold look-alikes of Latin letters (Cyrillic 'а', Greek 'ο', …). */
const LATIN_LOOKALIKE_SCRIPT =
  /[\p{Script=Cyrillic}\p{Script=Greek}\p{Script=Armenian}\p{Script=Cherokee}]/u;

const codePoint = (c: string) =>
  `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;

/**
 * Why `name` could be mistaken for another name, or undefined when it cannot: an invisible or
 * formatting character, a compatibility form (fullwidth 'ａ', ligature 'ﬁ', mathematical '𝐚':
 * anything NFKC normalisation changes), or Latin letters mixed with letters of a script that
 * has look-alikes of them (Cyrillic, Greek, Armenian, Cherokee). Names the code point.
 */
export function lookAlikeProblem(name: string): string | undefined {
  const invisible = INVISIBLE.exec(name);
  if (invisible) return `contains ${codePoint(invisible[0])}, an invisible or formatting character`;
  if (name.normalize("NFKC") !== name) {
    const chars = [...name];
    const odd = chars.find((c) => c.normalize("NFKC") !== c) ?? chars[0]!;
    return `contains ${codePoint(odd)}, a compatibility or unnormalised form that looks like ${JSON.stringify(odd.normalize("NFKC"))}`;
  }
  if (/\p{Script=Latin}/u.test(name)) {
    const mixed = LATIN_LOOKALIKE_SCRIPT.exec(name);
    if (mixed) {
      return `mixes Latin letters with ${codePoint(mixed[0])}, a letter of another script that may look like a Latin one`;
    }
  }
  return undefined;
}

/**
 * What is wrong with a branch name, or undefined when it is one git accepts (the rules of
 * `git check-ref-format --branch`) that cannot be mistaken for an option or for another name: no
 * leading '-', no '..', no '@{', no control characters, spaces or any of ~ ^ : ? * [ \, no
 * component starting with '.' or ending in '.lock', no empty component, no trailing '/' or '.',
 * not '@' alone, and no invisible characters or look-alikes (see `lookAlikeProblem`).
 */
export function branchNameProblem(name: unknown): string | undefined {
  if (typeof name !== "string") return "not a string";
  if (name.length === 0) return "empty";
  if (name.length > 200) return `${name.length} characters long (at most 200)`;
  if (name.startsWith("-")) return "starts with '-' (it would be read as an option)";
  if (name === "@" || name === "HEAD") return `${JSON.stringify(name)} is reserved`;
  const forbidden = FORBIDDEN.exec(name);
  if (forbidden) return `contains ${codePoint(forbidden[0])}, which git does not allow`;
  if (name.includes("..")) return "contains '..'";
  if (name.includes("@{")) return "contains '@{'";
  if (name.endsWith("/") || name.endsWith(".")) return `ends with '${name.at(-1)}'`;
  const badPart = name
    .split("/")
    .find((part) => part.length === 0 || part.startsWith(".") || part.endsWith(".lock"));
  if (badPart !== undefined) {
    return badPart.length === 0
      ? "has an empty component ('//' or a leading '/')"
      : `has a component ${JSON.stringify(badPart)} starting with '.' or ending in '.lock'`;
  }
  return lookAlikeProblem(name);
}

export function isValidBranchName(name: unknown): name is string {
  return branchNameProblem(name) === undefined;
}

export function requireBranchName(name: unknown, what = "branch name"): string {
  const problem = branchNameProblem(name);
  if (problem !== undefined) {
    throw new GitError(
      `invalid ${what} ${JSON.stringify(name)}: ${problem}. A branch name may not start with '-' or hold '..', spaces, control or invisible characters, look-alikes, or any of ~ ^ : ? * [ \\`,
      { [what.replace(/ /g, "_")]: name, problem },
    );
  }
  return name as string;
}

/** A full object id (SHA-1 or SHA-256 hex). */
export function isObjectId(value: unknown): value is string {
  return typeof value === "string" && /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(value);
}

/** `path` resolved the way the filesystem will: symlinks of its existing ancestors followed. */
export function realPath(path: string): string {
  let existing = resolve(path);
  const rest: string[] = [];
  while (!existsSync(existing)) {
    const parent = dirname(existing);
    if (parent === existing) break;
    rest.unshift(existing.slice(parent.length).replace(/^[\\/]/, ""));
    existing = parent;
  }
  return resolve(realpathSync.native(existing), ...rest);
}

/**
 * The absolute path of `path`, refused unless it lies strictly inside `root` once symlinks are
 * followed: a worktree path can never escape the configured worktree root.
 */
export function requireInside(root: string, path: string): string {
  const realRoot = realPath(root);
  const real = realPath(resolve(root, path));
  const rel = relative(realRoot, real);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) {
    throw new GitError(`worktree path ${path} is outside the worktree root ${root}; refused`, {
      path,
      root,
    });
  }
  return real;
}
