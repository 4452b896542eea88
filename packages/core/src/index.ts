export * from "./agents/deadlock.js";
export * from "./agents/health.js";
export * from "./agents/kill.js";
export * from "./agents/lifecycle.js";
export * from "./agents/process.js";
export * from "./agents/render.js";
export * from "./agents/report.js";
export * from "./agents/spawn.js";
export * from "./agents/supervise.js";
export { patternsMayOverlap } from "./assign/files.js";
export * from "./assign/index.js";
export { renderAssign } from "./assign/render.js";
export * from "./backoff.js";
export * from "./config.js";
export * from "./context.js";
export * from "./errors.js";
export * from "./ids.js";
export * from "./input.js";
export * from "./markdown.js";
export * from "./render.js";
export * from "./route/index.js";
export {
  renderAcknowledge,
  renderFail,
  renderList as renderMessageList,
  renderPoll,
  renderRetry,
  renderSend,
} from "./route/render.js";
export * from "./run/index.js";
export { renderLiveView, renderRunEvent, renderRunResult } from "./run/render.js";
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
export * from "./yaml.js";
