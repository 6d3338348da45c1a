import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { TarFormatError, TarReader, type TarHeader } from "../../../src/image/tar-reader";
import { buildLayer, type TarEntry } from "./fake-registry";

interface Parsed extends Omit<TarHeader, "xattrs"> {
  body: string;
  xattrs: Record<string, string>;
}

/** Runs the reader over `tar`, pushed in chunks of the given sizes (cycled). */
function parse(tar: Buffer, chunkSizes: number[] = [tar.length]): Parsed[] {
  const out: Parsed[] = [];
  let current: { header: TarHeader; parts: Buffer[] } | undefined;
  const reader = new TarReader({
    entry: (header) => void (current = { header, parts: [] }),
    data: (chunk) => void current!.parts.push(Buffer.from(chunk)),
    entryEnd: () => {
      const { header, parts } = current!;
      const xattrs = Object.fromEntries(header.xattrs.map((x) => [x.name, x.value.toString("hex")]));
      out.push({ ...header, xattrs, body: Buffer.concat(parts).toString("latin1") });
      current = undefined;
    },
  });
  for (let pos = 0, i = 0; pos < tar.length; i++) {
    const n = Math.max(1, chunkSizes[i % chunkSizes.length]!);
    reader.write(tar.subarray(pos, pos + n));
    pos += n;
  }
  reader.end();
  return out;
}

const LONG = `${"deep/".repeat(40)}name-that-is-long.txt`;
const ENTRIES: TarEntry[] = [
  { name: "./", type: "directory", mode: 0o755 },
  { name: "bin/", type: "directory", mode: 0o755, uid: 0, gid: 0 },
  { name: "bin/tool", mode: 0o4755, uid: 1000, gid: 1001, body: "#!/bin/sh\necho hi\n" },
  { name: "empty", mode: 0o644, body: "" },
  { name: "big", mode: 0o600, body: Buffer.alloc(5000, 7) },
  { name: "bin/sh", type: "symlink", linkname: "/bin/busybox" },
  { name: "bin/link", type: "link", linkname: "bin/tool" },
  { name: LONG, mode: 0o644, body: "long" },
  { name: "ln-long", type: "symlink", linkname: LONG },
  { name: "dev/null", type: "character-device", mode: 0o666, devmajor: 1, devminor: 3 },
  { name: "dev/sda", type: "block-device", mode: 0o660, devmajor: 8, devminor: 0 },
  { name: "run/fifo", type: "fifo", mode: 0o600 },
  { name: "caps", mode: 0o755, body: "c", pax: { "SCHILY.xattr.user.comment": "hello" } },
];

describe("TarReader", () => {
  it("reads what tar-stream writes (ustar and PAX), whatever the chunk boundaries", async () => {
    const { tar } = await buildLayer(ENTRIES);
    const whole = parse(tar);
    expect(whole.map((e) => [e.name, e.type])).toEqual(ENTRIES.map((e) => [e.name, e.type ?? "file"]));
    const tool = whole.find((e) => e.name === "bin/tool")!;
    expect(tool).toMatchObject({ mode: 0o4755, uid: 1000, gid: 1001, size: 18, body: "#!/bin/sh\necho hi\n", mtime: 1_600_000_000 });
    expect(whole.find((e) => e.name === "big")!.body).toBe(Buffer.alloc(5000, 7).toString("latin1"));
    expect(whole.find((e) => e.name === "bin/link")).toMatchObject({ linkname: "bin/tool", size: 0, body: "" });
    expect(whole.find((e) => e.name === "ln-long")!.linkname).toBe(LONG);
    expect(whole.find((e) => e.name === "dev/sda")).toMatchObject({ devmajor: 8, devminor: 0, mode: 0o660 });
    expect(whole.find((e) => e.name === "caps")!.xattrs).toEqual({ "user.comment": Buffer.from("hello").toString("hex") });
    for (const sizes of [[1], [7, 511, 1], [512], [513, 100_000], [1024 * 1024]]) expect(parse(tar, sizes)).toEqual(whole);
  });

  it("reads GNU long names and links, and PAX sub-second mtimes, as GNU tar writes them", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testcell-tar-"));
    try {
      const src = path.join(dir, "src");
      fs.mkdirSync(path.join(src, path.dirname(LONG)), { recursive: true });
      fs.writeFileSync(path.join(src, LONG), "gnu");
      fs.symlinkSync(LONG, path.join(src, "l"));
      fs.utimesSync(path.join(src, LONG), 1_500_000_000.25, 1_500_000_000.25);
      for (const format of ["gnu", "posix"]) {
        const tar = execFileSync("tar", [`--format=${format}`, "--sort=name", "-C", src, "-cf", "-", LONG, "l"]);
        const entries = parse(tar, [300]);
        expect(entries.map((e) => [e.name, e.type, e.body, e.linkname])).toEqual([
          [LONG, "file", "gnu", ""],
          ["l", "symlink", "", LONG],
        ]);
        expect(entries[0]!.mtime).toBe(format === "posix" ? 1_500_000_000.25 : 1_500_000_000);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps xattr values as raw bytes (PAX records hold binary)", () => {
    const value = Buffer.from([1, 0, 0, 2, 0xff, 0x20, 0]);
    const tar = paxTar("f", Buffer.concat([Buffer.from("SCHILY.xattr.security.capability="), value]));
    expect(parse(tar)[0]!.xattrs).toEqual({ "security.capability": value.toString("hex") });
  });

  it("reads GNU base-256 numbers", async () => {
    const { tar } = await buildLayer([{ name: "f", body: "x", uid: 1 }]);
    const header = Buffer.from(tar.subarray(0, 512));
    header.fill(0, 108, 116);
    header[108] = 0x80;
    header.writeUInt32BE(3_000_000_000, 112);
    fixChecksum(header);
    expect(parse(Buffer.concat([header, tar.subarray(512)]))[0]!.uid).toBe(3_000_000_000);
  });

  it("stops at the end-of-archive marker and ignores what follows", async () => {
    const { tar } = await buildLayer([{ name: "a", body: "1" }]);
    const junk = Buffer.alloc(2048, 0x41);
    expect(parse(Buffer.concat([tar, junk])).map((e) => e.name)).toEqual(["a"]);
  });

  it("rejects a header whose checksum is wrong", async () => {
    const { tar } = await buildLayer([{ name: "a", body: "1" }]);
    const bad = Buffer.from(tar);
    bad[0] = "b".charCodeAt(0);
    expect(() => parse(bad)).toThrow(TarFormatError);
    expect(() => parse(bad)).toThrow(/checksum/);
  });

  it("rejects an archive cut inside an entry, or after an extended header", async () => {
    const { tar } = await buildLayer([{ name: "a", body: "x".repeat(3000) }]);
    expect(() => parse(tar.subarray(0, 1024))).toThrow(/Unexpected end of data/);
    expect(() => parse(tar.subarray(0, 700))).toThrow(/Unexpected end of data/);
    expect(() => parse(paxTar("f", Buffer.from("path=x")).subarray(0, 1024))).toThrow(/Unexpected end of data/);
  });

  it("rejects oversized or malformed extended headers", () => {
    const huge = Buffer.alloc(512);
    writeHeader(huge, "././@PaxHeader", "x", 2 << 20);
    expect(() => parse(Buffer.concat([huge, Buffer.alloc(1024)]))).toThrow(/max size/);
    expect(() => parse(paxTar("f", Buffer.from("x"), "99 bad"))).toThrow(/PAX/);
    expect(() => parse(paxTar("f", Buffer.from("uid=-4")))).toThrow(/PAX header: uid/);
  });

  it("reports sparse files and unknown types as unsupported instead of writing them wrong", () => {
    const block = Buffer.alloc(512);
    writeHeader(block, "s", "S", 0);
    expect(parse(Buffer.concat([block, Buffer.alloc(1024)]))[0]!.type).toBe('unsupported:"S"');
  });

  it("survives random corruption: it either parses or throws TarFormatError", async () => {
    const { tar } = await buildLayer(ENTRIES);
    let seed = 42;
    const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let i = 0; i < 300; i++) {
      const copy = Buffer.from(tar);
      for (let k = 0; k < 4; k++) copy[random(copy.length)] = random(256);
      try {
        parse(copy, [random(2000) + 1]);
      } catch (err) {
        expect(err).toBeInstanceOf(TarFormatError);
      }
    }
  });
});

/** A tar with one PAX header (records given raw, or one record built from `record`) and one empty file. */
function paxTar(name: string, record: Buffer, raw?: string): Buffer {
  let body: Buffer;
  if (raw !== undefined) body = Buffer.from(`${raw}\n`);
  else {
    let len = record.length + 3;
    while (String(len).length + 1 + record.length + 1 !== len) len = String(len).length + 1 + record.length + 1;
    body = Buffer.concat([Buffer.from(`${len} `), record, Buffer.from("\n")]);
  }
  const pax = Buffer.alloc(512);
  writeHeader(pax, "././@PaxHeader", "x", body.length);
  const padded = Buffer.concat([body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
  const file = Buffer.alloc(512);
  writeHeader(file, name, "0", 0);
  return Buffer.concat([pax, padded, file, Buffer.alloc(1024)]);
}

function writeHeader(block: Buffer, name: string, type: string, size: number): void {
  block.write(name, 0, "utf8");
  block.write("0000644\0", 100, "latin1");
  block.write("0000000\0", 108, "latin1");
  block.write("0000000\0", 116, "latin1");
  block.write(`${size.toString(8).padStart(11, "0")}\0`, 124, "latin1");
  block.write("00000000000\0", 136, "latin1");
  block.write(type, 156, "latin1");
  block.write("ustar\u000000", 257, "latin1");
  fixChecksum(block);
}

function fixChecksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
}
