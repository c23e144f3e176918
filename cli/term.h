/* term.h - colour on a terminal (https://no-color.org): ANSI SGR codes go to a stream only when
 * it is a terminal, the command was not given -no-color, and NO_COLOR is unset or empty. Golden
 * outputs are never written to a terminal, so they stay free of escape codes. */
#ifndef IDP_TERM_H
#define IDP_TERM_H

#include <stdbool.h>
#include <stdio.h>

/* Set by a command's -no-color flag (its flag table points at it): no colour for the rest of
 * the process, as NO_COLOR=1 would do. */
extern bool idp_no_color;

/* Colour for f: f is a terminal, no -no-color, NO_COLOR unset or empty. */
bool idp_term_color(FILE *f);

#endif
