import picomatch from "picomatch";

const GLOB_CHARS = /[*?[\]{}()!+@]/;

function segments(pattern: string): string[] {
  return pattern.replace(/^\.\//, "").split("/").filter(Boolean);
}

function segmentsMayMeet(a: string, b: string): boolean {
  const aGlob = GLOB_CHARS.test(a);
  const bGlob = GLOB_CHARS.test(b);
  if (!aGlob && !bGlob) return a === b;
  if (!aGlob) return picomatch.isMatch(a, b, { dot: true });
  if (!bGlob) return picomatch.isMatch(b, a, { dot: true });
  return true; // two wildcards in one segment: assume they can meet
}

/**
 * Whether some path could match both patterns. Errs on the side of "yes": a false "yes" only
 * delays a task, a false "no" would let two agents write one file.
 */
export function patternsMayOverlap(a: string, b: string): boolean {
  const left = segments(a);
  const right = segments(b);
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const l = left[i]!;
    const r = right[i]!;
    if (l === "**" || r === "**") return true;
    if (!segmentsMayMeet(l, r)) return false;
  }
  // One is a directory prefix of the other (e.g. "src/auth" and "src/auth/x.ts"), or they are equal.
  return true;
}

/** The first pattern pair that may overlap, if any. */
export function firstOverlap(
  mine: readonly string[],
  theirs: readonly string[],
): [string, string] | undefined {
  for (const a of mine) for (const b of theirs) if (patternsMayOverlap(a, b)) return [a, b];
  return undefined;
}
