/* pipeline_deploy.c - the deploy step of a pipeline, and image pins in every plan.
 *
 * Decision 9: where a pipeline deployed an (app, env), the environment's state keeps the image it
 * deployed (idp_state_pin), and every plan of that environment evaluates app.image as that pin,
 * so an ordinary plan never ships a newer tag past the pipeline's approvals.
 *
 * Decision 10: a deploy changes only what the image forces. Which inputs the image reaches is
 * found by instantiating the spec twice, once with the app's image pinned to the deployed digest
 * and once to a sentinel that is no image at all: the inputs that differ are the image's. The
 * deploy plans exactly the app's instances (in the environment's state) that hold such inputs,
 * with every other input of theirs left as stored (lifecycle ignore), and in a map input that the
 * image reaches through some keys only, those keys alone; nothing else: the rest of what an
 * ordinary plan would change is recorded as pending ("needs a reviewed apply").
 * An app without a pin in the environment (never deployed there to the end, by a deploy or a
 * reviewed apply) is planned in full: there is nothing to keep. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../compiler/util.h"
#include "../runtime/planner.h"
#include "../runtime/state.h"
#include "cli.h"
#include "pipeline.h"

/* No registry serves this name (RFC 2606 .invalid), and no digest is all zeros. */
static const char sentinel[] =
    "idp-pipeline.invalid/sentinel@sha256:0000000000000000000000000000000000000000000000000000000000000000";

/* The length of image's repository part: "HOST/REPO" of "HOST/REPO@sha256:..." or "HOST/REPO:TAG". */
static size_t repo_len(const char *image) {
  size_t n = strcspn(image, "@");
  const char *slash = memrchr(image, '/', n), *colon = memrchr(image, ':', n);
  return colon && (!slash || colon > slash) ? (size_t)(colon - image) : n;
}

bool idp_image_same_repo(const char *a, const char *b) {
  size_t n = repo_len(a);
  return repo_len(b) == n && strncmp(a, b, n) == 0;
}

const char *idp_pin_lookup(void *payload, const char *env, const char *app, const idp_value *evaluated) {
  const idp_pin_src *p = payload;
  if (p->req && strcmp(env, p->req->env) == 0 && strcmp(app, p->req->app) == 0)
    return p->sentinel ? sentinel : p->req->image;
  for (size_t i = 0; i < p->nstates; i++) {
    const char *e = idp_state_env(p->states[i]);
    if (!e || strcmp(e, env) != 0) continue;
    const char *pin = idp_state_pin(p->states[i], app);
    /* A pin holds while the app names the same repository; an app moved to another one plans it. */
    if (pin && evaluated && evaluated->kind == IDP_V_STRING && !idp_image_same_repo(pin, evaluated->u.string.s))
      return NULL;
    return pin;
  }
  return NULL;
}

bool idp_pins_any(idp_state *const *states, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (idp_state_pins(states[i])) return true;
  return false;
}

/* Equal as far as a plan can tell: unknowns of the same shape count as equal here (both sides
 * have them for the same reason: outputs not known yet), unlike idp_value_equal. */
static bool same(const idp_value *x, const idp_value *y) {
  if (!x || !y) return x == y;
  if (x->kind == IDP_V_UNKNOWN || y->kind == IDP_V_UNKNOWN) return x->kind == y->kind;
  if (x->kind != y->kind) return false;
  if (x->kind == IDP_V_LIST) {
    if (x->u.list.n != y->u.list.n) return false;
    for (size_t i = 0; i < x->u.list.n; i++)
      if (!same(x->u.list.items[i], y->u.list.items[i])) return false;
    return true;
  }
  if (x->kind == IDP_V_MAP) {
    if (x->u.map.n != y->u.map.n) return false;
    for (size_t i = 0; i < x->u.map.n; i++)
      if (x->u.map.klen[i] != y->u.map.klen[i] || memcmp(x->u.map.keys[i], y->u.map.keys[i], x->u.map.klen[i]) != 0 ||
          !same(x->u.map.vals[i], y->u.map.vals[i]))
        return false;
    return true;
  }
  return idp_value_equal(x, y);
}

/* What a deploy does with an input of a resource it changes. */
enum { KEEP = 0, IMAGE, MERGED };

/* Marks in mine[] (per input of in, in map order) the inputs that differ from other's, the same
 * instance in the sentinel instantiation (all of them when it is missing there), IMAGE; true if
 * any. */
static bool image_inputs(const idp_inst *in, const idp_inst *other, unsigned char *mine) {
  bool any = false;
  const idp_value *m = in->inputs;
  for (size_t i = 0; i < m->u.map.n; i++) {
    const idp_value *o = other ? idp_map_get(other->inputs, m->u.map.keys[i], m->u.map.klen[i]) : NULL;
    mine[i] = !other || !same(m->u.map.vals[i], o) ? IMAGE : KEEP;
    any |= mine[i] != KEEP;
  }
  return any;
}

/* A map input that the image reaches through some keys only (an `env` holding the image beside
 * other variables): the stored map with those keys as desired, so the deploy ships the image and
 * leaves the other keys as they are; *waits says whether another key has a change pending (a
 * known value that differs, a key added or removed). NULL when the whole input is the image's (or
 * it is no map, or not stored): it is planned as desired. */
static idp_value *merge_keys(idp_arena *a, const idp_state *st, const idp_state_res *sr, const char *name,
                             const idp_value *want, const idp_value *open, bool *waits, idp_state_error *err) {
  *waits = false;
  if (!want || want->kind != IDP_V_MAP || !open || open->kind != IDP_V_MAP) return NULL;
  bool partial = false;
  for (size_t i = 0; i < want->u.map.n && !partial; i++)
    partial = same(want->u.map.vals[i], idp_map_get(open, want->u.map.keys[i], want->u.map.klen[i]));
  if (!partial) return NULL;
  idp_value *stored = idp_plan_stored_input(a, st, sr, name, want, err);
  if (!stored || stored->kind != IDP_V_MAP) return NULL;
  idp_map_builder mb;
  idp_map_builder_init(&mb, a);
  for (size_t i = 0; i < stored->u.map.n; i++) { /* the stored keys, but those the image removes */
    const char *k = stored->u.map.keys[i];
    size_t kl = stored->u.map.klen[i];
    const idp_value *w = idp_map_get(want, k, kl), *o = idp_map_get(open, k, kl);
    if (w || !o) idp_map_builder_add(&mb, k, kl, stored->u.map.vals[i]);
    if (!w && !o) *waits = true; /* removed from the spec */
  }
  for (size_t i = 0; i < want->u.map.n; i++) {
    const char *k = want->u.map.keys[i];
    size_t kl = want->u.map.klen[i];
    const idp_value *w = want->u.map.vals[i], *s = idp_map_get(stored, k, kl);
    if (!same(w, idp_map_get(open, k, kl))) idp_map_builder_add(&mb, k, kl, want->u.map.vals[i]); /* the image's */
    else if (!idp_value_has_unknown(w) && (!s || !idp_value_equal(w, s))) *waits = true;
  }
  return idp_map_builder_build(&mb, NULL);
}

static idp_state *env_state(idp_state *const *states, size_t n, const char *env) {
  for (size_t i = 0; i < n; i++)
    if (idp_state_env(states[i]) && strcmp(idp_state_env(states[i]), env) == 0) return states[i];
  return NULL;
}

/* A change of the ordinary plan as the pending list records it; with mine (what the deploy does
 * with each input), only what it leaves (kept inputs, and merged maps, whose other keys wait), and
 * NULL when nothing is left. */
static json_t *pending_entry(const idp_plan_res *r, const unsigned char *mine, const idp_inst *in) {
  json_t *attrs = json_array();
  for (size_t i = 0; i < r->nattrs; i++) {
    const idp_plan_attr *at = &r->attrs[i];
    if (!at->changed || at->computed) continue;
    if (mine) {
      bool image = false;
      for (size_t k = 0; k < in->inputs->u.map.n && !image; k++)
        image = mine[k] == IMAGE && strcmp(in->inputs->u.map.keys[k], at->name) == 0;
      if (image) continue;
    }
    json_array_append_new(attrs, json_string(at->name));
  }
  if (mine && json_array_size(attrs) == 0) {
    json_decref(attrs);
    return NULL;
  }
  return json_pack("{s:s, s:s, s:o}", "address", r->addr, "action", idp_plan_action_name(r->action), "attributes",
                   attrs);
}

int idp_deploy_scope(idp_spec_graph *R, idp_graph *g, idp_state *const *states, const bool *deletable, size_t nst,
                     idp_pin_req *req, idp_plan_opts *po, idp_state_error *err) {
  idp_arena *a = &g->arena;
  char *prefix = idp_arena_sprintf(a, "env.%s/app.%s", req->env, req->app);
  idp_state *st = env_state(states, nst, req->env);
  /* An app without a pin was never deployed there to the end (a successful deploy or reviewed
   * apply records one, cmd_apply.c): nothing to keep, so it is planned in full, with what it
   * needs; a first deploy cut short converges so. */
  bool first = !st || !idp_state_pin(st, req->app);
  req->first = first;
  req->pending = json_array();
  const char **targets = idp_arena_alloc(a, (g->n + 1) * sizeof *targets);
  size_t nt = 0;
  if (first) {
    targets[nt++] = prefix;
    po->targets = targets;
    po->ntargets = nt;
    po->exact = false;
    return 0;
  }

  /* What an ordinary plan of the app would do, for the pending list. */
  idp_plan_opts full = {.targets = (const char *const *)&prefix, .ntargets = 1};
  idp_plan *fp = NULL;
  int rc = idp_plan_make(&fp, g, states, deletable, nst, &full, err);
  if (rc < 0) return rc;

  idp_pin_src ps = {.req = req, .states = states, .nstates = nst, .sentinel = true};
  idp_graph *gs = idp_spec_graph_again(R, idp_pin_lookup, &ps);
  if (!gs) {
    idp_plan_free(fp);
    return idp_state_fail(err, IDP_STATE_EINVALID, "the spec did not evaluate with the image left open (see above)");
  }
  unsigned char **marks = idp_arena_alloc(a, (g->n + 1) * sizeof *marks);
  for (size_t i = 0; i < g->n && rc == 0; i++) {
    marks[i] = NULL;
    idp_inst *in = g->v[i];
    if (!idp_plan_addr_under(in->addr, prefix)) continue;
    unsigned char *mine = idp_arena_alloc(a, in->inputs->u.map.n + 1);
    const idp_inst *open = idp_graph_find(gs, in->addr);
    idp_state_res *sr = idp_state_find(st, in->addr);
    if (!image_inputs(in, open, mine) || !sr) continue;
    marks[i] = mine;
    targets[nt++] = in->addr;
    /* every other input keeps its stored value; a map the image reaches through some keys only
     * gets those keys */
    size_t n = in->inputs->u.map.n, k = 0;
    const char **ign = idp_arena_alloc(a, (n + in->life.nignore + 1) * sizeof *ign);
    for (size_t j = 0; j < in->life.nignore; j++) ign[k++] = in->life.ignore[j];
    idp_map_builder mb;
    idp_map_builder_init(&mb, a);
    for (size_t j = 0; j < n; j++) {
      const char *key = in->inputs->u.map.keys[j];
      idp_value *v = in->inputs->u.map.vals[j];
      if (mine[j] == KEEP) ign[k++] = key;
      const idp_value *was = open ? idp_map_get(open->inputs, key, in->inputs->u.map.klen[j]) : NULL;
      bool waits = false;
      idp_value *merged = mine[j] == IMAGE ? merge_keys(a, st, sr, key, v, was, &waits, err) : NULL;
      if (err->code) rc = err->code;
      if (merged) v = merged;
      if (waits) mine[j] = MERGED; /* other keys of it wait for a reviewed apply */
      idp_map_builder_add(&mb, key, in->inputs->u.map.klen[j], v);
    }
    in->inputs = idp_map_builder_build(&mb, NULL);
    in->life.ignore = ign;
    in->life.nignore = k;
  }
  idp_graph_free(gs);
  if (rc < 0) {
    idp_plan_free(fp);
    return rc;
  }
  for (size_t i = 0; i < fp->n; i++) {
    const idp_plan_res *r = &fp->v[i];
    if (r->action == IDP_PLAN_NOOP) continue;
    const unsigned char *mine = NULL; /* what the deploy does with its inputs; the rest is pending */
    for (size_t j = 0; j < g->n && r->inst && !mine; j++)
      if (g->v[j] == r->inst) mine = marks[j];
    json_t *e = pending_entry(r, mine, r->inst);
    if (e) json_array_append_new(req->pending, e);
  }
  idp_plan_free(fp);
  if (nt == 0)
    return idp_state_fail(err, IDP_PLAN_EREFUSED,
                          "app %s has no resource in %s that uses its image yet: apply the environment first "
                          "(idp plan -env %s)",
                          req->app, req->env, req->env);
  po->targets = targets;
  po->ntargets = nt;
  po->exact = true;
  return 0;
}

/* --- the step ------------------------------------------------------------------------------ */

int idp_pipeline_deploy(const char *spec_dir, const char *env, const char *app, const char *image,
                        const char *pipeline, const char *run_id, FILE *log, idp_deploy_result *out, char *err,
                        size_t errsize) {
  static const char see[] = "see the driver's output (a background driver's: .idp/runs/RUN.log)";
  *out = (idp_deploy_result){0};
  idp_pin_req req = {.env = env, .app = app, .image = image, .pipeline = pipeline, .run = run_id};
  if (log) {
    fprintf(log, "deploy %s to %s: %s\n", app, env, image);
    fflush(log);
  }
  json_t *saved = NULL;
  int rc = idp_plan_pinned(spec_dir, &req, &saved);
  out->pending = req.pending;
  out->first = req.first;
  if (rc != IDP_EXIT_OK || !saved) {
    snprintf(err, errsize, "planning %s in %s failed: %s", app, env, req.why[0] ? req.why : see);
    json_decref(saved);
    return -1;
  }
  const json_t *s = json_object_get(saved, "summary");
  out->add = (long)json_integer_value(json_object_get(s, "add"));
  out->change = (long)json_integer_value(json_object_get(s, "change"));
  out->destroy = (long)json_integer_value(json_object_get(s, "destroy"));
  char why[600];
  rc = idp_apply_saved(saved, "pipeline", why, sizeof why);
  json_decref(saved);
  if (rc != IDP_EXIT_OK) {
    snprintf(err, errsize, "applying %s in %s failed: %s", app, env, why[0] ? why : see);
    return -1;
  }
  return 0;
}

void idp_deploy_result_free(idp_deploy_result *r) {
  if (!r) return;
  json_decref(r->pending);
  r->pending = NULL;
}
