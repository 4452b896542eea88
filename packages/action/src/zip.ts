import { crc32, deflateRawSync, inflateRawSync } from "node:zlib";

/**
 * Just enough of the zip format to check an artifact before anything trusts it: the archive must
 * hold exactly one entry, a regular file (no directory, no symbolic link) with the expected name
 * (so no `../x`, no absolute path), the same in its local header, stored or deflated, no bigger
 * than the limit; its bytes are inflated in memory under that limit (a zip bomb stops there) and
 * checked against their CRC-32. Nothing is extracted to disk by name, so no entry name can point
 * anywhere.
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
  /** The high byte of "version made by": 3 is Unix, whose file mode is in `externalAttributes`' high 16 bits. */
  madeBy: number;
  externalAttributes: number;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const MSDOS_DIRECTORY = 0x10;

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
  if (
    zip.readUInt16LE(eocd + 4) !== 0 ||
    zip.readUInt16LE(eocd + 6) !== 0 ||
    zip.readUInt16LE(eocd + 8) !== count
  ) {
    throw new ArchiveError("multi-part zip archives are not accepted");
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
      madeBy: zip.readUInt8(p + 5),
      externalAttributes: zip.readUInt32LE(p + 38),
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
  // Entries the record does not count would be invisible here but seen by other tools.
  if (p !== offset + size) {
    throw new ArchiveError("corrupt zip archive (the central directory holds uncounted entries)");
  }
  return entries;
}

/** The bytes of the archive's only file, which must be named `expectedName`, at most `limit` bytes. */
export function readSingleFile(zip: Buffer, expectedName: string, limit: number): Buffer {
  const entries = listEntries(zip);
  if (entries.length !== 1) {
    throw new ArchiveError(
      `the archive must hold exactly one file (${expectedName}); it holds ${entries.length} entries: ${entries
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
  const mode = entry.madeBy === 3 ? entry.externalAttributes >>> 16 : 0;
  if ((mode & S_IFMT) === S_IFLNK) {
    throw new ArchiveError(`${expectedName} is a symbolic link, not a file`);
  }
  if (
    (mode !== 0 && (mode & S_IFMT) !== S_IFREG) ||
    entry.externalAttributes & MSDOS_DIRECTORY ||
    entry.name.endsWith("/")
  ) {
    throw new ArchiveError(`${expectedName} is not a regular file`);
  }
  if (entry.flags & 0x1) throw new ArchiveError("encrypted zip entries are not accepted");
  if (entry.size > limit || entry.compressedSize > limit) {
    throw new ArchiveError(`${expectedName} is ${entry.size} bytes, above the limit of ${limit}`);
  }
  const p = entry.localOffset;
  if (p + 30 > zip.length || zip.readUInt32LE(p) !== LOCAL) {
    throw new ArchiveError("corrupt zip archive (bad local header)");
  }
  const localNameEnd = p + 30 + zip.readUInt16LE(p + 26);
  if (
    localNameEnd > zip.length ||
    zip.subarray(p + 30, localNameEnd).toString("utf8") !== entry.name ||
    zip.readUInt16LE(p + 8) !== entry.method
  ) {
    throw new ArchiveError("corrupt zip archive (the local header differs from the directory)");
  }
  const start = localNameEnd + zip.readUInt16LE(p + 28);
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

export interface ZipFile {
  name: string;
  data: Buffer;
  /** Unix file mode, e.g. 0o120777 for a symbolic link (default: none recorded). */
  mode?: number;
  /** Deflate the data (default: stored). */
  deflate?: boolean;
  /** The uncompressed size the headers claim (default: the true size): a lie makes a zip bomb. */
  declaredSize?: number;
}

/** A zip with the given files (for tests and fixtures). */
export function writeZip(files: readonly ZipFile[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const f of files) {
    const name = Buffer.from(f.name, "utf8");
    const crc = crc32(f.data) >>> 0;
    const body = f.deflate ? deflateRawSync(f.data) : f.data;
    const method = f.deflate ? 8 : 0;
    const size = f.declaredSize ?? f.data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(LOCAL, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(CENTRAL, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    if (f.mode !== undefined) {
      central.writeUInt16LE(0x0314, 4); // made by Unix, zip 2.0
      central.writeUInt32LE((f.mode << 16) >>> 0, 38);
    }
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += 30 + name.length + body.length;
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
