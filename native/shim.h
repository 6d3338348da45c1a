/* shim.h - the interfaces between the modules of testcell-shim. */
#ifndef TC_SHIM_H
#define TC_SHIM_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "security.h"
#include "spec.h"

/* ---- modes (main.c dispatches on argv[1]) ---- */
int tc_run_main (void);
int tc_exec_main (void);
int tc_fixup_main (const char *layer_dir);

/* ---- mount.c: the container's file systems, set up by the child before pivot_root ---- */
int tc_mount_make_private (tc_error_t *err);
/* Mount the overlay on <state_dir>/rootfs and return an O_PATH fd on its root. */
int tc_mount_overlay (const struct tc_spec *spec, tc_error_t *err);
int tc_mount_proc (int rootfd, tc_error_t *err);
int tc_mount_sys (int rootfd, bool rw, tc_error_t *err);
/* @shm_size: bytes for /dev/shm, 0 = 64 MiB */
int tc_mount_dev (int rootfd, unsigned long shm_size, tc_error_t *err);
/* The spec's `bind`, `tmpfs`, `readonly` and `mask` mounts, in that order (the last two skipped
 * when `privileged`); before pivot_root, while the host's /dev/null and bind sources are visible. */
int tc_mount_extra (int rootfd, const struct tc_spec *spec, tc_error_t *err);
int tc_pivot_into (int rootfd, tc_error_t *err);
/* Resolve @path inside @rootfd (never leaving it), creating missing dirs with mode 0755 and,
 * when @uid >= 0, owned by @uid:@gid. Returns an O_PATH fd on the directory. */
int tc_ensure_dir (int rootfd, const char *path, long uid, long gid, tc_error_t *err);

/* ---- ns.c: namespaces ---- */
int tc_set_hostname (const char *name, tc_error_t *err);
/* Join the ipc, uts, net, pid and mount namespaces of @pid (mount last). */
int tc_join_container (pid_t pid, tc_error_t *err);

/* ---- caps.c: credentials ---- */
int tc_caps_held (uint64_t *permitted, tc_error_t *err);
int tc_drop_bounding (uint64_t keep, tc_error_t *err);
int tc_set_ids (uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups, tc_error_t *err);
int tc_set_caps (uint64_t mask, tc_error_t *err);

/* ---- process.c: the last steps of every container process (run and exec) ---- */
int tc_die_with_parent (int parent_pidfd, tc_error_t *err);
/* Apply rlimits, drop to the spec's user and capability mask, find arg[0] in PATH, close fds,
 * load the seccomp filter and execve. Returns only on failure, with err->op set to `rlimit`,
 * `caps`, `user`, `lookup`, `seccomp` or `exec`. */
int tc_become_and_exec (const struct tc_spec *spec, const struct tc_security *sec, int parent_pidfd,
                        tc_error_t *err);

/* ---- cgroup.c ---- */
#define TC_CGROUP_MAX 6
enum
{
  TC_CG_MEMORY,
  TC_CG_PIDS,
  TC_CG_CPU,
  TC_CG_FREEZER, /* v1 freezer, or v2 cgroup.freeze */
  TC_CG_N
};
struct tc_cgroup
{
  size_t n;
  char *dirs[TC_CGROUP_MAX];
  int procs[TC_CGROUP_MAX]; /* cgroup.procs of each dir, opened by the parent for the child */
  int ctl[TC_CG_N];         /* index in dirs of each controller's dir, or -1 */
  bool v2;
};
/* Create <hierarchy>/<parent>/<id> in each v1 hierarchy with memory, pids, cpu or freezer or,
 * when there is none, in the v2 unified hierarchy (enabling those controllers on the way down).
 * No hierarchy at all is not an error: limits then fail in tc_cgroup_set_limits(). */
int tc_cgroup_create (struct tc_cgroup *cg, const char *parent, const char *id, tc_error_t *err);
/* Write the spec's `memory`, `cpu_quota`/`cpu_period` and `pids`; a controller that is missing
 * is an error naming it and the file. */
int tc_cgroup_set_limits (struct tc_cgroup *cg, const struct tc_spec *spec, tc_error_t *err);
/* Does the spec ask for any limit? */
bool tc_cgroup_limited (const struct tc_spec *spec);
/* `exec`: open cgroup.procs of <hierarchy>/<path> in the same hierarchies, where it exists. */
int tc_cgroup_open (struct tc_cgroup *cg, const char *path, tc_error_t *err);
/* In the child: move the calling process into every directory ("0" to cgroup.procs). */
int tc_cgroup_enter (struct tc_cgroup *cg, tc_error_t *err);
void tc_cgroup_close_fds (struct tc_cgroup *cg);
bool tc_cgroup_oom_killed (const struct tc_cgroup *cg);
/* Freeze (true) or thaw the container's cgroup and wait until the kernel says it is done. */
int tc_cgroup_freeze (struct tc_cgroup *cg, bool frozen, tc_error_t *err);
void tc_cgroup_destroy (struct tc_cgroup *cg);

#endif
