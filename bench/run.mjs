// Runs every bench/*.bench.ts (or those named on the command line): each is bundled with
// esbuild and run in its own Node process, so one benchmark's heap never slows the next.
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, "..", "node_modules", ".bench");
mkdirSync(outdir, { recursive: true });
const wanted = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.includes(w)))
  .sort();

// better-sqlite3 stays external (its native addon cannot be bundled); pnpm installs it only
// under packages/db, so the bundle imports it by its resolved path.
const fromDb = createRequire(join(here, "..", "packages", "db", "package.json"));
const externalSqlite = {
  name: "external-better-sqlite3",
  setup(b) {
    b.onResolve({ filter: /^better-sqlite3$/ }, () => ({
      path: fromDb.resolve("better-sqlite3"),
      external: true,
    }));
  },
};

let failed = 0;
for (const file of files) {
  const outfile = join(outdir, file.replace(/\.ts$/, ".mjs"));
  await build({
    entryPoints: [join(here, file)],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    plugins: [externalSqlite],
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    logLevel: "warning",
  });
  console.log(`\n== ${file}`);
  const r = spawnSync(process.execPath, ["--expose-gc", outfile], { stdio: "inherit" });
  if (r.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
