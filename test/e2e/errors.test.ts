import { GenericContainer, Wait, createContext, isTestcellError, readConfig } from "../../src";

jest.setTimeout(60_000);

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error("expected a rejection");
}

describe("errors are typed and say what to do", () => {
  it("an image that does not exist", async () => {
    const err = await rejection(new GenericContainer("no-such-image-anywhere:1.0").start());
    expect(isTestcellError(err)).toBe(true);
    expect(err.code).toBe("TC_ERR_IMAGE_NOT_FOUND");
    expect(err.message).toContain("no-such-image-anywhere");
  });

  it("a registry that is down", async () => {
    const ctx = createContext(readConfig({ ...process.env, TESTCELL_REGISTRY_MIRROR: "127.0.0.1:1" }));
    const err = await rejection(new GenericContainer("busybox:1.35", ctx).withPullPolicy({ shouldPull: () => true }).start());
    expect(err.code).toBe("TC_ERR_REGISTRY_UNREACHABLE");
    expect(err.message).toContain("127.0.0.1:1");
  });

  it("a command that is not in the image", async () => {
    const err = await rejection(new GenericContainer("busybox").withCommand(["/no/such/program"]).start());
    expect(err.code).toBe("TC_ERR_COMMAND_NOT_FOUND");
    expect(err.message).toContain("/no/such/program");
  });

  it("an exec in a stopped container", async () => {
    const c = await new GenericContainer("busybox").withCommand(["sleep", "60"]).start();
    await c.stop();
    const err = await rejection(c.exec(["true"]));
    expect(err.code).toBe("TC_ERR_CONTAINER_NOT_RUNNING");
    expect(err.message).toContain(c.getId().slice(0, 12));
  });

  it("a wait that times out carries the last log lines", async () => {
    const err = await rejection(
      new GenericContainer("busybox")
        .withCommand(["sh", "-c", "for i in 1 2 3; do echo line-$i; done; sleep 60"])
        .withWaitStrategy(Wait.forLogMessage("never printed"))
        .withStartupTimeout(700)
        .start(),
    );
    expect(err.code).toBe("TC_ERR_WAIT_TIMEOUT");
    expect(err.message).toContain("700ms");
    expect(err.message).toMatch(/line-1\n.*line-2\n.*line-3/s);
  });

  it("a container that exits before it is ready reports its exit code and output", async () => {
    const err = await rejection(
      new GenericContainer("busybox")
        .withCommand(["sh", "-c", "echo fatal: no config >&2; exit 4"])
        .withWaitStrategy(Wait.forLogMessage("ready"))
        .start(),
    );
    expect(err.code).toBe("TC_ERR_CONTAINER_EXITED");
    expect(err.message).toContain("exited with code 4");
    expect(err.message).toContain("fatal: no config");
  });

  it("bad arguments are refused at the boundary", () => {
    expect(() => new GenericContainer("busybox").withCommand("echo hi" as unknown as string[])).toThrow(/withCommand: expected an array of strings, got `echo hi` \(string\)/);
    expect(() => new GenericContainer("")).toThrow(expect.objectContaining({ code: "TC_ERR_INVALID_ARGUMENT" }));
  });

  it("a malformed image reference", async () => {
    const err = await rejection(new GenericContainer("UPPER/Case:tag").start());
    expect(err.code).toBe("TC_ERR_INVALID_REFERENCE");
  });
});
