/* main.c - testcell-shim: the native helper of testcell. Modes and protocol: PROTOCOL.md. */
#include <stdio.h>
#include <string.h>

#include "net.h"
#include "shim.h"
#include "util.h"

int
main (int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "";

  tc_close_from (5); /* fds 0-4 are the protocol's; nothing a parent leaked may reach a container */
  if (strcmp (mode, "run") == 0 && argc == 2)
    return tc_run_main ();
  if (strcmp (mode, "exec") == 0 && argc == 2)
    return tc_exec_main ();
  if (strcmp (mode, "fixup") == 0 && argc == 3)
    return tc_fixup_main (argv[2]);
  if (strcmp (mode, "netns") == 0 || strcmp (mode, "netns-rm") == 0)
    return tc_netns_main (argc, argv);
  if (strcmp (mode, "--version") == 0)
    return puts ("testcell-shim protocol 1") < 0;
  fprintf (stderr, "usage: testcell-shim run | exec | fixup <layer_dir> | netns <path> --addr <cidr>\n"
                   "       | netns-rm <path>   (see native/PROTOCOL.md)\n");
  return 2;
}
