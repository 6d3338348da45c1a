/* cgroup.c - one cgroup per container: v1 (memory, pids, cpu, freezer) or v2 (unified).
 * Protocol v1 sets no limits, so a host without usable hierarchies simply gets no cgroup. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "shim.h"
#include "util.h"

static const char *const wanted[] = { "memory", "pids", "cpu", "freezer" };

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

static int
add_hierarchy (struct tc_cgroup *cg, const char *mnt, bool memory, const char *parent, const char *id,
               tc_error_t *err)
{
  char path[PATH_MAX], *p;
  size_t i;

  snprintf (path, sizeof path, "%s/%s/%s", mnt, parent, id);
  for (i = 0; i < cg->n; i++)
    if (strcmp (cg->dirs[i], path) == 0) /* co-mounted controllers, e.g. cpu,cpuacct */
      {
        if (memory)
          cg->mem = (int) i;
        return 0;
      }
  if (cg->n == TC_CGROUP_MAX)
    return 0;
  for (p = path + strlen (mnt) + 1; (p = strchr (p, '/')) != NULL; p++) /* mkdir -p <parent> */
    {
      *p = '\0';
      if (mkdir (path, 0755) < 0 && errno != EEXIST)
        return tc_make_error (err, errno, "mkdir `%s`", path);
      *p = '/';
    }
  if (mkdir (path, 0755) < 0 && errno != EEXIST)
    return tc_make_error (err, errno, "mkdir `%s`", path);
  if ((cg->dirs[cg->n] = strdup (path)) == NULL)
    return tc_make_error (err, ENOMEM, "mkdir `%s`", path);
  cg->procs[cg->n] = -1;
  cg->n++; /* from here on tc_cgroup_destroy() removes it */
  strncat (path, "/cgroup.procs", sizeof path - strlen (path) - 1);
  cg->procs[cg->n - 1] = open (path, O_WRONLY | O_CLOEXEC);
  if (cg->procs[cg->n - 1] < 0)
    return tc_make_error (err, errno, "open `%s`", path);
  if (memory)
    cg->mem = (int) cg->n - 1;
  return 0;
}

/* In the unified hierarchy, are any of the wanted controllers available? */
static bool
v2_usable (const char *mnt, bool *memory)
{
  char path[PATH_MAX], *buf = NULL;
  tc_error_t ignored;
  cleanup_close int fd = -1;
  size_t len, i;
  bool any = false;

  if (snprintf (path, sizeof path, "%s/cgroup.controllers", mnt) >= (int) sizeof path)
    return false;
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || tc_read_all (fd, &buf, &len, 4096, &ignored) < 0)
    return false;
  for (i = 0; i < ARRAY_SIZE (wanted); i++)
    any |= has_word (buf, wanted[i], ' ');
  *memory = has_word (buf, "memory", ' ');
  free (buf);
  return any;
}

int
tc_cgroup_create (struct tc_cgroup *cg, const char *parent, const char *id, tc_error_t *err)
{
  cleanup_free char *info = NULL;
  cleanup_close int fd = open ("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  char v2[PATH_MAX] = "", *line, *save = NULL;
  bool memory = false;
  size_t len, i;

  cg->mem = -1;
  if (fd < 0 || tc_read_all (fd, &info, &len, 1 << 22, err) < 0)
    return tc_make_error (err, errno, "read `/proc/self/mountinfo`");
  for (line = strtok_r (info, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      char mnt[PATH_MAX], type[32], opts[512];
      const char *tail = strstr (line, " - ");

      /* "<id> <parent> <maj:min> <root> <mount point> ... - <fstype> <source> <super options>" */
      if (tail == NULL || sscanf (line, "%*s %*s %*s %*s %4095s", mnt) != 1
          || sscanf (tail, " - %31s %*s %511s", type, opts) != 2)
        continue;
      if (strcmp (type, "cgroup2") == 0)
        snprintf (v2, sizeof v2, "%s", mnt);
      else if (strcmp (type, "cgroup") == 0)
        for (i = 0; i < ARRAY_SIZE (wanted); i++)
          if (has_word (opts, wanted[i], ',')
              && add_hierarchy (cg, mnt, strcmp (wanted[i], "memory") == 0, parent, id, err) < 0)
            return -1;
    }
  if (cg->n == 0 && v2[0] && v2_usable (v2, &memory))
    {
      cg->v2 = true;
      return add_hierarchy (cg, v2, memory, parent, id, err);
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

/* The kernel's OOM killer count: memory.oom_control (v1) or memory.events (v2). */
bool
tc_cgroup_oom_killed (const struct tc_cgroup *cg)
{
  cleanup_free char *buf = NULL;
  cleanup_close int fd = -1;
  char path[PATH_MAX];
  const char *p;
  tc_error_t ignored;
  size_t len;

  if (cg->mem < 0)
    return false;
  snprintf (path, sizeof path, "%s/%s", cg->dirs[cg->mem], cg->v2 ? "memory.events" : "memory.oom_control");
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || tc_read_all (fd, &buf, &len, 65536, &ignored) < 0)
    return false;
  p = strstr (buf, "oom_kill ");
  return p != NULL && (p == buf || p[-1] == '\n') && strtoul (p + 9, NULL, 10) > 0;
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
