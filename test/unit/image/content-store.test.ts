import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ContentStore } from "../../../src/image/content-store";
import { acquireFileLock } from "../../../src/image/file-lock";
import { sha256 } from "./fake-registry";

let root: string;
let store: ContentStore;

beforeEach(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "testcell-store-"));
  store = new ContentStore(root);
  await store.prepare();
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** A pid that certainly belongs to no running process: a child that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ["-e", "0"]).pid!;
}

describe("ContentStore", () => {
  it.each(["../../etc/passwd", "sha256:../../x", `sha256:${"A".repeat(64)}`, `sha512:${"a".repeat(64)}`, `sha256:${"a".repeat(63)}`])(
    "refuses %j as a file name",
    (digest) => {
      expect(() => store.blobPath(digest)).toThrow(expect.objectContaining({ code: "TC_ERR_STORE" }));
      expect(() => store.layerPath(digest)).toThrow(/expected sha256:<64 lowercase hex>/);
    },
  );

  it("stores a blob only under its own digest", async () => {
    const bytes = Buffer.from("config");
    await expect(store.writeBlob(sha256("other"), bytes)).rejects.toMatchObject({ code: "TC_ERR_DIGEST_MISMATCH" });
    await store.writeBlob(sha256(bytes), bytes);
    expect(await store.readBlob(sha256(bytes))).toEqual(bytes);
    expect(fs.readdirSync(path.join(root, "blobs", "sha256"))).toEqual([sha256(bytes).slice(7)]);
  });

  it("does not hand out a blob that was corrupted on disk", async () => {
    const bytes = Buffer.from("manifest");
    await store.writeBlob(sha256(bytes), bytes);
    fs.writeFileSync(store.blobPath(sha256(bytes)), "tampered");
    expect(await store.readBlob(sha256(bytes))).toBeUndefined();
  });

  it("streams a blob to a temp file and makes it visible only when its digest matched", async () => {
    const data = Buffer.alloc(3 << 20, 7);
    const good = store.blobWriter(sha256(data), () => new Error("mismatch"));
    await pipeline(Readable.from([data]), good.stream, async function* (source) {
      for await (const _ of source) void _;
    });
    expect(fs.existsSync(store.blobPath(sha256(data)))).toBe(false);
    await good.commit();
    expect(sha256(fs.readFileSync(store.blobPath(sha256(data))))).toBe(sha256(data));

    const bad = store.blobWriter(sha256("expected"), (actual) => new Error(`got ${actual}`));
    const err = await pipeline(Readable.from([Buffer.from("actual")]), bad.stream, async function* (source) {
      for await (const _ of source) void _;
    }).catch((e: unknown) => e);
    expect(String(err)).toContain(`got ${sha256("actual")}`);
    await expect(bad.commit()).rejects.toMatchObject({ code: "TC_ERR_STORE" });
    await bad.abort();
    expect(fs.readdirSync(path.join(root, "blobs", "sha256"))).toEqual([sha256(data).slice(7)]);
  });

  it("keeps refs and image records", async () => {
    const digest = sha256("m");
    await store.writeRef("r p", { reference: "r", platform: { os: "linux", architecture: "amd64" }, manifestDigest: digest, resolvedDigest: digest, pulledAt: "now" });
    expect(await store.readRef("r p")).toMatchObject({ manifestDigest: digest });
    expect(await store.listRefs()).toHaveLength(1);
    expect(await store.removeRef("r p")).toBe(true);
    expect(await store.readRef("r p")).toBeUndefined();
  });
});

describe("acquireFileLock", () => {
  it("makes a second taker wait until the first releases", async () => {
    const file = path.join(root, "x.lock");
    const first = await acquireFileLock(file);
    expect(fs.readFileSync(file, "utf8")).toContain(String(process.pid));
    let secondHeld = false;
    let waitedFor: number | undefined;
    const second = acquireFileLock(file, { pollMs: 5, onWait: (pid) => (waitedFor = pid) }).then((l) => {
      secondHeld = true;
      return l;
    });
    await new Promise((r) => setTimeout(r, 60));
    expect(secondHeld).toBe(false);
    expect(waitedFor).toBe(process.pid);
    await first.release();
    await (await second).release();
    expect(fs.readdirSync(root).filter((f) => f.startsWith("x.lock"))).toEqual([]);
  });

  it("takes over a lock whose holder is dead", async () => {
    const file = path.join(root, "y.lock");
    fs.writeFileSync(file, `${deadPid()} ${os.hostname()}\n`);
    const lock = await acquireFileLock(file, { pollMs: 5 });
    expect(fs.readFileSync(file, "utf8")).toContain(String(process.pid));
    await lock.release();
  });

  it("stops waiting when aborted", async () => {
    const file = path.join(root, "z.lock");
    const held = await acquireFileLock(file);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    await expect(acquireFileLock(file, { pollMs: 5, signal: controller.signal })).rejects.toMatchObject({ code: "TC_ERR_ABORTED" });
    await held.release();
  });
});
