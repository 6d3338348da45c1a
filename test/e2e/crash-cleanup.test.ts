import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { readConfig } from "../../src";
import { isRunning } from "../../src/runtime/embedded/reattach";
import { waitFor } from "../helpers/wait-for";

jest.setTimeout(60_000);

describe("a killed test process leaves nothing behind", () => {
  it("SIGKILL of the Node process removes the container's processes, mounts and state within 2 s", async () => {
    const child = spawn(process.execPath, [require.resolve("ts-node/dist/bin.js"), "--transpile-only", path.join(__dirname, "../helpers/start-and-hang.ts")], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, TS_NODE_COMPILER_OPTIONS: JSON.stringify({ module: "commonjs", moduleResolution: "node" }) },
    });
    const exited = new Promise((r) => child.once("exit", r));
    const first = await readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]().next();
    expect(first.done).toBe(false);
    const { id } = JSON.parse(first.value) as { id: string };
    const stateDir = path.join(readConfig().stateDir, id);
    expect(fs.existsSync(stateDir)).toBe(true);
    const shimPid = Number(fs.readFileSync(path.join(stateDir, "shim.pid"), "utf8"));
    // the container's pid 1 is the helper's child
    const containerPids = fs.readFileSync(`/proc/${shimPid}/task/${shimPid}/children`, "utf8").trim().split(/\s+/).map(Number);
    expect(fs.readFileSync(`/proc/${containerPids[0]}/cmdline`, "utf8")).toBe("sleep\u0000600\u0000");
    expect(containerPids.length).toBeGreaterThan(0);

    child.kill("SIGKILL");
    await exited;
    await waitFor(
      () => !fs.existsSync(stateDir) && containerPids.every((p) => !isRunning(p)) && !fs.readFileSync("/proc/self/mountinfo", "utf8").includes(id),
      2_000,
      "the container's processes, mounts and state dir to be gone",
    );
    await waitFor(() => !isRunning(shimPid), 2_000, "the helper process to exit");
  });
});
