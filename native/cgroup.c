/* cgroup.c - one cgroup per container, detected at run time from /proc/self/mountinfo: the v1
 * hierarchies holding memory, pids, cpu or freezer, or else the v2 unified hierarchy. Creation,
 * limits, the OOM count, the freezer, joining from `exec`, and removal. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "shim.h"
#include "util.h"

static const char *const controllers[TC_CG_N] = { "memory", "pids", "cpu", "freezer" };

struct hierarchy
{
  char mnt[PATH_MAX];
  unsigned ctls; /* 1 << TC_CG_* of the v1 controllers mounted there; 0 for v2 */
};

/* Is @tok one of the @sep-separated words of @list? */
static bool
has_word (const char *list, const char *tok, char sep)
{
  size_t len = strlen (tok);
  const char *p;

  for (p = list; (p = strstr (p, tok)) != NULL; p += len)
    if ((p == list || p[-1] == sep) && (p[len] == sep || p[len] == '\0' || p[len] == '\n'))
      return true;
  return false;
}

/* The directory of controller @ctl, or NULL (also for a zeroed, never created struct). */
static const char *
ctl_dir (const struct tc_cgroup *cg, int ctl)
{
  return cg->ctl[ctl] >= 0 && (size_t) cg->ctl[ctl] < cg->n ? cg->dirs[cg->ctl[ctl]] : NULL;
}

/* Cgroup files are short: read one into @buf, NUL-terminated. */
static int
read_file (const char *dir, const char *name, char *buf, size_t cap)
{
  char path[PATH_MAX];
  cleanup_close int fd = -1;
  ssize_t n;

  snprintf (path, sizeof path, "%s/%s", dir, name);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || (n = TEMP_FAILURE_RETRY (read (fd, buf, cap - 1))) < 0)
    return -1;
  buf[n] = '\0';
  return 0;
}

static int
write_file (const char *dir, const char *name, const char *value, tc_error_t *err)
{
  char path[PATH_MAX];
  cleanup_close int fd = -1;

  snprintf (path, sizeof path, "%s/%s", dir, name);
  fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || TEMP_FAILURE_RETRY (write (fd, value, strlen (value))) < 0)
    return tc_make_error (err, errno, "write `%s` to `%s`", value, path);
  return 0;
}

/* The hierarchies a container uses: each v1 one with a wanted controller, else the v2 one. */
static int
find_hierarchies (struct hierarchy *h, size_t *n, bool *v2, tc_error_t *err)
{
  cleanup_free char *info = NULL;
  cleanup_close int fd = open ("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  char unified[PATH_MAX] = "", *line, *save = NULL;
  unsigned seen = 0;
  size_t len;
  int i;

  *n = 0;
  if (fd < 0 || tc_read_all (fd, &info, &len, 1 << 22, err) < 0)
    return tc_make_error (err, errno, "read `/proc/self/mountinfo`");
  for (line = strtok_r (info, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      char mnt[PATH_MAX], type[32], opts[512];
      const char *tail = strstr (line, " - ");
      unsigned ctls = 0;

      /* "<id> <parent> <maj:min> <root> <mount point> ... - <fstype> <source> <super options>" */
      if (tail == NULL || sscanf (line, "%*s %*s %*s %*s %4095s", mnt) != 1
          || sscanf (tail, " - %31s %*s %511s", type, opts) != 2)
        continue;
      if (strcmp (type, "cgroup2") == 0 && unified[0] == '\0')
        snprintf (unified, sizeof unified, "%s", mnt);
      if (strcmp (type, "cgroup") != 0)
        continue;
      for (i = 0; i < TC_CG_N; i++)
        if (has_word (opts, controllers[i], ','))
          ctls |= 1u << i;
      if ((ctls & ~seen) == 0 || *n == TC_CGROUP_MAX) /* none we want, or mounted twice */
        continue;
      seen |= ctls;
      snprintf (h[*n].mnt, sizeof h[*n].mnt, "%s", mnt);
      h[(*n)++].ctls = ctls;
    }
  *v2 = *n == 0 && unified[0] != '\0';
  if (*v2)
    {
      snprintf (h[0].mnt, sizeof h[0].mnt, "%s", unified);
      h[0].ctls = 0;
      *n = 1;
    }
  return 0;
}

/* Record @path as the container's dir for @ctls and open its cgroup.procs for the child. */
static int
add_dir (struct tc_cgroup *cg, const char *path, unsigned ctls, tc_error_t *err)
{
  char procs[PATH_MAX];
  int i;

  if ((cg->dirs[cg->n] = strdup (path)) == NULL)
    return tc_make_error (err, ENOMEM, "cgroup `%s`", path);
  cg->procs[cg->n] = -1;
  for (i = 0; i < TC_CG_N; i++)
    if (ctls & (1u << i))
      cg->ctl[i] = (int) cg->n;
  cg->n++; /* from here on tc_cgroup_destroy() removes it */
  snprintf (procs, sizeof procs, "%s/cgroup.procs", path);
  cg->procs[cg->n - 1] = open (procs, O_WRONLY | O_CLOEXEC);
  if (cg->procs[cg->n - 1] < 0)
    return tc_make_error (err, errno, "open `%s`", procs);
  return 0;
}

/* v2: offer memory, pids and cpu to the children of @dir, where @dir has them. Failures are
 * left to tc_cgroup_set_limits(), which names the controller that is missing. */
static void
v2_enable (const char *dir)
{
  char avail[4096], plus[16];
  tc_error_t ignored;
  int i;

  if (read_file (dir, "cgroup.controllers", avail, sizeof avail) < 0)
    return;
  for (i = 0; i < TC_CG_FREEZER; i++)
    if (has_word (avail, controllers[i], ' '))
      {
        snprintf (plus, sizeof plus, "+%s", controllers[i]);
        write_file (dir, "cgroup.subtree_control", plus, &ignored);
      }
}

/* mkdir -p <mnt>/<rest of path>; on v2, enable controllers at each level on the way down. */
static int
mkdir_cgroup (const char *mnt, char *path, bool v2, tc_error_t *err)
{
  char *p = path + strlen (mnt); /* the '/' after the hierarchy's root */

  do
    {
      *p = '\0';
      if (v2)
        v2_enable (path);
      *p = '/';
      if ((p = strchr (p + 1, '/')) != NULL)
        *p = '\0';
      if (mkdir (path, 0755) < 0 && errno != EEXIST)
        return tc_make_error (err, errno, "mkdir `%s`", path);
      if (p != NULL)
        *p = '/';
    }
  while (p != NULL);
  return 0;
}

int
tc_cgroup_create (struct tc_cgroup *cg, const char *parent, const char *id, tc_error_t *err)
{
  struct hierarchy h[TC_CGROUP_MAX];
  char path[PATH_MAX], avail[4096];
  size_t nh, i;
  int c;

  for (c = 0; c < TC_CG_N; c++)
    cg->ctl[c] = -1;
  if (find_hierarchies (h, &nh, &cg->v2, err) < 0)
    return -1;
  for (i = 0; i < nh; i++)
    {
      if (snprintf (path, sizeof path, "%s/%s/%s", h[i].mnt, parent, id) >= (int) sizeof path)
        return tc_make_error (err, ENAMETOOLONG, "cgroup `%s/%s`", parent, id);
      if (mkdir_cgroup (h[i].mnt, path, cg->v2, err) < 0 || add_dir (cg, path, h[i].ctls, err) < 0)
        return -1;
    }
  if (cg->v2 && cg->n == 1) /* what the leaf really got */
    {
      if (read_file (path, "cgroup.controllers", avail, sizeof avail) == 0)
        for (c = 0; c < TC_CG_FREEZER; c++)
          if (has_word (avail, controllers[c], ' '))
            cg->ctl[c] = 0;
      snprintf (path, sizeof path, "%s/cgroup.freeze", cg->dirs[0]);
      if (access (path, F_OK) == 0) /* Linux >= 5.2 */
        cg->ctl[TC_CG_FREEZER] = 0;
    }
  return 0;
}

int
tc_cgroup_open (struct tc_cgroup *cg, const char *rel, tc_error_t *err)
{
  struct hierarchy h[TC_CGROUP_MAX];
  char path[PATH_MAX];
  size_t nh, i;
  int c;

  for (c = 0; c < TC_CG_N; c++)
    cg->ctl[c] = -1;
  if (find_hierarchies (h, &nh, &cg->v2, err) < 0)
    return -1;
  for (i = 0; i < nh; i++)
    {
      if (snprintf (path, sizeof path, "%s/%s", h[i].mnt, rel) >= (int) sizeof path)
        return tc_make_error (err, ENAMETOOLONG, "cgroup `%s`", rel);
      if (access (path, F_OK) < 0 && errno == ENOENT) /* a hierarchy the container did not use */
        continue;
      if (add_dir (cg, path, h[i].ctls, err) < 0)
        return -1;
    }
  return 0;
}

bool
tc_cgroup_limited (const struct tc_spec *spec)
{
  return spec->memory || spec->cpu_quota || spec->cpu_period || spec->pids;
}

/* Write @value to @file of controller @ctl; @optional: a missing file is fine. */
static int
set_limit (struct tc_cgroup *cg, int ctl, const char *file, const char *value, bool optional, tc_error_t *err)
{
  const char *dir = ctl_dir (cg, ctl);

  if (dir == NULL)
    return tc_make_error (err, EOPNOTSUPP, "cgroup controller `%s` is not available (%s): cannot write `%s`",
                          controllers[ctl],
                          cg->v2 ? "not in the v2 cgroup's cgroup.controllers" : "no v1 hierarchy has it", file);
  if (write_file (dir, file, value, err) < 0)
    return optional && errno == ENOENT ? 0 : -1;
  return 0;
}

int
tc_cgroup_set_limits (struct tc_cgroup *cg, const struct tc_spec *spec, tc_error_t *err)
{
  unsigned long period = spec->cpu_period ? spec->cpu_period : 100000;
  char v[64], q[32];

  if (spec->memory)
    {
      snprintf (v, sizeof v, "%lu", spec->memory);
      if (set_limit (cg, TC_CG_MEMORY, cg->v2 ? "memory.max" : "memory.limit_in_bytes", v, false, err) < 0
          /* no swap on top (v1: memory+swap = the limit); only where the kernel accounts swap */
          || set_limit (cg, TC_CG_MEMORY, cg->v2 ? "memory.swap.max" : "memory.memsw.limit_in_bytes", cg->v2 ? "0" : v,
                        true, err) < 0)
        return -1;
    }
  if (spec->cpu_quota || spec->cpu_period)
    {
      if (spec->cpu_quota)
        snprintf (q, sizeof q, "%lu", spec->cpu_quota);
      if (cg->v2)
        {
          snprintf (v, sizeof v, "%s %lu", spec->cpu_quota ? q : "max", period);
          if (set_limit (cg, TC_CG_CPU, "cpu.max", v, false, err) < 0)
            return -1;
        }
      else
        {
          snprintf (v, sizeof v, "%lu", period);
          if (set_limit (cg, TC_CG_CPU, "cpu.cfs_period_us", v, false, err) < 0
              || (spec->cpu_quota && set_limit (cg, TC_CG_CPU, "cpu.cfs_quota_us", q, false, err) < 0))
            return -1;
        }
    }
  if (spec->pids)
    {
      snprintf (v, sizeof v, "%lu", spec->pids);
      if (set_limit (cg, TC_CG_PIDS, "pids.max", v, false, err) < 0)
        return -1;
    }
  return 0;
}

int
tc_cgroup_enter (struct tc_cgroup *cg, tc_error_t *err)
{
  size_t i;

  for (i = 0; i < cg->n; i++)
    if (TEMP_FAILURE_RETRY (write (cg->procs[i], "0", 1)) < 0)
      return tc_make_error (err, errno, "join cgroup `%s`", cg->dirs[i]);
  tc_cgroup_close_fds (cg);
  return 0;
}

void
tc_cgroup_close_fds (struct tc_cgroup *cg)
{
  size_t i;

  for (i = 0; i < cg->n; i++)
    tc_closep (&cg->procs[i]), cg->procs[i] = -1;
}

/* Does @buf (a cgroup file) hold the line @line? */
static bool
has_line (const char *buf, const char *line)
{
  return has_word (buf, line, '\n');
}

/* The kernel's OOM killer count: memory.oom_control (v1) or memory.events (v2). */
bool
tc_cgroup_oom_killed (const struct tc_cgroup *cg)
{
  const char *dir = ctl_dir (cg, TC_CG_MEMORY), *p;
  char buf[4096];

  if (dir == NULL || read_file (dir, cg->v2 ? "memory.events" : "memory.oom_control", buf, sizeof buf) < 0)
    return false;
  p = strstr (buf, "oom_kill ");
  return p != NULL && (p == buf || p[-1] == '\n') && strtoul (p + 9, NULL, 10) > 0;
}

/* v1 freezer.state FROZEN/THAWED, v2 cgroup.freeze 1/0 with `frozen 1/0` in cgroup.events:
 * write, then poll until the kernel reports the state (v1 goes through FREEZING). */
int
tc_cgroup_freeze (struct tc_cgroup *cg, bool frozen, tc_error_t *err)
{
  const char *dir = ctl_dir (cg, TC_CG_FREEZER), *file = cg->v2 ? "cgroup.freeze" : "freezer.state";
  const char *value = cg->v2 ? (frozen ? "1" : "0") : (frozen ? "FROZEN" : "THAWED");
  const char *events = cg->v2 ? "cgroup.events" : "freezer.state";
  const char *want = cg->v2 ? (frozen ? "frozen 1" : "frozen 0") : value;
  char state[4096];
  tc_error_t ignored;
  int i;

  if (dir == NULL)
    return tc_make_error (err, EOPNOTSUPP, "the container has no freezer cgroup (v1 `freezer` hierarchy or v2 "
                                           "`cgroup.freeze`; is `cgroup_parent` set?)");
  for (i = 0; i < 2000; i++) /* 2 s */
    {
      if (write_file (dir, file, value, err) < 0) /* again each round: v1 retries a stuck FREEZING */
        return -1;
      if (read_file (dir, events, state, sizeof state) < 0)
        return tc_make_error (err, errno, "read `%s/%s`", dir, events);
      if (has_line (state, want))
        return 0;
      nanosleep (&(struct timespec){ 0, 1000000 }, NULL);
    }
  if (frozen)
    write_file (dir, file, cg->v2 ? "0" : "THAWED", &ignored);
  return tc_make_error (err, ETIMEDOUT, "`%s/%s` did not reach `%s`", dir, events, want);
}

void
tc_cgroup_destroy (struct tc_cgroup *cg)
{
  size_t i;
  int tries;

  tc_cgroup_close_fds (cg);
  for (i = 0; i < cg->n; i++)
    {
      /* All tasks are gone once pid 1 is reaped, but a dying task can keep a cgroup busy
         for a moment: retry EBUSY briefly (only on this cleanup path). */
      for (tries = 0; rmdir (cg->dirs[i]) < 0 && errno == EBUSY && tries < 50; tries++)
        nanosleep (&(struct timespec){ 0, 1000000 }, NULL);
      free (cg->dirs[i]);
    }
  cg->n = 0;
}
