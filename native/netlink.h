/* netlink.h - the few NETLINK_ROUTE requests testcell-shim needs (links, bridges, veth pairs,
 * IPv4 addresses). A netlink socket acts on the net ns it was created in. */
#ifndef TC_NETLINK_H
#define TC_NETLINK_H

#include <netinet/in.h>

#include "error.h"

/* The loopback device is ifindex 1 in every net ns (the kernel's LOOPBACK_IFINDEX). */
#define TC_LO_IFINDEX 1

/* Open a NETLINK_ROUTE socket (close-on-exec, extended acks on) in net ns @ns (-1 = the
 * current one), coming back to @home (tc_socket_in). */
int tc_nl_socket (int ns, int home, tc_error_t *err);
/* The ifindex of the link called @name, or -1 with ENODEV. */
int tc_nl_link_index (int nl, const char *name, tc_error_t *err);
/* Set IFF_UP on link @index. */
int tc_nl_link_up (int nl, int index, tc_error_t *err);
/* Create bridge @name, up. */
int tc_nl_new_bridge (int nl, const char *name, tc_error_t *err);
/**
 * tc_nl_new_veth() - create a veth pair in one request, nothing ever in the caller's ns:
 * @nl: netlink socket of the net ns that gets the first end (named by the kernel, `veth%d`)
 * @master: ifindex of the bridge the first end is enslaved to
 * @peer_ns: fd of the net ns that gets the other end
 * @peer_name: its name there
 *
 * The first end is up; the peer cannot be brought up in the same request (tc_nl_link_up).
 */
int tc_nl_new_veth (int nl, int master, int peer_ns, const char *peer_name, tc_error_t *err);
/* Add @addr/@prefix (with its broadcast address) to link @index. */
int tc_nl_add_addr4 (int nl, int index, struct in_addr addr, unsigned prefix, tc_error_t *err);

#endif
