/**
 * A multi-layer image with deletions and replacements, built here, pushed with skopeo to the
 * real fixture registry, pulled with ImageService, and compared file by file with what an
 * independent unpacker (Debian's umoci) makes of the same image. Our layers are separate overlay
 * lower dirs (whiteouts as 0:0 char devices, opaque dirs as trusted.overlay.opaque), so the
 * merged view is what the kernel's overlayfs shows when they are mounted, in a private mount
 * namespace (`unshare -m`), the way a container sees them.
 */
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { readConfig } from "../../src/config";
import { ImageService } from "../../src/image/image-service";
import { nativeFixup } from "../../src/runtime/embedded/fixup";
import { buildImage, buildLayer, type TarEntry } from "../unit/image/fake-registry";
import { writeImageLayout } from "../unit/image/oci-layout";

jest.setTimeout(120_000);

const registry = process.env.TESTCELL_FIXTURE_REGISTRY ?? process.env.TESTCELL_REGISTRY_MIRROR!;
const mtime = new Date(1_700_000_000_000);
const big = crypto.randomBytes(1 << 20);

/** Layer 1: every kind of entry. */
const LOWER: TarEntry[] = [
  { name: "etc/", type: "directory", mode: 0o755 },
  { name: "etc/hostname", mode: 0o644, body: "testcell\n" },
  { name: "etc/config", mode: 0o600, body: "version=1\n" },
  { name: "etc/secret", mode: 0o640, uid: 1000, gid: 1000, body: "s3cret\n" },
  { name: "usr/", type: "directory", mode: 0o755 },
  { name: "usr/bin/", type: "directory", mode: 0o755 },
  { name: "usr/bin/tool", mode: 0o4755, body: "#!/bin/sh\necho tool\n" },
  { name: "usr/bin/tool-hardlink", type: "link", linkname: "usr/bin/tool" },
  { name: "usr/bin/sgid", mode: 0o2755, gid: 50, body: "sgid\n" },
  { name: "usr/bin/sh", type: "symlink", linkname: "/usr/bin/tool" },
  { name: "usr/lib/", type: "directory", mode: 0o755 },
  { name: "usr/lib/big.bin", mode: 0o644, body: big },
  { name: "lib", type: "symlink", linkname: "usr/lib" },
  { name: "tmp/", type: "directory", mode: 0o1777 },
  { name: "run/", type: "directory", mode: 0o755 },
  { name: "run/fifo", type: "fifo", mode: 0o620 },
  { name: "dev/", type: "directory", mode: 0o755 },
  { name: "dev/null", type: "character-device", mode: 0o666, devmajor: 1, devminor: 3 },
  { name: "deleted.txt", mode: 0o644, body: "gone in layer 2\n" },
  { name: "data/", type: "directory", mode: 0o755 },
  { name: "data/a", mode: 0o644, body: "a\n" },
  { name: "data/sub/", type: "directory", mode: 0o700 },
  { name: "data/sub/b", mode: 0o644, body: "b\n" },
  { name: "opq/", type: "directory", mode: 0o755 },
  { name: "opq/old-a", mode: 0o644, body: "old a\n" },
  { name: "opq/sub/", type: "directory", mode: 0o755 },
  { name: "opq/sub/old-b", mode: 0o644, body: "old b\n" },
  { name: "replaced.txt", mode: 0o644, body: "will become a symlink\n" },
  { name: "home/", type: "directory", mode: 0o755 },
  { name: "home/user/", type: "directory", mode: 0o700, uid: 1000, gid: 1000 },
  { name: "home/user/.profile", mode: 0o644, uid: 1000, gid: 1000, body: "export PS1='$ '\n" },
  { name: "empty", mode: 0o644, body: "" },
];

/** Layer 2: deletes a file and a directory, makes a directory opaque, replaces a file with a symlink, modifies and adds. */
const UPPER: TarEntry[] = [
  { name: ".wh.deleted.txt", body: "" },
  { name: ".wh.data", body: "" },
  { name: "opq/", type: "directory", mode: 0o750 },
  { name: "opq/.wh..wh..opq", body: "" },
  { name: "opq/new", mode: 0o644, body: "new in layer 2\n" },
  { name: "replaced.txt", type: "symlink", linkname: "etc/hostname" },
  { name: "etc/", type: "directory", mode: 0o755 },
  { name: "etc/config", mode: 0o644, body: "version=2\n" },
  { name: "etc/added", mode: 0o444, uid: 33, gid: 33, body: "added\n" },
  { name: "usr/", type: "directory", mode: 0o755 },
  { name: "usr/bin/", type: "directory", mode: 0o755 },
  { name: "usr/bin/.wh.sgid", body: "" },
];

/** Prints every path under a root as JSON: type, mode, owner, size, content hash, link target, device, inode. */
const WALKER = `
const fs = require("fs"), path = require("path"), crypto = require("crypto");
const root = process.argv[2];
const out = [];
(function walk(rel) {
  for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
    const p = rel ? rel + "/" + name : name;
    const abs = path.join(root, p);
    const st = fs.lstatSync(abs);
    const type = st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : st.isFIFO() ? "fifo" : st.isCharacterDevice() ? "chr" : st.isBlockDevice() ? "blk" : "other";
    const e = { path: p, type, mode: (st.mode & 0o7777).toString(8), uid: st.uid, gid: st.gid, ino: st.ino, nlink: st.nlink };
    if (type === "file") Object.assign(e, { size: st.size, sha256: crypto.createHash("sha256").update(fs.readFileSync(abs)).digest("hex"), mtime: Math.floor(st.mtimeMs / 1000) });
    if (type === "symlink") Object.assign(e, { link: fs.readlinkSync(abs), mtime: Math.floor(st.mtimeMs / 1000) });
    if (type === "chr" || type === "blk") e.rdev = Math.floor(st.rdev / 256) + ":" + (st.rdev % 256);
    out.push(e);
    if (type === "dir") walk(p);
  }
})("");
process.stdout.write(JSON.stringify(out));
`;

interface Walked {
  path: string;
  type: string;
  mode: string;
  uid: number;
  gid: number;
  ino?: number;
  nlink?: number;
  size?: number;
  sha256?: string;
  link?: string;
  rdev?: string;
  mtime?: number;
}

/** Entries without inode numbers, plus the hardlink groups (paths sharing an inode). */
function normalise(entries: Walked[]): { entries: Walked[]; hardlinks: string[][] } {
  const byIno = new Map<number, string[]>();
  for (const e of entries) if (e.type === "file" && e.nlink! > 1) byIno.set(e.ino!, [...(byIno.get(e.ino!) ?? []), e.path]);
  const hardlinks = [...byIno.values()].map((g) => g.sort()).sort((a, b) => a[0]!.localeCompare(b[0]!));
  return { entries: entries.map(({ ino: _i, nlink: _n, ...rest }) => rest), hardlinks };
}

describe("a pulled multi-layer image equals what umoci unpacks", () => {
  let work: string;
  beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "testcell-pull-umoci-"));
  });
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  it("whiteouts, opaque dirs, replaced files, hardlinks, setuid, fifo and device: file by file", async () => {
    const withTime = (entries: TarEntry[]) => entries.map((e) => ({ mtime, ...e }));
    const image = buildImage([await buildLayer(withTime(LOWER)), await buildLayer(withTime(UPPER))], { Cmd: ["/usr/bin/sh"] });
    const layout = path.join(work, "layout");
    writeImageLayout(layout, "v1", image);
    const repo = `${registry}/testcell/layers-${process.pid}`;
    execFileSync("skopeo", ["--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false", `oci:${layout}:v1`, `docker://${repo}:v1`]);

    const cacheDir = path.join(work, "store");
    const config = readConfig({ ...process.env, TESTCELL_CACHE_DIR: cacheDir });
    const images = new ImageService({ config, fixup: nativeFixup(config.shimPath), credentials: () => undefined });
    const pulled = await images.ensure(`${repo}:v1`);
    await images.close();
    expect(pulled.manifestDigest).toBe(image.manifestDigest);
    expect(pulled.layerDirs).toHaveLength(2);

    const bundle = path.join(work, "bundle");
    execFileSync("umoci", ["unpack", "--image", `${layout}:v1`, bundle], { stdio: "pipe" });
    const walker = path.join(work, "walk.js");
    fs.writeFileSync(walker, WALKER);
    const theirs = normalise(JSON.parse(execFileSync(process.execPath, [walker, path.join(bundle, "rootfs")], { encoding: "utf8" })) as Walked[]);

    const merged = path.join(work, "merged");
    fs.mkdirSync(merged);
    const lowerdir = [...pulled.layerDirs].reverse().join(":");
    const script = `mount -t overlay overlay -o ro,lowerdir=${lowerdir} ${merged} && exec "${process.execPath}" ${walker} ${merged}`;
    const ours = normalise(JSON.parse(execFileSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", script], { encoding: "utf8" })) as Walked[]);

    // spot checks that the comparison is about something
    const paths = ours.entries.map((e) => e.path);
    expect(paths).not.toContain("deleted.txt");
    expect(paths.filter((p) => p.startsWith("data"))).toEqual([]);
    expect(paths.filter((p) => p.startsWith("opq/"))).toEqual(["opq/new"]);
    expect(ours.entries.find((e) => e.path === "replaced.txt")).toMatchObject({ type: "symlink", link: "etc/hostname" });
    expect(ours.entries.find((e) => e.path === "usr/bin/tool")).toMatchObject({ type: "file", mode: "4755" });
    expect(ours.entries.find((e) => e.path === "run/fifo")).toMatchObject({ type: "fifo", mode: "620" });
    expect(ours.entries.find((e) => e.path === "dev/null")).toMatchObject({ type: "chr", rdev: "1:3" });
    expect(ours.hardlinks).toContainEqual(["usr/bin/tool", "usr/bin/tool-hardlink"]);

    expect(ours.entries).toEqual(theirs.entries);
    expect(ours.hardlinks).toEqual(theirs.hardlinks);
  });
});
