/* plan_markdown.h - a saved plan as Markdown (GitHub / GitLab flavoured), for a merge-request
 * comment or a CI job summary ($GITHUB_STEP_SUMMARY): `idp show PLANFILE -format markdown`.
 *
 * Layout: a heading; a warning when the plan is stale; the counts (`Plan: N to add, N to change,
 * N to destroy.` or `No changes.`); notes on -destroy, -target and -refresh=false; the drift the
 * plan recorded (address and changed inputs, or deleted); then per state (the shared one first,
 * then each environment) its counts, a table of the changed resources (address, action with a
 * plain marker: `+` create, `~` update, `-/+` or `+/-` replace, `-` destroy) and, per resource, a
 * collapsible <details> holding a fenced `diff` block of its attributes (`-` before, `+` after,
 * unchanged ones as context; an update's unchanged ones counted, not shown); last, where the plan
 * came from. Secrets are `(secret)`: the plan as idp_plan_from_json reads it holds none.
 *
 * Escaping: text and code spans in tables escape `|`; code spans take a backtick run longer than
 * any in their text; text escapes Markdown punctuation (backticks included); <summary> is HTML
 * escaped; a diff block's fence is longer than any backtick run inside it. */
#ifndef IDP_PLAN_MARKDOWN_H
#define IDP_PLAN_MARKDOWN_H

#include <jansson.h>

#include "planner.h"
#include "util.h"

/* What the Markdown says besides the plan itself. */
typedef struct idp_plan_md_info {
  const char *path;     /* the plan file as the user named it */
  const json_t *saved;  /* the saved plan (planfile.h): created, idp_version, source_hash, args,
                           states, refresh, resource_drift */
  const char *warning;  /* why the plan cannot be applied as it is (stale), lines; or NULL */
} idp_plan_md_info;

/* Appends the Markdown of p (read from info->saved by idp_plan_from_json) to b. */
void idp_plan_markdown(idp_buf *b, const idp_plan *p, const idp_plan_md_info *info);

#endif
