import { describe, expect, it } from "vitest";
import { fromRest } from "./artifacts.js";
import { Redactor, withoutRunnerSecrets } from "./redact.js";

const TOKEN = "ghs_0123456789abcdefABCDEF";

describe("Redactor", () => {
  it("removes the secret as is and URI-, JSON- and base64-encoded", () => {
    const r = new Redactor();
    r.add(TOKEN);
    const base64 = Buffer.from(TOKEN).toString("base64");
    const text = `a ${TOKEN} b ${encodeURIComponent(`${TOKEN}/`)} c ${base64} d`;
    expect(r.text(text)).toBe("a *** b ***%2F c ***= d"); // the padding tells nothing
    expect(r.text("nothing secret")).toBe("nothing secret");
  });

  it("redacts every string of a value, keys included, without changing the original", () => {
    const r = new Redactor();
    r.add(TOKEN);
    const value = { [TOKEN]: [1, `x${TOKEN}`, { deep: TOKEN, n: null }], ok: true };
    expect(r.value(value)).toEqual({ "***": [1, "x***", { deep: "***", n: null }], ok: true });
    expect(value.ok).toBe(true);
    expect(Object.keys(value)).toEqual([TOKEN, "ok"]);
  });

  it("ignores secrets too short to redact safely", () => {
    const r = new Redactor();
    r.add("abc");
    expect(r.active).toBe(false);
    expect(r.text("abcabc")).toBe("abcabc");
  });

  it("filters a stream's writes, except the runner's ::add-mask:: command", () => {
    const r = new Redactor();
    r.add(TOKEN);
    const written: string[] = [];
    const stream = {
      write: (chunk: unknown) => written.push(String(chunk)) > 0,
    } as unknown as NodeJS.WriteStream;
    r.filter(stream);
    stream.write(`::add-mask::${TOKEN}\n`);
    stream.write(`error: ${TOKEN}\n`);
    stream.write(Buffer.from(`bytes ${TOKEN}`));
    expect(written).toEqual([`::add-mask::${TOKEN}\n`, "error: ***\n", "bytes ***"]);
  });
});

describe("withoutRunnerSecrets", () => {
  it("hides the inputs and the runner's tokens while it runs, then puts them back", async () => {
    process.env["INPUT_GITHUB-TOKEN"] = TOKEN;
    process.env.ACTIONS_RUNTIME_TOKEN = "runtime";
    try {
      const seen = await withoutRunnerSecrets(async () => ({
        input: process.env["INPUT_GITHUB-TOKEN"],
        runtime: process.env.ACTIONS_RUNTIME_TOKEN,
        path: process.env.PATH,
      }));
      expect(seen).toEqual({ input: undefined, runtime: undefined, path: process.env.PATH });
      expect(process.env["INPUT_GITHUB-TOKEN"]).toBe(TOKEN);
      expect(process.env.ACTIONS_RUNTIME_TOKEN).toBe("runtime");
    } finally {
      delete process.env["INPUT_GITHUB-TOKEN"];
      delete process.env.ACTIONS_RUNTIME_TOKEN;
    }
  });
});

describe("an artifact's origin", () => {
  const base = {
    id: 1,
    name: "orchestrator-db",
    size_in_bytes: 10,
    created_at: null,
    expired: false,
  };
  it("is trusted only when the listing names both repositories and they are the same", () => {
    const run = { id: 5, repository_id: 1, head_repository_id: 1 };
    expect(fromRest({ ...base, workflow_run: run }).fromFork).toBe(false);
    expect(fromRest({ ...base, workflow_run: { ...run, head_repository_id: 2 } }).fromFork).toBe(
      true,
    );
    expect(fromRest({ ...base, workflow_run: { id: 5, repository_id: 1 } }).fromFork).toBe(true);
    expect(fromRest({ ...base, workflow_run: null }).fromFork).toBe(true);
    expect(fromRest(base).fromFork).toBe(true);
  });
});
