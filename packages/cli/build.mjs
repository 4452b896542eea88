// Bundles the CLI into one ESM file: one file to load makes every command start faster.
// better-sqlite3 stays external: its native addon is loaded from node_modules.
import { build } from "esbuild";

await build({
  entryPoints: ["src/orchestrator.ts"],
  outfile: "dist/orchestrator.js",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  external: ["better-sqlite3"],
  sourcemap: true,
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  logLevel: "warning",
});
