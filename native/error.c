/* error.c - building, wrapping and explaining tc_error_t records. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

int
tc_make_error (tc_error_t *err, int errnum, const char *fmt, ...)
{
  va_list ap;
  size_t len;

  va_start (ap, fmt);
  vsnprintf (err->msg, sizeof err->msg, fmt, ap);
  va_end (ap);
  len = strlen (err->msg);
  if (errnum != 0 && len < sizeof err->msg)
    snprintf (err->msg + len, sizeof err->msg - len, ": %s", strerror (errnum));
  err->errnum = errnum;
  errno = errnum;
  return -1;
}

int
tc_error_wrap (tc_error_t *err, const char *fmt, ...)
{
  char ctx[256], old[sizeof err->msg];
  va_list ap;
  int saved = errno;

  va_start (ap, fmt);
  vsnprintf (ctx, sizeof ctx, fmt, ap);
  va_end (ap);
  memcpy (old, err->msg, sizeof old);
  snprintf (err->msg, sizeof err->msg, "%s: %.*s", ctx, (int) (sizeof err->msg - sizeof ctx - 3), old);
  errno = saved;
  return -1;
}

void
tc_error_set_op (tc_error_t *err, const char *op)
{
  if (err->op[0] == '\0')
    snprintf (err->op, sizeof err->op, "%s", op);
}

/* Hints for refusals a user can act on (bwrap's mount_strerror, crun's diagnose hooks). */
static const struct
{
  const char *op;
  int errnum;
  const char *hint;
} hints[] = {
  { "clone", EPERM, "creating namespaces needs root (CAP_SYS_ADMIN); protocol v1 has no rootless mode" },
  { "clone", ENOSPC, "a namespace limit was reached (see /proc/sys/user/max_*_namespaces)" },
  { "overlay", ENOENT, "a `lower` dir, or upper/, work/ or rootfs/ in the state dir, does not exist" },
  { "overlay", ENODEV, "the kernel has no overlayfs: load it with `modprobe overlay`" },
  { "overlay", EINVAL, "overlayfs refused the layer dirs: are they on a filesystem it accepts (not overlayfs, NFS or FUSE), and is work/ empty and on the same filesystem as upper/?" },
  { "mount", ENOSPC, "mount limit exceeded (see /proc/sys/fs/mount-max)" },
  { "net", EOPNOTSUPP, "the kernel lacks veth or bridge support: load them with `modprobe veth bridge`" },
  { "net", EPERM, "network namespaces and netlink changes need root (CAP_NET_ADMIN, CAP_SYS_ADMIN)" },
  { "cgroup", EACCES, "the cgroup hierarchy is not writable by this user" },
  { "cgroup", EROFS, "the cgroup hierarchy is mounted read-only" },
  { "cgroup", EOPNOTSUPP, "v1: mount the controller's hierarchy; v2: it must be in the parent's cgroup.subtree_control" },
};

void
tc_diagnose (tc_error_t *err)
{
  size_t i, len = strlen (err->msg);

  for (i = 0; i < sizeof hints / sizeof hints[0]; i++)
    if (hints[i].errnum == err->errnum && strcmp (hints[i].op, err->op) == 0 && len < sizeof err->msg)
      {
        snprintf (err->msg + len, sizeof err->msg - len, " (%s)", hints[i].hint);
        return;
      }
}
