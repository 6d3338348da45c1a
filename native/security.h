/* security.h - capabilities, no_new_privs, seccomp and rlimits of a container process
 * (PROTOCOL.md, "Additions: Security"); shared by `run` and `exec`. */
#ifndef TC_SECURITY_H
#define TC_SECURITY_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>

#include "error.h"
#include "spec.h"

struct tc_rlimit
{
  int resource;
  struct rlimit lim;
};

/* The security keys of a spec, parsed and checked by the shim before any side effect. */
struct tc_security
{
  uint64_t caps; /* kept in the bounding, permitted and effective sets */
  bool no_new_privs;
  struct sock_fprog filter; /* .filter NULL: no seccomp */
  struct tc_rlimit *rlimits;
  size_t nrlimits;
};

/**
 * tc_security_prepare() - parse `caps`, `no_new_privs`, `seccomp_*`, `rlimit` and `privileged`.
 * @warn: called with a message for each rlimit clamped to the shim's own hard limit and each
 *        capability the shim does not hold itself (dropped from the mask)
 *
 * Builds the seccomp program once, in the parent. Errors are spec errors.
 */
int tc_security_prepare (const struct tc_spec *spec, struct tc_security *sec, void (*warn) (const char *msg),
                         tc_error_t *err);

/* In the container process: setrlimit each `rlimit` (op `rlimit`). */
int tc_set_rlimits (const struct tc_security *sec, tc_error_t *err);
/* In the container process, last before execve: install the filter, if any (op `seccomp`). */
int tc_seccomp_load (const struct tc_security *sec, tc_error_t *err);

#endif
