/* spec.c - table-driven parsing and validation of the spec record. */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"
#include "util.h"

#define MAX_RECORD (16u << 20)

enum kind
{
  K_STR,
  K_LIST,
  K_NUM,
};

static const struct key
{
  const char *name;
  enum kind kind;
  size_t off;
  unsigned modes;
  unsigned long max; /* K_NUM: the largest value; K_LIST: how many fields follow the value */
} keys[] = {
#define S(f) offsetof (struct tc_spec, f)
  { "version", K_STR, S (version), TC_SPEC_RUN | TC_SPEC_EXEC, 0 },
  { "id", K_STR, S (id), TC_SPEC_RUN, 0 },
  { "state_dir", K_STR, S (state_dir), TC_SPEC_RUN, 0 },
  { "lower", K_LIST, S (lower), TC_SPEC_RUN, 0 },
  { "hostname", K_STR, S (hostname), TC_SPEC_RUN, 0 },
  { "cwd", K_STR, S (cwd), TC_SPEC_RUN | TC_SPEC_EXEC, 0 },
  { "uid", K_NUM, S (uid), TC_SPEC_RUN | TC_SPEC_EXEC, UINT32_MAX - 1 },
  { "gid", K_NUM, S (gid), TC_SPEC_RUN | TC_SPEC_EXEC, UINT32_MAX - 1 },
  { "group", K_LIST, S (group), TC_SPEC_RUN | TC_SPEC_EXEC, 0 },
  { "env", K_LIST, S (env), TC_SPEC_RUN | TC_SPEC_EXEC, 0 },
  { "arg", K_LIST, S (arg), TC_SPEC_RUN | TC_SPEC_EXEC, 0 },
  { "stdout", K_STR, S (stdout_path), TC_SPEC_RUN, 0 },
  { "stderr", K_STR, S (stderr_path), TC_SPEC_RUN, 0 },
  { "stop_signal", K_NUM, S (stop_signal), TC_SPEC_RUN, 64 },
  { "cgroup_parent", K_STR, S (cgroup_parent), TC_SPEC_RUN, 0 },
  { "pid", K_NUM, S (pid), TC_SPEC_EXEC, INT_MAX },
  { "port", K_LIST, S (port), TC_SPEC_RUN, 0 }, /* parsed by ports.c */
  { "hostport", K_LIST, S (hostport), TC_SPEC_RUN, 0 }, /* parsed by ports.c */
  { "network", K_LIST, S (network), TC_SPEC_RUN, 2 }, /* path, ifname, addr: parsed by net.c */
  { "netmode", K_STR, S (netmode), TC_SPEC_RUN, 0 },
  /* mounts (mount.c) */
  { "bind", K_LIST, S (bind), TC_SPEC_RUN, 2 },   /* src, dest, ro|rw */
  { "tmpfs", K_LIST, S (tmpfs), TC_SPEC_RUN, 1 }, /* dest, options */
  { "mask", K_LIST, S (mask), TC_SPEC_RUN, 0 },
  { "readonly", K_LIST, S (readonly), TC_SPEC_RUN, 0 },
  { "shm_size", K_NUM, S (shm_size), TC_SPEC_RUN, LONG_MAX },
  /* security (parsed by security.c) */
  { "caps", K_STR, S (caps), TC_SPEC_RUN | TC_SPEC_EXEC, 0 },
  { "no_new_privs", K_NUM, S (no_new_privs), TC_SPEC_RUN | TC_SPEC_EXEC, 1 },
  { "seccomp_deny", K_STR, S (seccomp_deny), TC_SPEC_RUN | TC_SPEC_EXEC, 0 },
  { "seccomp_errno", K_LIST, S (seccomp_errno), TC_SPEC_RUN | TC_SPEC_EXEC, 0 },
  { "rlimit", K_LIST, S (rlimit), TC_SPEC_RUN | TC_SPEC_EXEC, 0 },
  { "privileged", K_NUM, S (privileged), TC_SPEC_RUN | TC_SPEC_EXEC, 1 },
  /* resources (cgroup.c), detach (run.c) */
  { "memory", K_NUM, S (memory), TC_SPEC_RUN, LONG_MAX },
  { "cpu_quota", K_NUM, S (cpu_quota), TC_SPEC_RUN, LONG_MAX },
  { "cpu_period", K_NUM, S (cpu_period), TC_SPEC_RUN, UINT32_MAX },
  { "pids", K_NUM, S (pids), TC_SPEC_RUN, INT_MAX },
  { "detach", K_NUM, S (detach), TC_SPEC_RUN, 1 },
  { "cgroup", K_STR, S (cgroup), TC_SPEC_EXEC, 0 },
#undef S
};

int
tc_record_fields (char *buf, size_t len, const char ***fields, size_t *n, tc_error_t *err)
{
  size_t i, count = 0, k = 0;
  const char **f;

  if (len > 0 && buf[len - 1] != '\0')
    return tc_make_error (err, EINVAL, "record: last field is not NUL-terminated");
  for (i = 0; i < len; i++)
    count += buf[i] == '\0';
  f = calloc (count + 1, sizeof *f);
  if (f == NULL)
    return tc_make_error (err, ENOMEM, "record");
  for (i = 0; i < len; i += strlen (buf + i) + 1)
    f[k++] = buf + i;
  *fields = f;
  *n = count;
  return 0;
}

static int
strv_push (struct tc_strv *sv, const char *s)
{
  if (sv->n + 1 >= sv->cap)
    {
      size_t cap = sv->cap ? sv->cap * 2 : 8;
      const char **v = realloc (sv->v, cap * sizeof *v);
      if (v == NULL)
        return -1;
      sv->v = v;
      sv->cap = cap;
    }
  sv->v[sv->n++] = s;
  sv->v[sv->n] = NULL;
  return 0;
}

static int
set_key (struct tc_spec *spec, const struct key *k, const char *value, tc_error_t *err)
{
  char *base = (char *) spec + k->off;

  switch (k->kind)
    {
    case K_STR:
      *(const char **) base = value;
      return 0;
    case K_LIST:
      if (strv_push ((struct tc_strv *) base, value) < 0)
        return tc_make_error (err, ENOMEM, "spec key `%s`", k->name);
      return 0;
    case K_NUM:
      if (tc_parse_ulong (value, k->max, (unsigned long *) base) < 0)
        return tc_make_error (err, EINVAL, "spec key `%s`: expected a number up to %lu, got `%s`", k->name,
                              k->max, value);
      return 0;
    }
  return 0;
}

const char *
tc_spec_field (const char *value, size_t k)
{
  for (; k > 0; k--)
    value += strlen (value) + 1;
  return value;
}

int
tc_path_ok (const char *p, int absolute)
{
  const char *c;

  if (*p == '\0' || (*p == '/') != (absolute != 0))
    return 0;
  for (c = p; (c = strstr (c, "..")) != NULL; c += 2)
    if ((c == p || c[-1] == '/') && (c[2] == '\0' || c[2] == '/'))
      return 0;
  return 1;
}

static int
validate_common (struct tc_spec *spec, tc_error_t *err)
{
  size_t i;

  if (spec->arg.n == 0)
    return tc_make_error (err, EINVAL, "spec: no `arg` given");
  for (i = 0; i < spec->env.n; i++)
    if (strchr (spec->env.v[i], '=') == NULL || spec->env.v[i][0] == '=')
      return tc_make_error (err, EINVAL, "spec key `env`: expected KEY=VALUE, got `%s`", spec->env.v[i]);
  if (spec->env.v == NULL && (spec->env.v = calloc (1, sizeof *spec->env.v)) == NULL)
    return tc_make_error (err, ENOMEM, "spec");
  if (spec->cwd == NULL)
    spec->cwd = "/";
  if (! tc_path_ok (spec->cwd, 1))
    return tc_make_error (err, EINVAL, "spec key `cwd`: expected an absolute path, got `%s`", spec->cwd);
  spec->groups = calloc (spec->group.n + 1, sizeof *spec->groups);
  if (spec->groups == NULL)
    return tc_make_error (err, ENOMEM, "spec");
  for (i = 0; i < spec->group.n; i++)
    {
      unsigned long g;
      if (tc_parse_ulong (spec->group.v[i], UINT32_MAX - 1, &g) < 0)
        return tc_make_error (err, EINVAL, "spec key `group`: expected a number, got `%s`", spec->group.v[i]);
      spec->groups[spec->ngroups++] = (gid_t) g;
    }
  return 0;
}

/* Field @k of every value of @sv must be an absolute clean path, and not `/` itself. */
static int
check_paths (const struct tc_strv *sv, const char *key, size_t k, tc_error_t *err)
{
  size_t i;

  for (i = 0; i < sv->n; i++)
    {
      const char *p = tc_spec_field (sv->v[i], k);
      if (! tc_path_ok (p, 1) || p[strspn (p, "/")] == '\0')
        return tc_make_error (err, EINVAL, "spec key `%s`: expected an absolute path below `/`, got `%s`", key, p);
    }
  return 0;
}

static int
validate_mounts (struct tc_spec *spec, tc_error_t *err)
{
  size_t i;

  for (i = 0; i < spec->bind.n; i++)
    {
      const char *src = spec->bind.v[i], *mode = tc_spec_field (src, 2);
      if (! tc_path_ok (src, 1) || (strcmp (mode, "ro") != 0 && strcmp (mode, "rw") != 0))
        return tc_make_error (err, EINVAL,
                              "spec key `bind`: expected an absolute source and `ro` or `rw`, got `%s` `%s`", src, mode);
    }
  if (check_paths (&spec->bind, "bind", 1, err) < 0 || check_paths (&spec->tmpfs, "tmpfs", 0, err) < 0
      || check_paths (&spec->mask, "mask", 0, err) < 0 || check_paths (&spec->readonly, "readonly", 0, err) < 0)
    return -1;
  if ((spec->memory || spec->cpu_quota || spec->cpu_period || spec->pids) && spec->cgroup_parent == NULL)
    return tc_make_error (err, EINVAL, "spec keys `memory`, `cpu_quota`, `cpu_period`, `pids` need `cgroup_parent`");
  return 0;
}

static int
validate_run (struct tc_spec *spec, tc_error_t *err)
{
  size_t i;

  if (spec->state_dir == NULL || ! tc_path_ok (spec->state_dir, 1) || strcmp (spec->state_dir, "/") == 0)
    return tc_make_error (err, EINVAL, "spec key `state_dir`: expected an absolute path below /, got `%s`",
                          spec->state_dir ? spec->state_dir : "(none)");
  if (spec->lower.n == 0)
    return tc_make_error (err, EINVAL, "spec: no `lower` layer given");
  for (i = 0; i < spec->lower.n; i++)
    if (! tc_path_ok (spec->lower.v[i], 1) || strpbrk (spec->lower.v[i], ",:\\") != NULL)
      return tc_make_error (err, EINVAL, "spec key `lower`: expected an absolute path without `,` `:` `\\`, got `%s`",
                            spec->lower.v[i]);
  if (strpbrk (spec->state_dir, ",:\\") != NULL)
    return tc_make_error (err, EINVAL, "spec key `state_dir`: `,` `:` `\\` cannot be passed to overlayfs");
  if ((spec->stdout_path && ! tc_path_ok (spec->stdout_path, 1))
      || (spec->stderr_path && ! tc_path_ok (spec->stderr_path, 1)))
    return tc_make_error (err, EINVAL, "spec keys `stdout`/`stderr`: expected absolute paths");
  if (spec->hostname && (strlen (spec->hostname) > 64 || spec->hostname[0] == '\0'))
    return tc_make_error (err, EINVAL, "spec key `hostname`: expected 1 to 64 characters, got `%s`", spec->hostname);
  if (spec->stop_signal == 0)
    spec->stop_signal = SIGTERM;
  if (spec->id && (spec->id[0] == '\0' || spec->id[strspn (spec->id, "0123456789abcdefABCDEF")] != '\0'))
    return tc_make_error (err, EINVAL, "spec key `id`: expected hex digits, got `%s`", spec->id);
  if (spec->cgroup_parent && (spec->id == NULL || ! tc_path_ok (spec->cgroup_parent, 0)))
    return tc_make_error (err, EINVAL, "spec key `cgroup_parent`: needs `id` and a relative path, got `%s`",
                          spec->cgroup_parent);
  return validate_mounts (spec, err);
}

int
tc_spec_read (int fd, enum tc_spec_mode mode, struct tc_spec *spec, tc_error_t *err)
{
  char *buf = NULL; /* lives for the whole process: the spec points into it */
  const char **f = NULL;
  uint64_t seen = 0;
  size_t len, n, i, j, more = 0;

  memset (spec, 0, sizeof *spec);
  if (fcntl (fd, F_GETFD) < 0)
    return tc_make_error (err, errno, "spec fd %d is not open", fd);
  if (tc_read_all (fd, &buf, &len, MAX_RECORD, err) < 0 || tc_record_fields (buf, len, &f, &n, err) < 0)
    return -1;
  if (n < 2 || strcmp (f[0], "version") != 0 || strcmp (f[1], "1") != 0)
    return tc_make_error (err, EINVAL, "spec: the first pair must be `version` `1`");
  _Static_assert (ARRAY_SIZE (keys) <= 64, "`seen` has one bit per key");
  for (i = 0; i < n; i += 2 + more)
    {
      for (j = 0; j < ARRAY_SIZE (keys); j++)
        if ((keys[j].modes & mode) && strcmp (keys[j].name, f[i]) == 0)
          break;
      if (j == ARRAY_SIZE (keys))
        return tc_make_error (err, EINVAL, "spec: unknown key `%s`", f[i]);
      more = keys[j].kind == K_LIST ? keys[j].max : 0;
      if (n - i < 2 + more)
        return tc_make_error (err, EINVAL, "spec key `%s`: expected %zu value field(s), got %zu", f[i], 1 + more, n - i - 1);
      if (keys[j].kind != K_LIST && (seen & (1ull << j)))
        return tc_make_error (err, EINVAL, "spec: key `%s` given twice", f[i]);
      seen |= 1ull << j;
      if (set_key (spec, &keys[j], f[i + 1], err) < 0)
        return -1;
    }
  free (f);
  if (validate_common (spec, err) < 0)
    return -1;
  if (mode == TC_SPEC_EXEC && spec->pid == 0)
    return tc_make_error (err, EINVAL, "spec: no `pid` given");
  if (spec->cgroup && ! tc_path_ok (spec->cgroup, 0))
    return tc_make_error (err, EINVAL, "spec key `cgroup`: expected a relative path, got `%s`", spec->cgroup);
  return mode == TC_SPEC_RUN ? validate_run (spec, err) : 0;
}
