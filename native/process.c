/* process.c - the last steps before execve, shared by `run` (pid 1) and `exec` processes. */
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "shim.h"
#include "util.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* SIGKILL us when the shim dies. getppid() cannot tell (it is 0 across a pid ns), so the
 * early-death race is closed by polling the shim's pidfd after arming the signal. */
int
tc_die_with_parent (int parent_pidfd, tc_error_t *err)
{
  if (prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
    return tc_make_error (err, errno, "prctl PR_SET_PDEATHSIG");
  if (parent_pidfd >= 0 && tc_pidfd_exited (parent_pidfd))
    _exit (1); /* nobody is left to tell */
  return 0;
}

static const char *
env_get (const char *const *env, const char *name)
{
  size_t len = strlen (name);

  for (; *env; env++)
    if (strncmp (*env, name, len) == 0 && (*env)[len] == '=')
      return *env + len + 1;
  return NULL;
}

/* execvp's rules on the container's PATH, inside the new root, as Docker resolves argv[0]. */
static int
lookup (const char *file, const char *const *env, char *out, size_t cap, tc_error_t *err)
{
  const char *path = env_get (env, "PATH"), *dir, *end;
  bool denied = false;

  if (strchr (file, '/') != NULL)
    return snprintf (out, cap, "%s", file) < (int) cap ? 0 : tc_make_error (err, ENAMETOOLONG, "`%s`", file);
  if (path == NULL)
    path = DEFAULT_PATH;
  for (dir = path;; dir = end + 1)
    {
      struct stat st;
      end = strchrnul (dir, ':');
      if (snprintf (out, cap, "%.*s%s%s", (int) (end - dir), dir, end == dir ? "" : "/", file) < (int) cap
          && stat (out, &st) == 0 && S_ISREG (st.st_mode))
        {
          if (access (out, X_OK) == 0)
            return 0;
          denied = true;
        }
      if (*end == '\0')
        break;
    }
  return tc_make_error (err, denied ? EACCES : ENOENT, "executable file `%s` not found in $PATH `%s`", file, path);
}

/* Mark every fd above 2 close-on-exec (the sync pipe too: its EOF is the parent's "started"). */
static int
cloexec_fds (tc_error_t *err)
{
  cleanup_dir DIR *dir = NULL;
  struct dirent *de;

  if (tc_close_range_cloexec (3) == 0)
    return 0;
  dir = opendir ("/proc/self/fd"); /* kernels before 5.11 */
  if (dir == NULL)
    return tc_make_error (err, errno, "close_range and opendir `/proc/self/fd`");
  while ((de = readdir (dir)) != NULL)
    {
      int fd = atoi (de->d_name);
      if (fd > 2 && fd != dirfd (dir))
        fcntl (fd, F_SETFD, FD_CLOEXEC);
    }
  return 0;
}

static void
reset_signals (void)
{
  static const int changed[] = { SIGPIPE, SIGINT, SIGHUP, SIGTERM, SIGQUIT };
  sigset_t none;
  size_t i;

  for (i = 0; i < ARRAY_SIZE (changed); i++)
    signal (changed[i], SIG_DFL);
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
}

int
tc_become_and_exec (const struct tc_spec *spec, const struct tc_security *sec, int parent_pidfd, tc_error_t *err)
{
  const char *const *env = (const char *const *) spec->env.v;
  uint64_t caps = sec->caps;
  char exe[PATH_MAX];

  /* Loading a filter needs no_new_privs or CAP_SYS_ADMIN: keep the latter in permitted and
     effective until the filter is in. It is not in the bounding set, so execve drops it. */
  if (sec->filter.filter != NULL && ! sec->no_new_privs)
    caps |= 1ULL << CAP_SYS_ADMIN;
  if (tc_set_rlimits (sec, err) < 0)
    return tc_error_set_op (err, "rlimit"), -1;
  if (tc_drop_bounding (sec->caps, err) < 0)
    return tc_error_set_op (err, "caps"), -1;
  if (tc_set_ids ((uid_t) spec->uid, (gid_t) spec->gid, spec->groups, spec->ngroups, err) < 0
      || tc_die_with_parent (parent_pidfd, err) < 0) /* a uid change clears PDEATHSIG: re-arm */
    return tc_error_set_op (err, "user"), -1;
  if (tc_set_caps (caps, err) < 0)
    return tc_error_set_op (err, "caps"), -1;
  if (sec->no_new_privs && prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return tc_make_error (err, errno, "prctl PR_SET_NO_NEW_PRIVS"), tc_error_set_op (err, "caps"), -1;
  if (lookup (spec->arg.v[0], env, exe, sizeof exe, err) < 0)
    return tc_error_set_op (err, "lookup"), -1;
  if (cloexec_fds (err) < 0)
    return tc_error_set_op (err, "exec"), -1;
  reset_signals ();
  umask (022);
  if (tc_seccomp_load (sec, err) < 0) /* last: the filter may deny anything above */
    return tc_error_set_op (err, "seccomp"), -1;
  execve (exe, (char *const *) spec->arg.v, (char *const *) spec->env.v);
  tc_make_error (err, errno, "execve `%s`", exe);
  return tc_error_set_op (err, "exec"), -1;
}
