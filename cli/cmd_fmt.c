/* cmd_fmt.c - `idp fmt`: placeholder until compiler/fmt.c lands in this change. */
#include "cli.h"
int idp_cmd_fmt(int argc, char **argv) { (void)argc; (void)argv; return 1; }
