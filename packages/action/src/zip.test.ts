import { deflateRawSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { capped } from "./annotations.js";
import { ArchiveError, listEntries, readSingleFile, writeZip } from "./zip.js";

describe("zip checks", () => {
  const data = Buffer.from("SQLite format 3\0 and then some");

  it("reads the single expected file", () => {
    expect(readSingleFile(writeZip([{ name: "a.db", data }]), "a.db", 1000)).toEqual(data);
  });

  it.each([
    ["empty", Buffer.alloc(0), /too short/],
    ["text", Buffer.from("x".repeat(100)), /not a zip/],
    [
      "two files",
      writeZip([
        { name: "a.db", data },
        { name: "b", data },
      ]),
      /exactly one file/,
    ],
    ["no file", writeZip([]), /exactly one file/],
    ["other name", writeZip([{ name: "dir/a.db", data }]), /expected a\.db/],
    ["too big", writeZip([{ name: "a.db", data: Buffer.alloc(2000) }]), /above the limit/],
  ])("refuses %s", (_label, zip, message) => {
    expect(() => readSingleFile(zip, "a.db", 1000)).toThrow(message);
  });

  it("refuses a corrupted file (CRC) and a truncated archive", () => {
    const zip = writeZip([{ name: "a.db", data }]);
    const flipped = Buffer.from(zip);
    flipped[40] = flipped[40]! ^ 0xff;
    expect(() => readSingleFile(flipped, "a.db", 1000)).toThrow(/CRC-32/);
    expect(() => readSingleFile(zip.subarray(10), "a.db", 1000)).toThrow(ArchiveError);
  });

  it("stops inflating at the limit", () => {
    const zip = writeZip([{ name: "a.db", data: Buffer.alloc(0) }]);
    const entries = listEntries(zip);
    expect(entries).toHaveLength(1);
    expect(deflateRawSync(Buffer.alloc(10)).length).toBeGreaterThan(0);
  });
});

describe("annotations within GitHub's per-step limit", () => {
  it("keeps nine and counts the rest in the tenth", () => {
    const list = Array.from({ length: 25 }, (_, i) => ({ title: `t${i}`, message: "m" }));
    const out = capped(list);
    expect(out).toHaveLength(10);
    expect(out[9]!.message).toMatch(/^16 more/);
    expect(capped(list.slice(0, 10))).toHaveLength(10);
  });
});
