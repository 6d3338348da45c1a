/* udpecho.c - test helper (not part of the shim): a UDP echo server on 127.0.0.1:<port>,
 * built static and copied into the test rootfs to check `port` udp relaying. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

int
main (int argc, char **argv)
{
  struct sockaddr_in a = { .sin_family = AF_INET }, peer;
  socklen_t len = sizeof peer;
  char buf[65536];
  ssize_t n;
  int fd = socket (AF_INET, SOCK_DGRAM, 0);

  a.sin_port = htons ((unsigned short) atoi (argc > 1 ? argv[1] : "5353"));
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (fd < 0 || bind (fd, (struct sockaddr *) &a, sizeof a) < 0)
    return 1;
  while ((n = recvfrom (fd, buf, sizeof buf, 0, (struct sockaddr *) &peer, &len)) >= 0)
    {
      sendto (fd, buf, (size_t) n, 0, (struct sockaddr *) &peer, len);
      len = sizeof peer;
    }
  return 1;
}
