import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { GenericContainer, type StartedTestContainer } from "../../src";

jest.setTimeout(60_000);

describe("a container cannot escape Docker's default isolation", () => {
  let c: StartedTestContainer;
  beforeAll(async () => {
    c = await new GenericContainer("busybox").withCommand(["sleep", "600"]).start();
  });
  afterAll(() => c?.stop());

  const sh = (script: string) => c.exec(["sh", "-c", script]);

  it("has exactly Docker's 14 capabilities, in pid 1 and in exec", async () => {
    const status = (await c.exec(["cat", "/proc/1/status"])).stdout;
    expect(status).toMatch(/CapEff:\s+00000000a80425fb/);
    expect(status).toMatch(/CapBnd:\s+00000000a80425fb/);
    expect((await c.exec(["grep", "CapEff", "/proc/self/status"])).stdout).toMatch(/00000000a80425fb/);
  });

  it("cannot mount, unshare a user namespace, or load a kernel module", async () => {
    const mount = await sh("mkdir -p /mnt/x && mount -t tmpfs none /mnt/x");
    expect(mount.exitCode).not.toBe(0);
    const userns = await c.exec(["unshare", "-U", "true"]);
    expect(userns.exitCode).not.toBe(0);
    expect(userns.stderr).toMatch(/Operation not permitted/);
    const mod = await sh("echo junk > /tmp/x.ko && insmod /tmp/x.ko");
    expect(mod.exitCode).not.toBe(0);
  });

  it("cannot write /proc/sys, and sees masked paths empty", async () => {
    const w = await sh("echo 1 > /proc/sys/vm/drop_caches");
    expect(w.exitCode).not.toBe(0);
    expect(w.stderr).toMatch(/Read-only file system/);
    // /proc/keys and /proc/timer_list exist on every kernel here (/proc/kcore not always): masked = empty
    expect((await c.exec(["wc", "-c", "/proc/keys"])).stdout.trim()).toMatch(/^0 /);
    expect((await c.exec(["wc", "-c", "/proc/timer_list"])).stdout.trim()).toMatch(/^0 /);
  });

  it("sees no host process and none of the helper's file descriptors", async () => {
    const pids = (await c.exec(["ls", "/proc"])).stdout.split(/\s+/).filter((p) => /^\d+$/.test(p));
    expect(pids.length).toBeLessThan(5);
    expect((await c.exec(["ls", "/proc/1/fd"])).stdout.trim().split(/\s+/).sort()).toEqual(["0", "1", "2"]);
  });

  it("cannot read a host file, even through /proc/1/root", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tc-host-"));
    fs.writeFileSync(path.join(dir, "secret"), "s3cret");
    try {
      expect((await c.exec(["cat", path.join(dir, "secret")])).exitCode).not.toBe(0);
      expect((await sh(`cat /proc/1/root${dir}/secret`)).exitCode).not.toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("opting out of isolation", () => {
  it("withAddedCapabilities / withDroppedCapabilities change the set", async () => {
    await using c = await new GenericContainer("busybox").withCommand(["sleep", "60"]).withAddedCapabilities("NET_ADMIN").withDroppedCapabilities("CAP_MKNOD").start();
    const eff = (await c.exec(["grep", "CapEff", "/proc/1/status"])).stdout.trim().split(/\s+/)[1]!;
    const mask = BigInt(`0x${eff}`);
    expect(mask & (1n << 12n)).toBe(1n << 12n); // NET_ADMIN
    expect(mask & (1n << 27n)).toBe(0n); // MKNOD
  });

  it("withPrivilegedMode has every capability and may mount", async () => {
    await using c = await new GenericContainer("busybox").withCommand(["sleep", "60"]).withPrivilegedMode().start();
    expect((await c.exec(["sh", "-c", "mkdir -p /mnt/x && mount -t tmpfs none /mnt/x && echo mounted"])).stdout).toBe("mounted\n");
  });
});
