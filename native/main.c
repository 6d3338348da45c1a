/* main.c - testcell-shim: the native helper of testcell. Modes and protocol: PROTOCOL.md. */
#include <stdio.h>
#include <string.h>

#include "shim.h"

int
main (int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "";

  if (strcmp (mode, "run") == 0 && argc == 2)
    return tc_run_main ();
  if (strcmp (mode, "exec") == 0 && argc == 2)
    return tc_exec_main ();
  if (strcmp (mode, "fixup") == 0 && argc == 3)
    return tc_fixup_main (argv[2]);
  if (strcmp (mode, "--version") == 0)
    return puts ("testcell-shim protocol 1") < 0;
  fprintf (stderr, "usage: testcell-shim run | exec | fixup <layer_dir>   (see native/PROTOCOL.md)\n");
  return 2;
}
