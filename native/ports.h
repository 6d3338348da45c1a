/* ports.h - published ports and host ports (PROTOCOL.md, "Additions": `port` and `hostport`
 * keys of `run`): tcp/udp relays between the host's and the container's net ns. */
#ifndef TC_PORTS_H
#define TC_PORTS_H

#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "spec.h"

struct session;
struct relay;

struct tc_port
{
  int type;    /* SOCK_STREAM or SOCK_DGRAM */
  bool reverse; /* `hostport` (tcp): listens on listen:container inside the container and
                   dials 127.0.0.1:host in the host ns; otherwise the other way round */
  struct in_addr listen;
  uint16_t container, host;
  int fd, pidx; /* the listener; its index in the pollfd array */
  struct session *sessions;
  size_t nsessions;
};

struct tc_ports
{
  size_t n;
  struct tc_port *p;
  int host_ns, container_ns;
  struct relay *relays;
};

/* Before clone: parse `port` and `hostport` values and listen on 127.0.0.1 for each `port`
 * (op `spec` or `port` on failure). */
int tc_ports_listen (struct tc_ports *ps, const struct tc_spec *spec, tc_error_t *err);
/* After clone, once the container's lo is up (tc_net_attach): hold the container's net ns and
 * listen there for each `hostport` (op `port`, `net` for a hostport). */
int tc_ports_attach (struct tc_ports *ps, pid_t pid, tc_error_t *err);
/* The supervisor's poll loop: how many pollfds at most, fill them, act on their revents. */
size_t tc_ports_nfds (const struct tc_ports *ps);
size_t tc_ports_fill (struct tc_ports *ps, struct pollfd *p);
void tc_ports_dispatch (struct tc_ports *ps, const struct pollfd *p);
/* When pid 1 ends: close listeners and connections so the host ports are free at `exit`. */
void tc_ports_close (struct tc_ports *ps);

#endif
