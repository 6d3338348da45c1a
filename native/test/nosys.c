/* nosys.c - test helper (not part of the shim): run a command with some system calls
 * failing with ENOSYS, to exercise the shim's fallbacks for old kernels (crun's no_openat2
 * trick). Usage: nosys NR[,NR...] PROGRAM [ARG...]   (needs root or no_new_privs) */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  struct sock_filter f[64];
  struct sock_fprog prog = { 0, f };
  char *nrs, *tok, *save = NULL;
  unsigned n = 0;

  if (argc < 3)
    return fprintf (stderr, "usage: nosys NR[,NR...] PROGRAM [ARG...]\n"), 2;
  f[n++] = (struct sock_filter) BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, nr));
  nrs = strdup (argv[1]);
  for (tok = strtok_r (nrs, ",", &save); tok && n < 60; tok = strtok_r (NULL, ",", &save))
    {
      f[n++] = (struct sock_filter) BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, (unsigned) atoi (tok), 0, 1);
      f[n++] = (struct sock_filter) BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
    }
  f[n++] = (struct sock_filter) BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  prog.len = (unsigned short) n;
  if (prctl (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
    return perror ("seccomp"), 1;
  execvp (argv[2], argv + 2);
  perror (argv[2]);
  return 127;
}
