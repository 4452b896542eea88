import { crc32, inflateRawSync } from "node:zlib";

/**
 * Just enough of the zip format to check an artifact before anything trusts it: the archive must
 * hold exactly one regular file with the expected name, stored or deflated, no bigger than the
 * limit; its bytes are inflated in memory under that limit and checked against their CRC-32.
 * Nothing is extracted to disk by name, so no entry name can point anywhere.
 */
export class ArchiveError extends Error {
  override name = "ArchiveError";
}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  crc: number;
  localOffset: number;
  flags: number;
}

function findEndOfCentralDirectory(zip: Buffer): number {
  // The record is 22 bytes plus a comment of up to 65,535 bytes, at the very end.
  const stop = Math.max(0, zip.length - 22 - 0xffff);
  for (let i = zip.length - 22; i >= stop; i--) {
    if (zip.readUInt32LE(i) === EOCD) return i;
  }
  throw new ArchiveError("not a zip archive (no end of central directory record)");
}

export function listEntries(zip: Buffer): ZipEntry[] {
  if (zip.length < 22) throw new ArchiveError("not a zip archive (too short)");
  const eocd = findEndOfCentralDirectory(zip);
  const count = zip.readUInt16LE(eocd + 10);
  const size = zip.readUInt32LE(eocd + 12);
  const offset = zip.readUInt32LE(eocd + 16);
  if (count === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
    throw new ArchiveError("zip64 archives are not accepted");
  }
  if (offset + size > eocd)
    throw new ArchiveError("corrupt zip archive (central directory out of range)");
  const entries: ZipEntry[] = [];
  let p = offset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > eocd || zip.readUInt32LE(p) !== CENTRAL) {
      throw new ArchiveError("corrupt zip archive (bad central directory entry)");
    }
    const nameLength = zip.readUInt16LE(p + 28);
    const extraLength = zip.readUInt16LE(p + 30);
    const commentLength = zip.readUInt16LE(p + 32);
    entries.push({
      flags: zip.readUInt16LE(p + 8),
      method: zip.readUInt16LE(p + 10),
      crc: zip.readUInt32LE(p + 16),
      compressedSize: zip.readUInt32LE(p + 20),
      size: zip.readUInt32LE(p + 24),
      localOffset: zip.readUInt32LE(p + 42),
      name: zip.subarray(p + 46, p + 46 + nameLength).toString("utf8"),
    });
    p += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** The bytes of the archive's only file, which must be named `expectedName`, at most `limit` bytes. */
export function readSingleFile(zip: Buffer, expectedName: string, limit: number): Buffer {
  const entries = listEntries(zip).filter((e) => !(e.name.endsWith("/") && e.size === 0));
  if (entries.length !== 1) {
    throw new ArchiveError(
      `the archive must hold exactly one file (${expectedName}); it holds ${entries.length}: ${entries
        .slice(0, 5)
        .map((e) => JSON.stringify(e.name))
        .join(", ")}`,
    );
  }
  const entry = entries[0]!;
  if (entry.name !== expectedName) {
    throw new ArchiveError(
      `the archive's file is ${JSON.stringify(entry.name)}, expected ${expectedName}`,
    );
  }
  if (entry.flags & 0x1) throw new ArchiveError("encrypted zip entries are not accepted");
  if (entry.size > limit || entry.compressedSize > limit) {
    throw new ArchiveError(`${expectedName} is ${entry.size} bytes, above the limit of ${limit}`);
  }
  const p = entry.localOffset;
  if (p + 30 > zip.length || zip.readUInt32LE(p) !== LOCAL) {
    throw new ArchiveError("corrupt zip archive (bad local header)");
  }
  const start = p + 30 + zip.readUInt16LE(p + 26) + zip.readUInt16LE(p + 28);
  const end = start + entry.compressedSize;
  if (end > zip.length) throw new ArchiveError("corrupt zip archive (data out of range)");
  const raw = zip.subarray(start, end);
  let data: Buffer;
  if (entry.method === 0) {
    data = Buffer.from(raw);
  } else if (entry.method === 8) {
    try {
      data = inflateRawSync(raw, { maxOutputLength: Math.max(1, limit) });
    } catch (error) {
      throw new ArchiveError(
        `${expectedName} could not be inflated within ${limit} bytes: ${(error as Error).message}`,
      );
    }
  } else {
    throw new ArchiveError(`unsupported zip compression method ${entry.method}`);
  }
  if (data.length !== entry.size) {
    throw new ArchiveError(
      `${expectedName} is ${data.length} bytes, its header says ${entry.size}`,
    );
  }
  if (crc32(data) >>> 0 !== entry.crc >>> 0)
    throw new ArchiveError(`${expectedName} fails its CRC-32 check`);
  return data;
}

/** A zip with the given files, stored uncompressed (for tests and fixtures). */
export function writeZip(files: readonly { name: string; data: Buffer }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const f of files) {
    const name = Buffer.from(f.name, "utf8");
    const crc = crc32(f.data) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(LOCAL, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(f.data.length, 18);
    local.writeUInt32LE(f.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(CENTRAL, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(f.data.length, 20);
    central.writeUInt32LE(f.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, f.data);
    centrals.push(central, name);
    offset += 30 + name.length + f.data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(EOCD, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}
