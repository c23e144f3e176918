/* cmd_explain.c - `idp explain [DIR] -env NAME[:TYPE] ADDR`: which provide meets a need, and why. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../compiler/schema.h"
#include "../compiler/spec.h"
#include "../compiler/util.h"
#include "cli.h"

#define NONE ((size_t)-1)

/* What to explain: env, app, need names (pointers into argv or a copy). */
typedef struct target {
  char *env, *env_type; /* env_type: from -env NAME:TYPE, or NULL */
  char *app, *need;
} target;

/* Splits ADDR (app.A, app.A.need.N, env.E/app.A, env.E/app.A/need.N) into t. Returns 0 or -1. */
static int parse_addr(char *addr, target *t) {
  char *p = addr;
  if (strncmp(p, "env.", 4) == 0) {
    char *slash = strchr(p + 4, '/');
    if (!slash || slash == p + 4) return -1;
    *slash = '\0';
    t->env = p + 4;
    p = slash + 1;
  }
  if (strncmp(p, "app.", 4) != 0 || !p[4]) return -1;
  p += 4;
  char *sep = strpbrk(p, "./");
  if (!sep) {
    t->app = p;
    t->need = "workload";
    return 0;
  }
  if (sep == p || strncmp(sep + 1, "need.", 5) != 0 || !sep[6] || strpbrk(sep + 6, "./")) return -1;
  *sep = '\0';
  t->app = p;
  t->need = sep + 6;
  return 0;
}

static void print_at(const idp_source *src, idp_loc loc) {
  unsigned line, col;
  idp_source_linecol((idp_source *)src, loc.start, &line, &col);
  printf("%s:%u:%u", src->path, line, col);
}

/* `env = "prod" (+4), app = "billing" (+2)`, or why it does not fit. */
static void print_match(const idp_spec_provide *p, const char *have[IDP_NCRIT], int indent) {
  if (!p->has_match) {
    printf("%*smatch: none (fits every env and app)\n", indent, "");
    return;
  }
  printf("%*smatch:", indent, "");
  bool any = false;
  for (int c = 0; c < IDP_NCRIT; c++) {
    const idp_spec_lit *l = &p->crit[c];
    if (l->kind == IDP_SPEC_ABSENT) continue;
    printf("%s %s = ", any ? "," : "", idp_spec_crit_name[c]);
    any = true;
    if (l->kind == IDP_SPEC_EXPR) {
      printf("(an expression: decided at plan time)");
    } else if (have[c] && strcmp(have[c], l->s) == 0) {
      printf("\"%s\" (+%d)", l->s, idp_spec_crit_weight[c]);
    } else if (have[c]) {
      printf("\"%s\" (does not fit)", l->s);
    } else {
      printf("\"%s\" (does not fit: the env has no type)", l->s);
    }
  }
  if (!any) printf(" empty (fits every env and app)");
  printf("\n");
}

static int fail(const char *fmt, const char *a, const char *b) {
  fputs("idp explain: error: ", stderr);
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
  return IDP_EXIT_ERROR;
}

static void hint_names(const char *word, const char *const *names, size_t n, const char *what) {
  const char *best = idp_did_you_mean(word, names, n);
  if (best) {
    fprintf(stderr, "hint: did you mean '%s'?\n", best);
    return;
  }
  fprintf(stderr, "hint: %s:", what);
  for (size_t i = 0; i < n && i < 20; i++) fprintf(stderr, " %s", names[i]);
  fprintf(stderr, "%s\n", n ? (n > 20 ? " ..." : "") : " none");
}

static int explain(const idp_spec *s, target *t) {
  size_t nmax = s->nenvs + s->napps + s->nenv_types + 1;
  for (size_t i = 0; i < s->napps; i++)
    if (s->apps[i].nneeds > nmax) nmax = s->apps[i].nneeds;
  const char **names = idp_xmalloc(nmax * sizeof *names);
  int rc = IDP_EXIT_ERROR;

  /* The environment: declared, or on demand with a type (decision 7). */
  const idp_spec_env *e = idp_spec_find_env(s, t->env);
  const char *env_type = t->env_type;
  if (e) {
    if (e->type.kind == IDP_SPEC_EXPR) {
      if (!env_type) {
        fail("the type of env '%s' is an expression%s", t->env, "");
        fputs("hint: explain reads literal values only; give the type: -env NAME:TYPE\n", stderr);
        goto out;
      }
    } else {
      const char *declared = e->type.kind == IDP_SPEC_LITERAL ? e->type.s : NULL;
      if (env_type && (!declared || strcmp(declared, env_type) != 0)) {
        fail("env '%s' is declared with type '%s'", t->env, declared ? declared : "(none)");
        fputs("hint: leave out :TYPE for a declared env, or choose another name for an on-demand one\n", stderr);
        goto out;
      }
      env_type = declared;
    }
  } else if (!env_type) {
    fail("env '%s' is not declared%s", t->env, "");
    for (size_t i = 0; i < s->nenvs; i++) names[i] = s->envs[i].name;
    const char *best = idp_did_you_mean(t->env, names, s->nenvs);
    if (best) fprintf(stderr, "hint: did you mean '%s'?\n", best);
    else fprintf(stderr, "hint: for an on-demand environment give its type: -env %s:TYPE\n", t->env);
    goto out;
  } else if (!idp_schema_valid_name(t->env)) {
    fail("'%s' is not an environment name%s", t->env, "");
    fputs("hint: names match [a-z][a-z0-9-]{0,29}\n", stderr);
    goto out;
  }
  if (env_type && !idp_spec_find_env_type(s, env_type)) {
    fail("env type '%s' is not declared%s", env_type, "");
    for (size_t i = 0; i < s->nenv_types; i++) names[i] = s->env_types[i].name;
    hint_names(env_type, names, s->nenv_types, "declared env types");
    goto out;
  }

  const idp_spec_app *a = idp_spec_find_app(s, t->app);
  if (!a) {
    fail("app '%s' is not declared%s", t->app, "");
    for (size_t i = 0; i < s->napps; i++) names[i] = s->apps[i].name;
    hint_names(t->app, names, s->napps, "declared apps");
    goto out;
  }
  const idp_spec_need *n = NULL;
  for (size_t i = 0; i < a->nneeds && !n; i++)
    if (strcmp(a->needs[i].name, t->need) == 0) n = &a->needs[i];
  if (!n) {
    fail("app '%s' has no need '%s'", t->app, t->need);
    for (size_t i = 0; i < a->nneeds; i++) names[i] = a->needs[i].name;
    hint_names(t->need, names, a->nneeds, "its needs");
    goto out;
  }
  if (n->type.kind != IDP_SPEC_LITERAL) {
    fail("the type of need '%s' is %s", t->need, n->type.kind == IDP_SPEC_EXPR ? "an expression" : "not set");
    fputs("hint: explain reads literal values only\n", stderr);
    goto out;
  }
  const char *type = n->type.s;
  printf("env.%s/app.%s/need.%s: type %s, env %s", t->env, a->name, n->name, type, t->env);
  if (env_type) printf(" (env_type %s%s)", env_type, e ? "" : ", on demand");
  printf("\n");

  const idp_spec_ptype *pt = idp_spec_find_ptype(s, type);
  if (!pt) {
    printf("no provide serves type %s\n", type);
    goto out;
  }
  idp_spec_choice ch;
  idp_spec_choose(s, type, t->env, a->name, env_type, &ch);
  const char *have[IDP_NCRIT] = {t->env, a->name, env_type};
  if (ch.win != NONE && ch.tie == NONE) {
    const idp_spec_provide *w = &s->provides[ch.win];
    printf("winner: provide %s \"%s\" (score %d) at ", type, w->name, ch.score);
    print_at(w->src, w->loc);
    printf("\n");
    print_match(w, have, 2);
    rc = IDP_EXIT_OK;
  } else if (ch.win != NONE) {
    const idp_spec_provide *w = &s->provides[ch.win], *x = &s->provides[ch.tie];
    printf("error: tie: provides %s \"%s\" and \"%s\" both fit with score %d\n", type, w->name, x->name, ch.score);
  } else {
    printf("error: no provide %s fits\n", type);
  }
  if (ch.undecided) printf("(some match holds an expression: the plan may choose otherwise)\n");
  if (pt->n > (ch.win != NONE && ch.tie == NONE ? 1u : 0u)) printf("%s provides of type %s:\n", rc ? "the" : "other", type);
  for (size_t i = pt->first; i != NONE; i = s->provides[i].next_of_type) {
    if (rc == IDP_EXIT_OK && i == ch.win) continue;
    const idp_spec_provide *p = &s->provides[i];
    int crit;
    int sc = idp_spec_score(p, t->env, a->name, env_type, &crit);
    printf("  provide %s \"%s\" ", type, p->name);
    if (sc >= 0)
      printf("(score %d: %s)", sc, sc == ch.score ? "ties for the best" : "fits, with a lower score");
    else if (sc == IDP_SPEC_UNDECIDED)
      printf("(undecided: its match sets %s with an expression)", idp_spec_crit_name[crit]);
    else if (have[crit])
      printf("(does not fit: %s is \"%s\", its match wants \"%s\")", idp_spec_crit_name[crit], have[crit],
             p->crit[crit].s);
    else
      printf("(does not fit: the env has no type, its match wants env_type \"%s\")", p->crit[crit].s);
    printf(" at ");
    print_at(p->src, p->loc);
    printf("\n");
    print_match(p, have, 4);
  }
out:
  free(names);
  return rc;
}

int idp_cmd_explain(int argc, char **argv) {
  idp_flag_list envs = {0};
  const idp_flag flags[] = {{"env", IDP_FLAG_LIST, &envs}};
  char **all, **args = idp_xcalloc((size_t)argc + 1, sizeof *args);
  size_t nall = 0, nargs = 0;
  char *addr = NULL;
  const char *env = NULL;
  int rc = IDP_EXIT_USAGE;
  if (idp_parse_flags("explain", argc, argv, flags, 1, &all, &nall) < 0) goto out;
  if (envs.n > 1) {
    fprintf(stderr, "idp explain: error: one -env at a time\n");
    goto out;
  }
  env = envs.n ? envs.v[0] : NULL;
  /* what is not a flag: the address (app.* or env.*), or the spec's directory or files */
  for (size_t i = 0; i < nall; i++) {
    if (strncmp(all[i], "app.", 4) != 0 && strncmp(all[i], "env.", 4) != 0) {
      args[nargs++] = all[i];
    } else if (addr) {
      fprintf(stderr, "idp explain: error: one address at a time ('%s', then '%s')\n", addr, all[i]);
      goto out;
    } else {
      addr = all[i];
    }
  }
  if (nargs > 1) {
    fprintf(stderr, "idp explain: error: one spec directory at a time ('%s', then '%s')\n", args[0], args[1]);
    goto out;
  }
  if (!addr) {
    fprintf(stderr, "idp explain: error: what to explain is missing\n"
                    "hint: idp explain [DIR] -env NAME app.APP.need.NEED (or app.APP for its workload)\n");
    goto out;
  }
  char *addr_copy = idp_xstrdup(addr), *env_copy = env ? idp_xstrdup(env) : NULL;
  target t = {0};
  if (parse_addr(addr_copy, &t) < 0) {
    fprintf(stderr, "idp explain: error: '%s' is not an address of a need\n"
                    "hint: write app.APP.need.NEED, app.APP (its workload) or env.ENV/app.APP/need.NEED\n",
            addr);
  } else if (env_copy && t.env) {
    fprintf(stderr, "idp explain: error: the environment is given twice (-env and in '%s')\n", addr);
  } else if (!env_copy && !t.env) {
    fprintf(stderr, "idp explain: error: which environment?\nhint: add -env NAME (or -env NAME:TYPE on demand)\n");
  } else {
    if (env_copy) {
      t.env = env_copy;
      char *colon = strchr(env_copy, ':');
      if (colon) *colon = '\0', t.env_type = colon + 1;
    }
    if (!t.env[0] || (t.env_type && !t.env_type[0])) {
      fprintf(stderr, "idp explain: error: bad -env '%s'\nhint: write -env NAME or -env NAME:TYPE\n", env);
    } else {
      idp_loaded L;
      rc = idp_load_spec("explain", args, nargs, &L);
      if (L.npaths && L.diags.errors) {
        idp_diags_print(&L.diags, stderr);
        fprintf(stderr, "%u error%s: run 'idp validate' to check the spec\n", L.diags.errors,
                L.diags.errors == 1 ? "" : "s");
        rc = IDP_EXIT_ERROR;
      } else if (L.npaths && rc == IDP_EXIT_OK) {
        rc = explain(L.spec, &t);
      } else {
        rc = IDP_EXIT_ERROR;
      }
      idp_unload_spec(&L);
    }
  }
  free(addr_copy);
  free(env_copy);
out:
  idp_flags_free(flags, 1, all);
  free(args);
  return rc;
}
