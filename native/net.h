/* net.h - container networking (PROTOCOL.md "Networks"): `netmode`, `network` attachments
 * (veth pairs into a network's bridge), and the `netns` / `netns-rm` modes. */
#ifndef TC_NET_H
#define TC_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "spec.h"

/* The bridge every network namespace made by `testcell-shim netns` holds. */
#define TC_BRIDGE "tc0"

struct tc_net_link
{
  const char *path, *ifname; /* the network's ns file; the interface's name in the container */
  struct in_addr addr;
  unsigned prefix;
  int ns; /* the network's net ns, opened before clone */
};

struct tc_net
{
  bool host; /* `netmode` `host`: no CLONE_NEWNET, nothing to set up */
  size_t n;
  struct tc_net_link *links;
};

/* Before clone: check `netmode` against the other keys (op `spec`), parse the `network`
 * values and open each network's ns (op `net`). */
int tc_net_prepare (struct tc_net *net, const struct tc_spec *spec, tc_error_t *err);
/* After clone, before the child may exec: bring the container's `lo` up and attach it to every
 * network. Closes the networks' ns fds. Op `net` on failure. */
int tc_net_attach (struct tc_net *net, pid_t pid, tc_error_t *err);

/* socket() in net ns @ns (-1 = the current one), then back to @home: a socket keeps the ns
 * it was created in. Aborts when it cannot return, as every later socket would be wrong. */
int tc_socket_in (int ns, int home, int domain, int type, int protocol);
/* "a.b.c.d/len" */
int tc_parse_cidr4 (const char *s, struct in_addr *addr, unsigned *prefix);

/* Modes `netns <path> --addr <cidr>` and `netns-rm <path>`. */
int tc_netns_main (int argc, char **argv);

#endif
