import { mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../../../test/helpers/tmp.js";
import { GitError } from "./errors.js";
import { parseMergeTree, parseWorktreeList } from "./parse.js";
import { isValidBranchName, requireInside } from "./validate.js";

describe("isValidBranchName", () => {
  it("accepts ordinary branch names", () => {
    for (const name of ["roadmap", "roadmap-implementation_task-auth-api", "feature/x.y", "a"]) {
      expect(isValidBranchName(name), name).toBe(true);
    }
  });

  it("refuses what git refuses and what looks like an option", () => {
    for (const name of [
      "",
      "-x",
      "--upload-pack=x",
      "a..b",
      "a b",
      "a;rm -rf",
      "a~1",
      "a^",
      "a:b",
      "a?",
      "a*",
      "a[",
      "a\\b",
      "a@{1}",
      "@",
      "HEAD",
      "a/",
      "a.",
      "a.lock",
      "a//b",
      ".a",
      "a/.b",
      "a\nb",
      "a\u0000b",
    ]) {
      expect(isValidBranchName(name), JSON.stringify(name)).toBe(false);
    }
  });
});

describe("requireInside", () => {
  it("resolves a path inside the root", () => {
    const root = tempDir();
    expect(requireInside(root, join(root, "task-a"))).toMatch(/task-a$/);
    expect(requireInside(root, "task-b")).toMatch(/task-b$/);
  });

  it("refuses the root itself, parents, absolute elsewhere and symlinks out", () => {
    const root = tempDir();
    const outside = tempDir();
    mkdirSync(join(root, "sub"));
    symlinkSync(outside, join(root, "link"));
    for (const path of [root, join(root, ".."), "../x", "/etc", join(root, "link", "x")]) {
      expect(() => requireInside(root, path), path).toThrow(GitError);
    }
  });
});

describe("parsers", () => {
  it("parses worktree list --porcelain -z", () => {
    const out = [
      "worktree /r",
      "HEAD 1111111111111111111111111111111111111111",
      "branch refs/heads/main",
      "",
      "worktree /w/task-a",
      "HEAD 2222222222222222222222222222222222222222",
      "branch refs/heads/roadmap-implementation_task-a",
      "locked initializing",
      "",
      "worktree /w/gone",
      "HEAD 3333333333333333333333333333333333333333",
      "detached",
      "prunable gitdir file points to non-existent location",
      "",
      "",
    ].join("\0");
    const entries = parseWorktreeList(out);
    expect(entries).toHaveLength(3);
    expect(entries[0]).toMatchObject({ path: "/r", branch: "main", locked: null });
    expect(entries[1]).toMatchObject({
      branch: "roadmap-implementation_task-a",
      locked: "initializing",
    });
    expect(entries[2]).toMatchObject({
      detached: true,
      branch: null,
      prunable: expect.stringMatching(/gitdir/),
    });
  });

  it("parses merge-tree output", () => {
    const tree = "b02bfeb44bda1998e6a54aae568715a07c8280ea";
    expect(parseMergeTree(`${tree}\0`, 0)).toEqual({ clean: true, tree });
    expect(parseMergeTree(`${tree}\0f\0sp ace\0f\0`, 1)).toEqual({
      clean: false,
      tree,
      conflicts: ["f", "sp ace"],
    });
    expect(() => parseMergeTree("fatal: nope", 128)).toThrow(GitError);
  });
});
