/**
 * Resolving Docker's `User` ("name", "uid", "name:group", "uid:gid") against the image's own
 * /etc/passwd and /etc/group, read from its layers without following links.
 */
import fs from "node:fs";
import path from "node:path";
import { tcError } from "../errors";

export interface ResolvedUser {
  uid: number;
  gid: number;
  groups: number[];
  home: string;
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

/** Reads a file of the image from its topmost layer that has it; a whiteout or link hides it. */
export async function readImageFile(layerDirs: string[], inside: string): Promise<string | undefined> {
  for (let i = layerDirs.length - 1; i >= 0; i--) {
    const file = path.join(layerDirs[i]!, path.posix.normalize("/" + inside));
    const st = await fs.promises.lstat(file).catch(() => undefined);
    if (!st) continue;
    if (!st.isFile()) return undefined;
    return fs.promises.readFile(file, "utf8");
  }
  return undefined;
}

function parsePasswd(text: string | undefined): PasswdEntry[] {
  return (text ?? "").split("\n").flatMap((line) => {
    const f = line.split(":");
    if (f.length < 7 || !/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) return [];
    return [{ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! }];
  });
}

function parseGroup(text: string | undefined): GroupEntry[] {
  return (text ?? "").split("\n").flatMap((line) => {
    const f = line.split(":");
    if (f.length < 4 || !/^\d+$/.test(f[2]!)) return [];
    return [{ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(",").filter(Boolean) }];
  });
}

/** Resolves a Docker `User` string against the image, as `docker run --user` does. */
export async function resolveUser(user: string | undefined, layerDirs: string[], image: string): Promise<ResolvedUser> {
  const spec = (user ?? "").trim() || "0";
  const [userPart, groupPart] = spec.split(":", 2) as [string, string | undefined];
  const passwd = parsePasswd(await readImageFile(layerDirs, "etc/passwd"));
  const groups = parseGroup(await readImageFile(layerDirs, "etc/group"));
  const numeric = /^\d+$/.test(userPart);
  const entry = passwd.find((p) => (numeric ? p.uid === Number(userPart) : p.name === userPart));
  if (!entry && !numeric) {
    throw tcError("TC_ERR_RUNTIME", `unable to find user ${userPart}: no matching entries in the passwd file of ${image}; use a numeric uid or a user the image defines`, { context: { image } });
  }
  const uid = entry?.uid ?? Number(userPart);
  let gid = entry?.gid ?? 0;
  if (groupPart !== undefined && groupPart !== "") {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw tcError("TC_ERR_RUNTIME", `unable to find group ${groupPart}: no matching entries in the group file of ${image}`, { context: { image } });
      gid = g.gid;
    }
  }
  // supplementary groups: those listing the user by name, unless a group was given explicitly
  const supplementary = groupPart === undefined && entry ? groups.filter((g) => g.members.includes(entry.name)).map((g) => g.gid) : [];
  return { uid, gid, groups: [...new Set([gid, ...supplementary])], home: entry?.home || "/" };
}
