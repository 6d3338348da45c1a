/* ports.h - published ports (PROTOCOL.md, "Additions": `port` keys of `run`). */
#ifndef TC_PORTS_H
#define TC_PORTS_H

#include <poll.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "spec.h"

struct session;
struct relay;

struct tc_port
{
  int type; /* SOCK_STREAM or SOCK_DGRAM */
  uint16_t container, host;
  int fd, pidx; /* listener on 127.0.0.1:host; its index in the pollfd array */
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

/* Before clone: parse `port` values and listen on 127.0.0.1 (op `spec` or `port` on failure). */
int tc_ports_listen (struct tc_ports *ps, const struct tc_strv *specs, tc_error_t *err);
/* After clone: hold the container's net ns, where connections are dialled. */
int tc_ports_attach (struct tc_ports *ps, pid_t pid, tc_error_t *err);
/* The supervisor's poll loop: how many pollfds at most, fill them, act on their revents. */
size_t tc_ports_nfds (const struct tc_ports *ps);
size_t tc_ports_fill (struct tc_ports *ps, struct pollfd *p);
void tc_ports_dispatch (struct tc_ports *ps, const struct pollfd *p);
/* When pid 1 ends: close listeners and connections so the host ports are free at `exit`. */
void tc_ports_close (struct tc_ports *ps);

#endif
