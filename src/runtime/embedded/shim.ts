/**
 * Locating the native helper, and the errors it reports turned into TestcellErrors.
 */
import fs from "node:fs";
import os from "node:os";
import { tcError, type ErrorCode, type TestcellError } from "../../errors";

/** Throws TC_ERR_NATIVE_MISSING with the fix when the helper binary is not built. */
export function assertShim(shimPath: string): void {
  if (process.platform !== "linux") {
    throw tcError("TC_ERR_NATIVE_MISSING", `the embedded runtime needs Linux; this is ${process.platform}`);
  }
  try {
    fs.accessSync(shimPath, fs.constants.X_OK);
  } catch (cause) {
    throw tcError(
      "TC_ERR_NATIVE_MISSING",
      `the native helper ${shimPath} is missing or not executable: build it with \`npm rebuild testcell\` ` +
        `(or \`make -C native\` in a checkout); it needs a C compiler (Debian: apt-get install build-essential)`,
      { cause },
    );
  }
}

export interface ShimErrorEvent {
  event: "error";
  op: string;
  errno: number;
  msg: string;
}

const errnoNames = new Map<number, string>(
  Object.entries(os.constants.errno).map(([name, n]) => [n as number, name]),
);

/** Turns the helper's `{"event":"error"}` record into a typed error with a hint. */
export function shimError(e: ShimErrorEvent, image: string, id: string): TestcellError {
  const errno = errnoNames.get(e.errno) ?? `errno ${e.errno}`;
  let code: ErrorCode = "TC_ERR_RUNTIME";
  let hint = "";
  if ((e.op === "exec" || e.op === "lookup") && (e.errno === os.constants.errno.ENOENT || e.errno === os.constants.errno.ENOTDIR)) {
    code = "TC_ERR_COMMAND_NOT_FOUND";
    hint = ": check withCommand/withEntrypoint and that the image contains the program";
  } else if (e.op === "clone" && (e.errno === os.constants.errno.EPERM || e.errno === os.constants.errno.ENOSPC)) {
    code = "TC_ERR_USERNS_DENIED";
    hint =
      e.errno === os.constants.errno.ENOSPC
        ? ": a namespace limit is exhausted (see /proc/sys/user/max_*_namespaces)"
        : ": creating namespaces needs root here (rootless mode is not supported yet)";
  } else if (e.op === "port" && e.errno === os.constants.errno.EADDRINUSE) {
    code = "TC_ERR_PORT_IN_USE";
    hint = ": choose another host port, or leave it out to get a free one";
  } else if (e.op === "overlay" && e.errno === os.constants.errno.EINVAL) {
    hint = ": the state or cache dir may be on a file system that overlayfs cannot use (set TESTCELL_STATE_DIR)";
  }
  return tcError(code, `container ${id.slice(0, 12)} (${image}) failed at ${e.op}: ${e.msg} (${errno})${hint}`, {
    context: { containerId: id, image, operation: e.op, errno: e.errno },
  });
}
