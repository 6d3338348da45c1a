/**
 * Per-container state on disk: `<stateDir>/<id>/{upper,work,rootfs,stdout.log,stderr.log,shim.pid}`.
 * Anything whose helper is dead is swept at the next start, under a lock.
 */
import fs from "node:fs";
import path from "node:path";
import createDebug from "debug";
import { acquireFileLock } from "../../image/file-lock";

const debug = createDebug("testcell:state");

export interface ContainerPaths {
  dir: string;
  upper: string;
  work: string;
  rootfs: string;
  stdout: string;
  stderr: string;
  pidFile: string;
}

/** The paths of one container's state dir. */
export function containerPaths(stateDir: string, id: string): ContainerPaths {
  const dir = path.join(stateDir, id);
  return {
    dir,
    upper: path.join(dir, "upper"),
    work: path.join(dir, "work"),
    rootfs: path.join(dir, "rootfs"),
    stdout: path.join(dir, "stdout.log"),
    stderr: path.join(dir, "stderr.log"),
    pidFile: path.join(dir, "shim.pid"),
  };
}

/** Creates the (empty) state dir of a new container. */
export async function createStateDir(p: ContainerPaths): Promise<void> {
  await fs.promises.mkdir(p.dir, { recursive: true, mode: 0o700 });
  await Promise.all([p.upper, p.work, p.rootfs].map((d) => fs.promises.mkdir(d, { mode: 0o755, recursive: true })));
  // a restart keeps the root file system and appends to the logs
  await Promise.all([p.stdout, p.stderr].map((f) => fs.promises.writeFile(f, "", { mode: 0o600, flag: "a" })));
}

/** True when `pid` is a running testcell helper. */
function isLiveShim(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("testcell-shim");
  } catch {
    return false;
  }
}

/** Removes the state of containers whose helper is gone (killed test processes, crashes). */
export async function sweepStateDir(stateDir: string): Promise<string[]> {
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = await fs.promises.readdir(stateDir);
  } catch {
    return removed;
  }
  // the shared cross-process lock (a dead holder's lock is taken over)
  const lock = await acquireFileLock(path.join(stateDir, ".sweep.lock"));
  try {
    for (const id of entries) {
      if (!/^[0-9a-f]{64}$/.test(id)) continue;
      const p = containerPaths(stateDir, id);
      let pid = 0;
      try {
        pid = Number(await fs.promises.readFile(p.pidFile, "utf8"));
      } catch {
        // no pid file: a start in progress or an old crash; judge by age
        const st = await fs.promises.stat(p.dir).catch(() => undefined);
        if (!st || Date.now() - st.mtimeMs < 60_000) continue;
      }
      if (pid && isLiveShim(pid)) continue;
      debug("sweeping %s (helper %d gone)", id.slice(0, 12), pid);
      await fs.promises.rm(p.dir, { recursive: true, force: true });
      removed.push(id);
    }
  } finally {
    await lock.release();
  }
  return removed;
}
