/* mount.c - overlay root, proc, sys, dev and pivot_root, in the child's new mount namespace.
 *
 * Every mount point inside the image is resolved with openat2(RESOLVE_IN_ROOT) from the
 * overlay's root fd and mounted on through /proc/self/fd/N, so a symlink in the image can
 * never redirect a mount onto the host (the CVE-2025-31133 family). */
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include "shim.h"
#include "util.h"

#define MAX_MOUNT_DATA 4095 /* mount(2) copies one page of options */
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

int
tc_mount_make_private (tc_error_t *err)
{
  if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return tc_make_error (err, errno, "make `/` recursively private");
  return 0;
}

/* Mount @type on the directory behind @fd; @what names it in messages. */
static int
mount_on_fd (const char *src, int fd, const char *type, unsigned long flags, const char *data, const char *what,
             tc_error_t *err)
{
  char target[40];

  snprintf (target, sizeof target, "/proc/self/fd/%d", fd);
  if (mount (src, target, type, flags, data) < 0)
    return tc_make_error (err, errno, "mount %s on `%s`", type ? type : "bind", what);
  return 0;
}

static int
resolve_dir (int rootfd, const char *path, tc_error_t *err)
{
  return tc_open_beneath (rootfd, path, O_PATH | O_DIRECTORY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, err);
}

int
tc_ensure_dir (int rootfd, const char *path, long uid, long gid, tc_error_t *err)
{
  char prefix[PATH_MAX] = "", buf[PATH_MAX], *save = NULL, *comp;
  int cur;

  cur = resolve_dir (rootfd, path, err);
  if (cur >= 0 || errno != ENOENT)
    return cur;
  if (snprintf (buf, sizeof buf, "%s", path) >= (int) sizeof buf)
    return tc_make_error (err, ENAMETOOLONG, "resolve `%s`", path);
  cur = fcntl (rootfd, F_DUPFD_CLOEXEC, 3);
  for (comp = strtok_r (buf, "/", &save); comp != NULL && cur >= 0; comp = strtok_r (NULL, "/", &save))
    {
      cleanup_close int parent = cur;
      bool created = false;

      strncat (prefix, "/", sizeof prefix - strlen (prefix) - 1);
      strncat (prefix, comp, sizeof prefix - strlen (prefix) - 1);
      cur = resolve_dir (rootfd, prefix, err);
      if (cur < 0 && errno == ENOENT)
        {
          if (mkdirat (parent, comp, 0755) == 0)
            created = true;
          else if (errno != EEXIST)
            return tc_make_error (err, errno, "mkdir `%s`", prefix);
          cur = resolve_dir (rootfd, prefix, err);
        }
      if (cur >= 0 && created && uid >= 0 && fchownat (cur, "", (uid_t) uid, (gid_t) gid, AT_EMPTY_PATH) < 0)
        {
          close (cur);
          return tc_make_error (err, errno, "chown `%s`", prefix);
        }
    }
  return cur;
}

/* Longest common directory prefix of all lower dirs, for the relative-path fallback. */
static size_t
common_dir (const struct tc_strv *lower)
{
  size_t len = strlen (lower->v[0]), i, j;

  for (i = 1; i < lower->n; i++)
    for (j = 0; j < len; j++)
      if (lower->v[i][j] != lower->v[0][j])
        len = j;
  while (len > 0 && lower->v[0][len - 1] != '/')
    len--;
  return len;
}

static int
overlay_options (const struct tc_spec *spec, size_t skip, char *out, size_t cap)
{
  size_t i, o = (size_t) snprintf (out, cap, "lowerdir=");

  for (i = 0; i < spec->lower.n && o < cap; i++)
    o += (size_t) snprintf (out + o, cap - o, "%s%s", i ? ":" : "", spec->lower.v[i] + skip);
  if (o < cap)
    o += (size_t) snprintf (out + o, cap - o, ",upperdir=%s/upper,workdir=%s/work", spec->state_dir, spec->state_dir);
  return o < cap ? 0 : -1;
}

int
tc_mount_overlay (const struct tc_spec *spec, tc_error_t *err)
{
  char opts[MAX_MOUNT_DATA + 1], target[PATH_MAX];
  size_t skip = 0;
  int fd;

  snprintf (target, sizeof target, "%s/rootfs", spec->state_dir);
  if (overlay_options (spec, 0, opts, sizeof opts) < 0)
    {
      /* Too long for one page: chdir to the layers' common parent and pass relative paths,
         as containerd does. */
      char dir[PATH_MAX];
      skip = common_dir (&spec->lower);
      snprintf (dir, sizeof dir, "%.*s", (int) skip, spec->lower.v[0]);
      if (skip < 2 || overlay_options (spec, skip, opts, sizeof opts) < 0)
        return tc_make_error (err, E2BIG, "overlay options for %zu layers exceed one page", spec->lower.n);
      if (chdir (dir) < 0)
        return tc_make_error (err, errno, "chdir `%s`", dir);
    }
  if (mount ("overlay", target, "overlay", 0, opts) < 0)
    return tc_make_error (err, errno, "mount overlay on `%s`", target);
  fd = open (target, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return tc_make_error (err, errno, "open `%s`", target);
  return fd;
}

int
tc_mount_proc (int rootfd, tc_error_t *err)
{
  cleanup_close int fd = tc_ensure_dir (rootfd, "proc", -1, -1, err);

  if (fd < 0)
    return -1;
  return mount_on_fd ("proc", fd, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "/proc", err);
}

int
tc_mount_sys (int rootfd, bool rw, tc_error_t *err)
{
  const unsigned long flags = (rw ? 0 : MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC;
  cleanup_close int fd = tc_ensure_dir (rootfd, "sys", -1, -1, err);
  cleanup_close int top = -1;

  if (fd < 0)
    return -1;
  if (mount_on_fd ("sysfs", fd, "sysfs", flags, NULL, "/sys", err) == 0)
    return 0;
  /* sysfs can be refused (e.g. a net ns owned by another user ns): bind the host's, read-only. */
  if (mount_on_fd ("/sys", fd, NULL, MS_BIND | MS_REC, NULL, "/sys (bind of the host's)", err) < 0)
    return -1;
  top = resolve_dir (rootfd, "sys", err);
  if (top < 0)
    return -1;
  return mount_on_fd (NULL, top, NULL, MS_REMOUNT | MS_BIND | flags, NULL, "/sys (read-only remount)", err);
}

static const struct
{
  const char *name;
  unsigned major, minor;
} devices[] = {
  { "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 }, { "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
};

static const struct
{
  const char *name, *target;
} dev_links[] = {
  { "ptmx", "pts/ptmx" },           { "fd", "/proc/self/fd" },         { "stdin", "/proc/self/fd/0" },
  { "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
};

static const struct
{
  const char *dir, *type, *data;
  unsigned long flags;
} dev_mounts[] = {
  { "pts", "devpts", "newinstance,ptmxmode=0666,mode=0620,gid=5", MS_NOSUID | MS_NOEXEC },
  { "shm", "tmpfs", "mode=1777,size=%lu", MS_NOSUID | MS_NODEV | MS_NOEXEC }, /* size: shm_size */
  { "mqueue", "mqueue", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC },
};

int
tc_mount_dev (int rootfd, unsigned long shm_size, tc_error_t *err)
{
  cleanup_close int fd = tc_ensure_dir (rootfd, "dev", -1, -1, err);
  cleanup_close int dev = -1;
  size_t i;

  if (fd < 0 || mount_on_fd ("tmpfs", fd, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k", "/dev", err) < 0)
    return -1;
  dev = resolve_dir (rootfd, "dev", err); /* now the fresh tmpfs: nothing in it but ours */
  if (dev < 0)
    return -1;
  for (i = 0; i < ARRAY_SIZE (devices); i++)
    if (mknodat (dev, devices[i].name, S_IFCHR | 0666, makedev (devices[i].major, devices[i].minor)) < 0)
      return tc_make_error (err, errno, "mknod `/dev/%s`", devices[i].name);
  for (i = 0; i < ARRAY_SIZE (dev_links); i++)
    if (symlinkat (dev_links[i].target, dev, dev_links[i].name) < 0)
      return tc_make_error (err, errno, "symlink `/dev/%s`", dev_links[i].name);
  for (i = 0; i < ARRAY_SIZE (dev_mounts); i++)
    {
      cleanup_close int sub = -1;
      char what[32], data[64];

      snprintf (what, sizeof what, "/dev/%s", dev_mounts[i].dir);
      if (dev_mounts[i].data)
        snprintf (data, sizeof data, dev_mounts[i].data, shm_size ? shm_size : 64ul << 20);
      if (mkdirat (dev, dev_mounts[i].dir, 0755) < 0)
        return tc_make_error (err, errno, "mkdir `%s`", what);
      sub = openat (dev, dev_mounts[i].dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0)
        return tc_make_error (err, errno, "open `%s`", what);
      if (mount_on_fd (dev_mounts[i].type, sub, dev_mounts[i].type, dev_mounts[i].flags,
                       dev_mounts[i].data ? data : NULL, what, err) < 0)
        return -1;
    }
  return 0;
}

/* ---- Additions: `bind`, `tmpfs`, `readonly` and `mask` ---- */

/* Resolve @path inside the root (any file type), following links only within it. */
static int
resolve (int rootfd, const char *path, tc_error_t *err)
{
  return tc_open_beneath (rootfd, path, O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, err);
}

static int
bind_fd (int from, int to, const char *what, tc_error_t *err)
{
  char source[40];

  snprintf (source, sizeof source, "/proc/self/fd/%d", from);
  return mount_on_fd (source, to, NULL, MS_BIND | MS_REC, NULL, what, err);
}

/* Make the mount whose root is @fd read-only, submounts included, keeping its other flags. */
static int
make_readonly (int fd, const char *what, tc_error_t *err)
{
  static const struct
  {
    unsigned long st, ms;
  } keep[] = {
    { ST_NOSUID, MS_NOSUID },   { ST_NODEV, MS_NODEV },           { ST_NOEXEC, MS_NOEXEC },
    { ST_NOATIME, MS_NOATIME }, { ST_NODIRATIME, MS_NODIRATIME }, { ST_RELATIME, MS_RELATIME },
  };
  unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY;
  struct statvfs sv;
  size_t i;

  if (tc_mount_setattr (fd, "", AT_EMPTY_PATH | AT_RECURSIVE, MOUNT_ATTR_RDONLY) == 0)
    return 0;
  if (errno != ENOSYS)
    return tc_make_error (err, errno, "mount_setattr read-only `%s`", what);
  /* Linux < 5.12: remount the top mount only; a bind remount clears the flags not passed. */
  if (fstatvfs (fd, &sv) < 0)
    return tc_make_error (err, errno, "statvfs `%s`", what);
  for (i = 0; i < ARRAY_SIZE (keep); i++)
    if (sv.f_flag & keep[i].st)
      flags |= keep[i].ms;
  return mount_on_fd (NULL, fd, NULL, flags, NULL, what, err);
}

/* Resolve the file @path in the root, creating it empty (and its parent dirs) when missing. */
static int
ensure_file (int rootfd, const char *path, tc_error_t *err)
{
  const char *base = strrchr (path, '/') + 1; /* the path is absolute */
  cleanup_close int dir = -1, created = -1;
  char parent[PATH_MAX];
  int fd = resolve (rootfd, path, err);

  if (fd >= 0 || errno != ENOENT)
    return fd;
  snprintf (parent, sizeof parent, "%.*s", (int) (base - path), path);
  dir = tc_ensure_dir (rootfd, parent, -1, -1, err);
  if (dir < 0)
    return -1;
  created = openat (dir, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (created < 0 && errno != EEXIST)
    return tc_make_error (err, errno, "create `%s`", path);
  return resolve (rootfd, path, err);
}

static int
bind_one (int rootfd, const char *src, const char *dest, bool ro, tc_error_t *err)
{
  cleanup_close int sfd = open (src, O_PATH | O_CLOEXEC); /* a host path, from Node */
  cleanup_close int dfd = -1, top = -1;
  struct stat st;

  if (sfd < 0 || fstat (sfd, &st) < 0)
    return tc_make_error (err, errno, "open bind source `%s`", src);
  dfd = S_ISDIR (st.st_mode) ? tc_ensure_dir (rootfd, dest, -1, -1, err) : ensure_file (rootfd, dest, err);
  if (dfd < 0 || bind_fd (sfd, dfd, dest, err) < 0)
    return tc_error_wrap (err, "bind `%s`", src);
  if (! ro)
    return 0;
  top = resolve (rootfd, dest, err); /* now the root of the new mount */
  return top < 0 ? -1 : make_readonly (top, dest, err);
}

static const struct
{
  const char *name;
  unsigned long set, clear;
} mount_flags[] = {
  { "ro", MS_RDONLY, 0 },          { "rw", 0, MS_RDONLY },           { "nosuid", MS_NOSUID, 0 },
  { "suid", 0, MS_NOSUID },        { "nodev", MS_NODEV, 0 },         { "dev", 0, MS_NODEV },
  { "noexec", MS_NOEXEC, 0 },      { "exec", 0, MS_NOEXEC },         { "noatime", MS_NOATIME, 0 },
  { "atime", 0, MS_NOATIME },      { "nodiratime", MS_NODIRATIME, 0 }, { "relatime", MS_RELATIME, 0 },
  { "strictatime", MS_STRICTATIME, 0 }, { "sync", MS_SYNCHRONOUS, 0 }, { "dirsync", MS_DIRSYNC, 0 },
};

/* mount(8)'s flag words in @options become mount flags; the rest is tmpfs data (size=, mode=). */
static int
tmpfs_one (int rootfd, const char *dest, const char *options, tc_error_t *err)
{
  char buf[MAX_MOUNT_DATA + 1], data[MAX_MOUNT_DATA + 1] = "", *tok, *save = NULL;
  cleanup_close int fd = -1;
  unsigned long flags = 0;
  size_t i, len = 0;

  if (snprintf (buf, sizeof buf, "%s", options) >= (int) sizeof buf)
    return tc_make_error (err, E2BIG, "tmpfs options for `%s` exceed one page", dest);
  for (tok = strtok_r (buf, ",", &save); tok != NULL; tok = strtok_r (NULL, ",", &save))
    {
      for (i = 0; i < ARRAY_SIZE (mount_flags) && strcmp (tok, mount_flags[i].name) != 0; i++)
        ;
      if (i < ARRAY_SIZE (mount_flags))
        flags = (flags & ~mount_flags[i].clear) | mount_flags[i].set;
      else
        len += (size_t) snprintf (data + len, sizeof data - len, "%s%s", len ? "," : "", tok);
    }
  fd = tc_ensure_dir (rootfd, dest, -1, -1, err);
  if (fd < 0)
    return -1;
  return mount_on_fd ("tmpfs", fd, "tmpfs", flags, data, dest, err);
}

/* Bind @path onto itself and make it read-only; a missing path is ignored. */
static int
readonly_one (int rootfd, const char *path, tc_error_t *err)
{
  cleanup_close int fd = resolve (rootfd, path, err);
  cleanup_close int top = -1;

  if (fd < 0)
    return errno == ENOENT ? 0 : -1;
  if (bind_fd (fd, fd, path, err) < 0)
    return -1;
  top = resolve (rootfd, path, err);
  return top < 0 ? -1 : make_readonly (top, path, err);
}

/* As Docker masks: the null device over a file, an empty read-only tmpfs over a directory. */
static int
mask_one (int rootfd, const char *path, int nullfd, tc_error_t *err)
{
  cleanup_close int fd = resolve (rootfd, path, err);
  struct stat st;

  if (fd < 0)
    return errno == ENOENT ? 0 : -1;
  if (fstat (fd, &st) < 0)
    return tc_make_error (err, errno, "stat `%s`", path);
  if (S_ISDIR (st.st_mode))
    return mount_on_fd ("tmpfs", fd, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, path, err);
  return bind_fd (nullfd, fd, path, err);
}

int
tc_mount_extra (int rootfd, const struct tc_spec *spec, tc_error_t *err)
{
  cleanup_close int nullfd = -1;
  struct stat st;
  size_t i;

  for (i = 0; i < spec->bind.n; i++)
    if (bind_one (rootfd, spec->bind.v[i], tc_spec_field (spec->bind.v[i], 1),
                  strcmp (tc_spec_field (spec->bind.v[i], 2), "ro") == 0, err) < 0)
      return -1;
  for (i = 0; i < spec->tmpfs.n; i++)
    if (tmpfs_one (rootfd, spec->tmpfs.v[i], tc_spec_field (spec->tmpfs.v[i], 1), err) < 0)
      return -1;
  if (spec->privileged)
    return 0;
  for (i = 0; i < spec->readonly.n; i++)
    if (readonly_one (rootfd, spec->readonly.v[i], err) < 0)
      return -1;
  if (spec->mask.n == 0)
    return 0;
  /* The host's null device, checked, never the image's (CVE-2025-31133). */
  nullfd = open ("/dev/null", O_PATH | O_CLOEXEC);
  if (nullfd < 0 || fstat (nullfd, &st) < 0)
    return tc_make_error (err, errno, "open `/dev/null`");
  if (! S_ISCHR (st.st_mode) || st.st_rdev != makedev (1, 3))
    return tc_make_error (err, ENODEV, "`/dev/null` is not the null device 1:3");
  for (i = 0; i < spec->mask.n; i++)
    if (mask_one (rootfd, spec->mask.v[i], nullfd, err) < 0)
      return -1;
  return 0;
}

int
tc_pivot_into (int rootfd, tc_error_t *err)
{
  if (fchdir (rootfd) < 0)
    return tc_make_error (err, errno, "chdir into the rootfs");
  if (tc_pivot_root (".", ".") < 0)
    return tc_make_error (err, errno, "pivot_root");
  if (umount2 (".", MNT_DETACH) < 0)
    return tc_make_error (err, errno, "detach the old root");
  if (chdir ("/") < 0)
    return tc_make_error (err, errno, "chdir `/`");
  return 0;
}
