/**
 * `testcell doctor`: checks what the embedded runtime needs on this machine, each with the fix.
 */
import fs from "node:fs";
import { getConfig } from "../config";

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

function cgroupVersion(): string {
  if (fs.existsSync("/sys/fs/cgroup/cgroup.controllers")) return "v2 (unified)";
  if (fs.existsSync("/sys/fs/cgroup/memory")) {
    const v2 = fs.existsSync("/sys/fs/cgroup/unified/cgroup.controllers") ? fs.readFileSync("/sys/fs/cgroup/unified/cgroup.controllers", "utf8").trim() : "";
    return `v1 hybrid${v2 ? ` (v2 controllers: ${v2})` : ""}`;
  }
  return "none found";
}

/** Prints one line per check; returns the exit code (1 when something needed is missing). */
export function doctor(): number {
  const config = getConfig();
  const checks: Check[] = [
    { name: "linux", ok: process.platform === "linux", detail: process.platform },
    { name: "root", ok: process.getuid?.() === 0, detail: process.getuid?.() === 0 ? "running as root" : "the embedded runtime needs root (rootless is planned)" },
    { name: "native helper", ok: fs.existsSync(config.shimPath), detail: fs.existsSync(config.shimPath) ? config.shimPath : `${config.shimPath} missing: npm rebuild testcell (needs build-essential)` },
    { name: "overlayfs", ok: fs.readFileSync("/proc/filesystems", "utf8").includes("overlay"), detail: "needed for container root file systems (modprobe overlay)" },
    { name: "cgroups", ok: cgroupVersion() !== "none found", detail: cgroupVersion() },
    { name: "store", ok: true, detail: config.cacheDir },
    { name: "state", ok: true, detail: config.stateDir },
  ];
  for (const c of checks) console.log(`${c.ok ? "ok  " : "FAIL"} ${c.name.padEnd(14)} ${c.detail}`);
  return checks.every((c) => c.ok) ? 0 : 1;
}
