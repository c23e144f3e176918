/* plan_markdown.c - a saved plan as Markdown (plan_markdown.h). */
#include "plan_markdown.h"

#include <stdlib.h>
#include <string.h>

#include "value.h"

/* --- escaping -------------------------------------------------------------------------------- */

static size_t longest_backtick_run(const char *s, size_t n) {
  size_t best = 0, run = 0;
  for (size_t i = 0; i < n; i++) {
    run = s[i] == '`' ? run + 1 : 0;
    if (run > best) best = run;
  }
  return best;
}

/* Text where Markdown would read punctuation as syntax: each such character backslash-escaped
 * (CommonMark allows it before any ASCII punctuation), a line break as a space. */
static void md_text_n(idp_buf *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] && strchr("\\`*_[]<>|&~#!", s[i])) idp_buf_putc(b, '\\');
    idp_buf_putc(b, s[i] == '\n' || s[i] == '\r' ? ' ' : s[i]);
  }
}

static void md_text(idp_buf *b, const char *s) { md_text_n(b, s, strlen(s)); }

/* s as a code span: delimited by more backticks than any run inside it (padded with a space
 * when it holds one); in a table cell, `|` escaped (GFM splits cells on it even in code). */
static void md_code(idp_buf *b, const char *s, bool table) {
  size_t n = longest_backtick_run(s, strlen(s)) + 1;
  for (size_t i = 0; i < n; i++) idp_buf_putc(b, '`');
  if (n > 1) idp_buf_putc(b, ' ');
  for (const char *c = s; *c; c++) {
    if (table && *c == '|') idp_buf_putc(b, '\\');
    idp_buf_putc(b, *c == '\n' ? ' ' : *c);
  }
  if (n > 1) idp_buf_putc(b, ' ');
  for (size_t i = 0; i < n; i++) idp_buf_putc(b, '`');
}

static void html(idp_buf *b, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '&': idp_buf_puts(b, "&amp;"); break;
    case '<': idp_buf_puts(b, "&lt;"); break;
    case '>': idp_buf_puts(b, "&gt;"); break;
    case '"': idp_buf_puts(b, "&quot;"); break;
    default: idp_buf_putc(b, *s); break;
    }
  }
}

/* --- pieces ---------------------------------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *k) {
  const json_t *v = json_object_get(o, k);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *marker(const idp_plan_res *r) {
  switch (r->action) {
  case IDP_PLAN_CREATE: return "+";
  case IDP_PLAN_UPDATE: return "~";
  case IDP_PLAN_REPLACE: return r->create_before_destroy ? "+/-" : "-/+";
  case IDP_PLAN_DELETE: return "-";
  default: return " ";
  }
}

static const char *verb(const idp_plan_res *r) {
  switch (r->action) {
  case IDP_PLAN_CREATE: return "create";
  case IDP_PLAN_UPDATE: return "update in place";
  case IDP_PLAN_REPLACE: return r->create_before_destroy ? "replace, create before destroy" : "replace";
  case IDP_PLAN_DELETE: return "destroy";
  default: return "no-op";
  }
}

static void counts(idp_buf *b, size_t add, size_t change, size_t destroy) {
  idp_buf_printf(b, "%zu to add, %zu to change, %zu to destroy.", add, change, destroy);
}

/* One attribute as diff lines: mark on every line of the value (maps and lists span lines). */
static void diff_attr(idp_buf *b, char mark, const char *name, const idp_value *v, bool forces) {
  idp_buf val = {0};
  idp_value_print(&val, v, 0);
  const char *s = idp_buf_cstr(&val);
  idp_buf_printf(b, "%c %s = ", mark, name);
  for (const char *nl; (nl = strchr(s, '\n')); s = nl + 1) {
    idp_buf_append(b, s, (size_t)(nl - s));
    idp_buf_printf(b, "\n%c ", mark);
  }
  idp_buf_puts(b, s);
  if (forces) idp_buf_puts(b, " # forces replacement");
  idp_buf_putc(b, '\n');
  idp_buf_free(&val);
}

/* The attributes of a change as the body of a diff block (as idp_plan_print shows them). */
static void diff_body(idp_buf *b, const idp_plan_res *r) {
  size_t hidden = 0;
  for (size_t j = 0; j < r->nattrs; j++) {
    const idp_plan_attr *at = &r->attrs[j];
    const idp_value *before = r->action == IDP_PLAN_CREATE ? NULL : at->before;
    const idp_value *after = r->action == IDP_PLAN_DELETE ? NULL : at->after;
    if (r->action == IDP_PLAN_UPDATE && !at->changed) {
      hidden++;
      continue;
    }
    if (r->action == IDP_PLAN_REPLACE && !at->changed && before && after) {
      diff_attr(b, ' ', at->name, after, false);
      continue;
    }
    if (before) diff_attr(b, '-', at->name, before, at->forces && !after);
    if (after) diff_attr(b, '+', at->name, after, at->forces);
  }
  if (hidden) idp_buf_printf(b, "  # (%zu unchanged attribute%s hidden)\n", hidden, hidden == 1 ? "" : "s");
}

static void details(idp_buf *b, const idp_plan_res *r) {
  idp_buf body = {0};
  diff_body(&body, r);
  idp_buf_puts(b, "<details><summary><code>");
  html(b, r->addr);
  idp_buf_puts(b, "</code>: ");
  html(b, verb(r));
  if (r->note) {
    idp_buf_puts(b, " (");
    html(b, r->note);
    idp_buf_putc(b, ')');
  }
  idp_buf_puts(b, "</summary>\n\n");
  size_t fence = longest_backtick_run(body.data ? body.data : "", body.len) + 1;
  if (fence < 3) fence = 3;
  for (size_t i = 0; i < fence; i++) idp_buf_putc(b, '`');
  idp_buf_puts(b, "diff\n");
  if (body.len) idp_buf_append(b, body.data, body.len);
  for (size_t i = 0; i < fence; i++) idp_buf_putc(b, '`');
  idp_buf_puts(b, "\n\n</details>\n\n");
  idp_buf_free(&body);
}

static void action_cell(idp_buf *b, const idp_plan_res *r) {
  md_code(b, marker(r), true);
  idp_buf_putc(b, ' ');
  idp_buf_puts(b, verb(r));
  if (r->note) {
    idp_buf_puts(b, " (");
    md_text(b, r->note);
    idp_buf_putc(b, ')');
  }
  bool first = true;
  for (size_t j = 0; j < r->nattrs; j++) {
    if (!r->attrs[j].forces) continue;
    idp_buf_puts(b, first ? ", forced by " : ", ");
    md_code(b, r->attrs[j].name, true);
    first = false;
  }
}

static bool same_env(const char *a, const char *b) { return a && b ? strcmp(a, b) == 0 : a == b; }

/* The section of one state: env NULL is the shared state. */
static void section(idp_buf *b, const idp_plan *p, const char *env) {
  size_t add = 0, change = 0, destroy = 0, unchanged = 0;
  for (size_t i = 0; i < p->n; i++) {
    const idp_plan_res *r = &p->v[i];
    if (!same_env(r->env, env)) continue;
    switch (r->action) {
    case IDP_PLAN_CREATE: add++; break;
    case IDP_PLAN_UPDATE: change++; break;
    case IDP_PLAN_REPLACE: add++, destroy++; break;
    case IDP_PLAN_DELETE: destroy++; break;
    default: unchanged++; break;
    }
  }
  if (add + change + destroy + unchanged == 0) return; /* a state the plan has nothing of */
  if (env) {
    idp_buf_puts(b, "### Environment ");
    md_code(b, env, false);
  } else {
    idp_buf_puts(b, "### Shared resources");
  }
  idp_buf_puts(b, "\n\n");
  if (add + change + destroy == 0) {
    idp_buf_printf(b, "No changes (%zu resource%s unchanged).\n\n", unchanged, unchanged == 1 ? "" : "s");
    return;
  }
  counts(b, add, change, destroy);
  idp_buf_puts(b, "\n\n| Address | Action |\n|---|---|\n");
  for (size_t i = 0; i < p->n; i++) {
    const idp_plan_res *r = &p->v[i];
    if (!same_env(r->env, env) || r->action == IDP_PLAN_NOOP) continue;
    idp_buf_puts(b, "| ");
    md_code(b, r->addr, true);
    idp_buf_puts(b, " | ");
    action_cell(b, r);
    idp_buf_puts(b, " |\n");
  }
  idp_buf_putc(b, '\n');
  if (unchanged) idp_buf_printf(b, "%zu unchanged resource%s not shown.\n\n", unchanged, unchanged == 1 ? "" : "s");
  for (size_t i = 0; i < p->n; i++)
    if (same_env(p->v[i].env, env) && p->v[i].action != IDP_PLAN_NOOP) details(b, &p->v[i]);
}

static void drift(idp_buf *b, const json_t *saved) {
  const json_t *d = json_object_get(saved, "resource_drift");
  if (!json_array_size(d)) return;
  idp_buf_puts(b, "### Drift\n\n"
                  "Objects changed outside of idp since the last apply; the plan puts them back as the spec "
                  "says:\n\n| Address | Outside of idp |\n|---|---|\n");
  size_t i;
  json_t *e;
  json_array_foreach(d, i, e) {
    const char *addr = jstr(e, "address"), *action = jstr(e, "action");
    idp_buf_puts(b, "| ");
    md_code(b, addr ? addr : "?", true);
    if (action && strcmp(action, "delete") == 0) {
      idp_buf_puts(b, " | deleted |\n");
      continue;
    }
    idp_buf_puts(b, " | changed:");
    size_t k;
    json_t *name;
    json_array_foreach(json_object_get(e, "changed"), k, name) {
      idp_buf_puts(b, k ? ", " : " ");
      md_code(b, json_is_string(name) ? json_string_value(name) : "?", true);
    }
    idp_buf_puts(b, " |\n");
  }
  idp_buf_putc(b, '\n');
}

static void notes(idp_buf *b, const json_t *saved) {
  const json_t *args = json_object_get(saved, "args"), *targets = json_object_get(args, "target");
  if (json_is_true(json_object_get(args, "destroy")))
    idp_buf_puts(b, "This is a destroy plan (`-destroy`): it deletes what the planned states hold.\n\n");
  if (json_array_size(targets)) {
    idp_buf_puts(b, "Targeting is in effect (`-target`): this plan covers only");
    size_t i;
    json_t *t;
    json_array_foreach(targets, i, t) {
      idp_buf_puts(b, i == 0 ? " " : i + 1 == json_array_size(targets) ? " and " : ", ");
      md_code(b, json_is_string(t) ? json_string_value(t) : "?", false);
    }
    bool one = json_array_size(targets) == 1, destroy = json_is_true(json_object_get(args, "destroy"));
    idp_buf_printf(b, " and what %s; the rest is left as it is.\n\n",
                   destroy ? (one ? "depends on it" : "depends on them") : (one ? "it depends on" : "they depend on"));
  }
  const json_t *pin = json_object_get(args, "pin");
  if (json_is_object(pin)) { /* a pipeline's deploy (decisions 9 and 10) */
    const char *app = jstr(pin, "app"), *env = jstr(pin, "env"), *image = jstr(pin, "image"),
               *pipeline = jstr(pin, "pipeline"), *run = jstr(pin, "run");
    idp_buf_puts(b, "Pipeline deploy");
    if (pipeline) {
      idp_buf_puts(b, " of ");
      md_code(b, pipeline, false);
    }
    if (run) {
      idp_buf_puts(b, " (run ");
      md_code(b, run, false);
      idp_buf_putc(b, ')');
    }
    idp_buf_puts(b, ": app ");
    md_code(b, app ? app : "?", false);
    idp_buf_puts(b, " in ");
    md_code(b, env ? env : "?", false);
    idp_buf_puts(b, " at image ");
    md_code(b, image ? image : "?", false);
    idp_buf_puts(b, ".\n\n");
  }
  if (json_is_false(json_object_get(saved, "refresh")))
    idp_buf_puts(b, "Planned with `-refresh=false`: the real objects were not read, so drift is not shown.\n\n");
}

/* --- the whole --------------------------------------------------------------------------------- */

void idp_plan_markdown(idp_buf *b, const idp_plan *p, const idp_plan_md_info *info) {
  const json_t *saved = info->saved;
  idp_buf_puts(b, "## idp plan\n\n");
  if (info->warning) {
    /* each line its own paragraph of the quote: a hint stays on a line of its own */
    const char *s = info->warning;
    idp_buf_puts(b, "> **Warning:** ");
    for (const char *nl; (nl = strchr(s, '\n')); s = nl + 1) {
      md_text_n(b, s, (size_t)(nl - s));
      idp_buf_puts(b, "\n>\n> ");
    }
    md_text(b, s);
    idp_buf_puts(b, "\n\n");
  }
  if (idp_plan_has_changes(p)) {
    idp_buf_puts(b, "**Plan: ");
    counts(b, p->add, p->change, p->destroy);
    idp_buf_puts(b, "**\n\n");
  } else {
    idp_buf_puts(b, "**No changes.**\n\n");
  }
  notes(b, saved);
  drift(b, saved);
  if (idp_plan_has_changes(p)) {
    /* the states planned, in the plan's order (shared first), then any other a change names */
    const json_t *states = json_object_get(saved, "states");
    size_t i;
    json_t *s;
    json_array_foreach(states, i, s) section(b, p, jstr(s, "env"));
    for (size_t k = 0; k < p->n; k++) {
      bool seen = false;
      json_array_foreach(states, i, s) seen = seen || same_env(jstr(s, "env"), p->v[k].env);
      for (size_t m = 0; m < k && !seen; m++) seen = same_env(p->v[m].env, p->v[k].env);
      if (!seen) section(b, p, p->v[k].env);
    }
  }
  const char *created = jstr(saved, "created"), *version = jstr(saved, "idp_version"),
             *hash = jstr(saved, "source_hash");
  idp_buf_puts(b, "Saved plan ");
  md_code(b, info->path, false);
  idp_buf_puts(b, ", made ");
  md_text(b, created ? created : "?");
  idp_buf_puts(b, " by idp ");
  md_text(b, version ? version : "?");
  idp_buf_puts(b, " from sources ");
  char shortened[20] = "?";
  if (hash) snprintf(shortened, sizeof shortened, "%s", hash); /* "sha256:" and 12 hex digits */
  md_code(b, shortened, false);
  idp_buf_puts(b, ". ");
  if (info->warning) {
    idp_buf_puts(b, "Plan again before applying.\n");
  } else {
    idp_buf cmd = {0};
    idp_buf_printf(&cmd, "idp apply %s", info->path);
    idp_buf_puts(b, "Apply it with ");
    md_code(b, idp_buf_cstr(&cmd), false);
    idp_buf_puts(b, ".\n");
    idp_buf_free(&cmd);
  }
}
