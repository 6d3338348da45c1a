/* ns.c - hostname and joining a running container's namespaces. */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "shim.h"
#include "util.h"

int
tc_set_hostname (const char *name, tc_error_t *err)
{
  if (name != NULL && sethostname (name, strlen (name)) < 0)
    return tc_make_error (err, errno, "sethostname `%s`", name);
  return 0;
}

static const struct
{
  const char *name;
  int type;
} namespaces[] = {
  { "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS }, { "net", CLONE_NEWNET }, { "pid", CLONE_NEWPID },
  { "mnt", CLONE_NEWNS }, /* last: after it, /proc/<pid> is the container's view */
};

/* Kernels before 5.8 cannot setns() with a pidfd: open every /proc/<pid>/ns file first, check
 * through the pidfd that the pid was not reused meanwhile, then join one by one. */
static int
join_by_files (int pidfd, pid_t pid, tc_error_t *err)
{
  int fds[ARRAY_SIZE (namespaces)];
  size_t i, opened = 0;
  int ret = 0;

  for (; opened < ARRAY_SIZE (namespaces); opened++)
    {
      char path[64];
      snprintf (path, sizeof path, "/proc/%d/ns/%s", (int) pid, namespaces[opened].name);
      fds[opened] = open (path, O_RDONLY | O_CLOEXEC);
      if (fds[opened] < 0)
        {
          ret = tc_make_error (err, errno, "open `%s`", path);
          break;
        }
    }
  if (ret == 0 && tc_pidfd_exited (pidfd))
    ret = tc_make_error (err, ESRCH, "container process %d exited", (int) pid);
  for (i = 0; ret == 0 && i < opened; i++)
    if (setns (fds[i], namespaces[i].type) < 0)
      ret = tc_make_error (err, errno, "setns %s of pid %d", namespaces[i].name, (int) pid);
  for (i = 0; i < opened; i++)
    close (fds[i]);
  return ret;
}

int
tc_join_container (pid_t pid, tc_error_t *err)
{
  cleanup_close int pidfd = tc_pidfd_open (pid);
  int all = 0;
  size_t i;

  if (pidfd < 0)
    return tc_make_error (err, errno, "pidfd_open container process %d", (int) pid);
  for (i = 0; i < ARRAY_SIZE (namespaces); i++)
    all |= namespaces[i].type;
  if (setns (pidfd, all) == 0)
    return 0;
  if (errno != EINVAL)
    return tc_make_error (err, errno, "setns into the namespaces of pid %d", (int) pid);
  return join_by_files (pidfd, pid, err);
}
