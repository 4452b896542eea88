// Bundles the CLI into ESM: a tiny entry (dist/orchestrator.js) that checks the Node version,
// and one chunk with everything else, loaded only once the version is known to be supported.
// better-sqlite3 stays external: its native addon is loaded from node_modules.
import { rmSync } from "node:fs";
import { build } from "esbuild";

rmSync("dist", { recursive: true, force: true });

await build({
  entryPoints: ["src/orchestrator.ts"],
  outdir: "dist",
  splitting: true,
  chunkNames: "[name]-[hash]",
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
