import { describe, expect, it } from "vitest";
import { patternsMayOverlap } from "./files.js";

describe("patternsMayOverlap", () => {
  it.each([
    ["src/auth/**", "src/auth/login.ts", true],
    ["src/auth/**", "src/billing/**", false],
    ["src/*.ts", "src/index.ts", true],
    ["src/*.ts", "src/index.css", false],
    ["src/auth", "src/auth/login.ts", true],
    ["docs/a.md", "docs/b.md", false],
    ["docs/a.md", "./docs/a.md", true],
    ["**/*.md", "src/x.ts", true],
    ["src/{a,b}/x.ts", "src/b/x.ts", true],
    ["src/{a,b}/x.ts", "src/c/x.ts", false],
    ["lib/**", "src/**", false],
  ])("%s ~ %s → %s", (a, b, expected) => {
    expect(patternsMayOverlap(a, b)).toBe(expected);
    expect(patternsMayOverlap(b, a)).toBe(expected);
  });
});
