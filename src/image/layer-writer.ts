/**
 * Writes the entries of one layer tar into an empty directory, refusing anything that would
 * land outside it: every name is normalised (tar-path.ts), every existing ancestor is lstat-ed
 * so a symlink made by an earlier entry is never followed, existing paths are unlinked rather
 * than written through, and hardlinks must point at a regular file already in this layer.
 *
 * What Node cannot make (overlay whiteouts, opaque markers, devices, fifos, xattrs) is collected
 * as FixupOps for the native helper. Directory modes and mtimes are applied last, deepest first.
 */
import { constants, type Stats } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import createDebug from "debug";
import type { Header } from "tar-stream";
import { isTestcellError, tcError } from "../errors";
import { FixupOps, isWhiteoutName, whiteoutOp, type FixupOp } from "./fixup-ops";
import { entryPath, parentOf, symlinkEscapes, TarPathError } from "./tar-path";

export type { FixupOp } from "./fixup-ops";

const debug = createDebug("testcell:pull");

const CREATE_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const OPEN_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const EUID = process.geteuid?.() ?? 0;
const EGID = process.getegid?.() ?? 0;

/** Writes one layer's entries under `root`. */
export class LayerWriter {
  entries = 0;
  private readonly dirs = new Set<string>([""]);
  private readonly dirMeta = new Map<string, { mode: number; mtime: Date }>();
  private readonly ops: FixupOps;
  private ownershipWarned = false;

  constructor(
    private readonly root: string,
    /** `layer sha256:… of image …`, for messages. */
    private readonly label: string,
  ) {
    this.ops = new FixupOps(label);
  }

  /** Writes one entry; consumes `body` for regular files (the caller drains the rest). */
  async add(header: Header, body: Readable): Promise<void> {
    this.entries++;
    let rel: string;
    try {
      rel = entryPath(header.name);
    } catch (err) {
      throw err instanceof TarPathError ? (err.unsafe ? this.unsafe(err.message) : this.invalid(err.message)) : err;
    }
    if (rel === "") return; // the root itself ("./"): its attributes come from the container's upper dir
    try {
      await this.addAt(rel, header, body);
    } catch (err) {
      // Only file-system errors are ours to explain; a failing input stream is reported by unpack.
      if (isTestcellError(err) || typeof (err as NodeJS.ErrnoException).syscall !== "string") throw err;
      throw this.fsError(rel, err);
    }
  }

  private async addAt(rel: string, header: Header, body: Readable): Promise<void> {
    const base = path.posix.basename(rel);
    const parent = parentOf(rel);
    await this.ensureParents(rel, parent);
    if (isWhiteoutName(base)) return this.whiteout(rel, parent, base);
    switch (header.type) {
      case "directory":
        await this.directory(rel, header);
        break;
      case "file":
      case "contiguous-file":
        await this.file(rel, header, body);
        break;
      case "symlink":
        await this.symlink(rel, header);
        break;
      case "link":
        await this.hardlink(rel, header);
        break;
      case "character-device":
      case "block-device":
      case "fifo":
        await this.special(rel, header);
        break;
      default:
        throw this.invalid(`entry \`${header.name}\` has unsupported type ${String(header.type)}`);
    }
    this.ops.addXattrs(rel, header.pax as Record<string, string> | null | undefined);
  }

  /** Creates missing ancestors (0755) and checks existing ones are real directories, never symlinks. */
  private async ensureParents(rel: string, parent: string): Promise<void> {
    if (this.dirs.has(parent)) return;
    let current = "";
    for (const part of parent.split("/")) {
      current = current === "" ? part : `${current}/${part}`;
      if (this.dirs.has(current)) continue;
      const st = await lstatOrUndefined(this.abs(current));
      if (st === undefined) {
        await fs.mkdir(this.abs(current), 0o755);
      } else if (st.isSymbolicLink()) {
        const target = await fs.readlink(this.abs(current)).catch(() => "?");
        throw this.unsafe(`entry \`${rel}\` goes through \`${current}\`, a symlink to \`${target}\` made earlier in the layer`);
      } else if (!st.isDirectory()) {
        throw this.invalid(`entry \`${rel}\` needs \`${current}\` to be a directory, but an earlier entry made it a file`);
      }
      this.dirs.add(current);
    }
  }

  private async directory(rel: string, header: Header): Promise<void> {
    if (!this.dirs.has(rel)) {
      const st = await lstatOrUndefined(this.abs(rel));
      if (st !== undefined && !st.isDirectory()) await this.remove(rel, st);
      if (st === undefined || !st.isDirectory()) await fs.mkdir(this.abs(rel), 0o700);
      this.dirs.add(rel);
    }
    this.ops.drop(rel, ["chr", "blk", "fifo"]);
    await this.chown(this.abs(rel), header);
    this.dirMeta.set(rel, { mode: header.mode ?? 0o755, mtime: header.mtime ?? new Date(0) });
  }

  private async file(rel: string, header: Header, body: Readable): Promise<void> {
    const file = await this.create(rel, () => fs.open(this.abs(rel), CREATE_FILE, 0o600));
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) await writeAll(file, chunk);
      await this.chown(file, header);
      await file.chmod((header.mode ?? 0o644) & 0o7777);
      const mtime = header.mtime ?? new Date(0);
      await file.utimes(mtime, mtime);
    } finally {
      await file.close();
    }
  }

  private async symlink(rel: string, header: Header): Promise<void> {
    const target = header.linkname ?? "";
    if (target === "") throw this.invalid(`symlink \`${rel}\` has an empty target`);
    await this.create(rel, () => fs.symlink(target, this.abs(rel)));
    await this.chown(this.abs(rel), header);
    const mtime = header.mtime ?? new Date(0);
    await fs.lutimes(this.abs(rel), mtime, mtime);
  }

  /** A hardlink must name a regular file (or an in-root symlink) already written in this layer. */
  private async hardlink(rel: string, header: Header): Promise<void> {
    const name = header.linkname ?? "";
    let target: string;
    try {
      target = entryPath(name);
    } catch (err) {
      if (err instanceof TarPathError && err.unsafe) throw this.unsafe(`hardlink \`${rel}\` points outside the layer (\`${name}\`)`);
      throw err;
    }
    if (target === "") throw this.invalid(`hardlink \`${rel}\` points at the layer root`);
    await this.checkExistingParents(rel, target);
    const st = await lstatOrUndefined(this.abs(target));
    if (st === undefined) throw this.invalid(`hardlink \`${rel}\` points at \`${name}\`, which no earlier entry of this layer created`);
    if (st.isDirectory()) throw this.invalid(`hardlink \`${rel}\` points at directory \`${name}\``);
    if (st.isSymbolicLink()) {
      const linkTarget = await fs.readlink(this.abs(target));
      if (symlinkEscapes(target, linkTarget)) throw this.unsafe(`hardlink \`${rel}\` points at symlink \`${name}\`, which leaves the layer (\`${linkTarget}\`)`);
    }
    if (target === rel) return;
    await this.create(rel, () => fs.link(this.abs(target), this.abs(rel)));
  }

  /** The hardlink target's ancestors must exist and be real directories (no symlink hops). */
  private async checkExistingParents(rel: string, target: string): Promise<void> {
    let current = "";
    for (const part of parentOf(target).split("/").filter(Boolean)) {
      current = current === "" ? part : `${current}/${part}`;
      if (this.dirs.has(current)) continue;
      const st = await lstatOrUndefined(this.abs(current));
      if (st?.isSymbolicLink()) throw this.unsafe(`hardlink \`${rel}\` goes through symlink \`${current}\``);
      if (!st?.isDirectory()) throw this.invalid(`hardlink \`${rel}\` points at \`${target}\`, which no earlier entry of this layer created`);
    }
  }

  private async special(rel: string, header: Header): Promise<void> {
    const st = await lstatOrUndefined(this.abs(rel));
    if (st !== undefined) await this.remove(rel, st);
    const kind = header.type === "fifo" ? "fifo" : header.type === "block-device" ? "blk" : "chr";
    this.ops.set({ kind, path: rel, mode: (header.mode ?? 0o644) & 0o7777, major: header.devmajor ?? 0, minor: header.devminor ?? 0 });
  }

  /** `.wh.<name>` → a whiteout for name; `.wh..wh..opq` → the directory is opaque; other `.wh..wh.*` are aufs metadata. */
  private whiteout(rel: string, parent: string, base: string): void {
    const op = whiteoutOp(rel, parent, base);
    if (op === "invalid") throw this.invalid(`whiteout \`${rel}\` names nothing`);
    if (op === "skip") return void debug("%s: skipping aufs metadata %s", this.label, rel);
    this.ops.add(op);
  }

  /** The fixup ops, settled against what this layer wrote (see FixupOps.settle). */
  finish(): Promise<FixupOp[]> {
    return this.ops.settle((rel) => lstatOrUndefined(this.abs(rel)));
  }

  /** Applies directory modes and mtimes, deepest first, through O_NOFOLLOW fds. */
  async applyDirMetadata(): Promise<void> {
    const entries = [...this.dirMeta].sort((a, b) => b[0].split("/").length - a[0].split("/").length);
    for (const [rel, meta] of entries) {
      const dir = await fs.open(this.abs(rel), OPEN_DIR);
      try {
        await dir.chmod(meta.mode & 0o7777);
        await dir.utimes(meta.mtime, meta.mtime);
      } finally {
        await dir.close();
      }
    }
  }

  /** Runs `make`; if the path exists, removes what is there (never following it) and retries once. */
  private async create<T>(rel: string, make: () => Promise<T>): Promise<T> {
    this.ops.drop(rel, ["chr", "blk", "fifo", "xattr"]);
    try {
      return await make();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const st = await fs.lstat(this.abs(rel));
      await this.remove(rel, st);
      return make();
    }
  }

  /** Removes an existing path (a directory with its subtree) and forgets what was recorded under it. */
  private async remove(rel: string, st: Stats): Promise<void> {
    if (st.isDirectory()) {
      await fs.rm(this.abs(rel), { recursive: true, force: true });
      const prefix = `${rel}/`;
      for (const d of [...this.dirs]) if (d === rel || d.startsWith(prefix)) this.dirs.delete(d);
      for (const d of [...this.dirMeta.keys()]) if (d === rel || d.startsWith(prefix)) this.dirMeta.delete(d);
      this.ops.dropSubtree(rel);
    } else {
      await fs.unlink(this.abs(rel));
    }
    this.ops.drop(rel, ["chr", "blk", "fifo", "xattr", "opaque"]);
  }

  /** lchown/fchown when the owner differs from ours; unprivileged, an unmappable owner is kept as ours. */
  private async chown(target: string | fs.FileHandle, header: Header): Promise<void> {
    const uid = header.uid ?? 0;
    const gid = header.gid ?? 0;
    if (uid === EUID && gid === EGID) return;
    try {
      if (typeof target === "string") await fs.lchown(target, uid, gid);
      else await target.chown(uid, gid);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (EUID === 0 || (code !== "EPERM" && code !== "EINVAL")) throw err;
      if (!this.ownershipWarned) debug("%s: not root, file owners (e.g. %d:%d) are kept as %d:%d", this.label, uid, gid, EUID, EGID);
      this.ownershipWarned = true;
    }
  }

  private abs(rel: string): string {
    return path.join(this.root, rel);
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

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await fs.lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

async function writeAll(file: fs.FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await file.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}
