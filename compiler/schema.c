/* schema.c - the block structure of the language, as data. */
#include "schema.h"

#include <string.h>

#define N(a) (sizeof(a) / sizeof *(a))

static const idp_block_spec lifecycle[] = {
    {"lifecycle", 0, "", true, false, -1, false, false, NULL, 0},
};

static const idp_block_spec provide_children[] = {
    {"match", 0, "", true, false, -1, false, false, NULL, 0},
    {"resource", 2, "DRIVER.KIND \"name\"", false, true, 1, false, false, lifecycle, N(lifecycle)},
    {"outputs", 0, "", true, false, -1, false, true, NULL, 0},
};

static const idp_block_spec app_children[] = {
    {"need", 1, "\"name\"", false, false, 0, true, false, NULL, 0},
    {"variables", 0, "", true, false, -1, false, true, NULL, 0},
};

static const idp_block_spec stage_children[] = {
    {"deploy", 0, "", true, false, -1, false, false, NULL, 0},
    {"check", 1, "\"kind\"", false, false, -1, false, false, NULL, 0},
    {"approval", 0, "", true, false, -1, false, false, NULL, 0},
    {"wait", 0, "", false, false, -1, false, false, NULL, 0},
};

static const idp_block_spec pipeline_children[] = {
    {"trigger", 1, "\"kind\"", false, false, -1, false, false, NULL, 0},
    {"stage", 1, "\"name\"", false, false, 0, false, false, stage_children, N(stage_children)},
};

static const idp_block_spec top[] = {
    {"integration", 2, "DRIVER \"name\"", false, false, 1, false, false, NULL, 0},
    {"env_type", 1, "NAME", false, false, 0, false, false, NULL, 0},
    {"env", 1, "\"name\"", false, false, 0, true, false, NULL, 0},
    {"provide", 2, "TYPE \"name\"", false, false, -1, false, false, provide_children, N(provide_children)},
    {"resource", 2, "DRIVER.KIND \"name\"", false, true, -1, false, false, lifecycle, N(lifecycle)},
    {"app", 1, "\"name\"", false, false, 0, true, false, app_children, N(app_children)},
    {"pipeline", 1, "\"name\"", false, false, 0, false, false, pipeline_children, N(pipeline_children)},
    {"var", 1, "\"name\"", false, false, 0, false, false, NULL, 0},
    {"output", 1, "\"name\"", false, false, 0, false, false, NULL, 0},
    {"use", 1, "\"module\"", false, false, 0, false, false, NULL, 0},
};

const idp_block_spec idp_schema_file = {"file", 0, "", false, false, -1, false, false, top, N(top)};

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
