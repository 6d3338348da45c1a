/* util.c - raw system calls, fd-relative path resolution and small string helpers. */
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

#include "util.h"

#ifndef __NR_pidfd_send_signal
#define __NR_pidfd_send_signal 424
#endif
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef __NR_openat2
#define __NR_openat2 437
#endif
#ifndef __NR_mount_setattr
#define __NR_mount_setattr 442
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

int
tc_openat2 (int dirfd, const char *path, int flags, uint64_t resolve)
{
  struct open_how how = { .flags = (uint64_t) flags, .mode = 0, .resolve = resolve };
  return (int) syscall (__NR_openat2, dirfd, path, &how, sizeof how);
}

int
tc_pidfd_open (pid_t pid)
{
  return (int) syscall (__NR_pidfd_open, pid, 0);
}

int
tc_pidfd_send_signal (int pidfd, int sig)
{
  return (int) syscall (__NR_pidfd_send_signal, pidfd, sig, NULL, 0);
}

int
tc_close_range_cloexec (unsigned int first)
{
  return (int) syscall (__NR_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC);
}

int
tc_close_from (unsigned int first)
{
  cleanup_dir DIR *dir = NULL;
  struct dirent *de;

  if (syscall (__NR_close_range, first, ~0U, 0) == 0)
    return 0;
  dir = opendir ("/proc/self/fd"); /* kernels before 5.9 */
  if (dir == NULL)
    return -1;
  while ((de = readdir (dir)) != NULL)
    {
      int fd = atoi (de->d_name);
      if (fd >= (int) first && fd != dirfd (dir))
        close (fd);
    }
  return 0;
}

/* The kernel's struct mount_attr (MOUNT_ATTR_SIZE_VER0), spelled out for glibc < 2.36. */
struct tc_mount_attr
{
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

int
tc_mount_setattr (int dirfd, const char *path, unsigned int flags, uint64_t attr_set)
{
  struct tc_mount_attr attr = { .attr_set = attr_set };
  return (int) syscall (__NR_mount_setattr, dirfd, path, flags, &attr, sizeof attr);
}

int
tc_pivot_root (const char *new_root, const char *put_old)
{
  return (int) syscall (SYS_pivot_root, new_root, put_old);
}

/* The kernel's struct clone_args, version 0 (64 bytes), spelled out to avoid <linux/sched.h>. */
struct tc_clone_args
{
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

/* Fork into new namespaces (@flags) and get a pidfd for the child, like fork() returns 0 in it.
 * clone3 first; clone(2) when clone3 is missing or filtered (Docker's seccomp says ENOSYS). */
pid_t
tc_clone (unsigned long flags, int *pidfd)
{
  struct tc_clone_args args = {
    .flags = flags | CLONE_PIDFD,
    .pidfd = (uint64_t) (uintptr_t) pidfd,
    .exit_signal = SIGCHLD,
  };
  long ret = syscall (__NR_clone3, &args, sizeof args);

  if (ret < 0 && errno == ENOSYS)
    ret = syscall (SYS_clone, flags | CLONE_PIDFD | SIGCHLD, NULL, pidfd, NULL, NULL);
  return (pid_t) ret;
}

/* Fallback for kernels without openat2 (< 5.6): walk one component at a time with
 * O_NOFOLLOW, refusing symlinks and "..", so the walk cannot leave @dirfd. */
static int
open_beneath_walk (int dirfd, const char *path, int flags)
{
  char buf[PATH_MAX], *save = NULL, *comp, *next;
  int cur = -1, fd;

  if (snprintf (buf, sizeof buf, "%s", path) >= (int) sizeof buf)
    return errno = ENAMETOOLONG, -1;
  comp = strtok_r (buf, "/", &save);
  if (comp == NULL)
    return fcntl (dirfd, F_DUPFD_CLOEXEC, 3);
  for (; comp != NULL; comp = next)
    {
      next = strtok_r (NULL, "/", &save);
      if (strcmp (comp, "..") == 0)
        fd = (errno = EXDEV, -1);
      else
        fd = openat (cur >= 0 ? cur : dirfd, comp,
                     next ? O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC : flags | O_NOFOLLOW | O_CLOEXEC);
      if (cur >= 0)
        {
          int saved = errno;
          close (cur);
          errno = saved;
        }
      if (fd < 0)
        return errno == ELOOP ? (errno = EXDEV, -1) : -1;
      cur = fd;
    }
  return cur;
}

int
tc_open_beneath (int dirfd, const char *path, int flags, uint64_t resolve, tc_error_t *err)
{
  static bool no_openat2;
  int fd = -1;

  if (! no_openat2)
    {
      fd = tc_openat2 (dirfd, path, flags | O_CLOEXEC, resolve);
      if (fd < 0 && errno == ENOSYS)
        no_openat2 = true;
    }
  if (no_openat2)
    fd = open_beneath_walk (dirfd, path, flags);
  if (fd < 0)
    return tc_make_error (err, errno, "open `%s`", path);
  return fd;
}

int
tc_write_all (int fd, const void *buf, size_t len)
{
  const char *p = buf;

  while (len > 0)
    {
      ssize_t n = TEMP_FAILURE_RETRY (write (fd, p, len));
      if (n < 0)
        return -1;
      p += n;
      len -= (size_t) n;
    }
  return 0;
}

/* Read @fd to EOF into a NUL-terminated malloc'd buffer of at most @max bytes. */
int
tc_read_all (int fd, char **out, size_t *len, size_t max, tc_error_t *err)
{
  cleanup_free char *buf = NULL;
  size_t cap = 0, used = 0;

  for (;;)
    {
      ssize_t n;
      if (cap - used < 4096)
        {
          char *nbuf;
          if (cap >= max)
            return tc_make_error (err, EFBIG, "read fd %d: record larger than %zu bytes", fd, max);
          cap = cap ? cap * 2 : 16384;
          nbuf = realloc (buf, cap + 1);
          if (nbuf == NULL)
            return tc_make_error (err, ENOMEM, "read fd %d", fd);
          buf = nbuf;
        }
      n = TEMP_FAILURE_RETRY (read (fd, buf + used, cap - used));
      if (n < 0)
        return tc_make_error (err, errno, "read fd %d", fd);
      if (n == 0)
        break;
      used += (size_t) n;
    }
  buf[used] = '\0';
  *len = used;
  *out = steal_pointer (&buf);
  return 0;
}

/* Strict decimal: digits only, no sign, no overflow, at most @max. */
int
tc_parse_ulong (const char *s, unsigned long max, unsigned long *out)
{
  unsigned long v = 0;

  if (*s == '\0')
    return -1;
  for (; *s; s++)
    {
      if (*s < '0' || *s > '9' || v > (max - (unsigned long) (*s - '0')) / 10)
        return -1;
      v = v * 10 + (unsigned long) (*s - '0');
    }
  *out = v;
  return 0;
}

/* JSON string body: quote, backslash and control characters escaped; truncated to fit. */
void
tc_json_escape (char *out, size_t cap, const char *in)
{
  size_t o = 0;

  for (; *in && o + 7 < cap; in++)
    {
      unsigned char c = (unsigned char) *in;
      if (c == '"' || c == '\\')
        {
          out[o++] = '\\';
          out[o++] = (char) c;
        }
      else if (c < 0x20)
        o += (size_t) snprintf (out + o, cap - o, "\\u%04x", c);
      else
        out[o++] = (char) c;
    }
  out[o] = '\0';
}

bool
tc_pidfd_exited (int pidfd)
{
  struct pollfd p = { .fd = pidfd, .events = POLLIN };
  return TEMP_FAILURE_RETRY (poll (&p, 1, 0)) > 0;
}
