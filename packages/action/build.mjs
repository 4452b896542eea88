// Bundles the action into one ESM file, dist/index.js, that GitHub's runner runs with its own
// Node 24 (no install step on the runner). better-sqlite3 is bundled too, but its native addon
// cannot be: the prebuilt binaries for GitHub's runners are copied to dist/prebuilds/ and the
// action passes the right one to better-sqlite3 as `nativeBinding`.
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { build } from "esbuild";

/** Linux and macOS runners (x64 and arm64), Windows runners (x64 and arm64), and Alpine containers. */
export const PREBUILDS = [
  "linux-x64",
  "linux-arm64",
  "linuxmusl-x64",
  "linuxmusl-arm64",
  "darwin-x64",
  "darwin-arm64",
  "win32-x64",
  "win32-arm64",
];

rmSync("dist", { recursive: true, force: true });
await build({
  entryPoints: ["src/index.ts"],
  outfile: "dist/index.js",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  sourcemap: false,
  legalComments: "none",
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  logLevel: "warning",
});

const require = createRequire(import.meta.url);
const sqliteRoot = dirname(require.resolve("better-sqlite3/package.json"));
mkdirSync("dist/prebuilds", { recursive: true });
for (const target of PREBUILDS) {
  copyFileSync(
    join(sqliteRoot, "prebuilds", `${target}.node`),
    join("dist", "prebuilds", `${target}.node`),
  );
}
