/* schema.h - the language's block structure: which block kinds exist where, their labels, and
 * which may appear once only. Driver inputs and outputs are not here (they come with drivers). */
#ifndef IDP_SCHEMA_H
#define IDP_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

typedef struct idp_block_spec idp_block_spec;

struct idp_block_spec {
  const char *kind;               /* the block's keyword */
  size_t nlabels;                 /* labels it takes */
  const char *labels;             /* how its labels are written, for messages: `DRIVER "name"` */
  bool once;                      /* at most one per parent */
  bool dotted_first;              /* the first label is DRIVER.KIND */
  int name_label;                 /* index of the label naming it (unique per parent), or -1 */
  bool strict_name;               /* that name follows decision 1: ^[a-z][a-z0-9-]{0,29}$ */
  int ref_label;                  /* index of the label references use as a name (integration.NAME),
                                     which must then be an identifier; -1 if none */
  const idp_block_spec *children; /* block kinds allowed inside */
  size_t nchildren;
};

/* The top level of a file, as a pseudo block whose children are the top-level kinds. */
extern const idp_block_spec idp_schema_file;

const idp_block_spec *idp_schema_child(const idp_block_spec *parent, const char *kind);
/* Whether name can stand in a reference: an identifier as the lexer reads one. */
bool idp_schema_valid_ident(const char *name);
/* Whether an app may not take this name (it is one of the attributes `app.X` reads). */
bool idp_schema_reserved_app_name(const char *name);
/* Decision 1: env, app and need names. */
bool idp_schema_valid_name(const char *name);

#endif
