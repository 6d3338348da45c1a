import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { GenericContainer, Volume } from "../../src";

jest.setTimeout(60_000);

describe("files: mounts, volumes and copies", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tc-files-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("bind mounts are writable, or read-only with mode ro", async () => {
    fs.writeFileSync(path.join(dir, "in.txt"), "from host\n");
    const ro = fs.mkdtempSync(path.join(os.tmpdir(), "tc-ro-"));
    try {
      await using c = await new GenericContainer("busybox")
        .withBindMounts([{ source: dir, target: "/data" }, { source: ro, target: "/ro", mode: "ro" }])
        .withCommand(["sleep", "60"])
        .start();
      expect((await c.exec(["cat", "/data/in.txt"])).stdout).toBe("from host\n");
      expect((await c.exec(["sh", "-c", "echo from container > /data/out.txt"])).exitCode).toBe(0);
      expect(fs.readFileSync(path.join(dir, "out.txt"), "utf8")).toBe("from container\n");
      const w = await c.exec(["sh", "-c", "echo x > /ro/x"]);
      expect(w.stderr).toMatch(/Read-only file system/);
    } finally {
      fs.rmSync(ro, { recursive: true, force: true });
    }
  });

  it("tmpfs mounts are tmpfs", async () => {
    await using c = await new GenericContainer("busybox").withTmpFs({ "/scratch": "size=8m" }).withCommand(["sleep", "60"]).start();
    expect((await c.exec(["sh", "-c", "grep ' /scratch ' /proc/mounts"])).stdout).toMatch(/^tmpfs \/scratch tmpfs .*size=8192k/);
  });

  it("a named volume keeps its data for the next container", async () => {
    const vol = new Volume(`tc-test-${process.pid}`);
    try {
      {
        await using a = await new GenericContainer("busybox").withVolume(vol, "/data").withCommand(["sleep", "60"]).start();
        expect((await a.exec(["sh", "-c", "echo kept > /data/file"])).exitCode).toBe(0);
      }
      await using b = await new GenericContainer("busybox").withVolume(vol, "/data").withCommand(["sleep", "60"]).start();
      expect((await b.exec(["cat", "/data/file"])).stdout).toBe("kept\n");
    } finally {
      await vol.remove();
    }
  });

  it("copies files, directories and content into the container before it starts", async () => {
    fs.writeFileSync(path.join(dir, "a.txt"), "file a\n");
    fs.mkdirSync(path.join(dir, "tree/sub"), { recursive: true });
    fs.writeFileSync(path.join(dir, "tree/sub/b.txt"), "file b\n");
    await using c = await new GenericContainer("busybox")
      .withCopyFilesToContainer([{ source: path.join(dir, "a.txt"), target: "/opt/a.txt" }])
      .withCopyDirectoriesToContainer([{ source: path.join(dir, "tree"), target: "/opt/tree" }])
      .withCopyContentToContainer([{ content: "#!/bin/sh\necho script ran\n", target: "/usr/local/bin/hello", mode: 0o755 }])
      .withCommand(["sleep", "60"])
      .start();
    expect((await c.exec(["cat", "/opt/a.txt", "/opt/tree/sub/b.txt"])).stdout).toBe("file a\nfile b\n");
    expect((await c.exec(["hello"])).stdout).toBe("script ran\n");
    expect((await c.exec(["stat", "-c", "%a %u", "/usr/local/bin/hello"])).stdout).toBe("755 0\n");
  });
});
