/* net.c - container networking: `netmode`, `network` attachments and the `netns`/`netns-rm`
 * modes (PROTOCOL.md "Networks"). A network is a net ns holding bridge tc0; a container joins
 * it by a veth pair created in one netlink request with one end in each ns, so no interface
 * ever exists in the host ns, and the pair dies with the container's ns. Nothing is routed. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/nsfs.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>

#include "net.h"
#include "netlink.h"
#include "util.h"

int
tc_socket_in (int ns, int home, int domain, int type, int protocol)
{
  int fd, saved;

  if (ns < 0)
    return socket (domain, type, protocol);
  if (setns (ns, CLONE_NEWNET) < 0)
    return -1;
  fd = socket (domain, type, protocol);
  saved = errno;
  if (setns (home, CLONE_NEWNET) < 0)
    {
      fprintf (stderr, "testcell-shim: cannot return to the host net ns: %s\n", strerror (errno));
      abort ();
    }
  errno = saved;
  return fd;
}

int
tc_parse_cidr4 (const char *s, struct in_addr *addr, unsigned *prefix)
{
  const char *slash = strchr (s, '/');
  char ip[INET_ADDRSTRLEN];
  unsigned long len;

  if (slash == NULL || slash - s >= (long) sizeof ip)
    return -1;
  snprintf (ip, sizeof ip, "%.*s", (int) (slash - s), s);
  if (inet_pton (AF_INET, ip, addr) != 1 || tc_parse_ulong (slash + 1, 32, &len) < 0 || len == 0)
    return -1;
  *prefix = (unsigned) len;
  return 0;
}

/* The kernel's dev_valid_name(), and not `lo`, which every container already has. */
static bool
ifname_ok (const char *s)
{
  return s[0] != '\0' && strlen (s) < IFNAMSIZ && strcmp (s, ".") != 0 && strcmp (s, "..") != 0
         && strcmp (s, "lo") != 0 && strpbrk (s, "/: \t\n\r\v\f") == NULL;
}

static int
spec_error (tc_error_t *err, const char *msg, const char *value)
{
  tc_make_error (err, EINVAL, msg, value);
  tc_error_set_op (err, "spec");
  return -1;
}

/* Open a network's ns file and check that it is one. */
static int
open_netns (const char *path, tc_error_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  int type;

  if (fd < 0)
    return tc_make_error (err, errno, "open network namespace `%s`", path);
  type = ioctl (fd, NS_GET_NSTYPE);
  if (type < 0 && errno != ENOTTY) /* kernels < 4.11 cannot tell: setns will */
    return tc_make_error (err, errno, "ioctl NS_GET_NSTYPE on `%s`", path);
  if (type >= 0 && type != CLONE_NEWNET)
    return tc_make_error (err, EINVAL, "`%s` is not a network namespace", path);
  return get_and_reset (&fd);
}

int
tc_net_prepare (struct tc_net *net, const struct tc_spec *spec, tc_error_t *err)
{
  const char *mode = spec->netmode;
  size_t i;

  net->host = mode != NULL && strcmp (mode, "host") == 0;
  if (mode != NULL && ! net->host && strcmp (mode, "none") != 0)
    return spec_error (err, "spec key `netmode`: expected `host` or `none`, got `%s`", mode);
  if (net->host && spec->port.n + spec->hostport.n + spec->network.n > 0)
    return spec_error (err, "spec: `port`, `hostport` and `network` need a net ns of the container's own, "
                       "not `netmode` `%s`", mode);
  if (mode != NULL && spec->network.n > 0)
    return spec_error (err, "spec: `network` cannot be combined with `netmode` `%s`", mode);
  net->links = calloc (spec->network.n, sizeof *net->links);
  if (spec->network.n > 0 && net->links == NULL)
    return tc_make_error (err, ENOMEM, "network"), tc_error_set_op (err, "net"), -1;
  for (i = 0; i < spec->network.n; i++, net->n++)
    {
      struct tc_net_link *l = &net->links[i];
      const char *cidr;

      l->ns = -1;
      l->path = spec->network.v[i]; /* the value field, then two more */
      l->ifname = tc_spec_field (l->path, 1);
      cidr = tc_spec_field (l->path, 2);
      if (! tc_path_ok (l->path, 1))
        return spec_error (err, "spec key `network`: expected an absolute ns path, got `%s`", l->path);
      if (! ifname_ok (l->ifname))
        return spec_error (err, "spec key `network`: invalid interface name `%s`", l->ifname);
      if (tc_parse_cidr4 (cidr, &l->addr, &l->prefix) < 0)
        return spec_error (err, "spec key `network`: expected an IPv4 address/prefix, got `%s`", cidr);
      if ((l->ns = open_netns (l->path, err)) < 0)
        return tc_error_set_op (err, "net"), -1;
    }
  return 0;
}

/* Attach the container (its ns @cns, netlink socket @nl) to one network. */
static int
attach_one (const struct tc_net_link *l, int cns, int nl, int home, tc_error_t *err)
{
  cleanup_close int bnl = tc_nl_socket (l->ns, home, err);
  int bridge, index;

  if (bnl < 0 || (bridge = tc_nl_link_index (bnl, TC_BRIDGE, err)) < 0
      || tc_nl_new_veth (bnl, bridge, cns, l->ifname, err) < 0 || (index = tc_nl_link_index (nl, l->ifname, err)) < 0
      || tc_nl_add_addr4 (nl, index, l->addr, l->prefix, err) < 0 || tc_nl_link_up (nl, index, err) < 0)
    return tc_error_wrap (err, "network `%s`", l->path);
  return 0;
}

int
tc_net_attach (struct tc_net *net, pid_t pid, tc_error_t *err)
{
  cleanup_close int cns = -1, home = -1, nl = -1;
  char path[64];
  size_t i;
  int ret = 0;

  if (net->host)
    return 0;
  snprintf (path, sizeof path, "/proc/%d/ns/net", (int) pid);
  if ((cns = open (path, O_RDONLY | O_CLOEXEC)) < 0)
    ret = tc_make_error (err, errno, "open `%s`", path);
  else if ((home = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
    ret = tc_make_error (err, errno, "open `/proc/self/ns/net`");
  else if ((nl = tc_nl_socket (cns, home, err)) < 0 || tc_nl_link_up (nl, TC_LO_IFINDEX, err) < 0)
    ret = tc_error_wrap (err, "container loopback");
  for (i = 0; i < net->n; i++)
    {
      if (ret == 0)
        ret = attach_one (&net->links[i], cns, nl, home, err);
      tc_closep (&net->links[i].ns);
      net->links[i].ns = -1;
    }
  if (ret < 0)
    tc_error_set_op (err, "net");
  return ret;
}

/* ---- modes `netns` and `netns-rm` ---- */

static int
netns_create (const char *path, const char *cidr, tc_error_t *err)
{
  cleanup_close int nl = -1;
  struct in_addr addr;
  unsigned prefix;
  int bridge;

  if (! tc_path_ok (path, 1))
    return tc_make_error (err, EINVAL, "netns: expected an absolute path, got `%s`", path);
  if (tc_parse_cidr4 (cidr, &addr, &prefix) < 0)
    return tc_make_error (err, EINVAL, "netns: --addr: expected an IPv4 address/prefix, got `%s`", cidr);
  if (unshare (CLONE_NEWNET) < 0)
    return tc_make_error (err, errno, "unshare CLONE_NEWNET");
  if ((nl = tc_nl_socket (-1, -1, err)) < 0 || tc_nl_link_up (nl, TC_LO_IFINDEX, err) < 0
      || tc_nl_new_bridge (nl, TC_BRIDGE, err) < 0 || (bridge = tc_nl_link_index (nl, TC_BRIDGE, err)) < 0
      || tc_nl_add_addr4 (nl, bridge, addr, prefix, err) < 0)
    return -1;
  /* The shim runs in the host mount ns, so the ns outlives us there. */
  if (mount ("/proc/self/ns/net", path, NULL, MS_BIND, NULL) < 0)
    return tc_make_error (err, errno, "mount --bind `/proc/self/ns/net` on `%s`", path);
  return 0; /* failed earlier: the ns dies with this process, nothing to undo */
}

static int
netns_remove (const char *path, tc_error_t *err)
{
  if (! tc_path_ok (path, 1))
    return tc_make_error (err, EINVAL, "netns-rm: expected an absolute path, got `%s`", path);
  while (umount2 (path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
    ; /* every stacked mount */
  if (errno != EINVAL && errno != ENOENT) /* EINVAL: no (more) mount there */
    return tc_make_error (err, errno, "umount `%s`", path);
  if (unlink (path) < 0 && errno != ENOENT)
    return tc_make_error (err, errno, "unlink `%s`", path);
  return 0;
}

/**
 * tc_netns_main() - modes `netns <path> --addr <cidr>` and `netns-rm <path>`.
 *
 * Prints one JSON line on stdout: `{"event":"netns","path":...}` (create only) or an `error`
 * event with op `net`. Returns 0, 1 after an error, 2 for a usage error.
 */
int
tc_netns_main (int argc, char **argv)
{
  bool rm = strcmp (argv[1], "netns-rm") == 0;
  char path[2 * PATH_MAX], msg[2 * sizeof ((tc_error_t *) 0)->msg];
  tc_error_t err;

  if (rm ? argc != 3 : argc != 5 || strcmp (argv[3], "--addr") != 0)
    {
      fprintf (stderr, "usage: testcell-shim netns <path> --addr <a.b.c.d/len> | netns-rm <path>\n");
      return 2;
    }
  memset (&err, 0, sizeof err);
  tc_json_escape (path, sizeof path, argv[2]);
  if ((rm ? netns_remove (argv[2], &err) : netns_create (argv[2], argv[4], &err)) < 0)
    {
      tc_error_set_op (&err, "net");
      tc_diagnose (&err);
      tc_json_escape (msg, sizeof msg, err.msg);
      printf ("{\"event\":\"error\",\"op\":\"net\",\"errno\":%d,\"msg\":\"%s\"}\n", err.errnum, msg);
      return 1;
    }
  if (! rm)
    printf ("{\"event\":\"netns\",\"path\":\"%s\"}\n", path);
  return fflush (stdout) == 0 ? 0 : 1;
}
