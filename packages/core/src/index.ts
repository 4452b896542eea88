export { patternsMayOverlap } from "./assign/files.js";
export * from "./assign/index.js";
export { renderAssign } from "./assign/render.js";
export * from "./config.js";
export * from "./context.js";
export * from "./errors.js";
export * from "./ids.js";
export * from "./render.js";
export { dependencyCycleError, TaskGraph } from "./tasks/graph.js";
export * from "./tasks/index.js";
export {
  renderImport,
  renderTaskDetail,
  renderTaskList,
  renderTransition,
} from "./tasks/render.js";
export * from "./units.js";
export * from "./worktrees/index.js";
export {
  renderCleanup,
  renderCreate,
  renderMerge,
  renderWorktreeList,
} from "./worktrees/render.js";
