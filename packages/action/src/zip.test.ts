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
    ["a path out of the directory", writeZip([{ name: "../a.db", data }]), /expected a\.db/],
    ["an absolute path", writeZip([{ name: "/a.db", data }]), /expected a\.db/],
    ["a Windows path", writeZip([{ name: "..\\a.db", data }]), /expected a\.db/],
    [
      "a symbolic link",
      writeZip([{ name: "a.db", data: Buffer.from("/etc/passwd"), mode: 0o120777 }]),
      /symbolic link/,
    ],
    [
      "a directory entry",
      writeZip([{ name: "a.db", data: Buffer.alloc(0), mode: 0o40755 }]),
      /not a regular file/,
    ],
    [
      "an extra directory entry",
      writeZip([
        { name: "a.db", data },
        { name: "x/", data: Buffer.alloc(0) },
      ]),
      /exactly one file/,
    ],
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

  it("stops inflating at the limit: a zip bomb whose headers claim a small size", () => {
    const bomb = writeZip([
      { name: "a.db", data: Buffer.alloc(50 * 1024 * 1024), deflate: true, declaredSize: 100 },
    ]);
    expect(bomb.length).toBeLessThan(100 * 1024);
    expect(() => readSingleFile(bomb, "a.db", 1024 * 1024)).toThrow(
      /could not be inflated within 1048576 bytes/,
    );
    // Within the limit, a size that differs from the header's is refused too.
    const liar = writeZip([{ name: "a.db", data, deflate: true, declaredSize: 3 }]);
    expect(() => readSingleFile(liar, "a.db", 1000)).toThrow(/its header says 3/);
    // And an honest deflated entry reads back.
    expect(readSingleFile(writeZip([{ name: "a.db", data, deflate: true }]), "a.db", 1000)).toEqual(
      data,
    );
  });

  it("refuses a local header that names another file than the directory", () => {
    const zip = writeZip([{ name: "a.db", data }]);
    const forged = Buffer.from(zip);
    forged.write("b", 30, "latin1"); // the local header's name: "b.db"
    expect(() => readSingleFile(forged, "a.db", 1000)).toThrow(/local header differs/);
    expect(listEntries(zip)).toHaveLength(1);
  });

  it("refuses central directory entries the end record does not count", () => {
    const zip = writeZip([
      { name: "a.db", data },
      { name: "../evil", data },
    ]);
    const forged = Buffer.from(zip);
    forged.writeUInt16LE(1, zip.length - 22 + 8);
    forged.writeUInt16LE(1, zip.length - 22 + 10);
    expect(() => readSingleFile(forged, "a.db", 1000)).toThrow(/uncounted entries/);
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
