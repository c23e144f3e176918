/* schema.c - the block structure of the language, as data. */
#include "schema.h"

#include <string.h>

#define N(a) (sizeof(a) / sizeof *(a))

/* Fields not named are zero: no labels, repeatable, no child blocks. name_label and ref_label
 * are always given, since 0 is a label index. */
static const idp_block_spec lifecycle[] = {
    {.kind = "lifecycle", .once = true, .name_label = -1, .ref_label = -1},
};

static const idp_block_spec provide_children[] = {
    {.kind = "match", .once = true, .name_label = -1, .ref_label = -1},
    {.kind = "resource", .nlabels = 2, .labels = "DRIVER.KIND \"name\"", .dotted_first = true,
     .name_label = 1, .ref_label = 1, .children = lifecycle, .nchildren = N(lifecycle)},
    {.kind = "outputs", .once = true, .name_label = -1, .ref_label = -1},
};

static const idp_block_spec app_children[] = {
    {.kind = "need", .nlabels = 1, .labels = "\"name\"", .name_label = 0, .ref_label = -1, .strict_name = true},
    {.kind = "variables", .once = true, .name_label = -1, .ref_label = -1},
};

static const idp_block_spec stage_children[] = {
    {.kind = "deploy", .once = true, .name_label = -1, .ref_label = -1},
    {.kind = "check", .nlabels = 1, .labels = "\"kind\"", .name_label = -1, .ref_label = -1},
    {.kind = "approval", .once = true, .name_label = -1, .ref_label = -1},
    {.kind = "wait", .name_label = -1, .ref_label = -1},
};

static const idp_block_spec pipeline_children[] = {
    {.kind = "trigger", .nlabels = 1, .labels = "\"kind\"", .name_label = -1, .ref_label = -1},
    {.kind = "stage", .nlabels = 1, .labels = "\"name\"", .name_label = 0, .ref_label = -1,
     .children = stage_children, .nchildren = N(stage_children)},
};

static const idp_block_spec top[] = {
    {.kind = "integration", .nlabels = 2, .labels = "DRIVER \"name\"", .name_label = 1, .ref_label = 1},
    {.kind = "env_type", .nlabels = 1, .labels = "NAME", .name_label = 0, .ref_label = 0},
    {.kind = "env", .nlabels = 1, .labels = "\"name\"", .name_label = 0, .ref_label = -1, .strict_name = true},
    {.kind = "provide", .nlabels = 2, .labels = "TYPE \"name\"", .name_label = -1, .ref_label = -1,
     .children = provide_children, .nchildren = N(provide_children)},
    {.kind = "resource", .nlabels = 2, .labels = "DRIVER.KIND \"name\"", .dotted_first = true, .name_label = -1,
     .ref_label = 1, .children = lifecycle, .nchildren = N(lifecycle)},
    {.kind = "app", .nlabels = 1, .labels = "\"name\"", .name_label = 0, .ref_label = -1, .strict_name = true,
     .children = app_children, .nchildren = N(app_children)},
    {.kind = "pipeline", .nlabels = 1, .labels = "\"name\"", .name_label = 0, .ref_label = -1,
     .children = pipeline_children, .nchildren = N(pipeline_children)},
    {.kind = "var", .nlabels = 1, .labels = "\"name\"", .name_label = 0, .ref_label = 0},
    {.kind = "output", .nlabels = 1, .labels = "\"name\"", .name_label = 0, .ref_label = -1},
    {.kind = "use", .nlabels = 1, .labels = "\"module\"", .name_label = 0, .ref_label = -1},
};

const idp_block_spec idp_schema_file = {
    .kind = "file", .name_label = -1, .ref_label = -1, .children = top, .nchildren = N(top)};

/* What `app.X` reads of the current app: an app cannot be named like one of them, or
 * `app.NAME.need...` (another app) and `app.X` could not be told apart. */
static const char *const app_attrs[] = {"name", "image", "port", "variables"};

bool idp_schema_reserved_app_name(const char *name) {
  for (size_t i = 0; i < N(app_attrs); i++)
    if (strcmp(app_attrs[i], name) == 0) return true;
  return false;
}

bool idp_schema_valid_ident(const char *name) {
  if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z') || name[0] == '_')) return false;
  for (const char *p = name; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
          *p == '-'))
      return false;
  return true;
}

const idp_block_spec *idp_schema_child(const idp_block_spec *parent, const char *kind) {
  for (size_t i = 0; i < parent->nchildren; i++)
    if (strcmp(parent->children[i].kind, kind) == 0) return &parent->children[i];
  return NULL;
}

bool idp_schema_valid_name(const char *name) {
  size_t n = 0;
  if (!(name[0] >= 'a' && name[0] <= 'z')) return false;
  for (const char *p = name; *p; p++, n++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')) return false;
  return n <= 30;
}
