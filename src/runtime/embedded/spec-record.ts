/**
 * The `run` record for one container spec: all policy computed here, as the helper's flat keys
 * (native/PROTOCOL.md).
 */
import { tcError } from "../../errors";
import type { ContainerSpec } from "../runtime";
import { MASKED_PATHS, READONLY_PATHS, capabilityMask, seccompFor, type Arch } from "../security-profile";
import { encodeRecord, many, type RecordField } from "./record";
import type { ContainerPaths } from "./state-dir";

const RLIMITS: Record<string, number> = {
  cpu: 0, fsize: 1, data: 2, stack: 3, core: 4, rss: 5, nproc: 6, nofile: 7, memlock: 8, as: 9, locks: 10, sigpending: 11, msgqueue: 12, nice: 13, rtprio: 14, rttime: 15,
};

function arch(): Arch {
  if (process.arch === "x64" || process.arch === "arm64") return process.arch;
  throw tcError("TC_ERR_RUNTIME", `the embedded runtime supports x86_64 and aarch64; this is ${process.arch}`);
}

/** The parent cgroup of every container (`<controller>/testcell/<id>` on v1, `testcell/<id>` on v2). */
export const CGROUP_PARENT = "testcell";

/** The security keys shared by `run` and `exec`. */
export function securityFields(spec: ContainerSpec): RecordField[] {
  if (spec.privileged) return [["privileged", 1]];
  const caps = new Set(spec.capabilities);
  const { deny, errno } = seccompFor(arch(), caps);
  return [["caps", capabilityMask(caps)], ["seccomp_deny", deny.join(",")], ...many("seccomp_errno", errno)];
}

/** rlimit keys; unknown names are refused with the list of known ones. */
function rlimitFields(ulimits: ContainerSpec["ulimits"]): RecordField[] {
  return Object.entries(ulimits).map(([name, { soft, hard }]): RecordField => {
    const n = RLIMITS[name.toLowerCase()];
    if (n === undefined) throw tcError("TC_ERR_INVALID_ARGUMENT", `withUlimits: unknown limit \`${name}\`; known: ${Object.keys(RLIMITS).join(", ")}`);
    return ["rlimit", `${n}:${soft}:${hard}`];
  });
}

/** A field whose value holds several NUL-separated parts (bind, tmpfs). */
function multi(key: string, ...parts: string[]): RecordField {
  return [key, parts];
}

/** Encodes the full `run` record. */
export function runRecord(spec: ContainerSpec, paths: ContainerPaths, cgroupParent: string | undefined): Buffer {
  const r = spec.resources;
  const fields: RecordField[] = [
    ["id", spec.id],
    ["state_dir", paths.dir],
    // overlayfs wants the topmost layer first
    ...many("lower", [...spec.layerDirs].reverse()),
    ["hostname", spec.hostname],
    ["cwd", spec.cwd],
    ["uid", spec.uid],
    ["gid", spec.gid],
    ...many("group", spec.groups),
    ...many("env", spec.env),
    ...many("arg", spec.args),
    ["stdout", paths.stdout],
    ["stderr", paths.stderr],
    ["stop_signal", spec.stopSignal],
    ...many("port", spec.ports.map((p) => `${p.protocol}:${p.container}:${p.host}`)),
    ...spec.bindMounts.map((m) => multi("bind", m.source, m.target, m.readOnly ? "ro" : "rw")),
    ...Object.entries(spec.tmpfs).map(([target, opts]) => multi("tmpfs", target, opts || "mode=1777")),
    ...securityFields(spec),
    ...(spec.privileged ? [] : [...many("mask", MASKED_PATHS), ...many("readonly", READONLY_PATHS)]),
    ...rlimitFields(spec.ulimits),
  ];
  if (r.shmBytes) fields.push(["shm_size", r.shmBytes]);
  // every container gets a cgroup, as in Docker: limits, pause, and a clean kill of everything in it
  fields.push(["cgroup_parent", cgroupParent ?? CGROUP_PARENT]);
  if (r.memoryBytes) fields.push(["memory", Math.round(r.memoryBytes)]);
  if (r.cpuQuotaUs) fields.push(["cpu_quota", Math.round(r.cpuQuotaUs)], ["cpu_period", Math.round(r.cpuPeriodUs ?? 100_000)]);
  if (r.pids) fields.push(["pids", r.pids]);
  if (spec.detached) fields.push(["detach", 1]);
  if (spec.netmode) fields.push(["netmode", spec.netmode]);
  for (const n of spec.networks) fields.push(multi("network", n.netns, n.ifname, n.address));
  for (const h of spec.hostPorts) fields.push(["hostport", `${h.listen}:${h.port}:${h.hostPort}`]);
  return encodeRecord(fields);
}
