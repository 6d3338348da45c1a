/* sysarch.c - test helper (not part of the shim), x86_64 only: call getpid through a foreign
 * system call ABI, `i386` (int 0x80) or `x32` (the x32 bit set), and print what came back.
 * Under the shim's seccomp filter the arch check kills it with SIGSYS instead. */
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  long r;

  if (argc > 1 && strcmp (argv[1], "i386") == 0)
    __asm__ volatile ("int $0x80" : "=a"(r) : "a"(20L) : "memory"); /* i386 getpid */
  else
    r = syscall (0x40000000L | SYS_getpid);
  printf ("returned %s\n", r > 0 ? "a pid" : "an error");
  return 0;
}
