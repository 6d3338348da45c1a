/* exec.c - `testcell-shim exec`: run one more process inside a running container.
 * Exit status: the process's own, 128+signal, or Docker's 125/126/127 for our failures. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "shim.h"
#include "util.h"

static pid_t child_pid;

static void
forward_signal (int sig)
{
  if (child_pid > 0)
    kill (child_pid, sig);
}

/* Docker's codes: 127 command not found, 126 not executable, 125 anything else of ours. */
static int
exit_code_for (const tc_error_t *err)
{
  bool launch = strcmp (err->op, "lookup") == 0 || strcmp (err->op, "exec") == 0;

  if (launch && err->errnum == ENOENT)
    return 127;
  return launch ? 126 : 125;
}

static int
fail (const tc_error_t *err)
{
  fprintf (stderr, "testcell-shim: exec: %s: %s\n", err->op, err->msg);
  return exit_code_for (err);
}

static void
warn_stderr (const char *msg)
{
  fprintf (stderr, "testcell-shim: exec: warning: %s\n", msg);
}

/* In the forked process, already inside the pid ns: set up and execve, or return an error. */
static int
exec_child (const struct tc_spec *spec, const struct tc_security *sec, struct tc_cgroup *cg, int parent_pidfd,
            tc_error_t *err)
{
  if (tc_cgroup_enter (cg, err) < 0) /* first: as root, before anything runs in the container */
    return tc_error_set_op (err, "cgroup"), -1;
  if (tc_die_with_parent (parent_pidfd, err) < 0)
    return tc_error_set_op (err, "clone"), -1;
  setsid (); /* no terminal signals from Node's process group */
  if (chdir (spec->cwd) < 0)
    return tc_make_error (err, errno, "chdir `%s`", spec->cwd), tc_error_set_op (err, "cwd"), -1;
  return tc_become_and_exec (spec, sec, parent_pidfd, err);
}

static int
wait_child (pid_t pid)
{
  static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
  struct sigaction sa;
  size_t i;
  int status;

  memset (&sa, 0, sizeof sa);
  sa.sa_handler = forward_signal;
  sa.sa_flags = SA_RESTART;
  child_pid = pid;
  for (i = 0; i < ARRAY_SIZE (forwarded); i++)
    sigaction (forwarded[i], &sa, NULL);
  if (TEMP_FAILURE_RETRY (waitpid (pid, &status, 0)) < 0)
    return 125;
  return WIFSIGNALED (status) ? 128 + WTERMSIG (status) : WEXITSTATUS (status);
}

/**
 * tc_exec_main() - mode `exec`: spec on fd 3; fds 0, 1, 2 are the process's own.
 */
int
tc_exec_main (void)
{
  struct tc_spec spec;
  struct tc_security sec;
  struct tc_cgroup cg = { .n = 0 };
  tc_error_t err;
  int self_pidfd;
  pid_t pid;

  memset (&err, 0, sizeof err);
  if (tc_spec_read (3, TC_SPEC_EXEC, &spec, &err) < 0)
    return tc_error_set_op (&err, "spec"), fail (&err);
  close (3);
  if (tc_security_prepare (&spec, &sec, warn_stderr, &err) < 0)
    return tc_error_set_op (&err, "spec"), fail (&err);
  /* `cgroup`: the container's cgroup, opened while the host's cgroupfs is still visible */
  if (spec.cgroup && tc_cgroup_open (&cg, spec.cgroup, &err) < 0)
    return tc_error_set_op (&err, "cgroup"), fail (&err);
  if (prctl (PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) /* before joining: CVE-2019-5736 */
    return tc_make_error (&err, errno, "prctl PR_SET_DUMPABLE"), tc_error_set_op (&err, "clone"), fail (&err);
  self_pidfd = tc_pidfd_open (getpid ());
  if (tc_join_container ((pid_t) spec.pid, &err) < 0)
    return tc_error_set_op (&err, "setns"), fail (&err);
  pid = fork (); /* setns(CLONE_NEWPID) applies to children only */
  if (pid < 0)
    return tc_make_error (&err, errno, "fork"), tc_error_set_op (&err, "clone"), fail (&err);
  if (pid == 0)
    {
      exec_child (&spec, &sec, &cg, self_pidfd, &err);
      _exit (fail (&err));
    }
  tc_cgroup_close_fds (&cg);
  return wait_child (pid);
}
