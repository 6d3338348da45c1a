/**
 * A cross-process lock file: `<path>.lock` holding the owner's pid, created atomically
 * (written under a temp name, then hard-linked into place, which fails if it exists). A lock
 * whose pid is dead is stale and taken over. Waiting polls with a short backoff (20 ms doubling
 * to 100 ms, so a waiter starts at most 0.1 s after the holder is done): pulls of one layer by
 * N Jest workers are rare and long, so polling is simpler than any notification scheme.
 *
 * Correctness never depends on the lock (every write is a rename of a verified temp into
 * place); it only makes N processes download a layer once instead of N times.
 */
import fs from "node:fs/promises";
import { hostname } from "node:os";
import { tcError } from "../errors";
import { sleep } from "./sleep";
import { isAlive } from "./temp-files";

/** A held lock. */
export interface FileLock {
  release(): Promise<void>;
}

export interface LockOptions {
  signal?: AbortSignal;
  /** First poll delay; doubles up to `maxPollMs`. */
  pollMs?: number;
  maxPollMs?: number;
  /** Called once when the lock is busy, with the holder's pid (for progress and debug output). */
  onWait?: (holderPid: number | undefined) => void;
}

/** Takes `lockPath`, waiting while another live process holds it. */
export async function acquireFileLock(lockPath: string, options: LockOptions = {}): Promise<FileLock> {
  const temp = `${lockPath}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  await fs.writeFile(temp, `${process.pid} ${hostname()}\n`);
  try {
    let delay = options.pollMs ?? 20;
    let waited = false;
    for (;;) {
      if (options.signal?.aborted) throw aborted(lockPath, options.signal);
      if (await tryLink(temp, lockPath)) return { release: () => fs.rm(lockPath, { force: true }) };
      const holder = await readHolder(lockPath);
      if (holder !== undefined && holder !== "unknown" && !isAlive(holder)) {
        await fs.rm(lockPath, { force: true });
        continue;
      }
      if (!waited) options.onWait?.(typeof holder === "number" ? holder : undefined);
      waited = true;
      await sleep(delay, options.signal);
      delay = Math.min(delay * 2, options.maxPollMs ?? 100);
    }
  } finally {
    await fs.rm(temp, { force: true });
  }
}

/** Takes `lockPath` if it is free (or its holder is dead); undefined when a live process holds it. */
export async function tryAcquireFileLock(lockPath: string): Promise<FileLock | undefined> {
  const temp = `${lockPath}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  await fs.writeFile(temp, `${process.pid} ${hostname()}\n`);
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      if (await tryLink(temp, lockPath)) return { release: () => fs.rm(lockPath, { force: true }) };
      const holder = await readHolder(lockPath);
      if (holder === "unknown" || (holder !== undefined && isAlive(holder))) return undefined;
      await fs.rm(lockPath, { force: true }); // stale: its holder is gone
    }
    return undefined;
  } finally {
    await fs.rm(temp, { force: true });
  }
}

async function tryLink(temp: string, lockPath: string): Promise<boolean> {
  try {
    await fs.link(temp, lockPath);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw tcError("TC_ERR_STORE", `cannot create lock file ${lockPath} (${(err as NodeJS.ErrnoException).code}): check that the image store is writable`, { cause: err });
  }
}

/** The holder's pid; "unknown" when it holds a lock from another host; undefined when gone. */
async function readHolder(lockPath: string): Promise<number | "unknown" | undefined> {
  let text: string;
  try {
    text = await fs.readFile(lockPath, "utf8");
  } catch {
    return undefined;
  }
  const [pid, host] = text.trim().split(" ");
  if (host !== undefined && host !== hostname()) return "unknown";
  const n = Number(pid);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

function aborted(lockPath: string, signal: AbortSignal): Error {
  return tcError("TC_ERR_ABORTED", `aborted while waiting for lock ${lockPath}`, { cause: signal.reason });
}
