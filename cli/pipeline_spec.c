/* pipeline_spec.c - the `pipeline` blocks of a spec as runs need them (pipeline.h): the spec read
 * and checked as `idp graph` reads it (spec_graph.c, images left unresolved), then each pipeline
 * block's attributes evaluated at the top level (var.*, integration.*), typed, and the stages put
 * in a topological order of `after`. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../compiler/util.h"
#include "cli.h"
#include "pipeline.h"

enum { DEFAULT_STATUS = 200 };
static const double default_timeout_s = 10, default_interval_s = 5;

typedef struct loader {
  idp_spec_graph *R;
  idp_pipelines *p;
  idp_source *src;          /* the file of the pipeline being read */
  idp_diags *d;
} loader;

static const char *keep(loader *l, const char *s) { return idp_arena_strndup(&l->p->arena, s, strlen(s)); }

static const idp_item *attr_item(const idp_body *b, const char *name) {
  for (const idp_item *it = b->first; it; it = it->next)
    if (it->kind == IDP_ITEM_ATTR && strcmp(it->name, name) == 0) return it;
  return NULL;
}

/* The value of attribute name of block b, evaluated at the top level; NULL when absent or after
 * an error (reported). */
static const idp_value *eval_attr(loader *l, const idp_item *b, const char *name, const idp_item **where) {
  const idp_item *it = attr_item(&b->body, name);
  if (where) *where = it;
  if (!it) return NULL;
  return idp_graph_eval_top(l->R->g, l->src, it->value, l->d);
}

/* A known, non-secret string attribute (required: absent is an error at the block). */
static const char *str_attr(loader *l, const idp_item *b, const char *what, const char *name, bool required,
                            bool may_be_secret) {
  const idp_item *it;
  const idp_value *v = eval_attr(l, b, name, &it);
  if (!it) {
    if (required) idp_diag_error(l->d, l->src, b->name_loc, "%s needs %s", what, name);
    return NULL;
  }
  if (!v) return NULL;
  if (v->kind != IDP_V_STRING) {
    idp_diag_error(l->d, l->src, it->value->loc, "%s of %s must be a string known before the run, not %s", name, what,
                   v->kind == IDP_V_UNKNOWN ? "a value known only after apply" : idp_value_type_name(v));
    return NULL;
  }
  if (v->secret && !may_be_secret) {
    idp_diag_error(l->d, l->src, it->value->loc, "%s of %s derives from a secret: run records and logs would show it",
                   name, what);
    idp_diag_hint(l->d, "put the secret somewhere the check does not print, or check an endpoint without it");
    return NULL;
  }
  return keep(l, v->u.string.s);
}

/* A number attribute: a whole number in [min, max], or a duration (a string, or seconds). */
static bool num_attr(loader *l, const idp_item *b, const char *what, const char *name, bool duration, double min,
                     double max, double *out) {
  const idp_item *it;
  const idp_value *v = eval_attr(l, b, name, &it);
  if (!it) return true; /* the default stays */
  if (!v) return false;
  double x = 0;
  bool ok = false;
  if (v->kind == IDP_V_NUMBER) ok = (x = v->u.number, duration || x == (double)(long long)x);
  else if (duration && v->kind == IDP_V_STRING) ok = idp_parse_duration(v->u.string.s, &x) == 0;
  if (ok && x >= min && x <= max) {
    *out = x;
    return true;
  }
  if (duration)
    idp_diag_error(l->d, l->src, it->value->loc, "%s of %s must be a duration (\"30s\", \"10m\", \"1h\")%s", name, what,
                   min > 0 ? " above zero" : "");
  else
    idp_diag_error(l->d, l->src, it->value->loc, "%s of %s must be a whole number from %g to %g", name, what, min, max);
  return false;
}

static void read_trigger(loader *l, const idp_item *b, idp_pl_trigger *t) {
  t->kind = keep(l, b->labels->name);
  if (strcmp(t->kind, "image_push") != 0) return; /* validate reported it */
  const char *what = "trigger \"image_push\"";
  t->repository = str_attr(l, b, what, "repository", true, false);
  t->tag = str_attr(l, b, what, "tag", false, false);
  if (!t->tag) t->tag = "*";
  const idp_item *it = attr_item(&b->body, "registry");
  if (!it) return;
  const idp_expr *e = it->value;
  if (e->kind != IDP_E_GETATTR || e->u.getattr.obj->kind != IDP_E_REF || strcmp(e->u.getattr.obj->u.ref.name, "integration") != 0) {
    idp_diag_error(l->d, l->src, e->loc, "registry of %s takes an integration", what);
    idp_diag_hint(l->d, "write registry = integration.NAME, naming an oci_registry integration");
    return;
  }
  const char *name = e->u.getattr.name;
  const char *driver = idp_graph_integration_driver(l->R->g, name);
  if (driver && strcmp(driver, "oci_registry") != 0) {
    idp_diag_error(l->d, l->src, e->loc, "registry of %s: integration '%s' is a %s integration, not an oci_registry one",
                   what, name, driver);
    return;
  }
  const idp_value *v = idp_graph_eval_top(l->R->g, l->src, e, l->d);
  if (!v) return;
  if (v->kind != IDP_V_MAP) {
    idp_diag_error(l->d, l->src, e->loc, "registry of %s is not an integration's attributes", what);
    return;
  }
  t->registry_name = keep(l, name);
  t->registry = idp_value_copy(&l->p->arena, v);
  const idp_value *url = idp_map_get(t->registry, "url", 3);
  if (url && url->kind == IDP_V_STRING && !url->secret) t->registry_url = keep(l, url->u.string.s);
}

/* A stage's steps in the order they run: approval, waits, deploy, checks (pipeline.h). */
static void read_stage(loader *l, const idp_item *b, idp_pl_stage *st) {
  st->name = keep(l, b->labels->name);
  const idp_item *after = attr_item(&b->body, "after");
  if (after) {
    const idp_value *v = idp_graph_eval_top(l->R->g, l->src, after->value, l->d);
    if (v && v->kind == IDP_V_LIST) {
      st->after = idp_arena_alloc(&l->p->arena, (v->u.list.n + 1) * sizeof *st->after);
      for (size_t i = 0; i < v->u.list.n; i++) {
        const idp_value *x = v->u.list.items[i];
        if (x->kind == IDP_V_STRING) st->after[st->nafter++] = keep(l, x->u.string.s);
        else idp_diag_error(l->d, l->src, after->value->loc, "after of stage \"%s\" must list stage names", st->name);
      }
    } else if (v) {
      idp_diag_error(l->d, l->src, after->value->loc, "after of stage \"%s\" must be a list of stage names", st->name);
    }
  }
  size_t n = 0;
  for (const idp_item *it = b->body.first; it; it = it->next) n += it->kind == IDP_ITEM_BLOCK;
  st->steps = idp_arena_alloc(&l->p->arena, (n + 1) * sizeof *st->steps);
  static const char *const order[] = {"approval", "wait", "deploy", "check"};
  static const idp_step_kind kinds[] = {IDP_STEP_APPROVAL, IDP_STEP_WAIT, IDP_STEP_DEPLOY, IDP_STEP_CHECK};
  for (int k = 0; k < 4; k++)
    for (const idp_item *it = b->body.first; it; it = it->next) {
      if (it->kind != IDP_ITEM_BLOCK || strcmp(it->name, order[k]) != 0) continue;
      if (kinds[k] == IDP_STEP_CHECK && (it->nlabels != 1 || strcmp(it->labels->name, "http") != 0)) continue;
      idp_pl_step *s = &st->steps[st->nsteps++];
      memset(s, 0, sizeof *s);
      s->kind = kinds[k];
      double x;
      switch (s->kind) {
      case IDP_STEP_APPROVAL:
        x = 1;
        num_attr(l, it, "approval", "approvers", false, 1, 100, &x);
        s->approvers = (unsigned)x;
        break;
      case IDP_STEP_WAIT:
        if (!attr_item(&it->body, "duration")) idp_diag_error(l->d, l->src, it->name_loc, "wait needs duration");
        num_attr(l, it, "wait", "duration", true, 0, 7 * 24 * 3600.0, &s->seconds);
        break;
      case IDP_STEP_DEPLOY:
        s->app = str_attr(l, it, "deploy", "app", true, false);
        s->env = str_attr(l, it, "deploy", "env", true, false);
        break;
      case IDP_STEP_CHECK:
        s->url = str_attr(l, it, "check \"http\"", "url", true, false);
        x = DEFAULT_STATUS;
        num_attr(l, it, "check \"http\"", "expect_status", false, 100, 599, &x);
        s->expect_status = (long)x;
        s->timeout_s = default_timeout_s;
        num_attr(l, it, "check \"http\"", "timeout", true, 0.001, 3600, &s->timeout_s);
        x = 0;
        num_attr(l, it, "check \"http\"", "retries", false, 0, 100, &x);
        s->retries = (unsigned)x;
        s->interval_s = default_interval_s;
        num_attr(l, it, "check \"http\"", "interval", true, 0, 3600, &s->interval_s);
        break;
      }
    }
}

/* Stages in a topological order of `after`, ties in the order written (Kahn, always taking the
 * first ready stage). A cycle or an unknown stage was reported by validate; such stages go last. */
static void order_stages(idp_pipeline_def *def, idp_arena *a) {
  size_t n = def->nstages;
  idp_pl_stage *out = idp_arena_alloc(a, (n + 1) * sizeof *out);
  bool *done = idp_xcalloc(n + 1, sizeof *done);
  for (size_t k = 0; k < n; k++) {
    size_t pick = n;
    for (size_t i = 0; i < n && pick == n; i++) {
      if (done[i]) continue;
      bool ready = true;
      for (size_t j = 0; j < def->stages[i].nafter && ready; j++)
        for (size_t x = 0; x < n; x++)
          if (!done[x] && strcmp(def->stages[x].name, def->stages[i].after[j]) == 0) ready = false;
      if (ready) pick = i;
    }
    for (size_t i = 0; i < n && pick == n; i++)
      if (!done[i]) pick = i;
    done[pick] = true;
    out[k] = def->stages[pick];
  }
  free(done);
  def->stages = out;
}

int idp_pipelines_load(const char *cmd, const char *spec_dir, idp_pipelines **out) {
  *out = NULL;
  char real[PATH_MAX];
  if (!realpath(spec_dir, real)) {
    fprintf(stderr, "idp %s: error: %s: %s\n", cmd, spec_dir, strerror(errno));
    return -1;
  }
  idp_spec_graph *R = idp_xcalloc(1, sizeof *R);
  char *args[] = {real};
  int rc = idp_spec_graph_build(cmd, args, 1, NULL, 0, false, NULL, 0, R);
  idp_pipelines *p = idp_xcalloc(1, sizeof *p);
  idp_arena_init(&p->arena);
  p->spec_dir = idp_xstrdup(real);
  if (rc != IDP_EXIT_OK) goto done;
  loader l = {R, p, NULL, &R->L.diags};
  size_t n = 0;
  for (size_t f = 0; f < R->nfiles; f++)
    for (const idp_item *it = R->files[f]->body.first; it; it = it->next)
      n += it->kind == IDP_ITEM_BLOCK && strcmp(it->name, "pipeline") == 0 && it->nlabels == 1;
  p->v = idp_arena_alloc(&p->arena, (n + 1) * sizeof *p->v);
  for (size_t f = 0; f < R->nfiles; f++) {
    l.src = R->files[f]->src;
    for (const idp_item *it = R->files[f]->body.first; it; it = it->next) {
      if (it->kind != IDP_ITEM_BLOCK || strcmp(it->name, "pipeline") != 0 || it->nlabels != 1) continue;
      if (idp_pipelines_find(p, it->labels->name)) continue; /* a duplicate: validate reported it */
      idp_pipeline_def *def = &p->v[p->n++];
      memset(def, 0, sizeof *def);
      def->name = keep(&l, it->labels->name);
      unsigned line, col;
      idp_source_linecol(l.src, it->labels->loc.start, &line, &col);
      def->where = idp_arena_sprintf(&p->arena, "%s:%u:%u", l.src->path, line, col);
      size_t nt = 0, ns = 0;
      for (const idp_item *b = it->body.first; b; b = b->next) {
        nt += b->kind == IDP_ITEM_BLOCK && strcmp(b->name, "trigger") == 0 && b->nlabels == 1;
        ns += b->kind == IDP_ITEM_BLOCK && strcmp(b->name, "stage") == 0 && b->nlabels == 1;
      }
      def->triggers = idp_arena_alloc(&p->arena, (nt + 1) * sizeof *def->triggers);
      def->stages = idp_arena_alloc(&p->arena, (ns + 1) * sizeof *def->stages);
      for (const idp_item *b = it->body.first; b; b = b->next) {
        if (b->kind != IDP_ITEM_BLOCK || b->nlabels != 1) continue;
        if (strcmp(b->name, "trigger") == 0) {
          idp_pl_trigger *t = &def->triggers[def->ntriggers++];
          memset(t, 0, sizeof *t);
          read_trigger(&l, b, t);
        } else if (strcmp(b->name, "stage") == 0) {
          bool dup = false;
          for (size_t i = 0; i < def->nstages && !dup; i++) dup = strcmp(def->stages[i].name, b->labels->name) == 0;
          if (dup) continue;
          idp_pl_stage *st = &def->stages[def->nstages++];
          memset(st, 0, sizeof *st);
          read_stage(&l, b, st);
        }
      }
      order_stages(def, &p->arena);
    }
  }
  if (R->L.diags.errors) {
    idp_diags_print(&R->L.diags, stderr);
    fprintf(stderr, "%u error%s\n", R->L.diags.errors, R->L.diags.errors == 1 ? "" : "s");
    rc = IDP_EXIT_ERROR;
  }
done:
  idp_spec_graph_free(R);
  free(R);
  if (rc != IDP_EXIT_OK) {
    idp_pipelines_free(p);
    return -1;
  }
  *out = p;
  return 0;
}

void idp_pipelines_free(idp_pipelines *p) {
  if (!p) return;
  idp_arena_free(&p->arena);
  free(p->spec_dir);
  free(p);
}

const idp_pipeline_def *idp_pipelines_find(const idp_pipelines *p, const char *name) {
  for (size_t i = 0; p && i < p->n; i++)
    if (strcmp(p->v[i].name, name) == 0) return &p->v[i];
  return NULL;
}
