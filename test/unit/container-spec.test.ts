import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { containerArgs, stopSignalNumber } from "../../src/container/container-spec";
import { resolveUser } from "../../src/container/image-user";
import { encodeRecord, many } from "../../src/runtime/embedded/record";
import { isTestcellError, TestcellError } from "../../src/errors";
import { readConfig } from "../../src/config";

describe("containerArgs follows Docker's entrypoint/cmd rules", () => {
  const config = { Entrypoint: ["/entry.sh"], Cmd: ["serve", "--port", "1"] };
  it.each([
    [{}, ["/entry.sh", "serve", "--port", "1"]],
    [{ command: ["other"] }, ["/entry.sh", "other"]],
    [{ entrypoint: ["sh", "-c"] }, ["sh", "-c"]],
    [{ entrypoint: ["sh", "-c"], command: ["echo hi"] }, ["sh", "-c", "echo hi"]],
  ])("%j", (o, expected) => {
    expect(containerArgs({ image: "x", ...o }, config)).toEqual(expected);
  });
  it("refuses an image with nothing to run", () => {
    expect(() => containerArgs({ image: "scratch-like" }, {})).toThrow(/has no Entrypoint or Cmd/);
  });
});

describe("stopSignalNumber", () => {
  it.each([[undefined, 15], ["SIGINT", 2], ["INT", 2], ["sigquit", 3], ["9", 9]])("%s -> %d", (s, n) => {
    expect(stopSignalNumber(s)).toBe(n);
  });
  it("refuses an unknown name", () => expect(() => stopSignalNumber("SIGNOPE")).toThrow(/unknown stop signal/));
});

describe("resolveUser reads the image's passwd and group files", () => {
  let lower: string;
  let upper: string;
  beforeAll(() => {
    lower = fs.mkdtempSync(path.join(os.tmpdir(), "tc-user-lower-"));
    upper = fs.mkdtempSync(path.join(os.tmpdir(), "tc-user-upper-"));
    fs.mkdirSync(path.join(lower, "etc"));
    fs.mkdirSync(path.join(upper, "etc"));
    fs.writeFileSync(path.join(lower, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nold:x:5:5::/:/bin/sh\n");
    // the upper layer replaces passwd, as a later image layer would
    fs.writeFileSync(path.join(upper, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999::/var/lib/postgresql:/bin/sh\n");
    fs.writeFileSync(path.join(lower, "etc/group"), "root:x:0:\npostgres:x:999:\nssl-cert:x:101:postgres\n");
  });
  afterAll(() => {
    fs.rmSync(lower, { recursive: true, force: true });
    fs.rmSync(upper, { recursive: true, force: true });
  });
  const layers = () => [lower, upper];
  it("a name, with its supplementary groups and home", async () => {
    expect(await resolveUser("postgres", layers(), "img")).toEqual({ uid: 999, gid: 999, groups: [999, 101], home: "/var/lib/postgresql" });
  });
  it("uid:gid numbers, known or not", async () => {
    expect(await resolveUser("1234:42", layers(), "img")).toEqual({ uid: 1234, gid: 42, groups: [42], home: "/" });
  });
  it("the default is root", async () => {
    expect(await resolveUser(undefined, layers(), "img")).toMatchObject({ uid: 0, gid: 0, home: "/root" });
  });
  it("a name only the lower, replaced file had is unknown", async () => {
    await expect(resolveUser("old", layers(), "img")).rejects.toThrow(/unable to find user old/);
  });
  it("name:group", async () => {
    expect(await resolveUser("postgres:ssl-cert", layers(), "img")).toMatchObject({ uid: 999, gid: 101, groups: [101] });
  });
});

describe("the helper's record format", () => {
  it("is NUL-separated key/value pairs after the version", () => {
    expect(encodeRecord([["id", "ab"], ...many("arg", ["sh", "-c"])]).toString()).toBe("version\u00001\u0000id\u0000ab\u0000arg\u0000sh\u0000arg\u0000-c\u0000");
  });
  it("refuses a NUL inside a value", () => {
    expect(() => encodeRecord([["env", "A=\u0000"]])).toThrow(/without NUL/);
  });
});

describe("errors and settings", () => {
  it("errors carry a code, a derived name and a cross-copy brand", () => {
    const e = new TestcellError("TC_ERR_WAIT_TIMEOUT", "x");
    expect(e.name).toBe("WaitTimeoutError");
    expect(isTestcellError(e)).toBe(true);
    const foreign = Object.assign(new Error("y"), { [Symbol.for("testcell.error")]: true });
    expect(foreign instanceof TestcellError).toBe(true);
    expect(new Error("z") instanceof TestcellError).toBe(false);
  });
  it("settings are validated", () => {
    expect(readConfig({ TESTCELL_REGISTRY_MIRROR: "http://127.0.0.1:5000/" }).registryMirror).toBe("127.0.0.1:5000");
    expect(() => readConfig({ TESTCELL_REGISTRY_MIRROR: "not a host" })).toThrow(/TESTCELL_REGISTRY_MIRROR: expected host\[:port\]/);
    expect(() => readConfig({ TESTCELL_CACHE_DIR: "relative" })).toThrow(/expected an absolute path/);
  });
});
