/* spec.h - the flat NUL-separated record that Node hands to `run` and `exec` (PROTOCOL.md). */
#ifndef TC_SPEC_H
#define TC_SPEC_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* A repeated key: values in record order, NULL-terminated so it can be argv or envp. */
struct tc_strv
{
  const char **v;
  size_t n, cap;
};

struct tc_spec
{
  const char *version, *id, *state_dir, *hostname, *cwd, *stdout_path, *stderr_path, *cgroup_parent;
  const char *netmode;
  struct tc_strv lower, group, env, arg, port;
  struct tc_strv network, hostport; /* net.c, ports.c; `network` as `bind` below */
  unsigned long uid, gid, pid, stop_signal;
  gid_t *groups;
  size_t ngroups;
  /* Additions: mounts (mount.c), security (security.c), resources and detach (cgroup.c, run.c).
   * `bind` and `tmpfs` values point at their first field; tc_spec_field() reaches the others. */
  struct tc_strv bind, tmpfs, mask, readonly, seccomp_errno, rlimit;
  const char *caps, *seccomp_deny, *cgroup;
  unsigned long shm_size, no_new_privs, privileged, memory, cpu_quota, cpu_period, pids, detach;
};

enum tc_spec_mode
{
  TC_SPEC_RUN = 1,
  TC_SPEC_EXEC = 2,
};

/**
 * tc_spec_read() - read a record from @fd to EOF, parse it with the key table of @mode and
 * validate it. The strings point into one buffer that lives until the process exits.
 */
int tc_spec_read (int fd, enum tc_spec_mode mode, struct tc_spec *spec, tc_error_t *err);

/* Split a record buffer into its NUL-terminated fields (also used by `fixup`). */
int tc_record_fields (char *buf, size_t len, const char ***fields, size_t *n, tc_error_t *err);

/* The field @k places after @value in the record (a value followed by more fields, as `bind`). */
const char *tc_spec_field (const char *value, size_t k);

/* Is @p a clean path (absolute or relative as asked, no ".." component)? */
int tc_path_ok (const char *p, int absolute);

#endif
