/* fixup.c - `testcell-shim fixup <layer_dir>`: the special files of an unpacked layer that
 * Node cannot make (whiteouts, opaque dirs, device nodes, trusted.* xattrs). Every path is
 * resolved below <layer_dir> with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS and the last component
 * is created with an *at call, so nothing is ever written outside the layer. */
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "shim.h"
#include "util.h"

#define BENEATH (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

struct fixup
{
  int layer;
  const char *op, *path;
  const char *const *args; /* the fields after the path */
  int parent;              /* O_PATH fd on the path's parent dir */
  const char *name;        /* last component */
};

static int
do_whiteout (struct fixup *f, tc_error_t *err)
{
  struct stat st;

  if (mknodat (f->parent, f->name, S_IFCHR, makedev (0, 0)) == 0)
    return 0;
  if (errno == EEXIST && fstatat (f->parent, f->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR (st.st_mode)
      && st.st_rdev == makedev (0, 0))
    return 0; /* already a whiteout */
  return tc_make_error (err, errno, "mknod");
}

static int
do_opaque (struct fixup *f, tc_error_t *err)
{
  const char *dir = f->path[0] ? f->path : ".";
  cleanup_close int fd = -1;

  if (! tc_path_ok (dir, 0))
    return tc_make_error (err, 0, "invalid relative path (absolute, `..` or empty)");
  fd = tc_open_beneath (f->layer, dir, O_RDONLY | O_DIRECTORY, BENEATH, err);
  if (fd < 0)
    return -1;
  if (fsetxattr (fd, "trusted.overlay.opaque", "y", 1, 0) < 0)
    return tc_make_error (err, errno, "setxattr");
  return 0;
}

static int
do_node (struct fixup *f, tc_error_t *err)
{
  unsigned long mode, major, minor;
  mode_t type = strcmp (f->op, "chr") == 0 ? S_IFCHR : strcmp (f->op, "blk") == 0 ? S_IFBLK : S_IFIFO;
  char *end;

  /* mode: octal with a leading 0 ("0644"), else decimal ("420"), as strtoul base 0 */
  mode = strtoul (f->args[0], &end, 0);
  if (*end || end == f->args[0] || mode > 07777 || tc_parse_ulong (f->args[1], 4095, &major) < 0
      || tc_parse_ulong (f->args[2], 1048575, &minor) < 0)
    return tc_make_error (err, 0, "bad mode/major/minor `%s` `%s` `%s`", f->args[0], f->args[1], f->args[2]);
  if (mknodat (f->parent, f->name, type | (mode_t) mode, makedev (major, minor)) == 0)
    return 0;
  if (errno == EPERM && type != S_IFIFO)
    {
      fprintf (stderr, "testcell-shim: fixup: note: %s %s: %s (skipped)\n", f->op, f->path, strerror (errno));
      return 0;
    }
  return tc_make_error (err, errno, "mknod");
}

static int
do_xattr (struct fixup *f, tc_error_t *err)
{
  char path[PATH_MAX];

  /* lsetxattr through the pinned parent: the last component is not followed */
  if (snprintf (path, sizeof path, "/proc/self/fd/%d/%s", f->parent, f->name) >= (int) sizeof path)
    return tc_make_error (err, ENAMETOOLONG, "setxattr");
  if (lsetxattr (path, f->args[0], f->args[1], strlen (f->args[1]), 0) < 0)
    return tc_make_error (err, errno, "setxattr `%s`", f->args[0]);
  return 0;
}

static const struct
{
  const char *op;
  size_t nargs; /* fields after the path */
  bool needs_parent;
  int (*fn) (struct fixup *, tc_error_t *);
} ops[] = {
  { "whiteout", 0, true, do_whiteout }, { "opaque", 0, false, do_opaque }, { "chr", 3, true, do_node },
  { "blk", 3, true, do_node },          { "fifo", 3, true, do_node },      { "xattr", 2, true, do_xattr },
};

/* Split f->path into a pinned parent fd and a last component. */
static int
open_parent (struct fixup *f, tc_error_t *err)
{
  char dir[PATH_MAX];
  const char *slash = strrchr (f->path, '/');

  f->name = slash ? slash + 1 : f->path;
  if (! tc_path_ok (f->path, 0) || f->name[0] == '\0' || strcmp (f->name, ".") == 0)
    return tc_make_error (err, 0, "invalid relative path (absolute, `..` or empty)");
  if (slash == NULL)
    return f->parent = fcntl (f->layer, F_DUPFD_CLOEXEC, 3);
  snprintf (dir, sizeof dir, "%.*s", (int) (slash - f->path), f->path);
  f->parent = tc_open_beneath (f->layer, dir, O_PATH | O_DIRECTORY, BENEATH, err);
  return f->parent;
}

static int
apply (struct fixup *f, const char **fields, size_t n, size_t *i, tc_error_t *err)
{
  size_t k;
  int ret;

  for (k = 0; k < ARRAY_SIZE (ops); k++)
    if (strcmp (ops[k].op, fields[*i]) == 0)
      break;
  f->op = fields[*i];
  f->path = *i + 1 < n ? fields[*i + 1] : "";
  if (k == ARRAY_SIZE (ops) || *i + 2 + ops[k].nargs > n)
    return tc_make_error (err, 0, "unknown operation or missing fields");
  f->args = fields + *i + 2;
  *i += 2 + ops[k].nargs;
  if (! ops[k].needs_parent) /* opaque: the dir itself, "" or "." meaning the layer root */
    return ops[k].fn (f, err);
  if (open_parent (f, err) < 0)
    return -1;
  ret = ops[k].fn (f, err);
  tc_closep (&f->parent);
  return ret;
}

/**
 * tc_fixup_main() - mode `fixup`: record on fd 0; exit 0 when every operation succeeded.
 */
int
tc_fixup_main (const char *layer_dir)
{
  struct fixup f = { .layer = -1, .op = "fixup", .path = layer_dir, .parent = -1 };
  cleanup_free char *buf = NULL;
  const char **fields = NULL;
  tc_error_t err;
  size_t len, n, i = 0;

  memset (&err, 0, sizeof err);
  umask (0);
  f.layer = open (layer_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (f.layer < 0)
    tc_make_error (&err, errno, "open");
  else if (tc_read_all (0, &buf, &len, 64u << 20, &err) == 0 && tc_record_fields (buf, len, &fields, &n, &err) == 0)
    {
      if (n >= 2 && strcmp (fields[0], "version") == 0) /* optional, as in the other records */
        {
          i = 2;
          if (strcmp (fields[1], "1") != 0)
            tc_make_error (&err, 0, "unsupported record version `%s`", fields[1]);
        }
      while (err.msg[0] == '\0' && i < n && apply (&f, fields, n, &i, &err) == 0)
        ;
      free (fields);
    }
  if (err.msg[0] == '\0')
    return 0;
  /* PROTOCOL.md's format: "<op> <path>: <strerror>"; our own validation messages otherwise */
  fprintf (stderr, "testcell-shim: fixup: %s %s: %s\n", f.op, f.path, err.errnum ? strerror (err.errnum) : err.msg);
  return 1;
}
