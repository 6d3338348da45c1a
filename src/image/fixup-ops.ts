/**
 * The special files and attributes of a layer that Node cannot create (overlay whiteouts and
 * opaque markers, devices, fifos, xattrs), collected per path while the layer is written and
 * handed to the native helper once at the end. Paths are relative to the layer root.
 */
import type { Stats } from "node:fs";
import createDebug from "debug";

const debug = createDebug("testcell:pull");

/** A special file or attribute that only the native helper can create (paths relative to the layer root). */
export type FixupOp =
  | { kind: "whiteout" | "opaque"; path: string }
  | { kind: "chr" | "blk" | "fifo"; path: string; mode: number; major: number; minor: number }
  | { kind: "xattr"; path: string; name: string; value: Buffer };

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

  /** Forgets ops of these kinds at `rel` (an entry written there supersedes them). */
  drop(rel: string, kinds: readonly FixupOp["kind"][]): void {
    const list = this.byPath.get(rel);
    if (!list) return;
    const kept = list.filter((op) => !kinds.includes(op.kind));
    if (kept.length) this.byPath.set(rel, kept);
    else this.byPath.delete(rel);
  }

  /** Forgets everything under a removed directory. */
  dropSubtree(rel: string): void {
    const prefix = `${rel}/`;
    for (const p of [...this.byPath.keys()]) if (p.startsWith(prefix)) this.byPath.delete(p);
  }

  /** SCHILY.xattr.* (GNU tar, Go) and LIBARCHIVE.xattr.* (base64) PAX records; overlay's own xattrs are refused. */
  addXattrs(rel: string, pax: Record<string, string> | null | undefined): void {
    for (const [key, raw] of Object.entries(pax ?? {})) {
      const xattr = parseXattr(key, raw);
      if (xattr === undefined) continue;
      if (xattr === "binary") {
        debug("%s: xattr %s on %s has a binary value the tar parser cannot keep; skipped", this.label, key, rel);
      } else if (/^(trusted|user)\.overlay\./.test(xattr.name)) {
        debug("%s: refusing overlay xattr %s on %s", this.label, xattr.name, rel);
      } else {
        this.add({ kind: "xattr", path: rel, ...xattr });
      }
    }
  }

  /**
   * The ops in the helper's order (opaque, whiteouts, devices, xattrs), with whiteouts settled
   * against what the layer itself wrote: a whiteout of a directory this layer recreates becomes
   * an opaque marker; of a file or device it also writes, it is dropped (its own entry wins).
   */
  async settle(lstat: (rel: string) => Promise<Stats | undefined>): Promise<FixupOp[]> {
    const opaque = new Map<string, FixupOp>();
    const whiteouts: FixupOp[] = [];
    const devices: FixupOp[] = [];
    const xattrs: FixupOp[] = [];
    for (const ops of this.byPath.values()) {
      for (const op of ops) {
        if (op.kind === "xattr") xattrs.push(op);
        else if (DEVICES.includes(op.kind)) devices.push(op);
        else {
          const st = await lstat(op.path);
          if (st?.isDirectory()) opaque.set(op.path, { kind: "opaque", path: op.path });
          else if (op.kind === "whiteout" && st === undefined && !this.hasDevice(op.path)) whiteouts.push(op);
        }
      }
    }
    return [...opaque.values(), ...whiteouts, ...devices, ...xattrs];
  }

  private hasDevice(rel: string): boolean {
    return (this.byPath.get(rel) ?? []).some((op) => DEVICES.includes(op.kind));
  }
}

function parseXattr(key: string, raw: string): { name: string; value: Buffer } | "binary" | undefined {
  if (key.startsWith("SCHILY.xattr.")) {
    // tar-stream decodes PAX values as UTF-8; a replacement character means bytes were lost.
    if (raw.includes("\uFFFD")) return "binary";
    return { name: key.slice("SCHILY.xattr.".length), value: Buffer.from(raw, "utf8") };
  }
  if (key.startsWith("LIBARCHIVE.xattr.")) {
    return { name: decodeURIComponent(key.slice("LIBARCHIVE.xattr.".length)), value: Buffer.from(raw, "base64") };
  }
  return undefined;
}
