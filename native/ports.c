/* ports.c - published ports: listeners on 127.0.0.1 in the host net ns, each connection dialled
 * from a socket created inside the container's net ns and relayed with splice (rootlesskit's
 * builtin driver idea; no iptables, nothing routed into the container). Host ports are the same
 * relay the other way round: a listener inside the container, connections dialled to the host's
 * 127.0.0.1. PROTOCOL.md "Additions". */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "net.h"
#include "ports.h"
#include "util.h"

#define CHUNK (64 * 1024)
#define PIPE_SIZE (1024 * 1024) /* per direction: fewer, bigger splices (the default is 64 KiB) */
#define UDP_IDLE_SECONDS 60
#define UDP_MAX_SESSIONS 256

struct relay /* one tcp connection: side 0 = host client, side 1 = container */
{
  struct relay *next;
  int fd[2], pipe[2][2]; /* pipe[d] holds bytes read from fd[d], to be written to fd[!d] */
  size_t pending[2];
  bool eof[2], connecting, dead;
  int pidx[2]; /* index in the pollfd array, -1 when not polled */
};

struct session /* one udp client address */
{
  struct session *next;
  struct sockaddr_in peer;
  int fd, pidx;
  time_t last;
};

static int
parse_port (const char *s, struct tc_port *p)
{
  unsigned long c, h;
  const char *a = strchr (s, ':'), *b = a ? strchr (a + 1, ':') : NULL;
  char num[8];

  if (a == NULL || b == NULL || (a - s != 3) || (strncmp (s, "tcp", 3) != 0 && strncmp (s, "udp", 3) != 0))
    return -1;
  if (b - a - 1 <= 0 || b - a - 1 >= (long) sizeof num)
    return -1;
  snprintf (num, sizeof num, "%.*s", (int) (b - a - 1), a + 1);
  if (tc_parse_ulong (num, 65535, &c) < 0 || c == 0 || tc_parse_ulong (b + 1, 65535, &h) < 0)
    return -1;
  p->type = s[0] == 't' ? SOCK_STREAM : SOCK_DGRAM;
  p->container = (uint16_t) c;
  p->host = (uint16_t) h;
  return 0;
}

/* `<listen_ip>:<port>:<host_port>` */
static int
parse_hostport (const char *s, struct tc_port *p)
{
  const char *b = strrchr (s, ':'), *a = b ? memrchr (s, ':', (size_t) (b - s)) : NULL;
  char ip[INET_ADDRSTRLEN], num[8];
  unsigned long c, h;

  if (a == NULL || a - s >= (long) sizeof ip || b - a - 1 <= 0 || b - a - 1 >= (long) sizeof num)
    return -1;
  snprintf (ip, sizeof ip, "%.*s", (int) (a - s), s);
  snprintf (num, sizeof num, "%.*s", (int) (b - a - 1), a + 1);
  if (inet_pton (AF_INET, ip, &p->listen) != 1 || tc_parse_ulong (num, 65535, &c) < 0 || c == 0
      || tc_parse_ulong (b + 1, 65535, &h) < 0 || h == 0)
    return -1;
  p->type = SOCK_STREAM;
  p->reverse = true;
  p->container = (uint16_t) c;
  p->host = (uint16_t) h;
  return 0;
}

/* Every relay leg is loopback, where a pacing congestion control (bbr as the system default)
 * halves the throughput: use cubic on the sockets the relay sends from (best effort). Accepted
 * sockets inherit it from their listener. */
static void
no_pacing (int fd)
{
  setsockopt (fd, IPPROTO_TCP, TCP_CONGESTION, "cubic", 5);
}

static struct sockaddr_in
loopback (uint16_t port)
{
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons (port) };
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  return a;
}

int
tc_ports_listen (struct tc_ports *ps, const struct tc_spec *spec, tc_error_t *err)
{
  const struct tc_strv *specs = &spec->port;
  size_t i;

  ps->host_ns = ps->container_ns = -1;
  if (specs->n + spec->hostport.n == 0)
    return 0;
  ps->p = calloc (specs->n + spec->hostport.n, sizeof *ps->p);
  if (ps->p == NULL)
    return tc_make_error (err, ENOMEM, "ports"), tc_error_set_op (err, "port"), -1;
  for (i = 0; i < spec->hostport.n; i++, ps->n++) /* first: they are parsed, not opened yet */
    {
      ps->p[ps->n].fd = -1;
      if (parse_hostport (spec->hostport.v[i], &ps->p[ps->n]) < 0)
        return tc_make_error (err, EINVAL, "spec key `hostport`: expected <ipv4>:<port>:<host port>, got `%s`",
                              spec->hostport.v[i]), tc_error_set_op (err, "spec"), -1;
    }
  for (i = 0; i < specs->n; i++, ps->n++)
    {
      struct tc_port *p = &ps->p[ps->n];
      struct sockaddr_in a;
      socklen_t len = sizeof a;
      int one = 1;

      p->fd = -1;
      if (parse_port (specs->v[i], p) < 0)
        return tc_make_error (err, EINVAL, "spec key `port`: expected tcp|udp:<container>:<host>, got `%s`",
                              specs->v[i]), tc_error_set_op (err, "spec"), -1;
      a = loopback (p->host);
      p->fd = socket (AF_INET, p->type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (p->fd < 0 || (p->type == SOCK_STREAM && setsockopt (p->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
          || bind (p->fd, (struct sockaddr *) &a, sizeof a) < 0 || (p->type == SOCK_STREAM && listen (p->fd, 128) < 0)
          || getsockname (p->fd, (struct sockaddr *) &a, &len) < 0)
        return tc_make_error (err, errno, "listen on 127.0.0.1:%u (%s, for container port %u)", p->host,
                              p->type == SOCK_STREAM ? "tcp" : "udp", p->container), tc_error_set_op (err, "port"), -1;
      p->host = ntohs (a.sin_port);
      if (p->type == SOCK_STREAM)
        no_pacing (p->fd);
    }
  ps->host_ns = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (ps->host_ns < 0)
    return tc_make_error (err, errno, "open `/proc/self/ns/net`"), tc_error_set_op (err, "port"), -1;
  return 0;
}

int
tc_ports_attach (struct tc_ports *ps, pid_t pid, tc_error_t *err)
{
  char path[64];
  size_t i;

  if (ps->n == 0)
    return 0;
  snprintf (path, sizeof path, "/proc/%d/ns/net", (int) pid);
  ps->container_ns = open (path, O_RDONLY | O_CLOEXEC);
  if (ps->container_ns < 0)
    return tc_make_error (err, errno, "open `%s`", path), tc_error_set_op (err, "port"), -1;
  for (i = 0; i < ps->n; i++)
    {
      struct tc_port *p = &ps->p[i];
      struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons (p->container), .sin_addr = p->listen };
      char ip[INET_ADDRSTRLEN];
      int one = 1;

      if (! p->reverse)
        continue;
      p->fd = tc_socket_in (ps->container_ns, ps->host_ns, AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (p->fd < 0 || setsockopt (p->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0
          || bind (p->fd, (struct sockaddr *) &a, sizeof a) < 0 || listen (p->fd, 128) < 0)
        return tc_make_error (err, errno, "listen on %s:%u in the container (hostport to 127.0.0.1:%u)",
                              inet_ntop (AF_INET, &p->listen, ip, sizeof ip), p->container, p->host),
               tc_error_set_op (err, "net"), -1;
      no_pacing (p->fd);
    }
  return 0;
}

/* Open the other side of a connection accepted on @p: a published port dials the container's
 * 127.0.0.1 from inside its ns, a host port the host's 127.0.0.1 (non-blocking connect). */
static int
dial (struct tc_ports *ps, const struct tc_port *p)
{
  struct sockaddr_in a = loopback (p->reverse ? p->host : p->container);
  int fd = tc_socket_in (p->reverse ? -1 : ps->container_ns, ps->host_ns, AF_INET,
                         p->type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int saved = errno;

  if (fd >= 0 && p->type == SOCK_STREAM)
    no_pacing (fd);
  if (fd >= 0 && connect (fd, (struct sockaddr *) &a, sizeof a) < 0 && errno != EINPROGRESS)
    saved = errno, close (fd), fd = -1;
  errno = saved;
  return fd;
}

static void
relay_free (struct relay *r)
{
  int i;

  for (i = 0; i < 2; i++)
    {
      tc_closep (&r->fd[i]);
      tc_closep (&r->pipe[i][0]);
      tc_closep (&r->pipe[i][1]);
    }
  free (r);
}

static void
accept_tcp (struct tc_ports *ps, struct tc_port *p)
{
  int client;

  while ((client = accept4 (p->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
    {
      struct relay *r = calloc (1, sizeof *r);

      if (r == NULL)
        {
          close (client);
          continue;
        }
      r->fd[0] = client;
      r->pidx[0] = r->pidx[1] = -1;
      r->fd[1] = dial (ps, p);
      r->pipe[0][0] = r->pipe[0][1] = r->pipe[1][0] = r->pipe[1][1] = -1;
      if (r->fd[1] < 0 || pipe2 (r->pipe[0], O_NONBLOCK | O_CLOEXEC) < 0 || pipe2 (r->pipe[1], O_NONBLOCK | O_CLOEXEC) < 0)
        {
          relay_free (r); /* closing the client at once: clients retry */
          continue;
        }
      fcntl (r->pipe[0][1], F_SETPIPE_SZ, PIPE_SIZE); /* best effort */
      fcntl (r->pipe[1][1], F_SETPIPE_SZ, PIPE_SIZE);
      r->connecting = true;
      r->next = ps->relays;
      ps->relays = r;
    }
}

/* Move bytes both ways until every splice would block. */
static void
pump (struct relay *r)
{
  int d;

  for (d = 0; d < 2 && ! r->dead; d++)
    for (;;)
      {
        ssize_t n;
        if (r->pending[d] > 0)
          {
            n = splice (r->pipe[d][0], NULL, r->fd[! d], NULL, r->pending[d], SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n < 0)
              {
                r->dead = errno != EAGAIN;
                break;
              }
            r->pending[d] -= (size_t) n;
            continue;
          }
        if (r->eof[d])
          break;
        n = splice (r->fd[d], NULL, r->pipe[d][1], NULL, PIPE_SIZE, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n == 0)
          {
            r->eof[d] = true; /* propagate the half-close */
            shutdown (r->fd[! d], SHUT_WR);
            break;
          }
        if (n < 0)
          {
            r->dead = errno != EAGAIN;
            break;
          }
        r->pending[d] = (size_t) n;
      }
  if (r->eof[0] && r->eof[1] && r->pending[0] == 0 && r->pending[1] == 0)
    r->dead = true;
}

static void
relay_ready (struct relay *r)
{
  if (r->connecting)
    {
      int soerr = 0;
      socklen_t len = sizeof soerr;
      if (getsockopt (r->fd[1], SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr != 0)
        {
          r->dead = true; /* nothing listens in the container (yet) */
          return;
        }
      r->connecting = false;
    }
  pump (r);
}

static void
session_free (struct session *s)
{
  tc_closep (&s->fd);
  free (s);
}

/* Before adding a session: drop the idle ones and the oldest beyond the limit (newest first). */
static void
prune_sessions (struct tc_port *p, time_t now)
{
  struct session **sp = &p->sessions;
  size_t kept = 0;

  while (*sp)
    {
      struct session *s = *sp;
      if (now - s->last > UDP_IDLE_SECONDS || kept + 1 >= UDP_MAX_SESSIONS)
        {
          *sp = s->next;
          session_free (s);
          p->nsessions--;
          continue;
        }
      kept++;
      sp = &s->next;
    }
}

static void
udp_from_clients (struct tc_ports *ps, struct tc_port *p, char *buf)
{
  struct sockaddr_in peer;
  socklen_t len = sizeof peer;
  ssize_t n;
  time_t now = time (NULL);

  while ((n = recvfrom (p->fd, buf, CHUNK, 0, (struct sockaddr *) &peer, &len)) >= 0)
    {
      struct session *s;

      for (s = p->sessions; s; s = s->next)
        if (s->peer.sin_port == peer.sin_port && s->peer.sin_addr.s_addr == peer.sin_addr.s_addr)
          break;
      if (s == NULL)
        {
          prune_sessions (p, now);
          s = calloc (1, sizeof *s);
          if (s == NULL || (s->fd = dial (ps, p)) < 0)
            {
              free (s);
              continue;
            }
          s->peer = peer;
          s->pidx = -1;
          s->next = p->sessions; /* newest first: pruning drops from the tail */
          p->sessions = s;
          p->nsessions++;
        }
      s->last = now;
      send (s->fd, buf, (size_t) n, 0);
      len = sizeof peer;
    }
}

static void
udp_to_client (struct tc_port *p, struct session *s, char *buf)
{
  ssize_t n;

  while ((n = recv (s->fd, buf, CHUNK, 0)) >= 0)
    {
      s->last = time (NULL);
      sendto (p->fd, buf, (size_t) n, 0, (struct sockaddr *) &s->peer, sizeof s->peer);
    }
}

size_t
tc_ports_nfds (const struct tc_ports *ps)
{
  size_t n = ps->n, i;
  struct relay *r;

  for (i = 0; i < ps->n; i++)
    n += ps->p[i].nsessions;
  for (r = ps->relays; r; r = r->next)
    n += 2;
  return n;
}

static size_t
add (struct pollfd *p, size_t n, int fd, short events, int *pidx)
{
  *pidx = events ? (int) n : -1;
  if (events == 0)
    return n;
  p[n].fd = fd;
  p[n].events = events;
  p[n].revents = 0;
  return n + 1;
}

size_t
tc_ports_fill (struct tc_ports *ps, struct pollfd *p)
{
  size_t n = 0, i;
  struct relay *r;
  struct session *s;
  int side;

  for (i = 0; i < ps->n; i++)
    {
      n = add (p, n, ps->p[i].fd, POLLIN, &ps->p[i].pidx);
      for (s = ps->p[i].sessions; s; s = s->next)
        n = add (p, n, s->fd, POLLIN, &s->pidx);
    }
  for (r = ps->relays; r; r = r->next)
    for (side = 0; side < 2; side++)
      {
        short ev = 0;
        if (r->connecting)
          ev = side == 1 ? POLLOUT : 0;
        else
          ev = (short) ((! r->eof[side] && r->pending[side] == 0 ? POLLIN : 0) | (r->pending[! side] ? POLLOUT : 0));
        n = add (p, n, r->fd[side], ev, &r->pidx[side]);
      }
  return n;
}

static bool
ready (const struct pollfd *p, int idx)
{
  return idx >= 0 && p[idx].revents != 0;
}

void
tc_ports_dispatch (struct tc_ports *ps, const struct pollfd *p)
{
  static char buf[CHUNK];
  struct relay **rp, *r;
  struct session *s;
  size_t i;

  for (rp = &ps->relays; (r = *rp) != NULL;) /* before accepting: new relays have no pidx yet */
    {
      if (ready (p, r->pidx[0]) || ready (p, r->pidx[1]))
        relay_ready (r);
      if (r->dead)
        {
          *rp = r->next;
          relay_free (r);
        }
      else
        rp = &r->next;
    }
  for (i = 0; i < ps->n; i++)
    {
      struct tc_port *port = &ps->p[i];
      for (s = port->sessions; s; s = s->next)
        if (ready (p, s->pidx))
          udp_to_client (port, s, buf);
      if (ready (p, port->pidx))
        {
          if (port->type == SOCK_STREAM)
            accept_tcp (ps, port);
          else
            udp_from_clients (ps, port, buf);
        }
    }
}

void
tc_ports_close (struct tc_ports *ps)
{
  size_t i;

  while (ps->relays)
    {
      struct relay *r = ps->relays;
      ps->relays = r->next;
      relay_free (r);
    }
  for (i = 0; i < ps->n; i++)
    {
      while (ps->p[i].sessions)
        {
          struct session *s = ps->p[i].sessions;
          ps->p[i].sessions = s->next;
          session_free (s);
        }
      tc_closep (&ps->p[i].fd);
      ps->p[i].fd = -1;
    }
  tc_closep (&ps->host_ns);
  tc_closep (&ps->container_ns);
  ps->host_ns = ps->container_ns = -1;
}
