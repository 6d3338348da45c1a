/* netlink.c - NETLINK_ROUTE requests, one message each, every one acknowledged (no `ip` binary).
 * The messages are built in a fixed buffer: every input is bounded (names < IFNAMSIZ). */
#include <arpa/inet.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "net.h"
#include "netlink.h"
#include "util.h"

struct msg
{
  union
  {
    struct nlmsghdr h;
    char buf[1024];
  } u;
  bool overflow;
};

static void *
msg_init (struct msg *m, uint16_t type, uint16_t flags, size_t hdrlen)
{
  memset (m, 0, sizeof *m);
  m->u.h.nlmsg_len = NLMSG_LENGTH (hdrlen);
  m->u.h.nlmsg_type = type;
  m->u.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  return NLMSG_DATA (&m->u.h);
}

/* Append an attribute; with @data NULL and @len 0 it opens a nest, closed by nest_end(). */
static struct rtattr *
put (struct msg *m, unsigned short type, const void *data, size_t len)
{
  size_t off = NLMSG_ALIGN (m->u.h.nlmsg_len);
  struct rtattr *a = (struct rtattr *) (m->u.buf + off);

  if (off + RTA_SPACE (len) > sizeof m->u.buf)
    {
      m->overflow = true;
      return NULL;
    }
  a->rta_type = type;
  a->rta_len = (unsigned short) RTA_LENGTH (len);
  if (len > 0)
    memcpy (RTA_DATA (a), data, len);
  m->u.h.nlmsg_len = (uint32_t) (off + RTA_SPACE (len));
  return a;
}

static void
put_str (struct msg *m, unsigned short type, const char *s)
{
  put (m, type, s, strlen (s) + 1);
}

static void
put_u32 (struct msg *m, unsigned short type, uint32_t v)
{
  put (m, type, &v, sizeof v);
}

static void
nest_end (struct msg *m, struct rtattr *a)
{
  if (a != NULL)
    a->rta_len = (unsigned short) (m->u.buf + m->u.h.nlmsg_len - (char *) a);
}

static const char *
type_name (int type)
{
  switch (type)
    {
    case RTM_NEWLINK: return "RTM_NEWLINK";
    case RTM_SETLINK: return "RTM_SETLINK";
    case RTM_GETLINK: return "RTM_GETLINK";
    case RTM_NEWADDR: return "RTM_NEWADDR";
    default: return "request";
    }
}

/* The kernel's own explanation (extended ack), appended to the message when there is one. */
static void
append_ext_ack (tc_error_t *err, const struct nlmsghdr *h)
{
  const struct nlmsgerr *e = NLMSG_DATA (h);
  const struct rtattr *a = (const struct rtattr *) (e + 1);
  int rem = (int) h->nlmsg_len - (int) NLMSG_LENGTH (sizeof *e);
  size_t len = strlen (err->msg);

  if (! (h->nlmsg_flags & NLM_F_CAPPED) || ! (h->nlmsg_flags & NLM_F_ACK_TLVS))
    return;
  for (; RTA_OK (a, rem); a = RTA_NEXT (a, rem))
    if (a->rta_type == NLMSGERR_ATTR_MSG && len < sizeof err->msg)
      snprintf (err->msg + len, sizeof err->msg - len, " (kernel: %.*s)", (int) RTA_PAYLOAD (a),
                (const char *) RTA_DATA (a));
}

/* Send @m and read until its ack; an RTM_NEWLINK reply on the way gives *@index. */
static int
talk (int nl, struct msg *m, int *index, tc_error_t *err)
{
  static uint32_t seq;
  static union
  {
    struct nlmsghdr h;
    char buf[32768];
  } r;
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  const char *what = type_name (m->u.h.nlmsg_type);

  if (m->overflow)
    return tc_make_error (err, EMSGSIZE, "netlink %s", what);
  m->u.h.nlmsg_seq = ++seq;
  if (sendto (nl, m->u.buf, m->u.h.nlmsg_len, 0, (struct sockaddr *) &kernel, sizeof kernel) < 0)
    return tc_make_error (err, errno, "netlink %s: sendto", what);
  for (;;)
    {
      ssize_t n = TEMP_FAILURE_RETRY (recv (nl, r.buf, sizeof r.buf, MSG_TRUNC));
      struct nlmsghdr *h;
      int len = (int) n;

      if (n < 0)
        return tc_make_error (err, errno, "netlink %s: recv", what);
      if (n > (ssize_t) sizeof r.buf)
        return tc_make_error (err, EMSGSIZE, "netlink %s: reply of %zd bytes", what, n);
      for (h = &r.h; NLMSG_OK (h, len); h = NLMSG_NEXT (h, len))
        {
          if (h->nlmsg_seq != m->u.h.nlmsg_seq)
            continue;
          if (h->nlmsg_type == NLMSG_ERROR)
            {
              const struct nlmsgerr *e = NLMSG_DATA (h);
              if (e->error == 0)
                return 0;
              tc_make_error (err, -e->error, "netlink %s", what);
              append_ext_ack (err, h);
              return -1;
            }
          if (h->nlmsg_type == RTM_NEWLINK && index != NULL)
            *index = ((const struct ifinfomsg *) NLMSG_DATA (h))->ifi_index;
        }
    }
}

int
tc_nl_socket (int ns, int home, tc_error_t *err)
{
  int fd = tc_socket_in (ns, home, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), one = 1;

  if (fd < 0)
    return tc_make_error (err, errno, "socket AF_NETLINK NETLINK_ROUTE%s", ns >= 0 ? " in another net ns" : "");
  /* Best effort: short acks, with the kernel's error text. */
  setsockopt (fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  setsockopt (fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  return fd;
}

int
tc_nl_link_index (int nl, const char *name, tc_error_t *err)
{
  struct msg m;
  int index = -1;

  msg_init (&m, RTM_GETLINK, 0, sizeof (struct ifinfomsg));
  put_str (&m, IFLA_IFNAME, name);
  if (talk (nl, &m, &index, err) < 0)
    return tc_error_wrap (err, "find link `%s`", name);
  if (index <= 0)
    return tc_make_error (err, ENODEV, "find link `%s`: no reply", name);
  return index;
}

int
tc_nl_link_up (int nl, int index, tc_error_t *err)
{
  struct msg m;
  struct ifinfomsg *ifi = msg_init (&m, RTM_SETLINK, 0, sizeof *ifi);

  ifi->ifi_index = index;
  ifi->ifi_flags = ifi->ifi_change = IFF_UP;
  if (talk (nl, &m, NULL, err) < 0)
    return tc_error_wrap (err, "set link %d up", index);
  return 0;
}

int
tc_nl_new_bridge (int nl, const char *name, tc_error_t *err)
{
  struct msg m;
  struct ifinfomsg *ifi = msg_init (&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof *ifi);
  struct rtattr *info;

  ifi->ifi_flags = ifi->ifi_change = IFF_UP;
  put_str (&m, IFLA_IFNAME, name);
  info = put (&m, IFLA_LINKINFO, NULL, 0);
  put_str (&m, IFLA_INFO_KIND, "bridge");
  nest_end (&m, info);
  if (talk (nl, &m, NULL, err) < 0)
    return tc_error_wrap (err, "create bridge `%s`", name);
  return 0;
}

int
tc_nl_new_veth (int nl, int master, int peer_ns, const char *peer_name, tc_error_t *err)
{
  struct msg m;
  struct ifinfomsg *ifi = msg_init (&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof *ifi);
  struct ifinfomsg peer = { .ifi_family = AF_UNSPEC }; /* not IFF_UP: veth_open() needs the pair made */
  struct rtattr *info, *data, *p;

  ifi->ifi_flags = ifi->ifi_change = IFF_UP;
  put_u32 (&m, IFLA_MASTER, (uint32_t) master);
  info = put (&m, IFLA_LINKINFO, NULL, 0);
  put_str (&m, IFLA_INFO_KIND, "veth");
  data = put (&m, IFLA_INFO_DATA, NULL, 0);
  p = put (&m, VETH_INFO_PEER, &peer, sizeof peer); /* an ifinfomsg, then the peer's attributes */
  put_str (&m, IFLA_IFNAME, peer_name);
  put_u32 (&m, IFLA_NET_NS_FD, (uint32_t) peer_ns);
  nest_end (&m, p);
  nest_end (&m, data);
  nest_end (&m, info);
  if (talk (nl, &m, NULL, err) < 0)
    return tc_error_wrap (err, "create veth pair for `%s`", peer_name);
  return 0;
}

int
tc_nl_add_addr4 (int nl, int index, struct in_addr addr, unsigned prefix, tc_error_t *err)
{
  struct msg m;
  struct ifaddrmsg *ifa = msg_init (&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof *ifa);
  struct in_addr brd = addr;
  char text[INET_ADDRSTRLEN];

  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = (unsigned char) prefix;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = (unsigned) index;
  put (&m, IFA_LOCAL, &addr, sizeof addr);
  put (&m, IFA_ADDRESS, &addr, sizeof addr);
  if (prefix < 31)
    {
      brd.s_addr |= htonl (0xffffffffu >> prefix);
      put (&m, IFA_BROADCAST, &brd, sizeof brd);
    }
  if (talk (nl, &m, NULL, err) < 0)
    return tc_error_wrap (err, "add address %s/%u to link %d", inet_ntop (AF_INET, &addr, text, sizeof text),
                          prefix, index);
  return 0;
}
