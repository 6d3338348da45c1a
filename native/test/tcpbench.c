/* tcpbench.c - test helper (not part of the shim): tcp throughput through a relay.
 *   tcpbench listen <port> [MiB]    accept one connection on 127.0.0.1:<port>
 *   tcpbench connect <port> [MiB]   connect to 127.0.0.1:<port> (retrying while refused or reset) and print
 *                                   "<MiB> MiB in <s> s: <MiB/s> MiB/s" when done
 * With MiB, a side writes that much, half-closes and waits for the peer's close; without, it
 * reads to EOF and closes. Built static and copied into the test rootfs. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char buf[1 << 20];

static long
transfer (int fd, long mib)
{
  long moved = 0, i;
  ssize_t n;

  for (i = 0; i < mib; i++, moved += sizeof buf)
    for (size_t off = 0; off < sizeof buf; off += (size_t) n)
      if ((n = write (fd, buf + off, sizeof buf - off)) <= 0)
        return -1;
  shutdown (fd, SHUT_WR);
  while ((n = read (fd, buf, sizeof buf)) > 0)
    moved += n;
  return moved;
}

int
main (int argc, char **argv)
{
  struct sockaddr_in a = { .sin_family = AF_INET };
  struct timespec t0, t1;
  int fd = socket (AF_INET, SOCK_STREAM, 0), one = 1, i;
  long mib = argc > 3 ? atol (argv[3]) : 0, moved;
  double s;

  if (argc < 3 || fd < 0)
    return 2;
  a.sin_port = htons ((unsigned short) atoi (argv[2]));
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (strcmp (argv[1], "listen") == 0)
    {
      int c;
      setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (bind (fd, (struct sockaddr *) &a, sizeof a) < 0 || listen (fd, 1) < 0 || (c = accept (fd, NULL, NULL)) < 0)
        return perror ("listen"), 1;
      return transfer (c, mib) < 0;
    }
  signal (SIGPIPE, SIG_IGN);
  for (i = 0;; i++) /* until the peer listens: a relay accepts first and then closes at once */
    {
      clock_gettime (CLOCK_MONOTONIC, &t0);
      if (connect (fd, (struct sockaddr *) &a, sizeof a) == 0 && (moved = transfer (fd, mib)) > 0)
        break;
      if (i == 300)
        return perror ("connect"), 1;
      close (fd);
      fd = socket (AF_INET, SOCK_STREAM, 0);
      usleep (10000);
    }
  clock_gettime (CLOCK_MONOTONIC, &t1);
  s = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf ("%ld MiB in %.3f s: %.0f MiB/s\n", moved >> 20, s, (double) (moved >> 20) / s);
  return 0;
}
