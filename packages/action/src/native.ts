import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function isMusl(): boolean {
  if (process.platform !== "linux") return false;
  try {
    const maps = readFileSync("/proc/self/maps", "latin1");
    if (/\/ld-musl-[^/\s]*\.so/.test(maps)) return true;
    if (/\/(?:ld-linux[^/\s]*|libc)\.so\.\d/.test(maps)) return false;
  } catch {}
  const report = process.report?.getReport() as
    | { header?: { glibcVersionRuntime?: string } }
    | undefined;
  return !report?.header?.glibcVersionRuntime;
}

export function platformTarget(): string {
  return `${isMusl() ? "linuxmusl" : process.platform}-${process.arch}`;
}

/**
 * better-sqlite3's addon for this runner, from the `prebuilds/` folder shipped beside the bundle
 * (a bundler cannot inline a .node file). Undefined when running from source, where
 * better-sqlite3 finds its own.
 */
export function nativeBinding(moduleUrl = import.meta.url): string | undefined {
  const dir = join(dirname(fileURLToPath(moduleUrl)), "prebuilds");
  if (!existsSync(dir)) return undefined;
  const target = platformTarget();
  const file = join(dir, `${target}.node`);
  if (!existsSync(file)) {
    throw new Error(
      `this action ships SQLite for ${readdirSync(dir)
        .map((f) => f.replace(/\.node$/, ""))
        .join(", ")}, not for ${target}`,
    );
  }
  return file;
}
