/* caps.c - user, groups and capability sets (the mask comes from security.c). */
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "shim.h"
#include "util.h"

int
tc_caps_held (uint64_t *permitted, tc_error_t *err)
{
  struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct data[2];

  if (syscall (SYS_capget, &hdr, data) < 0)
    return tc_make_error (err, errno, "capget");
  *permitted = (uint64_t) data[1].permitted << 32 | data[0].permitted;
  return 0;
}

/* Drop everything but @keep from the bounding set; must happen while we still have CAP_SETPCAP. */
int
tc_drop_bounding (uint64_t keep, tc_error_t *err)
{
  int cap;

  for (cap = 0; cap < 64; cap++)
    {
      if (keep & (1ULL << cap))
        continue;
      if (prctl (PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
        {
          if (errno == EINVAL) /* past CAP_LAST_CAP of this kernel */
            break;
          return tc_make_error (err, errno, "drop capability %d from the bounding set", cap);
        }
    }
  return 0;
}

/* setgroups, setresgid, then setresuid with PR_SET_KEEPCAPS so tc_set_caps() still can act. */
int
tc_set_ids (uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups, tc_error_t *err)
{
  if (setgroups (ngroups, groups) < 0)
    return tc_make_error (err, errno, "setgroups (%zu groups)", ngroups);
  if (setresgid (gid, gid, gid) < 0)
    return tc_make_error (err, errno, "setresgid %u", (unsigned) gid);
  if (prctl (PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
    return tc_make_error (err, errno, "prctl PR_SET_KEEPCAPS");
  if (setresuid (uid, uid, uid) < 0)
    return tc_make_error (err, errno, "setresuid %u", (unsigned) uid);
  return 0;
}

/* Effective = permitted = @mask, inheritable and ambient empty (CVE-2022-29162). */
int
tc_set_caps (uint64_t mask, tc_error_t *err)
{
  struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct data[2] = { { 0, 0, 0 }, { 0, 0, 0 } };

  data[0].effective = data[0].permitted = (uint32_t) mask;
  data[1].effective = data[1].permitted = (uint32_t) (mask >> 32);
  if (syscall (SYS_capset, &hdr, data) < 0)
    return tc_make_error (err, errno, "capset %llx", (unsigned long long) mask);
  if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return tc_make_error (err, errno, "clear the ambient capabilities");
  return 0;
}
