/* run.c - `testcell-shim run`: start one container and supervise it (PROTOCOL.md).
 *
 * Handshake with the child, numbered as in crun:
 *   sync 1  parent: clone(CLONE_NEW*) with a pidfd; the child inherits the write end of a
 *           CLOEXEC pipe, the cgroup.procs fds, the log fds and the shim's own pidfd.
 *   sync 2  parent: sets up the child's network (lo, veths, host-port listeners) while the
 *           child mounts, then writes one byte on the `go` pipe. The child waits for it at its
 *           `net` step, so it never execs before its interfaces exist; EOF = the parent failed
 *           (and killed it first), the child just exits.
 *   sync 3  child: sets itself up step by step; on failure writes one tc_error_t record
 *           into the pipe and exits.
 *   sync 4  parent: EOF on the pipe without a record = execve succeeded -> "started".
 */
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>

#include "net.h"
#include "ports.h"
#include "shim.h"
#include "util.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define EVENT_FD 4
#define SPEC_FD 3
#define NS_FLAGS (CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET)

struct run_ctx
{
  struct tc_spec spec;
  struct tc_security sec;
  struct tc_cgroup cg;
  struct tc_ports ports;
  struct tc_net net;
  int self_pidfd;  /* the shim's own pidfd: the child polls it against the PDEATHSIG race */
  int sync[2];     /* child -> parent error record; EOF = exec done */
  int go[2];       /* parent -> child: one byte once the network is ready */
  int stdio[3];    /* /dev/null, stdout log, stderr log: become the container's 0, 1, 2 */
  int rootfd;      /* child only: the overlay root */
  pid_t pid;
  int pidfd;
  int timerfd, sigfd;
  uint64_t kill_deadline; /* CLOCK_MONOTONIC ns of the pending SIGKILL, 0 = none */
  bool spec_valid;        /* never remove a state_dir from a record that failed validation */
  bool orphaned;          /* lifeline EOF: Node is gone, remove the state dir too */
  bool paused;            /* frozen by a `pause` line */
  char line[128];
  size_t line_len;
};

/* ---- events on fd 4 ---- */

static void __attribute__ ((format (printf, 1, 2)))
emit (const char *fmt, ...)
{
  static bool broken;
  char buf[4 * sizeof ((tc_error_t *) 0)->msg]; /* always holds a whole line */
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vsnprintf (buf, sizeof buf, fmt, ap);
  va_end (ap);
  if (! broken && tc_write_all (EVENT_FD, buf, (size_t) n < sizeof buf ? (size_t) n : sizeof buf - 1) < 0)
    broken = true; /* Node is gone (EPIPE) or fd 4 was not given: keep cleaning up */
}

static void
emit_error (const tc_error_t *err)
{
  char op[2 * sizeof err->op], msg[2 * sizeof err->msg];

  tc_json_escape (op, sizeof op, err->op[0] ? err->op : "clone");
  tc_json_escape (msg, sizeof msg, err->msg);
  emit ("{\"event\":\"error\",\"op\":\"%s\",\"errno\":%d,\"msg\":\"%s\"}\n", op, err->errnum, msg);
}

static void
emit_warning (const char *text)
{
  char msg[2 * sizeof ((tc_error_t *) 0)->msg];

  tc_json_escape (msg, sizeof msg, text);
  emit ("{\"event\":\"warning\",\"msg\":\"%s\"}\n", msg);
}

/* ---- the child: one step per protocol `op` ---- */

/* Adapters from the step table to the modules; each is one protocol `op`. */
static int c_parent (struct run_ctx *c, tc_error_t *err) { return tc_die_with_parent (c->self_pidfd, err); }
static int c_cgroup (struct run_ctx *c, tc_error_t *err) { return tc_cgroup_enter (&c->cg, err); }
static int c_overlay (struct run_ctx *c, tc_error_t *err) { return c->rootfd = tc_mount_overlay (&c->spec, err); }
static int c_proc (struct run_ctx *c, tc_error_t *err) { return tc_mount_proc (c->rootfd, err); }
static int c_sys (struct run_ctx *c, tc_error_t *err) { return tc_mount_sys (c->rootfd, c->spec.privileged, err); }
static int c_dev (struct run_ctx *c, tc_error_t *err) { return tc_mount_dev (c->rootfd, c->spec.shm_size, err); }
static int c_mounts (struct run_ctx *c, tc_error_t *err) { return tc_mount_extra (c->rootfd, &c->spec, err); }
static int c_pivot (struct run_ctx *c, tc_error_t *err) { return tc_pivot_into (c->rootfd, err); }
static int c_hostname (struct run_ctx *c, tc_error_t *err) { return tc_set_hostname (c->spec.hostname, err); }
static int c_exec (struct run_ctx *c, tc_error_t *err) { return tc_become_and_exec (&c->spec, &c->sec, c->self_pidfd, err); }

/* sync 2, child side: wait for the parent's network; EOF = it failed and reports why. */
static int
c_net (struct run_ctx *c, tc_error_t *err)
{
  char go;

  (void) err;
  tc_closep (&c->go[1]);
  if (TEMP_FAILURE_RETRY (read (c->go[0], &go, 1)) != 1)
    _exit (1);
  return 0;
}

static int
c_stdio (struct run_ctx *c, tc_error_t *err)
{
  int i;

  for (i = 0; i < 3; i++)
    if (dup2 (c->stdio[i], i) < 0)
      return tc_make_error (err, errno, "dup2 onto fd %d", i);
  return 0;
}

static int
c_private (struct run_ctx *c, tc_error_t *err)
{
  (void) c;
  umask (0); /* modes below are exact; tc_become_and_exec restores 022 */
  return tc_mount_make_private (err);
}

static int
c_cwd (struct run_ctx *c, tc_error_t *err)
{
  cleanup_close int root = open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  cleanup_close int fd = tc_ensure_dir (root, c->spec.cwd, (long) c->spec.uid, (long) c->spec.gid, err);

  if (fd < 0)
    return -1;
  if (fchdir (fd) < 0)
    return tc_make_error (err, errno, "chdir `%s`", c->spec.cwd);
  return 0;
}

static const struct
{
  const char *op;
  int (*fn) (struct run_ctx *, tc_error_t *);
} child_steps[] = {
  { "clone", c_parent },   { "cgroup", c_cgroup },     { "log", c_stdio }, { "mount", c_private },
  { "overlay", c_overlay }, { "proc", c_proc },        { "sys", c_sys },   { "dev", c_dev },
  { "mount", c_mounts },    { "pivot_root", c_pivot }, { "hostname", c_hostname }, { "net", c_net },
  { "cwd", c_cwd },         { "exec", c_exec }, /* sets its own op: rlimit, caps, user, lookup, seccomp or exec */
};

static __attribute__ ((noreturn)) void
child_main (struct run_ctx *c)
{
  tc_error_t err;
  size_t i;

  memset (&err, 0, sizeof err);
  for (i = 0; i < ARRAY_SIZE (child_steps); i++)
    if (child_steps[i].fn (c, &err) < 0)
      {
        tc_error_set_op (&err, child_steps[i].op);
        break;
      }
  tc_write_all (c->sync[1], &err, sizeof err); /* sync 3: one atomic record (< PIPE_BUF) */
  _exit (1);
}

/* ---- the parent ---- */

static int
open_log (const char *path, tc_error_t *err)
{
  int fd = open (path ? path : "/dev/null", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0)
    return tc_make_error (err, errno, "open log file `%s`", path ? path : "/dev/null");
  return fd;
}

/* `detach`: a session of our own, and <state_dir>/shim.pid for whoever stops the container. */
static int
detach_prepare (const char *state_dir, tc_error_t *err)
{
  char tmp[PATH_MAX], path[PATH_MAX], pid[24];
  cleanup_close int fd = -1;

  setsid (); /* fails only for a process group leader, which is as good */
  snprintf (tmp, sizeof tmp, "%s/shim.pid.tmp", state_dir);
  snprintf (path, sizeof path, "%s/shim.pid", state_dir);
  snprintf (pid, sizeof pid, "%d\n", (int) getpid ());
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0 || tc_write_all (fd, pid, strlen (pid)) < 0 || rename (tmp, path) < 0)
    return tc_make_error (err, errno, "write `%s`", path), tc_error_set_op (err, "log"), -1;
  return 0;
}

static int
run_prepare (struct run_ctx *c, tc_error_t *err)
{
  if (tc_spec_read (SPEC_FD, TC_SPEC_RUN, &c->spec, err) < 0)
    return tc_error_set_op (err, "spec"), -1;
  c->spec_valid = true; /* from here on state_dir may be removed */
  close (SPEC_FD);
  if (tc_security_prepare (&c->spec, &c->sec, emit_warning, err) < 0)
    return tc_error_set_op (err, "spec"), -1;
  if (c->spec.detach && detach_prepare (c->spec.state_dir, err) < 0)
    return -1;
  if (prctl (PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
    return tc_make_error (err, errno, "prctl PR_SET_DUMPABLE"), tc_error_set_op (err, "clone"), -1;
  c->stdio[0] = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  if (c->stdio[0] < 0)
    return tc_make_error (err, errno, "open `/dev/null`"), tc_error_set_op (err, "log"), -1;
  if ((c->stdio[1] = open_log (c->spec.stdout_path, err)) < 0
      || (c->stdio[2] = open_log (c->spec.stderr_path, err)) < 0)
    return tc_error_set_op (err, "log"), -1;
  if (c->spec.cgroup_parent && (tc_cgroup_create (&c->cg, c->spec.cgroup_parent, c->spec.id, err) < 0
                                 || tc_cgroup_set_limits (&c->cg, &c->spec, err) < 0))
    {
      if (tc_cgroup_limited (&c->spec)) /* never run without a limit that was asked for */
        return tc_error_set_op (err, "cgroup"), -1;
      /* Without limits, an unusable hierarchy only costs accounting and `pause`. */
      fprintf (stderr, "testcell-shim: note: running without a cgroup: %s\n", err->msg);
      tc_cgroup_destroy (&c->cg);
      memset (err, 0, sizeof *err);
    }
  if (tc_net_prepare (&c->net, &c->spec, err) < 0 || tc_ports_listen (&c->ports, &c->spec, err) < 0)
    return -1;
  c->self_pidfd = tc_pidfd_open (getpid ());
  if (c->self_pidfd < 0 || pipe2 (c->sync, O_CLOEXEC) < 0 || pipe2 (c->go, O_CLOEXEC) < 0)
    return tc_make_error (err, errno, "pidfd_open/pipe2"), tc_error_set_op (err, "clone"), -1;
  return 0;
}

static int
run_start (struct run_ctx *c, tc_error_t *err)
{
  tc_error_t rec;
  ssize_t n;
  int i;

  c->pid = tc_clone (c->net.host ? NS_FLAGS & ~CLONE_NEWNET : NS_FLAGS, &c->pidfd); /* sync 1 */
  if (c->pid < 0)
    return tc_make_error (err, errno, "clone with new pid, mount, uts, ipc and net namespaces"),
           tc_error_set_op (err, "clone"), -1;
  if (c->pid == 0)
    child_main (c);
  tc_closep (&c->sync[1]);
  tc_closep (&c->go[0]);
  for (i = 0; i < 3; i++)
    tc_closep (&c->stdio[i]);
  tc_cgroup_close_fds (&c->cg);
  if (tc_net_attach (&c->net, c->pid, err) < 0 || tc_ports_attach (&c->ports, c->pid, err) < 0)
    tc_pidfd_send_signal (c->pidfd, SIGKILL); /* before EOF on `go`: the child stays silent */
  else
    tc_write_all (c->go[1], "1", 1); /* sync 2 */
  tc_closep (&c->go[1]);
  n = TEMP_FAILURE_RETRY (read (c->sync[0], &rec, sizeof rec)); /* sync 4 */
  if (n == (ssize_t) sizeof rec) /* the child's failure came first: ours may follow from it */
    {
      rec.op[sizeof rec.op - 1] = rec.msg[sizeof rec.msg - 1] = '\0';
      *err = rec;
      return -1;
    }
  if (err->msg[0])
    return -1;
  if (n == 0)
    return 0;
  tc_make_error (err, n < 0 ? errno : EPROTO, "read the child's sync record (%zd bytes)", n);
  return tc_error_set_op (err, "clone"), -1;
}

static uint64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* `pause`/`resume` (and the thaw after a kill): answered by an event either way. */
static void
freeze (struct run_ctx *c, bool on)
{
  tc_error_t err;

  memset (&err, 0, sizeof err);
  if (tc_cgroup_freeze (&c->cg, on, &err) < 0)
    {
      tc_error_set_op (&err, "cgroup");
      tc_diagnose (&err);
      emit_error (&err);
      return;
    }
  c->paused = on;
  emit (on ? "{\"event\":\"paused\"}\n" : "{\"event\":\"resumed\"}\n");
}

static void
send_signal (struct run_ctx *c, int sig)
{
  if (tc_pidfd_send_signal (c->pidfd, sig) < 0 && errno != ESRCH)
    fprintf (stderr, "testcell-shim: signal %d to pid %d: %s\n", sig, (int) c->pid, strerror (errno));
  if (sig == SIGKILL && c->paused) /* frozen tasks die only once thawed (v1) */
    freeze (c, false);
}

/* `stop <ms>`: stop_signal now, SIGKILL at the earliest deadline asked for. */
static void
stop (struct run_ctx *c, unsigned long ms)
{
  uint64_t deadline = now_ns () + (uint64_t) ms * 1000000u;
  struct itimerspec its = { .it_value = { (time_t) (deadline / 1000000000u), (long) (deadline % 1000000000u) } };

  send_signal (c, (int) c->spec.stop_signal);
  if (c->paused) /* the signal is delivered on thaw */
    freeze (c, false);
  if (ms == 0)
    send_signal (c, SIGKILL);
  else if (c->kill_deadline == 0 || deadline < c->kill_deadline)
    {
      if (c->timerfd < 0)
        c->timerfd = timerfd_create (CLOCK_MONOTONIC, TFD_CLOEXEC);
      if (c->timerfd < 0 || timerfd_settime (c->timerfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        send_signal (c, SIGKILL); /* cannot wait: fail safe */
      c->kill_deadline = deadline;
    }
}

static void
control_line (struct run_ctx *c, const char *line)
{
  unsigned long v;

  if (strncmp (line, "stop ", 5) == 0 && tc_parse_ulong (line + 5, 86400000ul, &v) == 0)
    stop (c, v);
  else if (strncmp (line, "kill ", 5) == 0 && tc_parse_ulong (line + 5, 64, &v) == 0 && v > 0)
    send_signal (c, (int) v);
  else if (strcmp (line, "pause") == 0 || strcmp (line, "resume") == 0)
    freeze (c, line[0] == 'p');
  else
    fprintf (stderr, "testcell-shim: ignoring control line `%s`\n", line);
}

/* Read control lines from the lifeline; returns true on EOF (or any error: Node is gone). */
static bool
lifeline (struct run_ctx *c)
{
  char buf[512];
  ssize_t n = read (0, buf, sizeof buf), i;

  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return false;
  for (i = 0; i < n; i++)
    {
      if (buf[i] != '\n')
        {
          if (c->line_len < sizeof c->line - 1)
            c->line[c->line_len++] = buf[i];
          continue;
        }
      c->line[c->line_len] = '\0';
      control_line (c, c->line);
      c->line_len = 0;
    }
  return n <= 0;
}

static int
rm_entry (const char *path, const struct stat *st, int type, struct FTW *ftw)
{
  (void) st, (void) ftw;
  if ((type == FTW_DP || type == FTW_DNR ? rmdir (path) : unlink (path)) < 0 && errno != ENOENT)
    fprintf (stderr, "testcell-shim: remove `%s`: %s\n", path, strerror (errno));
  return 0;
}

/* Remove state_dir recursively, never following symlinks nor crossing mounts; only when it
 * looks like a state dir (upper/ and work/ present), as a guard against a wrong path. */
static void
remove_state_dir (const char *dir)
{
  char upper[PATH_MAX], work[PATH_MAX];
  struct stat st;

  snprintf (upper, sizeof upper, "%s/upper", dir);
  snprintf (work, sizeof work, "%s/work", dir);
  if (lstat (upper, &st) < 0 || ! S_ISDIR (st.st_mode) || lstat (work, &st) < 0 || ! S_ISDIR (st.st_mode))
    fprintf (stderr, "testcell-shim: not removing `%s`: no upper/ and work/ in it\n", dir);
  else if (nftw (dir, rm_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
    fprintf (stderr, "testcell-shim: remove `%s`: %s\n", dir, strerror (errno));
}

/* After a failed start: did Node already go away (lifeline at EOF, nothing waiting)? */
static bool
lifeline_gone (void)
{
  struct pollfd p = { 0, POLLIN, 0 };
  char c;

  return TEMP_FAILURE_RETRY (poll (&p, 1, 0)) == 1 && read (0, &c, 1) <= 0;
}

/* Wait for pid 1, report its end, remove what we created. */
static int
run_finish (struct run_ctx *c)
{
  siginfo_t si;
  int code, sig = 0;

  tc_ports_close (&c->ports); /* the host ports are free when Node sees `exit` */
  memset (&si, 0, sizeof si);
  if (TEMP_FAILURE_RETRY (waitid (P_PIDFD, (id_t) c->pidfd, &si, WEXITED)) < 0)
    TEMP_FAILURE_RETRY (waitid (P_PID, (id_t) c->pid, &si, WEXITED)); /* kernels < 5.4 */
  code = si.si_status;
  if (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED)
    sig = si.si_status, code = 128 + sig;
  emit ("{\"event\":\"exit\",\"code\":%d,\"signal\":%d,\"oom\":%s}\n", code, sig,
        tc_cgroup_oom_killed (&c->cg) ? "true" : "false");
  tc_cgroup_destroy (&c->cg);
  if (c->orphaned || lifeline_gone ()) /* also when pid 1 and Node ended at the same moment */
    remove_state_dir (c->spec.state_dir);
  return 0;
}

/* `detach` and lifeline EOF: keep supervising; fd 0 becomes /dev/null so nothing reuses it. */
static void
close_lifeline (void)
{
  cleanup_close int null = open ("/dev/null", O_RDONLY | O_CLOEXEC);

  if (null < 0 || dup2 (null, 0) < 0)
    close (0);
}

/* sync 4 done: poll the lifeline, pid 1's pidfd, the SIGKILL timer, SIGTERM and the ports. */
static int
run_supervise (struct run_ctx *c)
{
  enum { LIFELINE, CHILD, TIMER, SIGNAL, FIXED };
  struct pollfd *p = NULL;
  size_t cap = 0, n;
  char drain[sizeof (struct signalfd_siginfo)];
  int lifeline_fd = 0;

  for (;;)
    {
      if (cap < FIXED + tc_ports_nfds (&c->ports))
        {
          cap = 2 * (FIXED + tc_ports_nfds (&c->ports));
          free (p);
          if ((p = calloc (cap, sizeof *p)) == NULL)
            {
              send_signal (c, SIGKILL);
              return run_finish (c);
            }
        }
      p[LIFELINE] = (struct pollfd) { lifeline_fd, POLLIN, 0 };
      p[CHILD] = (struct pollfd) { c->pidfd, POLLIN, 0 };
      p[TIMER] = (struct pollfd) { c->timerfd, POLLIN, 0 };
      p[SIGNAL] = (struct pollfd) { c->sigfd, POLLIN, 0 };
      n = FIXED + tc_ports_fill (&c->ports, p + FIXED);
      if (poll (p, n, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          fprintf (stderr, "testcell-shim: poll: %s\n", strerror (errno));
          send_signal (c, SIGKILL);
          p[CHILD].revents = POLLIN;
        }
      if (p[CHILD].revents)
        {
          free (p);
          return run_finish (c);
        }
      if (p[LIFELINE].revents && lifeline (c))
        {
          c->orphaned = true; /* Node died: remove the state dir after pid 1 */
          lifeline_fd = -1;
          if (c->spec.detach)
            close_lifeline ();
          else
            send_signal (c, SIGKILL); /* pid 1 takes the whole pid ns with it */
        }
      if (p[TIMER].revents && read (c->timerfd, drain, sizeof (uint64_t)) >= 0)
        send_signal (c, SIGKILL);
      if (p[SIGNAL].revents && read (c->sigfd, drain, sizeof drain) >= 0)
        send_signal (c, SIGKILL); /* SIGTERM to the shim: stop the container now */
      tc_ports_dispatch (&c->ports, p + FIXED);
    }
}

/**
 * tc_run_main() - mode `run`: spec on fd 3, events on fd 4, lifeline on fd 0.
 *
 * Returns the process exit status: 0 after an exit event, 1 after an error event.
 */
int
tc_run_main (void)
{
  static struct run_ctx c = {
    .sync = { -1, -1 }, .go = { -1, -1 }, .stdio = { -1, -1, -1 }, .self_pidfd = -1, .rootfd = -1, .pidfd = -1, .timerfd = -1, .sigfd = -1,
    .ports = { .host_ns = -1, .container_ns = -1 },
  };
  tc_error_t err;
  sigset_t term;

  memset (&err, 0, sizeof err);
  if (fcntl (EVENT_FD, F_GETFD) < 0) /* run by hand without fd 4: keep later fds off it */
    dup2 (c.stdio[0] = open ("/dev/null", O_WRONLY | O_CLOEXEC), EVENT_FD), tc_closep (&c.stdio[0]);
  signal (SIGPIPE, SIG_IGN); /* a dead Node must not kill us before the cleanup */
  signal (SIGINT, SIG_IGN);  /* terminal signals are for Node; the lifeline tells us */
  signal (SIGHUP, SIG_IGN);
  sigemptyset (&term);
  sigaddset (&term, SIGTERM);
  sigprocmask (SIG_BLOCK, &term, NULL);
  if (run_prepare (&c, &err) == 0)
    c.sigfd = signalfd (-1, &term, SFD_CLOEXEC);
  if (err.msg[0] || run_start (&c, &err) < 0)
    {
      tc_diagnose (&err);
      emit_error (&err);
      if (c.pid > 0)
        {
          send_signal (&c, SIGKILL);
          TEMP_FAILURE_RETRY (waitpid (c.pid, NULL, 0));
        }
      tc_cgroup_destroy (&c.cg);
      tc_ports_close (&c.ports);
      if (c.spec_valid && lifeline_gone ())
        remove_state_dir (c.spec.state_dir);
      return 1;
    }
  for (size_t i = 0; i < c.ports.n; i++)
    if (! c.ports.p[i].reverse) /* a `hostport` is not published */
      emit ("{\"event\":\"port\",\"proto\":\"%s\",\"container\":%u,\"host\":%u}\n",
            c.ports.p[i].type == SOCK_STREAM ? "tcp" : "udp", c.ports.p[i].container, c.ports.p[i].host);
  emit ("{\"event\":\"started\",\"pid\":%d}\n", (int) c.pid);
  return run_supervise (&c);
}
