export { GitError } from "./errors.js";
export { parseMergeTree, parseWorktreeList, type WorktreeEntry } from "./parse.js";
export {
  type AddWorktreeOptions,
  GitRepo,
  type GitRepoOptions,
  type MergeOptions,
  type MergeResult,
  type MergeTreeResult,
  type RunOptions,
  type RunResult,
} from "./repo.js";
export {
  branchNameProblem,
  isObjectId,
  isValidBranchName,
  lookAlikeProblem,
  realPath,
  requireBranchName,
  requireInside,
} from "./validate.js";
