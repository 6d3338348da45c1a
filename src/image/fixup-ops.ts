/**
 * The special files and attributes of a layer that Node cannot create (overlay whiteouts and
 * opaque markers, devices, fifos, xattrs), collected per path while the layer is written and
 * handed to the native helper once at the end. Paths are relative to the layer root.
 */
import createDebug from "debug";

const debug = createDebug("testcell:pull");

/** A special file or attribute that only the native helper can create (paths relative to the layer root). */
export type FixupOp =
  | { kind: "whiteout" | "opaque"; path: string }
  | { kind: "chr" | "blk" | "fifo"; path: string; mode: number; major: number; minor: number }
  | { kind: "xattr"; path: string; name: string; value: Buffer };

/** What a layer made at a path: "special" is a device or fifo the helper will make. */
export type NodeKind = "dir" | "file" | "symlink" | "special";

const WH = ".wh.";
const OPAQUE = ".wh..wh..opq";
const DEVICES: readonly FixupOp["kind"][] = ["chr", "blk", "fifo"];

/** What a `.wh.*` name means: a whiteout or opaque op, "skip" (aufs metadata), or "invalid". */
export function whiteoutOp(rel: string, parent: string, base: string): FixupOp | "skip" | "invalid" {
  if (base === OPAQUE) return { kind: "opaque", path: parent === "" ? "." : parent };
  if (base.startsWith(`${WH}${WH}`)) return "skip";
  const name = base.slice(WH.length);
  if (name === "" || name === "." || name === "..") return "invalid";
  return { kind: "whiteout", path: parent === "" ? name : `${parent}/${name}` };
}

/** True for `.wh.`-prefixed names, which are never files of the image. */
export function isWhiteoutName(base: string): boolean {
  return base.startsWith(WH);
}

/** Ops collected for one layer, keyed by path so a later entry can supersede them. */
export class FixupOps {
  private readonly byPath = new Map<string, FixupOp[]>();

  constructor(private readonly label: string) {}

  /** Records one more op (several may share a path: a directory's opaque marker and its xattrs). */
  add(op: FixupOp): void {
    const list = this.byPath.get(op.path);
    if (list) list.push(op);
    else this.byPath.set(op.path, [op]);
  }

  /** Replaces whatever was recorded at `op.path` (a device entry replacing an earlier one). */
  set(op: FixupOp): void {
    this.byPath.set(op.path, [op]);
  }

  /** Forgets every op at `rel` (what was there was removed or replaced). */
  forget(rel: string): void {
    this.byPath.delete(rel);
  }

  /** Records at `to` the same device or fifo as at `from` (a hardlink to a special file). */
  copy(from: string, to: string): void {
    const device = (this.byPath.get(from) ?? []).find((op) => DEVICES.includes(op.kind));
    if (device) this.set({ ...device, path: to });
  }

  /** Extended attributes from the tar (PAX SCHILY/LIBARCHIVE records); overlay's own xattrs are refused. */
  addXattrs(rel: string, xattrs: readonly { name: string; value: Buffer }[]): void {
    for (const { name, value } of xattrs) {
      if (/^(trusted|user)\.overlay\./.test(name)) {
        debug("%s: refusing overlay xattr %s on %s", this.label, name, rel);
      } else if (value.includes(0)) {
        // The helper's fixup protocol is NUL-delimited; binary values (security.capability) cannot pass yet.
        debug("%s: xattr %s on %s has a binary value the fixup protocol cannot carry; skipped", this.label, name, rel);
      } else {
        this.add({ kind: "xattr", path: rel, name, value });
      }
    }
  }

  /**
   * The ops in the helper's order (opaque, whiteouts, devices, xattrs), settled against what the
   * layer itself wrote: a whiteout of a directory this layer recreates becomes an opaque marker;
   * of a file, symlink or device it also writes, it is dropped (its own entry wins); a whiteout
   * or opaque marker whose directory the layer later replaced by something else is dropped.
   */
  settle(kindOf: (rel: string) => NodeKind | undefined): FixupOp[] {
    const opaque = new Map<string, FixupOp>();
    const whiteouts: FixupOp[] = [];
    const devices: FixupOp[] = [];
    const xattrs: FixupOp[] = [];
    for (const ops of this.byPath.values()) {
      for (const op of ops) {
        if (op.kind === "xattr") xattrs.push(op);
        else if (DEVICES.includes(op.kind)) devices.push(op);
        else {
          const kind = kindOf(op.path === "." ? "" : op.path);
          if (kind === "dir") opaque.set(op.path, { kind: "opaque", path: op.path });
          else if (op.kind === "whiteout" && kind === undefined && kindOf(parentOf(op.path)) === "dir") whiteouts.push(op);
        }
      }
    }
    return [...opaque.values(), ...whiteouts, ...devices, ...xattrs];
  }
}

function parentOf(rel: string): string {
  const slash = rel.lastIndexOf("/");
  return slash === -1 ? "" : rel.slice(0, slash);
}
