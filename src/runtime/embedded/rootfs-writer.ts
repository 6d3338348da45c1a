/**
 * Writing files into a container's root before it starts: straight into the overlay's upper dir,
 * with each path resolved against the image's layers the way the kernel will see it (symlinks
 * followed inside the root, never out of it), and parent dirs created with the image's own mode
 * and owner so the merged view does not change.
 */
import fs from "node:fs";
import path from "node:path";
import { tcError } from "../../errors";

const MAX_LINKS = 40;

import type { RootfsCopy } from "../runtime";

/** The topmost stat of `inside` across upper + layers (top first), with the dir it was found in. */
function lookup(roots: string[], inside: string): { root: string; st: fs.Stats } | undefined {
  for (const root of roots) {
    const st = fs.lstatSync(path.join(root, inside), { throwIfNoEntry: false });
    if (!st) continue;
    // an overlay whiteout (char device 0:0) hides what lies below
    if (st.isCharacterDevice() && st.rdev === 0) return undefined;
    return { root, st };
  }
  return undefined;
}

/** Resolves `target` inside the merged image root; symlinks are followed but stay in the root. */
export function resolveInImage(roots: string[], target: string): string {
  const parts = target.split("/").filter((p) => p && p !== ".");
  const done: string[] = [];
  let links = 0;
  while (parts.length) {
    const part = parts.shift()!;
    if (part === "..") {
      done.pop();
      continue;
    }
    const inside = "/" + [...done, part].join("/");
    const found = lookup(roots, inside);
    if (found?.st.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw tcError("TC_ERR_INVALID_ARGUMENT", `too many symbolic links resolving ${target} in the image`);
      const link = fs.readlinkSync(path.join(found.root, inside));
      if (link.startsWith("/")) done.length = 0;
      parts.unshift(...link.split("/").filter((p) => p && p !== "."));
      continue;
    }
    done.push(part);
  }
  return "/" + done.join("/");
}

/** Creates the parents of `inside` in `upper`, copying mode and owner from the image's dirs. */
function makeParents(upper: string, layers: string[], inside: string): void {
  const parts = path.posix.dirname(inside).split("/").filter(Boolean);
  let cur = "";
  for (const part of parts) {
    cur += "/" + part;
    const dest = path.join(upper, cur);
    if (fs.lstatSync(dest, { throwIfNoEntry: false })?.isDirectory()) continue;
    const below = lookup(layers, cur);
    fs.mkdirSync(dest, { mode: 0o755 });
    if (below?.st.isDirectory()) {
      fs.chmodSync(dest, below.st.mode & 0o7777);
      fs.chownSync(dest, below.st.uid, below.st.gid);
    }
  }
}

function copyHostPath(src: string, dest: string, mode: number | undefined): void {
  const st = fs.statSync(src);
  if (st.isDirectory()) {
    fs.mkdirSync(dest, { recursive: true, mode: mode ?? st.mode & 0o7777 });
    for (const name of fs.readdirSync(src)) copyHostPath(path.join(src, name), path.join(dest, name), undefined);
    return;
  }
  fs.rmSync(dest, { force: true });
  fs.copyFileSync(src, dest);
  fs.chmodSync(dest, mode ?? st.mode & 0o7777);
}

/** Writes the copies into `upper`, owned by root as Docker's copy does. */
export function writeCopies(upper: string, layerDirsTopFirst: string[], copies: RootfsCopy[]): void {
  const roots = [upper, ...layerDirsTopFirst];
  for (const copy of copies) {
    if (!copy.target.startsWith("/")) throw tcError("TC_ERR_INVALID_ARGUMENT", `copy target must be an absolute path inside the container, got \`${copy.target}\``);
    const inside = resolveInImage(roots, copy.target);
    if (inside === "/") throw tcError("TC_ERR_INVALID_ARGUMENT", `cannot replace the container's root directory with ${copy.target}`);
    makeParents(upper, layerDirsTopFirst, inside);
    const dest = path.join(upper, inside);
    if ("content" in copy.source) {
      fs.rmSync(dest, { force: true });
      fs.writeFileSync(dest, copy.source.content);
      fs.chmodSync(dest, copy.mode ?? 0o644);
    } else {
      copyHostPath(copy.source.path, dest, copy.mode);
    }
  }
}
