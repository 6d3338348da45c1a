import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { GenericContainer, Wait } from "../../src";
import { waitFor } from "../helpers/wait-for";

jest.setTimeout(60_000);

describe("GenericContainer (busybox)", () => {
  it("runs the command as pid 1 in its own pid namespace", async () => {
    await using c = await new GenericContainer("busybox").withCommand(["sleep", "60"]).start();
    const { stdout, exitCode } = await c.exec(["cat", "/proc/1/cmdline"]);
    expect(exitCode).toBe(0);
    expect(stdout).toBe("sleep\u000060\u0000");
    const ps = await c.exec(["ps", "-o", "pid,comm"]);
    // only pid 1 (sleep) and the ps itself: no host process is visible
    const pids = ps.stdout.trim().split("\n").slice(1).map((l) => l.trim().split(/\s+/));
    expect(pids.map(([, comm]) => comm).sort()).toEqual(["ps", "sleep"]);
    expect(pids.find(([, comm]) => comm === "sleep")![0]).toBe("1");
  });

  it("has the container's hostname, in uname and /etc/hostname", async () => {
    await using c = await new GenericContainer("busybox").withCommand(["sleep", "60"]).start();
    expect(c.getHostname()).toBe(c.getId().slice(0, 12));
    expect((await c.exec(["hostname"])).stdout.trim()).toBe(c.getHostname());
    expect((await c.exec(["cat", "/etc/hostname"])).stdout.trim()).toBe(c.getHostname());
    expect(os.hostname()).not.toBe(c.getHostname());
  });

  it("cannot see a file on the host", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "testcell-secret-"));
    const secret = path.join(dir, "secret.txt");
    fs.writeFileSync(secret, "host secret\n");
    try {
      await using c = await new GenericContainer("busybox").withCommand(["sleep", "60"]).start();
      const r = await c.exec(["cat", secret]);
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toMatch(/No such file or directory/);
      const mounts = await c.exec(["cat", "/proc/self/mountinfo"]);
      expect(mounts.stdout).not.toContain(os.tmpdir() === "/tmp" ? dir : secret);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("passes env, entrypoint and cmd to the process, and keeps its output in the logs", async () => {
    await using c = await new GenericContainer("busybox")
      .withEntrypoint(["sh", "-c"])
      .withCommand(['echo "greeting=$GREETING user=$(id -u)"; echo "to stderr" >&2; echo done; sleep 60'])
      .withEnvironment({ GREETING: "hello world" })
      .withWaitStrategy(Wait.forLogMessage("done"))
      .start();
    const lines: string[] = [];
    const stream = await c.logs({ follow: false });
    for await (const chunk of stream) lines.push(...String(chunk).split("\n").filter(Boolean));
    expect(lines).toEqual(expect.arrayContaining(["greeting=hello world user=0", "to stderr", "done"]));
    const env = await c.exec(["env"]);
    expect(env.stdout).toContain("GREETING=hello world");
    expect(env.stdout).toContain(`HOSTNAME=${c.getHostname()}`);
  });

  it("exec returns stdout, stderr, output and the exit code, with workingDir, env and user", async () => {
    await using c = await new GenericContainer("busybox").withCommand(["sleep", "60"]).start();
    const r = await c.exec(["sh", "-c", "echo out; echo err >&2; exit 3"]);
    expect(r).toEqual({ stdout: "out\n", stderr: "err\n", output: expect.stringMatching(/out\n[\s\S]*err\n|err\n[\s\S]*out\n/), exitCode: 3 });
    const w = await c.exec(["sh", "-c", "pwd; echo $X; id -u"], { workingDir: "/tmp", env: { X: "y" }, user: "nobody" });
    expect(w.stdout).toBe("/tmp\ny\n65534\n");
    expect((await c.exec("echo split on spaces")).stdout).toBe("split on spaces\n");
    expect((await c.exec(["no-such-command"])).exitCode).toBe(127);
  });

  it("stop() ends a container that handles the stop signal within its grace period", async () => {
    const c = await new GenericContainer("busybox")
      .withCommand(["sh", "-c", "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 1 & wait $!; done"])
      .withWaitStrategy(Wait.forLogMessage("ready"))
      .start();
    const stopped = await c.stop({ timeout: 10_000 });
    expect(stopped.getExitCode()).toBe(0);
  });

  it("stop() kills a container that ignores the stop signal once the grace period is over", async () => {
    // pid 1 without a handler ignores SIGTERM, as in Docker
    const c = await new GenericContainer("busybox").withCommand(["sleep", "60"]).start();
    const started = Date.now();
    const stopped = await c.stop({ timeout: 300 });
    expect(stopped.getExitCode()).toBe(137);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it("stop() is idempotent and removes the container's state", async () => {
    const c = await new GenericContainer("busybox").withCommand(["sleep", "60"]).start();
    const [a, b] = await Promise.all([c.stop(), c.stop()]);
    expect(a).toBe(b);
    const stateDir = process.env.TESTCELL_STATE_DIR ?? "/run/testcell";
    expect(fs.existsSync(path.join(stateDir, c.getId()))).toBe(false);
  });

  it("reports the image's user, working dir and a replaced entrypoint as Docker does", async () => {
    await using c = await new GenericContainer("busybox")
      .withUser("nobody")
      .withWorkingDir("/var/www")
      .withCommand(["sh", "-c", "echo $(id -u):$(id -g) $(pwd) $HOME; sleep 60"])
      .withWaitStrategy(Wait.forLogMessage(/^\d+:\d+ /))
      .start();
    const lines: string[] = [];
    for await (const chunk of await c.logs({ follow: false })) lines.push(String(chunk).trim());
    expect(lines[0]).toMatch(/^65534:65534 \/var\/www \//);
  });
});

describe("lifecycle", () => {
  it("restart() keeps the root file system and the host ports", async () => {
    await using c = await new GenericContainer("busybox").withCommand(["sh", "-c", "echo started; httpd -f -p 80 -h /tmp"]).withExposedPorts(80).start();
    const port = c.getMappedPort(80);
    await c.exec(["sh", "-c", "echo kept > /tmp/state"]);
    await c.restart();
    expect((await c.exec(["cat", "/tmp/state"])).stdout).toBe("kept\n");
    expect(c.getMappedPort(80)).toBe(port);
    const lines: string[] = [];
    for await (const chunk of await c.logs({ follow: false })) lines.push(...String(chunk).split("\n"));
    expect(lines.filter((l) => l === "started")).toHaveLength(2);
  });

  it("pause() freezes the processes and unpause() thaws them", async () => {
    await using c = await new GenericContainer("busybox").withCommand(["sh", "-c", "while :; do date +%s%N > /tmp/t; sleep 0.05; done"]).start();
    // read the file the container writes from the host side of its root file system
    const tick = path.join(process.env.TESTCELL_STATE_DIR ?? "/run/testcell", c.getId(), "upper/tmp/t");
    await waitFor(() => fs.existsSync(tick), 5_000, "the first tick");
    await c.pause();
    const a = fs.readFileSync(tick, "utf8");
    await new Promise((r) => setTimeout(r, 300)); // a frozen process must not advance for a while
    expect(fs.readFileSync(tick, "utf8")).toBe(a);
    await expect(c.exec(["true"])).rejects.toMatchObject({ code: "TC_ERR_CONTAINER_NOT_RUNNING" });
    await c.unpause();
    await waitFor(() => fs.readFileSync(tick, "utf8") !== a, 5_000, "the container to run again");
  });

  it("logs({ tail, stdout, stderr }) picks lines and streams", async () => {
    await using c = await new GenericContainer("busybox")
      .withCommand(["sh", "-c", "for i in 1 2 3 4; do echo out-$i; done; echo err-1 >&2; echo done; sleep 60"])
      .withWaitStrategy(Wait.forLogMessage("done"))
      .start();
    const read = async (o: object) => {
      const lines: string[] = [];
      for await (const chunk of await c.logs({ follow: false, ...o })) lines.push(...String(chunk).split("\n").filter(Boolean));
      return lines;
    };
    expect(await read({ stderr: false, tail: 2 })).toEqual(["out-4", "done"]);
    expect(await read({ stdout: false })).toEqual(["err-1"]);
  });

  it("execStream streams output and takes stdin", async () => {
    await using c = await new GenericContainer("busybox").withCommand(["sleep", "60"]).start();
    const p = await c.execStream(["sh", "-c", "tr a-z A-Z; echo done >&2"], { stdin: "hello stdin\n" });
    const chunks: string[] = [];
    p.stdout.setEncoding("utf8").on("data", (d: string) => chunks.push(d));
    expect(await p.exitCode).toBe(0);
    expect(chunks.join("")).toBe("HELLO STDIN\n");
  });
});

