/**
 * Docker's default isolation, as data the native helper applies: the 14 capabilities, the masked
 * and read-only paths, and the system calls its default seccomp profile refuses. Numbers are
 * from the kernel headers (asm/unistd_64.h, asm-generic/unistd.h) for x86_64 and aarch64.
 */

/** Capability numbers (linux/capability.h). */
export const CAPABILITIES: Record<string, number> = {
  CHOWN: 0,
  DAC_OVERRIDE: 1,
  DAC_READ_SEARCH: 2,
  FOWNER: 3,
  FSETID: 4,
  KILL: 5,
  SETGID: 6,
  SETUID: 7,
  SETPCAP: 8,
  LINUX_IMMUTABLE: 9,
  NET_BIND_SERVICE: 10,
  NET_BROADCAST: 11,
  NET_ADMIN: 12,
  NET_RAW: 13,
  IPC_LOCK: 14,
  IPC_OWNER: 15,
  SYS_MODULE: 16,
  SYS_RAWIO: 17,
  SYS_CHROOT: 18,
  SYS_PTRACE: 19,
  SYS_PACCT: 20,
  SYS_ADMIN: 21,
  SYS_BOOT: 22,
  SYS_NICE: 23,
  SYS_RESOURCE: 24,
  SYS_TIME: 25,
  SYS_TTY_CONFIG: 26,
  MKNOD: 27,
  LEASE: 28,
  AUDIT_WRITE: 29,
  AUDIT_CONTROL: 30,
  SETFCAP: 31,
  MAC_OVERRIDE: 32,
  MAC_ADMIN: 33,
  SYSLOG: 34,
  WAKE_ALARM: 35,
  BLOCK_SUSPEND: 36,
  AUDIT_READ: 37,
  PERFMON: 38,
  BPF: 39,
  CHECKPOINT_RESTORE: 40,
};

/** Docker's default capability set. */
export const DEFAULT_CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"];

/** Paths Docker hides from containers (a file gets /dev/null bound over it, a dir an empty tmpfs). */
export const MASKED_PATHS = [
  "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
  "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
];

/** Paths Docker makes read-only. */
export const READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

interface Syscall { name: string; x64?: number; arm64?: number; /** allowed when this capability is kept */ unlessCap?: string }

/** System calls the default seccomp profile refuses with EPERM (clone3 gets ENOSYS, below). */
const DENIED: Syscall[] = [
  { name: "mount", x64: 165, arm64: 40, unlessCap: "SYS_ADMIN" },
  { name: "umount2", x64: 166, arm64: 39, unlessCap: "SYS_ADMIN" },
  { name: "unshare", x64: 272, arm64: 97, unlessCap: "SYS_ADMIN" },
  { name: "setns", x64: 308, arm64: 268, unlessCap: "SYS_ADMIN" },
  { name: "open_tree", x64: 428, arm64: 428, unlessCap: "SYS_ADMIN" },
  { name: "move_mount", x64: 429, arm64: 429, unlessCap: "SYS_ADMIN" },
  { name: "fsopen", x64: 430, arm64: 430, unlessCap: "SYS_ADMIN" },
  { name: "fsconfig", x64: 431, arm64: 431, unlessCap: "SYS_ADMIN" },
  { name: "fsmount", x64: 432, arm64: 432, unlessCap: "SYS_ADMIN" },
  { name: "fspick", x64: 433, arm64: 433, unlessCap: "SYS_ADMIN" },
  { name: "mount_setattr", x64: 442, arm64: 442, unlessCap: "SYS_ADMIN" },
  { name: "bpf", x64: 321, arm64: 280, unlessCap: "SYS_ADMIN" },
  { name: "perf_event_open", x64: 298, arm64: 241, unlessCap: "SYS_ADMIN" },
  { name: "syslog", x64: 103, arm64: 116, unlessCap: "SYS_ADMIN" },
  { name: "quotactl", x64: 179, arm64: 60, unlessCap: "SYS_ADMIN" },
  { name: "lookup_dcookie", x64: 212, arm64: 18, unlessCap: "SYS_ADMIN" },
  { name: "open_by_handle_at", x64: 304, arm64: 265 },
  { name: "keyctl", x64: 250, arm64: 219 },
  { name: "add_key", x64: 248, arm64: 217 },
  { name: "request_key", x64: 249, arm64: 218 },
  { name: "userfaultfd", x64: 323, arm64: 282 },
  { name: "io_uring_setup", x64: 425, arm64: 425 },
  { name: "io_uring_enter", x64: 426, arm64: 426 },
  { name: "io_uring_register", x64: 427, arm64: 427 },
  { name: "pivot_root", x64: 155, arm64: 41 },
  { name: "kexec_load", x64: 246, arm64: 104 },
  { name: "kexec_file_load", x64: 320, arm64: 294 },
  { name: "swapon", x64: 167, arm64: 224 },
  { name: "swapoff", x64: 168, arm64: 225 },
  { name: "reboot", x64: 169, arm64: 142 },
  { name: "init_module", x64: 175, arm64: 105 },
  { name: "finit_module", x64: 313, arm64: 273 },
  { name: "delete_module", x64: 176, arm64: 106 },
  { name: "acct", x64: 163, arm64: 89 },
  { name: "clock_adjtime", x64: 305, arm64: 266 },
  { name: "clock_settime", x64: 227, arm64: 112 },
  { name: "settimeofday", x64: 164, arm64: 170 },
  { name: "iopl", x64: 172 },
  { name: "ioperm", x64: 173 },
  { name: "kcmp", x64: 312, arm64: 272 },
  { name: "nfsservctl", x64: 180, arm64: 42 },
  { name: "get_kernel_syms", x64: 177 },
  { name: "query_module", x64: 178 },
  { name: "uselib", x64: 134 },
  { name: "ustat", x64: 136 },
  { name: "sysfs", x64: 139 },
  { name: "_sysctl", x64: 156 },
  { name: "vhangup", x64: 153, arm64: 58 },
  { name: "mbind", x64: 237, arm64: 235, unlessCap: "SYS_NICE" },
  { name: "set_mempolicy", x64: 238, arm64: 237, unlessCap: "SYS_NICE" },
  { name: "move_pages", x64: 279, arm64: 239, unlessCap: "SYS_NICE" },
  { name: "get_mempolicy", x64: 239, arm64: 236, unlessCap: "SYS_NICE" },
  { name: "create_module", x64: 174 },
];

const CLONE3 = { x64: 435, arm64: 435 };
const ENOSYS = 38;

export type Arch = "x64" | "arm64";

/** The seccomp keys for a capability set: numbers to refuse with EPERM, and clone3 -> ENOSYS. */
export function seccompFor(arch: Arch, keptCaps: Set<string>): { deny: number[]; errno: string[] } {
  const deny = DENIED.filter((s) => !(s.unlessCap && keptCaps.has(s.unlessCap)))
    .map((s) => s[arch])
    .filter((n): n is number => n !== undefined);
  const errno = keptCaps.has("SYS_ADMIN") ? [] : [`${CLONE3[arch]}:${ENOSYS}`];
  return { deny, errno };
}

/** Hex mask of a set of capability names, for the helper's `caps` key. */
export function capabilityMask(names: Iterable<string>): string {
  let mask = 0n;
  for (const n of names) mask |= 1n << BigInt(CAPABILITIES[n]!);
  return mask.toString(16);
}
