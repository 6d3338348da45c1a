/* shim.h - the interfaces between the modules of testcell-shim. */
#ifndef TC_SHIM_H
#define TC_SHIM_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
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
int tc_mount_sys (int rootfd, tc_error_t *err);
int tc_mount_dev (int rootfd, tc_error_t *err);
int tc_pivot_into (int rootfd, tc_error_t *err);
/* Resolve @path inside @rootfd (never leaving it), creating missing dirs with mode 0755 and,
 * when @uid >= 0, owned by @uid:@gid. Returns an O_PATH fd on the directory. */
int tc_ensure_dir (int rootfd, const char *path, long uid, long gid, tc_error_t *err);

/* ---- ns.c: namespaces ---- */
int tc_set_hostname (const char *name, tc_error_t *err);
int tc_loopback_up (tc_error_t *err);
/* Join the ipc, uts, net, pid and mount namespaces of @pid (mount last). */
int tc_join_container (pid_t pid, tc_error_t *err);

/* ---- caps.c: credentials ---- */
int tc_drop_bounding (tc_error_t *err);
int tc_set_ids (uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups, tc_error_t *err);
int tc_set_caps (tc_error_t *err);

/* ---- process.c: the last steps of every container process (run and exec) ---- */
int tc_die_with_parent (int parent_pidfd, tc_error_t *err);
/* Drop to the spec's user and Docker's capabilities, find arg[0] in PATH, close fds and
 * execve. Returns only on failure, with err->op set to `caps`, `user`, `lookup` or `exec`. */
int tc_become_and_exec (const struct tc_spec *spec, int parent_pidfd, tc_error_t *err);

/* ---- cgroup.c ---- */
#define TC_CGROUP_MAX 6
struct tc_cgroup
{
  size_t n;
  char *dirs[TC_CGROUP_MAX];
  int procs[TC_CGROUP_MAX]; /* cgroup.procs of each dir, opened by the parent for the child */
  int mem;                  /* index of the memory controller's dir, or -1 */
  bool v2;
};
/* Create <hierarchy>/<parent>/<id> for memory, pids, cpu, freezer (v1) or in the unified
 * hierarchy (v2, when it has those controllers). No hierarchy at all is not an error. */
int tc_cgroup_create (struct tc_cgroup *cg, const char *parent, const char *id, tc_error_t *err);
/* In the child: move the calling process into every directory ("0" to cgroup.procs). */
int tc_cgroup_enter (struct tc_cgroup *cg, tc_error_t *err);
void tc_cgroup_close_fds (struct tc_cgroup *cg);
bool tc_cgroup_oom_killed (const struct tc_cgroup *cg);
void tc_cgroup_destroy (struct tc_cgroup *cg);

#endif
