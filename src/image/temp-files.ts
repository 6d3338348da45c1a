/**
 * Temp names beside their final path (so the final rename is atomic), and removing what a
 * failed or crashed write left behind.
 */
import fs from "node:fs/promises";
import path from "node:path";
import createDebug from "debug";

const debug = createDebug("testcell:pull");
const TEMP = /^\.tmp-.+-(\d+)-[a-z0-9]+$/;
const LOCK_TEMP = /\.lock\.(\d+)\.[a-z0-9]+$/;

/** `<dir>/.tmp-<name>-<pid>-<random>`: in the same directory as `final`. */
export function tempName(final: string): string {
  return path.join(path.dirname(final), `.tmp-${path.basename(final)}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
}

/** rm -r that also works unprivileged on trees with read-only directories. */
export async function removeTree(dir: string): Promise<void> {
  try {
    await fs.rm(dir, { recursive: true, force: true });
  } catch {
    await makeWritable(dir);
    await fs.rm(dir, { recursive: true, force: true }).catch((err: unknown) => debug("cannot remove %s: %s", dir, String(err)));
  }
}

/** Removes temp files and dirs in `dir` left by processes that are gone (and older than `minAgeMs`). */
export async function sweepTemps(dir: string, minAgeMs: number): Promise<number> {
  let removed = 0;
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    const pid = Number((TEMP.exec(name) ?? LOCK_TEMP.exec(name))?.[1]);
    if (!pid || isAlive(pid)) continue;
    const st = await fs.lstat(path.join(dir, name)).catch(() => undefined);
    if (!st || Date.now() - st.mtimeMs < minAgeMs) continue;
    await removeTree(path.join(dir, name));
    removed++;
  }
  return removed;
}

/** True while a process with this pid exists (EPERM: it exists, owned by someone else). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function makeWritable(dir: string): Promise<void> {
  await fs.chmod(dir, 0o700).catch(() => undefined);
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) await makeWritable(path.join(dir, e.name));
}
