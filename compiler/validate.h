/* validate.h - checks that need no evaluation: block kinds and their places, labels, names,
 * duplicates (across all files of a spec), attributes set twice. */
#ifndef IDP_VALIDATE_H
#define IDP_VALIDATE_H

#include "ast.h"
#include "diag.h"

/* Checks one spec item by item, as a streamed parse hands them over: keeps what it needs to find
 * duplicates across items and files, and nothing of the tree. */
typedef struct idp_validator idp_validator;

idp_validator *idp_validator_new(idp_diags *diags);
void idp_validator_item(idp_validator *v, idp_source *src, const idp_item *top);
void idp_validator_free(idp_validator *v);

/* Further checks of blocks, from outside the compiler (the driver schemas of runtime/drivers:
 * the CLI wires in idp_driver_check_block). Called for each block whose kind and labels passed
 * the checks above, after them; parent is the enclosing block's kind, "file" at the top level. */
typedef unsigned (*idp_validator_hook)(idp_diags *diags, idp_source *src, const char *parent, const idp_item *block);
void idp_validator_set_hook(idp_validator *v, idp_validator_hook hook);

/* Checks files[0..n) as one spec; reports to diags. Returns the number of errors found. */
unsigned idp_validate(idp_file *const *files, size_t n, idp_diags *diags);

#endif
