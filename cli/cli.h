/* cli.h - the idp command line: shared helpers of the commands in cli/. */
#ifndef IDP_CLI_H
#define IDP_CLI_H

#include <stdbool.h>
#include <stddef.h>

/* Exit statuses. fmt -check uses 3 for "files would change", as gofmt-style tools do in CI. */
enum { IDP_EXIT_OK = 0, IDP_EXIT_ERROR = 1, IDP_EXIT_USAGE = 2, IDP_EXIT_FMT_CHANGES = 3 };

/* The .idp files named by args (files, or directories whose *.idp files are taken in name order);
 * no args means the current directory. Returns 0, or prints an error and returns -1. The list
 * and its strings are malloc'd: free with idp_free_files. */
int idp_collect_files(const char *cmd, char *const *args, size_t nargs, char ***out, size_t *n);
void idp_free_files(char **files, size_t n);

/* Flags: "-x" and "--x" are the same flag (decision 7). Returns the name without dashes, or NULL
 * when arg is not a flag ("-" alone is a path: standard input). "--" ends the flags: commands
 * take every argument after it as a path. */
const char *idp_flag_name(const char *arg);
/* Reports an unknown flag of cmd, with a suggestion from known[0..n). */
void idp_unknown_flag(const char *cmd, const char *arg, const char *const *known, size_t n);

int idp_cmd_validate(int argc, char **argv);
int idp_cmd_fmt(int argc, char **argv);
int idp_cmd_describe(int argc, char **argv);
int idp_cmd_state(int argc, char **argv);

#endif
