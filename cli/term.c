/* term.c - whether to colour a stream (term.h). */
#include "term.h"

#include <stdlib.h>
#include <unistd.h>

bool idp_no_color;

bool idp_term_color(FILE *f) {
  const char *nc = getenv("NO_COLOR");
  return !idp_no_color && !(nc && *nc) && isatty(fileno(f));
}
