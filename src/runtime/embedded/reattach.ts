/**
 * Reused containers (withReuse): their helper runs detached and outlives the process that
 * started it. A small record in the state dir lets another process find and drive it again.
 */
import fs from "node:fs";
import path from "node:path";
import { tcError } from "../../errors";
import type { ContainerSpec, ExitInfo } from "../runtime";
import type { Supervisor } from "./embedded-container";

export interface ReuseRecord {
  spec: ContainerSpec;
  pid: number;
  shimPid: number;
  ports: Array<[string, number]>;
}

/** True while `pid` runs (a zombie does not count). */
export function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/s.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

function isShim(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("testcell-shim") && isRunning(pid);
  } catch {
    return false;
  }
}

function indexPath(stateDir: string, key: string): string {
  return path.join(stateDir, "reuse", key);
}

/** Records a detached container under its reuse key. */
export function writeReuseRecord(stateDir: string, key: string, dir: string, record: ReuseRecord): void {
  fs.writeFileSync(path.join(dir, "reuse.json"), JSON.stringify(record));
  fs.mkdirSync(path.join(stateDir, "reuse"), { recursive: true });
  fs.writeFileSync(indexPath(stateDir, key), record.spec.id);
}

/** The live container recorded under `key`, if its helper and pid 1 still run. */
export function readReuseRecord(stateDir: string, key: string): ReuseRecord | undefined {
  try {
    const id = fs.readFileSync(indexPath(stateDir, key), "utf8").trim();
    if (!/^[0-9a-f]{64}$/.test(id)) return undefined;
    const record = JSON.parse(fs.readFileSync(path.join(stateDir, id, "reuse.json"), "utf8")) as ReuseRecord;
    return isShim(record.shimPid) && isRunning(record.pid) ? record : undefined;
  } catch {
    return undefined;
  }
}

/** Polls until `pid` has gone (there is no exit event for a process we did not start). */
function waitGone(pid: number, intervalMs: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setInterval(() => {
      if (!isRunning(pid)) {
        clearInterval(t);
        resolve();
      }
    }, intervalMs);
    t.unref();
  });
}

/** Drives a detached helper by signals: the stop signal to pid 1, SIGKILL after the grace period. */
export class PidSupervisor implements Supervisor {
  private killed = false;
  constructor(
    private readonly shimPid: number,
    private readonly pid: number,
    private readonly stopSignal: number,
  ) {}

  requestStop(timeoutMs: number): void {
    const kill = (sig: number) => {
      try {
        process.kill(this.pid, sig);
      } catch {
        // already gone
      }
    };
    if (timeoutMs <= 0) {
      this.killed = true;
      kill(9);
      return;
    }
    kill(this.stopSignal);
    const t = setTimeout(() => ((this.killed = true), kill(9)), timeoutMs);
    void this.exited().then(() => clearTimeout(t));
  }

  async exited(): Promise<ExitInfo> {
    await waitGone(this.pid, 20);
    return this.killed ? { exitCode: 137, signal: 9, oomKilled: false } : { exitCode: 128 + this.stopSignal, signal: this.stopSignal, oomKilled: false };
  }

  closed(): Promise<void> {
    return waitGone(this.shimPid, 20);
  }

  release(): void {}

  async control(request: "pause" | "resume"): Promise<void> {
    throw tcError("TC_ERR_RUNTIME", `cannot ${request} a reused container from another process than the one that started it`);
  }
}
