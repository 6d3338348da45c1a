/* util.h - cleanup attributes, raw syscall wrappers and small helpers shared by all modes. */
#ifndef TC_UTIL_H
#define TC_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"

/* ---- cleanup attributes (crun/bwrap style): the variable is released when it leaves scope ---- */

static inline void tc_freep (void *p) { free (*(void **) p); }
static inline void tc_closep (int *fd)
{
  if (*fd >= 0)
    {
      int saved = errno;
      TEMP_FAILURE_RETRY (close (*fd));
      errno = saved;
    }
}
static inline void tc_closedirp (DIR **d)
{
  if (*d)
    closedir (*d);
}
/* A child pid that is killed and reaped unless ownership was handed on with get_and_reset(). */
static inline void tc_killpidp (pid_t *pid)
{
  if (*pid > 0)
    {
      int saved = errno;
      kill (*pid, SIGKILL);
      TEMP_FAILURE_RETRY (waitpid (*pid, NULL, 0));
      errno = saved;
    }
}

#define cleanup_free __attribute__ ((cleanup (tc_freep)))
#define cleanup_close __attribute__ ((cleanup (tc_closep)))
#define cleanup_dir __attribute__ ((cleanup (tc_closedirp)))
#define cleanup_pid __attribute__ ((cleanup (tc_killpidp)))

static inline void *tc_steal_pointer (void *pp)
{
  void **p = pp, *ret = *p;
  *p = NULL;
  return ret;
}
#define steal_pointer(pp) tc_steal_pointer (pp)

/* Hand an fd or pid on: return it and leave -1 behind so the cleanup does nothing. */
static inline int get_and_reset (int *v)
{
  int ret = *v;
  *v = -1;
  return ret;
}

#define ARRAY_SIZE(a) (sizeof (a) / sizeof ((a)[0]))

/* ---- raw system calls (glibc wrappers are missing or too new on older distributions) ---- */

int tc_openat2 (int dirfd, const char *path, int flags, uint64_t resolve);
int tc_pidfd_open (pid_t pid);
int tc_pidfd_send_signal (int pidfd, int sig);
int tc_close_range_cloexec (unsigned int first);
int tc_pivot_root (const char *new_root, const char *put_old);
/* Close every fd from @first up (close_range, or /proc/self/fd on kernels before 5.9). */
int tc_close_from (unsigned int first);
/* mount_setattr(2) setting @attr_set (MOUNT_ATTR_*); ENOSYS before Linux 5.12. */
int tc_mount_setattr (int dirfd, const char *path, unsigned int flags, uint64_t attr_set);
pid_t tc_clone (unsigned long flags, int *pidfd);

/* ---- helpers ---- */

/* Open @path below @dirfd without leaving it: openat2 with @resolve, or, on kernels without
 * openat2, a component walk that refuses symlinks and "..". */
int tc_open_beneath (int dirfd, const char *path, int flags, uint64_t resolve, tc_error_t *err);
int tc_write_all (int fd, const void *buf, size_t len);
int tc_read_all (int fd, char **out, size_t *len, size_t max, tc_error_t *err);
int tc_parse_ulong (const char *s, unsigned long max, unsigned long *out);
void tc_json_escape (char *out, size_t cap, const char *in);
/* Has the process behind @pidfd exited? (poll with a zero timeout) */
bool tc_pidfd_exited (int pidfd);

#endif
