/**
 * Lexical rules for tar entry names and link targets inside a layer root. These only decide
 * what a name means; layer-writer.ts additionally checks on disk that no parent is a symlink.
 */
import path from "node:path";

/** Why a name was refused, for the caller to turn into TC_ERR_LAYER_UNSAFE or _INVALID. */
export class TarPathError extends Error {
  constructor(
    readonly unsafe: boolean,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Normalises an entry name to a path relative to the layer root ("" is the root itself).
 * A leading `/` is stripped as Docker does; `..` that climbs above the root is refused.
 */
export function entryPath(name: string): string {
  if (name.includes("\0")) throw new TarPathError(false, `entry name ${JSON.stringify(name)} contains a NUL byte`);
  const stripped = name.replace(/^\/+/, "");
  const normal = path.posix.normalize(stripped === "" ? "." : stripped).replace(/\/+$/, "");
  if (normal === ".." || normal.startsWith("../")) {
    throw new TarPathError(true, `entry \`${name}\` climbs out of the layer root with \`..\``);
  }
  return normal === "." ? "" : normal;
}

/** The directory part of a relative path ("" for the root). */
export function parentOf(rel: string): string {
  const slash = rel.lastIndexOf("/");
  return slash === -1 ? "" : rel.slice(0, slash);
}

/**
 * True when a symlink at `linkRel` pointing at `target` leaves the root when resolved lexically
 * (an absolute target is taken relative to the root, as it is inside the container).
 */
export function symlinkEscapes(linkRel: string, target: string): boolean {
  const joined = target.startsWith("/") ? target.replace(/^\/+/, "") : path.posix.join(parentOf(linkRel), target);
  const normal = path.posix.normalize(joined === "" ? "." : joined);
  return normal === ".." || normal.startsWith("../");
}
