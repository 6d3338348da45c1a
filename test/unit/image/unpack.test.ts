import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import zlib from "node:zlib";
import { unpackLayer, type FixupOp } from "../../../src/image/unpack";
import { buildLayer, sha256, type BuiltLayer, type TarEntry } from "./fake-registry";

const GZ = "application/vnd.oci.image.layer.v1.tar+gzip";
const isRoot = process.geteuid?.() === 0;

let root: string;
let layersDir: string;
let outside: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "testcell-unpack-"));
  layersDir = path.join(root, "store", "layers", "sha256");
  outside = path.join(root, "outside");
  fs.mkdirSync(layersDir, { recursive: true });
  fs.mkdirSync(outside);
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** Every path under the test root, to prove a failed unpack changed nothing. */
function tree(dir = root): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).sort();
}

async function unpack(layer: BuiltLayer, options: { diffId?: string; fixup?: (dir: string, ops: FixupOp[]) => Promise<void> } = {}) {
  const diffId = options.diffId ?? layer.diffId;
  const target = path.join(layersDir, diffId.slice(7));
  const calls: { dir: string; ops: FixupOp[] }[] = [];
  const fixup = options.fixup ?? (async (dir: string, ops: FixupOp[]) => void calls.push({ dir, ops }));
  const result = await unpackLayer(Readable.from([layer.gz]), GZ, target, { fixup, diffId });
  return { target, calls, result };
}

async function expectUnsafe(entries: TarEntry[], reason: RegExp): Promise<void> {
  const before = tree();
  const layer = await buildLayer(entries);
  const err = await unpack(layer).then(() => undefined, (e: unknown) => e);
  expect(err).toMatchObject({ code: "TC_ERR_LAYER_UNSAFE" });
  expect((err as Error).message).toMatch(reason);
  expect(tree()).toEqual(before); // no temp dir left, nothing written anywhere, outside/ still empty
}

describe("unpackLayer", () => {
  it("writes files, modes, owners, times, links, and hands special files to the fixup", async () => {
    const mtime = new Date(1_500_000_000_000);
    const layer = await buildLayer([
      { name: "./", type: "directory", mode: 0o755 },
      { name: "bin/", type: "directory", mode: 0o755, mtime },
      { name: "bin/tool", mode: 0o4755, uid: 1000, gid: 1001, mtime, body: "#!/bin/sh\necho hi\n" },
      { name: "bin/sg", mode: 0o2711, body: "x" },
      { name: "bin/link", type: "link", linkname: "bin/tool" },
      { name: "bin/sh", type: "symlink", linkname: "/bin/busybox", mtime },
      { name: "tmp/", type: "directory", mode: 0o1777 },
      { name: "ro/", type: "directory", mode: 0o555 },
      { name: "ro/file", mode: 0o444, body: "read only" },
      { name: "/abs/file", mode: 0o644, body: "absolute names are taken from the root" },
      { name: "deep/a/b/c.txt", mode: 0o600, body: "implicit parents" },
      { name: "dev/null", type: "character-device", mode: 0o666, devmajor: 1, devminor: 3 },
      { name: "run/fifo", type: "fifo", mode: 0o600 },
      { name: "etc/.wh.gone", body: "" },
      { name: "var/", type: "directory", mode: 0o755 },
      { name: "var/.wh..wh..opq", body: "" },
      { name: ".wh..wh.plnk/", type: "directory" },
      { name: "caps", mode: 0o755, body: "c", pax: { "SCHILY.xattr.user.comment": "hello", "SCHILY.xattr.trusted.overlay.redirect": "/x" } },
    ]);
    const { target, calls, result } = await unpack(layer);
    expect(result).toMatchObject({ dir: target, entries: 18 });

    expect(fs.readFileSync(path.join(target, "bin/tool"), "utf8")).toBe("#!/bin/sh\necho hi\n");
    const tool = fs.statSync(path.join(target, "bin/tool"));
    expect(tool.mode & 0o7777).toBe(0o4755);
    expect(tool.mtimeMs).toBe(mtime.getTime());
    if (isRoot) expect([tool.uid, tool.gid]).toEqual([1000, 1001]);
    expect(fs.statSync(path.join(target, "bin/sg")).mode & 0o7777).toBe(0o2711);
    expect(fs.statSync(path.join(target, "bin/link")).ino).toBe(tool.ino);
    expect(fs.readlinkSync(path.join(target, "bin/sh"))).toBe("/bin/busybox");
    expect(fs.lstatSync(path.join(target, "bin/sh")).mtimeMs).toBe(mtime.getTime());
    expect(fs.statSync(path.join(target, "tmp")).mode & 0o7777).toBe(0o1777);
    expect(fs.statSync(path.join(target, "ro")).mode & 0o7777).toBe(0o555);
    expect(fs.readFileSync(path.join(target, "ro/file"), "utf8")).toBe("read only");
    expect(fs.readFileSync(path.join(target, "abs/file"), "utf8")).toMatch(/absolute/);
    expect(fs.statSync(path.join(target, "deep/a/b")).mode & 0o777).toBe(0o755);
    // a directory's mtime is set after its children were written
    expect(fs.statSync(path.join(target, "bin")).mtimeMs).toBe(mtime.getTime());
    // nothing of the special files exists on disk; the fixup gets them, once, relative to the layer root
    expect(fs.existsSync(path.join(target, "dev/null"))).toBe(false);
    expect(fs.existsSync(path.join(target, "etc/.wh.gone"))).toBe(false);
    expect(fs.existsSync(path.join(target, ".wh..wh.plnk"))).toBe(false);
    expect(calls).toHaveLength(1);
    expect(path.dirname(calls[0]!.dir)).toBe(layersDir); // the temp dir beside the target
    expect(calls[0]!.ops).toEqual([
      { kind: "opaque", path: "var" },
      { kind: "whiteout", path: "etc/gone" },
      { kind: "chr", path: "dev/null", mode: 0o666, major: 1, minor: 3 },
      { kind: "fifo", path: "run/fifo", mode: 0o600, major: 0, minor: 0 },
      { kind: "xattr", path: "caps", name: "user.comment", value: Buffer.from("hello") },
    ]);
    expect(fs.readdirSync(layersDir)).toEqual([path.basename(target)]);
  });

  it("replaces an existing symlink instead of writing through it", async () => {
    const victim = path.join(outside, "victim");
    fs.writeFileSync(victim, "untouched");
    const layer = await buildLayer([
      { name: "x", type: "symlink", linkname: victim },
      { name: "x", mode: 0o644, body: "new content" },
    ]);
    const { target } = await unpack(layer);
    expect(fs.lstatSync(path.join(target, "x")).isFile()).toBe(true);
    expect(fs.readFileSync(path.join(target, "x"), "utf8")).toBe("new content");
    expect(fs.readFileSync(victim, "utf8")).toBe("untouched");
  });

  it("replaces a directory by a later non-directory entry, and forgets what was under it", async () => {
    const layer = await buildLayer([
      { name: "d/", type: "directory", mode: 0o700 },
      { name: "d/f", body: "f" },
      { name: "d/dev", type: "character-device", devmajor: 1, devminor: 5 },
      { name: "d", type: "symlink", linkname: outside },
    ]);
    const { target, calls } = await unpack(layer);
    expect(fs.readlinkSync(path.join(target, "d"))).toBe(outside);
    expect(calls).toEqual([]); // the device under the replaced dir is gone, so no fixup at all
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it("turns a whiteout of a directory this layer recreates into an opaque marker", async () => {
    const layer = await buildLayer([{ name: ".wh.data", body: "" }, { name: "data/", type: "directory" }, { name: "data/new", body: "n" }]);
    const { calls } = await unpack(layer);
    expect(calls[0]!.ops).toEqual([{ kind: "opaque", path: "data" }]);
  });

  it("makes a hardlink to a fifo or device into the same special file, and drops whiteouts under a replaced dir", async () => {
    const layer = await buildLayer([
      { name: "run/fifo", type: "fifo", mode: 0o640 },
      { name: "run/fifo2", type: "link", linkname: "run/fifo" },
      { name: "d/", type: "directory" },
      { name: "d/.wh.old", body: "" },
      { name: "d", mode: 0o644, body: "now a file" },
    ]);
    const { target, calls } = await unpack(layer);
    expect(calls[0]!.ops).toEqual([
      { kind: "fifo", path: "run/fifo", mode: 0o640, major: 0, minor: 0 },
      { kind: "fifo", path: "run/fifo2", mode: 0o640, major: 0, minor: 0 },
    ]);
    expect(fs.readFileSync(path.join(target, "d"), "utf8")).toBe("now a file");
  });

  it("keeps binary xattr values out of the fixup protocol (NUL-delimited) instead of failing the layer", async () => {
    const layer = await buildLayer([{ name: "ping", mode: 0o755, body: "x", pax: { "SCHILY.xattr.user.a": "ok" } }]);
    // tar-stream writes PAX values as UTF-8; splice a NUL into the value by hand
    const tarBytes = Buffer.from(layer.tar);
    const at = tarBytes.indexOf("user.a=ok");
    expect(at).toBeGreaterThan(0);
    tarBytes[at + "user.a=o".length] = 0;
    const gz = zlib.gzipSync(tarBytes);
    const { calls } = await unpack({ tar: tarBytes, gz, digest: sha256(gz), diffId: sha256(tarBytes) });
    expect(calls).toEqual([]);
  });

  it("checks the diff id before anything becomes visible", async () => {
    const layer = await buildLayer([{ name: "f", body: "x" }]);
    const before = tree();
    const wrong = sha256("something else");
    const err = await unpack(layer, { diffId: wrong }).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: "TC_ERR_DIGEST_MISMATCH" });
    expect((err as Error).message).toContain(wrong);
    expect(tree()).toEqual(before);
  });

  it("reports a corrupt gzip stream as TC_ERR_LAYER_INVALID and leaves nothing", async () => {
    const layer = await buildLayer([{ name: "f", body: "x".repeat(10_000) }]);
    const before = tree();
    const truncated = { ...layer, gz: layer.gz.subarray(0, layer.gz.length - 20) };
    await expect(unpack(truncated)).rejects.toMatchObject({ code: "TC_ERR_LAYER_INVALID" });
    expect(tree()).toEqual(before);
  });

  it("rejects a hardlink to something this layer does not have", async () => {
    const layer = await buildLayer([{ name: "l", type: "link", linkname: "etc/passwd" }]);
    await expect(unpack(layer)).rejects.toMatchObject({ code: "TC_ERR_LAYER_INVALID", message: expect.stringMatching(/no earlier entry/) });
  });

  it("does not call the fixup when there is nothing special", async () => {
    const fixup = jest.fn(async () => undefined);
    await unpack(await buildLayer([{ name: "f", body: "x" }]), { fixup });
    expect(fixup).not.toHaveBeenCalled();
  });

  it("removes the temp dir when the fixup fails", async () => {
    const before = tree();
    const layer = await buildLayer([{ name: "p", type: "fifo" }]);
    await expect(unpack(layer, { fixup: async () => Promise.reject(new Error("helper failed")) })).rejects.toThrow("helper failed");
    expect(tree()).toEqual(before);
  });
});

describe("unpackLayer refuses hostile layers", () => {
  it("`..` that leaves the root", async () => {
    await expectUnsafe([{ name: "ok", body: "x" }, { name: "../escape", body: "pwned" }], /`\.\.\/escape` climbs out/);
    await expectUnsafe([{ name: "a/../../escape", body: "pwned" }], /climbs out/);
  });

  it("an entry through a symlink made earlier (absolute target)", async () => {
    await expectUnsafe([{ name: "evil", type: "symlink", linkname: outside }, { name: "evil/x", body: "pwned" }], /goes through `evil`, a symlink/);
  });

  it("an entry through a symlink to /tmp", async () => {
    const name = `testcell-escape-${process.pid}-${Date.now()}`;
    await expectUnsafe([{ name: "evil", type: "symlink", linkname: "/tmp" }, { name: `evil/${name}`, body: "pwned" }], /symlink/);
    expect(fs.existsSync(path.join("/tmp", name))).toBe(false);
  });

  it("an entry through a relative symlink, also as a directory entry or a deeper path", async () => {
    await expectUnsafe([{ name: "up", type: "symlink", linkname: "../../../../outside" }, { name: "up/x/", type: "directory" }], /goes through `up`/);
    await expectUnsafe([{ name: "a/b", type: "symlink", linkname: outside }, { name: "a/b/c/d", body: "x" }], /goes through `a\/b`/);
  });

  it("a hardlink to a path outside the root", async () => {
    await expectUnsafe([{ name: "passwd", type: "link", linkname: "../../etc/passwd" }], /hardlink `passwd` points outside/);
  });

  it("a hardlink through a symlink, or to a symlink that leaves the root", async () => {
    await expectUnsafe(
      [
        { name: "s", type: "symlink", linkname: "/etc" },
        { name: "l", type: "link", linkname: "s/passwd" },
      ],
      /goes through symlink `s`/,
    );
    await expectUnsafe(
      [
        { name: "s", type: "symlink", linkname: "../../x" },
        { name: "l", type: "link", linkname: "s" },
      ],
      /symlink `s`, which leaves the layer/,
    );
  });

  it("a whiteout through a symlink", async () => {
    await expectUnsafe([{ name: "evil", type: "symlink", linkname: outside }, { name: "evil/.wh.x", body: "" }], /goes through `evil`/);
  });
});

describe("unpackLayer on random hostile layers", () => {
  /** Names and link targets that mix ordinary paths with every escape route the writer must refuse. */
  const NAMES = ["a", "a/b", "a/b/c", "d", "d/e", "s", "s/x", "s/y/z", "../esc", "a/../../esc", "/abs", "./a/./b", "l", "l/x", ".wh.a", "a/.wh..wh..opq", "a/.wh.b"];
  const TARGETS = ["a", "a/b", "..", "../..", "/", "/tmp", "/etc/passwd", "s", "s/x", "../../outside", "d/../..", "l", "."];
  const TYPES = ["file", "directory", "symlink", "link", "fifo"] as const;

  it("never writes outside the layer root, whatever the entries (300 random layers)", async () => {
    let seed = 7;
    const pick = <T>(xs: readonly T[]): T => xs[((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % xs.length)]!;
    const sentinel = path.join(outside, "sentinel");
    fs.writeFileSync(sentinel, "untouched");
    const before = fs.readdirSync(root).sort();
    let unpacked = 0;
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      const entries: TarEntry[] = [];
      for (let k = 0; k < 6; k++) {
        const type = pick(TYPES);
        const name = pick(NAMES);
        const target = pick(TARGETS).replace("../../outside", path.relative(path.join(layersDir, "x"), outside));
        if (type === "file") entries.push({ name, mode: 0o644, body: `entry ${k}` });
        else if (type === "directory") entries.push({ name, type, mode: 0o755 });
        else if (type === "fifo") entries.push({ name, type, mode: 0o600 });
        else entries.push({ name, type, linkname: type === "symlink" ? target : pick(NAMES) });
      }
      const layer = await buildLayer(entries);
      const result = await unpack(layer).then(
        (r) => r,
        (e: { code?: string }) => {
          expect(["TC_ERR_LAYER_UNSAFE", "TC_ERR_LAYER_INVALID"]).toContain(e.code);
          return undefined;
        },
      );
      if (result) {
        unpacked++;
        // what was written is real directories and files inside the target (walked without following symlinks)
        const walk = (dir: string): void => {
          for (const name of fs.readdirSync(dir)) {
            const p = path.join(dir, name);
            expect(p.startsWith(result.target + path.sep)).toBe(true);
            if (fs.lstatSync(p).isDirectory()) walk(p);
          }
        };
        walk(result.target);
        fs.rmSync(result.target, { recursive: true, force: true });
      } else {
        refused++;
      }
      expect(fs.readFileSync(sentinel, "utf8")).toBe("untouched");
      expect(fs.readdirSync(outside)).toEqual(["sentinel"]);
      expect(fs.readdirSync(root).sort()).toEqual(before);
      expect(fs.existsSync(path.join(root, "esc")) || fs.existsSync(path.join(layersDir, "esc")) || fs.existsSync("/abs")).toBe(false);
    }
    // the corpus exercises both outcomes
    expect(unpacked).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(20);
  });
});
