/**
 * Special files of an unpacked layer (overlay whiteouts, opaque dirs, devices, xattrs) that Node
 * cannot create itself, made by the native helper's `fixup` mode in one call per layer.
 */
import { spawn } from "node:child_process";
import { tcError } from "../../errors";
import type { FixupOp } from "../../image/fixup-ops";
import { assertShim } from "./shim";

function encode(ops: FixupOp[]): Buffer {
  const parts: Buffer[] = [Buffer.from("version\x001\0")];
  const field = (s: string | Buffer) => parts.push(Buffer.isBuffer(s) ? s : Buffer.from(s), Buffer.from([0]));
  for (const op of ops) {
    field(op.kind);
    field(op.path);
    if (op.kind === "chr" || op.kind === "blk" || op.kind === "fifo") {
      field(String(op.mode));
      field(String(op.major));
      field(String(op.minor));
    } else if (op.kind === "xattr") {
      if (op.value.includes(0)) throw tcError("TC_ERR_LAYER_INVALID", `xattr ${op.name} on ${op.path} holds a NUL byte, which is not supported`);
      field(op.name);
      field(op.value);
    }
  }
  return Buffer.concat(parts);
}

/** Returns a fixup function bound to the helper binary at `shimPath`. */
export function nativeFixup(shimPath: string) {
  return async function fixup(layerDir: string, ops: FixupOp[]): Promise<void> {
    if (ops.length === 0) return;
    assertShim(shimPath);
    const child = spawn(shimPath, ["fixup", layerDir], { stdio: ["pipe", "ignore", "pipe"] });
    const stderr: Buffer[] = [];
    child.stderr!.on("data", (d: Buffer) => stderr.push(d));
    child.stdin!.end(encode(ops));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", resolve);
    });
    if (code !== 0) {
      throw tcError("TC_ERR_STORE", `cannot create special files in layer ${layerDir}: ${Buffer.concat(stderr).toString().trim() || `exit ${code}`}`);
    }
  };
}
