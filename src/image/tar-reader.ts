/**
 * A synchronous, push-based tar reader for layer archives: POSIX ustar, GNU (`L`/`K` long
 * names) and PAX (`x` records, SCHILY/LIBARCHIVE xattrs kept as raw bytes). It keeps no entry
 * data: file contents are handed to the sink as subarrays of the chunks pushed in, so a small
 * file costs one `data()` call and no copy. Written for speed (tar-stream spends a promise and
 * a stream per entry) and for exactness on hostile input: checksums are verified, sizes are
 * bounded, and every malformation is a TarFormatError.
 */

/** Entry types, named as tar-stream names them. */
export type TarEntryType =
  | "file"
  | "link"
  | "symlink"
  | "character-device"
  | "block-device"
  | "directory"
  | "fifo"
  | "contiguous-file"
  | `unsupported:${string}`;

/** One entry's metadata, with PAX and GNU long-name records already applied. */
export interface TarHeader {
  name: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of data that follow (file contents; 0 for links, dirs, devices). */
  size: number;
  /** Seconds since the epoch (PAX may give a fraction). */
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from SCHILY.xattr.* / LIBARCHIVE.xattr.* records, values as raw bytes. */
  xattrs: { name: string; value: Buffer }[];
}

/** What the reader drives: one `entry`, its `data` chunks, then `entryEnd`, per entry. */
export interface TarSink {
  entry(header: TarHeader): void;
  data(chunk: Buffer): void;
  entryEnd(): void;
}

/** A malformed archive (bad checksum, truncated, oversized metadata, bad number). */
export class TarFormatError extends Error {}

const BLOCK = 512;
const MAX_META = 1 << 20; // PAX and GNU long-name bodies: far above PATH_MAX, far below a DoS
const TYPES: Record<string, TarEntryType> = {
  "0": "file",
  "\0": "file",
  "1": "link",
  "2": "symlink",
  "3": "character-device",
  "4": "block-device",
  "5": "directory",
  "6": "fifo",
  "7": "contiguous-file",
};

type State =
  | { kind: "header" }
  | { kind: "data"; remaining: number; padding: number }
  | { kind: "meta"; type: "x" | "g" | "L" | "K"; remaining: number; padding: number; parts: Buffer[] }
  | { kind: "skip"; remaining: number }
  | { kind: "end" };

interface Pending {
  pax: Map<string, Buffer>;
  longName?: string;
  longLink?: string;
}

/** Parses a tar stream pushed in chunks of any size. */
export class TarReader {
  private state: State = { kind: "header" };
  private carry: Buffer | undefined;
  private pending: Pending = { pax: new Map() };

  constructor(private readonly sink: TarSink) {}

  /** Feeds the next chunk; throws TarFormatError (or whatever the sink throws). */
  write(chunk: Buffer): void {
    const buf = chunk;
    let pos = 0;
    if (this.carry) {
      // a header split across chunks: complete it from this chunk, without copying the rest
      const need = BLOCK - this.carry.length;
      if (chunk.length < need) {
        this.carry = Buffer.concat([this.carry, chunk]);
        return;
      }
      const block = Buffer.concat([this.carry, chunk.subarray(0, need)]);
      this.carry = undefined;
      this.header(block);
      pos = need;
    }
    while (pos < buf.length) {
      const s = this.state;
      if (s.kind === "end") return;
      if (s.kind === "header") {
        if (buf.length - pos < BLOCK) {
          this.carry = Buffer.from(buf.subarray(pos));
          return;
        }
        this.header(buf.subarray(pos, pos + BLOCK));
        pos += BLOCK;
      } else if (s.kind === "data") {
        const n = Math.min(s.remaining, buf.length - pos);
        if (n > 0) this.sink.data(buf.subarray(pos, pos + n));
        s.remaining -= n;
        pos += n;
        if (s.remaining === 0) {
          this.sink.entryEnd();
          this.state = s.padding > 0 ? { kind: "skip", remaining: s.padding } : { kind: "header" };
        }
      } else if (s.kind === "meta") {
        const n = Math.min(s.remaining, buf.length - pos);
        s.parts.push(Buffer.from(buf.subarray(pos, pos + n)));
        s.remaining -= n;
        pos += n;
        if (s.remaining === 0) {
          this.meta(s.type, Buffer.concat(s.parts));
          this.state = s.padding > 0 ? { kind: "skip", remaining: s.padding } : { kind: "header" };
        }
      } else {
        const n = Math.min(s.remaining, buf.length - pos);
        s.remaining -= n;
        pos += n;
        if (s.remaining === 0) this.state = { kind: "header" };
      }
    }
  }

  /** Checks the archive did not stop inside an entry. */
  end(): void {
    const s = this.state;
    if (s.kind === "end") return;
    if (s.kind !== "header" || this.carry !== undefined) {
      throw new TarFormatError("Unexpected end of data: the archive stops in the middle of an entry");
    }
    if (this.pending.pax.size > 0 || this.pending.longName !== undefined || this.pending.longLink !== undefined) {
      throw new TarFormatError("Unexpected end of data: the archive ends after an extended header with no entry");
    }
  }

  private header(block: Buffer): void {
    if (isZero(block)) {
      // The end-of-archive marker. Whatever follows is not extracted (but is still hashed by the caller).
      this.state = { kind: "end" };
      return;
    }
    verifyChecksum(block);
    const typeflag = String.fromCharCode(block[156]!);
    const size = number(block, 124, 12, "size");
    if (typeflag === "x" || typeflag === "g" || typeflag === "L" || typeflag === "K") {
      if (size > MAX_META) throw new TarFormatError(`Header exceeds max size: a ${typeflag} record of ${size} bytes`);
      const padding = (BLOCK - (size % BLOCK)) % BLOCK;
      this.state = size === 0 ? { kind: "header" } : { kind: "meta", type: typeflag, remaining: size, padding, parts: [] };
      if (size === 0) this.meta(typeflag, Buffer.alloc(0));
      return;
    }
    const header = this.build(block, typeflag, size);
    const length = header.size;
    const deliver = header.type === "file" || header.type === "contiguous-file";
    if (!deliver) header.size = 0; // only regular files carry data that means anything
    this.sink.entry(header);
    const pad = (BLOCK - (length % BLOCK)) % BLOCK;
    if (length > 0 && deliver) {
      this.state = { kind: "data", remaining: length, padding: pad };
      return;
    }
    this.sink.entryEnd();
    this.state = length + pad > 0 ? { kind: "skip", remaining: length + pad } : { kind: "header" };
  }

  private build(block: Buffer, typeflag: string, size: number): TarHeader {
    const { pax, longName, longLink } = this.pending;
    this.pending = { pax: new Map() };
    const ustar = block.toString("latin1", 257, 263) === "ustar\u0000";
    const prefix = ustar ? cString(block, 345, 155) : "";
    let name = cString(block, 0, 100);
    if (prefix !== "") name = `${prefix}/${name}`;
    const header: TarHeader = {
      name: paxString(pax, "path") ?? longName ?? name,
      type: TYPES[typeflag] ?? `unsupported:${JSON.stringify(typeflag)}`,
      mode: number(block, 100, 8, "mode"),
      uid: paxNumber(pax, "uid") ?? number(block, 108, 8, "uid"),
      gid: paxNumber(pax, "gid") ?? number(block, 116, 8, "gid"),
      size: paxNumber(pax, "size") ?? size,
      mtime: paxNumber(pax, "mtime", true) ?? number(block, 136, 12, "mtime"),
      linkname: paxString(pax, "linkpath") ?? longLink ?? cString(block, 157, 100),
      devmajor: ustar || block[257] !== 0 ? number(block, 329, 8, "devmajor") : 0,
      devminor: ustar || block[257] !== 0 ? number(block, 337, 8, "devminor") : 0,
      xattrs: xattrs(pax),
    };
    if (pax.size > 0 && [...pax.keys()].some((k) => k.startsWith("GNU.sparse."))) header.type = "unsupported:GNU sparse";
    return header;
  }

  private meta(type: "x" | "g" | "L" | "K", body: Buffer): void {
    if (type === "g") return; // global PAX headers: ignored, as Docker and containerd do
    if (type === "L") this.pending.longName = cString(body, 0, body.length);
    else if (type === "K") this.pending.longLink = cString(body, 0, body.length);
    else for (const [k, v] of parsePax(body)) this.pending.pax.set(k, v);
  }
}

/** Parses PAX records `<len> <key>=<value>\n`; values stay raw bytes. */
export function parsePax(body: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < body.length) {
    if (body[pos] === 0) break; // NUL padding after the last record
    const space = body.indexOf(0x20, pos);
    const len = space === -1 ? NaN : Number(body.toString("latin1", pos, space));
    if (!Number.isSafeInteger(len) || len <= space - pos + 1 || pos + len > body.length || body[pos + len - 1] !== 0x0a) {
      throw new TarFormatError("Invalid PAX header: a record's length is wrong");
    }
    const record = body.subarray(space + 1, pos + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq <= 0) throw new TarFormatError("Invalid PAX header: a record has no key");
    out.set(record.toString("utf8", 0, eq), Buffer.from(record.subarray(eq + 1)));
    pos += len;
  }
  return out;
}

function paxString(pax: Map<string, Buffer>, key: string): string | undefined {
  const v = pax.get(key);
  return v === undefined ? undefined : v.toString("utf8");
}

function paxNumber(pax: Map<string, Buffer>, key: string, fractional = false): number | undefined {
  const v = pax.get(key);
  if (v === undefined) return undefined;
  const text = v.toString("latin1");
  const ok = fractional ? /^-?\d+(\.\d+)?$/.test(text) : /^\d+$/.test(text);
  const n = Number(text);
  if (!ok || !Number.isFinite(n) || (!fractional && !Number.isSafeInteger(n))) {
    throw new TarFormatError(`Invalid PAX header: ${key} is \`${text.slice(0, 40)}\``);
  }
  return n;
}

function xattrs(pax: Map<string, Buffer>): { name: string; value: Buffer }[] {
  const out: { name: string; value: Buffer }[] = [];
  for (const [key, value] of pax) {
    if (key.startsWith("SCHILY.xattr.")) out.push({ name: key.slice("SCHILY.xattr.".length), value });
    else if (key.startsWith("LIBARCHIVE.xattr.")) {
      out.push({ name: decodeURIComponent(key.slice("LIBARCHIVE.xattr.".length)), value: Buffer.from(value.toString("latin1"), "base64") });
    }
  }
  return out;
}

/** A NUL-terminated (or full-width) string field, as UTF-8. */
function cString(buf: Buffer, offset: number, length: number): string {
  const end = buf.indexOf(0, offset);
  const stop = end === -1 || end > offset + length ? offset + length : end;
  return buf.toString("utf8", offset, stop);
}

/** An octal field (NUL/space padded) or a GNU base-256 field. */
function number(buf: Buffer, offset: number, length: number, field: string): number {
  const first = buf[offset]!;
  if (first & 0x80) {
    if (first === 0xff) throw new TarFormatError(`Invalid tar header: negative ${field}`);
    let n = first & 0x7f;
    for (let i = 1; i < length; i++) n = n * 256 + buf[offset + i]!;
    if (!Number.isSafeInteger(n)) throw new TarFormatError(`Invalid tar header: ${field} is too large`);
    return n;
  }
  let n = 0;
  let i = offset;
  const end = offset + length;
  while (i < end && (buf[i] === 0x20 || buf[i] === 0)) i++;
  let digits = 0;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) throw new TarFormatError(`Invalid tar header: ${field} is not an octal number`);
    n = n * 8 + (c - 0x30);
    digits++;
  }
  for (; i < end; i++) if (buf[i] !== 0x20 && buf[i] !== 0) throw new TarFormatError(`Invalid tar header: ${field} is not an octal number`);
  return digits === 0 ? 0 : n;
}

function verifyChecksum(block: Buffer): void {
  const expected = number(block, 148, 8, "checksum");
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  if (expected !== unsigned && expected !== signed) throw new TarFormatError("Invalid tar header: checksum mismatch");
}

function isZero(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}
