import fs from "node:fs";
import { GenericContainer, Wait } from "../../src";
import { waitFor } from "../helpers/wait-for";

jest.setTimeout(60_000);

/** The container's cgroup dir for a controller, on v1 or v2. */
function cgroupFile(id: string, v1: string, file: string): string | undefined {
  for (const p of [`/sys/fs/cgroup/${v1}/testcell/${id}/${file}`, `/sys/fs/cgroup/testcell/${id}/${file}`]) if (fs.existsSync(p)) return p;
  return undefined;
}

describe("resource limits", () => {
  it("a memory limit kills a container that exceeds it and reports OOM", async () => {
    const start = new GenericContainer("busybox")
      .withResourcesQuota({ memory: 0.05 })
      .withCommand(["dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"])
      .withWaitStrategy(Wait.forOneShotStartup())
      .start();
    await expect(start).rejects.toThrow(/exited with code 137 \(OOM killed\)/);
  });

  it("a pids limit stops a fork bomb", async () => {
    await using c = await new GenericContainer("busybox")
      .withResourcesQuota({ pids: 16 })
      // `echo` is a shell builtin: it needs no fork once the bomb has used up the limit
      .withCommand(["sh", "-c", "(i=0; while [ $i -lt 64 ]; do sleep 60 & i=$((i+1)); done) 2>/dev/null; echo bomb-done; sleep 60"])
      .withWaitStrategy(Wait.forLogMessage("bomb-done"))
      .start();
    const current = cgroupFile(c.getId(), "pids", "pids.current")!;
    const n = Number(fs.readFileSync(current, "utf8"));
    expect(n).toBeLessThanOrEqual(16);
    expect(n).toBeGreaterThan(8);
  });

  it("a cpu quota is visible in the cgroup and holds under load", async () => {
    await using c = await new GenericContainer("busybox")
      .withResourcesQuota({ cpu: 0.25 })
      .withCommand(["sh", "-c", "while :; do :; done"])
      .start();
    const quota = cgroupFile(c.getId(), "cpu", "cpu.cfs_quota_us");
    const max = cgroupFile(c.getId(), "cpu", "cpu.max");
    if (quota) expect(fs.readFileSync(quota, "utf8").trim()).toBe("25000");
    else expect(fs.readFileSync(max!, "utf8").trim()).toBe("25000 100000");
    // under a busy loop the quota holds: the kernel throttles the cgroup (cpu.stat nr_throttled grows)
    const stat = cgroupFile(c.getId(), "cpu", "cpu.stat")!;
    const throttled = () => Number(/nr_throttled (\d+)/.exec(fs.readFileSync(stat, "utf8"))![1]);
    await waitFor(() => throttled() >= 3, 10_000, "the cpu quota to throttle the busy loop");
  });

  it("rlimits from withUlimits reach the process", async () => {
    await using c = await new GenericContainer("busybox").withUlimits({ nofile: { soft: 256, hard: 512 } }).withCommand(["sleep", "60"]).start();
    expect((await c.exec(["grep", "Max open files", "/proc/1/limits"])).stdout).toMatch(/Max open files\s+256\s+512\s+files/);
  });

  it("withSharedMemorySize sets the size of /dev/shm", async () => {
    await using c = await new GenericContainer("busybox").withSharedMemorySize(16 * 1024 * 1024).withCommand(["sleep", "60"]).start();
    expect((await c.exec(["df", "-k", "/dev/shm"])).stdout).toMatch(/\s16384\s/);
  });
});
