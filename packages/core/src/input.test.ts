import { describe, expect, it } from "vitest";
import { refusal } from "../../../test/helpers/orchestrator.js";
import { requireWellFormed } from "./input.js";

const refusedText = (value: unknown) => refusal(() => requireWellFormed(value, "plan p"));

describe("requireWellFormed", () => {
  it("accepts well-formed text anywhere, surrogate pairs included", () => {
    expect(() =>
      requireWellFormed({ tasks: [{ id: "a", title: "ok \u{1f600}", files: ["x"] }] }, "plan p"),
    ).not.toThrow();
  });

  it("names the path of a lone surrogate in a value, in a key, and at the top level", () => {
    const inValue = refusedText({ tasks: [{ id: "a" }, { id: "b", files: ["ok", "x\ud800"] }] });
    expect(inValue.message).toMatch(/^plan p at tasks\.1\.files\.1 is not well-formed Unicode/);
    expect(inValue.details).toEqual({ path: "tasks.1.files.1", code_unit: "U+D800", index: 1 });

    const inKey = refusedText({ tasks: [{ "ti\udc00": "x" }] });
    expect(inKey.details.path).toBe("tasks.0.ti\udc00 (the key)");

    const top = refusedText("\udfff");
    expect(top.message).toMatch(/^plan p is not well-formed Unicode/);
    expect(top.details.path).toBeNull();
  });
});
