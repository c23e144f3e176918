/* validate.h - checks that need no evaluation: block kinds and their places, labels, names,
 * duplicates (across all files of a spec), attributes set twice. */
#ifndef IDP_VALIDATE_H
#define IDP_VALIDATE_H

#include "ast.h"
#include "diag.h"

/* Checks files[0..n) as one spec; reports to diags. Returns the number of errors found. */
unsigned idp_validate(idp_file *const *files, size_t n, idp_diags *diags);

#endif
