import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { GenericContainer } from "../../src";

jest.setTimeout(120_000);

const run = promisify(execFile);

/** Starts a reusable container in a separate Node process, which exits right after. */
async function startInChild(token: string): Promise<string> {
  const { stdout } = await run(process.execPath, [require.resolve("ts-node/dist/bin.js"), "--transpile-only", path.join(__dirname, "../helpers/start-reusable.ts"), token], {
    env: { ...process.env, TS_NODE_COMPILER_OPTIONS: JSON.stringify({ module: "commonjs", moduleResolution: "node" }) },
  });
  return (JSON.parse(stdout.trim().split("\n").pop()!) as { id: string }).id;
}

describe("withReuse", () => {
  it("processes asking at once for the same reusable container get one, and it outlives them", async () => {
    const token = `reuse-${process.pid}-${Date.now()}`;
    const ids = await Promise.all([startInChild(token), startInChild(token), startInChild(token)]);
    expect(new Set(ids).size).toBe(1);
    // every child has exited; the container still runs, and this process gets it too
    const here = await new GenericContainer("busybox").withCommand(["sleep", "300"]).withLabels({ token }).withReuse().start();
    expect(here.getId()).toBe(ids[0]);
    expect((await here.exec(["cat", "/proc/1/cmdline"])).stdout).toBe("sleep\u0000300\u0000");
    // a different spec gets a different container
    const other = await new GenericContainer("busybox").withCommand(["sleep", "301"]).withLabels({ token }).withReuse().start();
    expect(other.getId()).not.toBe(here.getId());
    await Promise.all([here.stop(), other.stop()]);
    const again = await new GenericContainer("busybox").withCommand(["sleep", "300"]).withLabels({ token }).withReuse().start();
    expect(again.getId()).not.toBe(here.getId());
    await again.stop();
  });
});
