/**
 * Writes the entries of one layer tar into an empty directory, refusing anything that would
 * land outside it. The directory starts empty and only this writer touches it, so an in-memory
 * map of what the layer made so far (dirs, files, symlinks with their targets, special files)
 * answers every "what is at this path" question without a syscall: every name is normalised
 * (tar-path.ts), every ancestor must be a directory of this layer (never a symlink), existing
 * paths are removed rather than written through, and hardlinks must point at a regular file the
 * layer already has.
 *
 * Files are written with synchronous calls on one O_EXCL|O_NOFOLLOW fd (open, write, fchown,
 * fchmod, futimes, close): a few microseconds each, where a promise per call costs a thread-pool
 * round trip. What Node cannot make (overlay whiteouts, opaque markers, devices, fifos, xattrs)
 * is collected as FixupOps for the native helper. Directory modes and mtimes are applied last,
 * deepest first.
 */
import fs, { constants } from "node:fs";
import path from "node:path";
import createDebug from "debug";
import { tcError } from "../errors";
import { FixupOps, isWhiteoutName, whiteoutOp, type FixupOp, type NodeKind } from "./fixup-ops";
import { entryPath, parentOf, symlinkEscapes, TarPathError } from "./tar-path";
import type { TarHeader, TarSink } from "./tar-reader";

export type { FixupOp } from "./fixup-ops";

const debug = createDebug("testcell:pull");

const CREATE_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const OPEN_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const EUID = process.geteuid?.() ?? 0;
const EGID = process.getegid?.() ?? 0;

interface LayerNode {
  kind: NodeKind;
  /** A symlink's target. */
  link?: string;
  /** A directory's children (full relative paths), so a replaced directory is forgotten in O(subtree). */
  children?: Set<string>;
}

/** The regular file being written: its fd stays open across `data()` calls. */
interface OpenFile {
  rel: string;
  fd: number;
  header: TarHeader;
}

/** Writes one layer's entries under `root`; drive it with a TarReader. */
export class LayerWriter implements TarSink {
  entries = 0;
  private readonly nodes = new Map<string, LayerNode>([["", { kind: "dir", children: new Set() }]]);
  private readonly dirMeta = new Map<string, { mode: number; mtime: number }>();
  private readonly ops: FixupOps;
  private file: OpenFile | undefined;
  private ownershipWarned = false;
  /** Set by close(): nothing may be written after it (a closed fd number can be reused by another file). */
  private closed = false;

  constructor(
    private readonly root: string,
    /** `layer sha256:… of image …`, for messages. */
    private readonly label: string,
  ) {
    this.ops = new FixupOps(label);
  }

  /** Starts one entry: creates it (a regular file stays open for its data). */
  entry(header: TarHeader): void {
    this.assertOpen();
    this.entries++;
    let rel: string;
    try {
      rel = entryPath(header.name);
    } catch (err) {
      throw err instanceof TarPathError ? (err.unsafe ? this.unsafe(err.message) : this.invalid(err.message)) : err;
    }
    if (rel === "") return; // the root itself ("./"): its attributes come from the container's upper dir
    this.guard(rel, () => this.addAt(rel, header));
  }

  /** File contents of the current entry. */
  data(chunk: Buffer): void {
    this.assertOpen();
    const file = this.file;
    if (file) this.guard(file.rel, () => writeAll(file.fd, chunk));
  }

  /** Ends the current entry: a regular file gets its owner, mode and mtime, and is closed. */
  entryEnd(): void {
    const file = this.file;
    if (!file) return;
    this.guard(file.rel, () => {
      this.chown(file.header, (uid, gid) => fs.fchownSync(file.fd, uid, gid));
      // after the chown, which clears setuid/setgid bits
      fs.fchmodSync(file.fd, file.header.mode & 0o7777);
      fs.futimesSync(file.fd, file.header.mtime, file.header.mtime);
    });
    this.file = undefined;
    this.guard(file.rel, () => fs.closeSync(file.fd));
  }

  /** Closes a file left open by a failure (the caller then removes the whole directory). */
  close(): void {
    this.closed = true;
    const file = this.file;
    this.file = undefined;
    if (file) fs.closeSync(file.fd);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`${this.label}: the layer writer was closed`);
  }

  /** The fixup ops, settled against what this layer wrote (see FixupOps.settle). */
  finish(): FixupOp[] {
    return this.ops.settle((rel) => this.nodes.get(rel)?.kind);
  }

  /** Applies directory modes and mtimes, deepest first, through O_NOFOLLOW fds. */
  applyDirMetadata(): void {
    const entries = [...this.dirMeta].sort((a, b) => depth(b[0]) - depth(a[0]));
    for (const [rel, meta] of entries) {
      this.guard(rel, () => {
        const fd = fs.openSync(this.abs(rel), OPEN_DIR);
        try {
          fs.fchmodSync(fd, meta.mode & 0o7777);
          fs.futimesSync(fd, meta.mtime, meta.mtime);
        } finally {
          fs.closeSync(fd);
        }
      });
    }
  }

  private addAt(rel: string, header: TarHeader): void {
    const base = path.posix.basename(rel);
    const parent = parentOf(rel);
    this.ensureParents(rel, parent);
    if (isWhiteoutName(base)) return this.whiteout(rel, parent, base);
    switch (header.type) {
      case "directory":
        this.directory(rel, header);
        break;
      case "file":
      case "contiguous-file":
        this.regular(rel, header);
        break;
      case "symlink":
        this.symlink(rel, header);
        break;
      case "link":
        this.hardlink(rel, header);
        break;
      case "character-device":
      case "block-device":
      case "fifo":
        this.special(rel, header);
        break;
      default:
        throw this.invalid(`entry \`${header.name}\` has unsupported type ${header.type.replace(/^unsupported:/, "")}`);
    }
    this.ops.addXattrs(rel, header.xattrs);
  }

  /** Creates missing ancestors (0755); existing ones must be directories of this layer, never symlinks. */
  private ensureParents(rel: string, parent: string): void {
    if (this.nodes.get(parent)?.kind === "dir") return;
    let current = "";
    for (const part of parent.split("/")) {
      current = current === "" ? part : `${current}/${part}`;
      const node = this.nodes.get(current);
      if (node === undefined) {
        fs.mkdirSync(this.abs(current), 0o755);
        this.add(current, { kind: "dir", children: new Set() });
      } else if (node.kind === "symlink") {
        throw this.unsafe(`entry \`${rel}\` goes through \`${current}\`, a symlink to \`${node.link}\` made earlier in the layer`);
      } else if (node.kind !== "dir") {
        throw this.invalid(`entry \`${rel}\` needs \`${current}\` to be a directory, but an earlier entry made it a ${node.kind === "file" ? "file" : "special file"}`);
      }
    }
  }

  private directory(rel: string, header: TarHeader): void {
    const existing = this.nodes.get(rel);
    if (existing?.kind !== "dir") {
      if (existing) this.remove(rel);
      this.create(rel, () => fs.mkdirSync(this.abs(rel), 0o700));
      this.add(rel, { kind: "dir", children: new Set() });
    }
    this.chown(header, (uid, gid) => fs.lchownSync(this.abs(rel), uid, gid));
    this.dirMeta.set(rel, { mode: header.mode, mtime: header.mtime });
  }

  private regular(rel: string, header: TarHeader): void {
    if (this.nodes.has(rel)) this.remove(rel);
    const fd = this.create(rel, () => fs.openSync(this.abs(rel), CREATE_FILE, 0o600));
    this.add(rel, { kind: "file" });
    this.file = { rel, fd, header };
  }

  private symlink(rel: string, header: TarHeader): void {
    const target = header.linkname;
    if (target === "") throw this.invalid(`symlink \`${rel}\` has an empty target`);
    if (this.nodes.has(rel)) this.remove(rel);
    this.create(rel, () => fs.symlinkSync(target, this.abs(rel)));
    this.add(rel, { kind: "symlink", link: target });
    this.chown(header, (uid, gid) => fs.lchownSync(this.abs(rel), uid, gid));
    fs.lutimesSync(this.abs(rel), header.mtime, header.mtime);
  }

  /** A hardlink must name a regular file (or an in-root symlink, or a special file) this layer already has. */
  private hardlink(rel: string, header: TarHeader): void {
    const name = header.linkname;
    let target: string;
    try {
      target = entryPath(name);
    } catch (err) {
      if (err instanceof TarPathError && err.unsafe) throw this.unsafe(`hardlink \`${rel}\` points outside the layer (\`${name}\`)`);
      throw err instanceof TarPathError ? this.invalid(err.message) : err;
    }
    if (target === "") throw this.invalid(`hardlink \`${rel}\` points at the layer root`);
    const node = this.linkTarget(rel, target, name);
    if (target === rel) return;
    if (target.startsWith(`${rel}/`)) throw this.invalid(`hardlink \`${rel}\` would replace the directory holding its own target \`${name}\``);
    if (this.nodes.has(rel)) this.remove(rel);
    if (node.kind === "special") {
      // Not on disk yet (the helper makes it): make an identical special file instead of a link.
      this.ops.copy(target, rel);
      this.add(rel, { kind: "special" });
      return;
    }
    this.create(rel, () => fs.linkSync(this.abs(target), this.abs(rel)));
    this.add(rel, node.kind === "symlink" ? { kind: "symlink", link: node.link! } : { kind: "file" });
  }

  /** The node a hardlink names: reached through directories only, and not a directory nor an escaping symlink. */
  private linkTarget(rel: string, target: string, name: string): LayerNode {
    let current = "";
    for (const part of parentOf(target).split("/").filter(Boolean)) {
      current = current === "" ? part : `${current}/${part}`;
      const node = this.nodes.get(current);
      if (node?.kind === "symlink") throw this.unsafe(`hardlink \`${rel}\` goes through symlink \`${current}\``);
      if (node?.kind !== "dir") throw this.invalid(`hardlink \`${rel}\` points at \`${name}\`, which no earlier entry of this layer created`);
    }
    const node = this.nodes.get(target);
    if (node === undefined) throw this.invalid(`hardlink \`${rel}\` points at \`${name}\`, which no earlier entry of this layer created`);
    if (node.kind === "dir") throw this.invalid(`hardlink \`${rel}\` points at directory \`${name}\``);
    if (node.kind === "symlink" && symlinkEscapes(target, node.link!)) {
      throw this.unsafe(`hardlink \`${rel}\` points at symlink \`${name}\`, which leaves the layer (\`${node.link}\`)`);
    }
    return node;
  }

  private special(rel: string, header: TarHeader): void {
    if (this.nodes.has(rel)) this.remove(rel);
    const kind = header.type === "fifo" ? "fifo" : header.type === "block-device" ? "blk" : "chr";
    this.ops.set({ kind, path: rel, mode: header.mode & 0o7777, major: header.devmajor, minor: header.devminor });
    this.add(rel, { kind: "special" });
  }

  /** `.wh.<name>` → a whiteout for name; `.wh..wh..opq` → the directory is opaque; other `.wh..wh.*` are aufs metadata. */
  private whiteout(rel: string, parent: string, base: string): void {
    const op = whiteoutOp(rel, parent, base);
    if (op === "invalid") throw this.invalid(`whiteout \`${rel}\` names nothing`);
    if (op === "skip") return void debug("%s: skipping aufs metadata %s", this.label, rel);
    this.ops.add(op);
  }

  /** Runs `make`; should the path exist on disk although the map says not, removes it (never following it) and retries once. */
  private create<T>(rel: string, make: () => T): T {
    try {
      return make();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      fs.rmSync(this.abs(rel), { recursive: true, force: true });
      return make();
    }
  }

  private add(rel: string, node: LayerNode): void {
    this.nodes.set(rel, node);
    this.nodes.get(parentOf(rel))?.children?.add(rel);
  }

  /** Removes what this layer made at `rel` (a directory with its subtree) and forgets it. */
  private remove(rel: string): void {
    const node = this.nodes.get(rel);
    if (node === undefined) return;
    if (node.kind === "dir") fs.rmSync(this.abs(rel), { recursive: true, force: true });
    else if (node.kind !== "special") fs.unlinkSync(this.abs(rel));
    this.forget(rel, node);
    this.nodes.get(parentOf(rel))?.children?.delete(rel);
  }

  private forget(rel: string, node: LayerNode): void {
    for (const child of node.children ?? []) this.forget(child, this.nodes.get(child)!);
    this.nodes.delete(rel);
    this.dirMeta.delete(rel);
    this.ops.forget(rel);
  }

  /** chown when the owner differs from ours; unprivileged, an unmappable owner is kept as ours. */
  private chown(header: TarHeader, change: (uid: number, gid: number) => void): void {
    const { uid, gid } = header;
    if (uid === EUID && gid === EGID) return;
    try {
      change(uid, gid);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (EUID === 0 || (code !== "EPERM" && code !== "EINVAL")) throw err;
      if (!this.ownershipWarned) debug("%s: not root, file owners (e.g. %d:%d) are kept as %d:%d", this.label, uid, gid, EUID, EGID);
      this.ownershipWarned = true;
    }
  }

  /** Runs a file-system step; its errno errors become TC_ERR_STORE / _LAYER_INVALID naming the entry. */
  private guard<T>(rel: string, step: () => T): T {
    try {
      return step();
    } catch (err) {
      if (typeof (err as NodeJS.ErrnoException).syscall !== "string") throw err;
      throw this.fsError(rel, err);
    }
  }

  private abs(rel: string): string {
    return `${this.root}/${rel}`;
  }

  private unsafe(reason: string): Error {
    return tcError("TC_ERR_LAYER_UNSAFE", `${this.label} is unsafe: ${reason}. Nothing was written outside the layer directory and the partial layer was removed; do not use this image`, {
      context: { layer: this.label },
    });
  }

  private invalid(reason: string): Error {
    return tcError("TC_ERR_LAYER_INVALID", `${this.label} is malformed: ${reason}; the partial layer was removed. Rebuild or re-push the image`, {
      context: { layer: this.label },
    });
  }

  private fsError(rel: string, err: unknown): Error {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    if (code === "ENAMETOOLONG" || code === "ELOOP") return this.invalid(`entry \`${rel}\` cannot be created (${code})`);
    const hint = code === "ENOSPC" || code === "EDQUOT" ? "the disk is full; free space or point TESTCELL_CACHE_DIR elsewhere" : "check that TESTCELL_CACHE_DIR is writable";
    return tcError("TC_ERR_STORE", `cannot write entry \`${rel}\` of ${this.label} (${code}): ${hint}`, { cause: err, context: { layer: this.label } });
  }
}

function depth(rel: string): number {
  let n = 0;
  for (let i = 0; i < rel.length; i++) if (rel.charCodeAt(i) === 47) n++;
  return n;
}

function writeAll(fd: number, chunk: Buffer): void {
  let offset = 0;
  while (offset < chunk.length) offset += fs.writeSync(fd, chunk, offset, chunk.length - offset);
}
