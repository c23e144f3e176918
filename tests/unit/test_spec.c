/* test_spec.c - the spec model: what is recorded (literals, expressions, the implicit workload),
 * matching scores (decision 4), winners and ties, and the checks across blocks. */
#include "unit.h"

#include <string.h>

#include "spec.h"

#define NONE ((size_t)-1)

/* A spec model of text, owned by the caller (idp_spec_free). */
static idp_spec *model(const char *text) {
  idp_file *f = parse_ok(text);
  idp_spec *s = idp_spec_new();
  for (const idp_item *it = f->body.first; it; it = it->next) idp_spec_item(s, f->src, it);
  return s;
}

static const idp_spec_provide *provide(const idp_spec *s, const char *name) {
  for (size_t i = 0; i < s->nprovides; i++)
    if (strcmp(s->provides[i].name, name) == 0) return &s->provides[i];
  FAIL("no provide '%s'", name);
  return NULL;
}

static const char platform[] =
    "env_type development {}\n"
    "env_type production {}\n"
    "env \"dev\"  { type = \"development\" }\n"
    "env \"prod\" { type = \"production\" }\n"
    "provide postgres \"shared\" {}\n"
    "provide postgres \"billing-prod\" {\n  match {\n    app = \"billing\"\n    env = \"prod\"\n  }\n}\n"
    "provide postgres \"prod-any\" {\n  match { env_type = \"production\" }\n}\n"
    "provide postgres \"computed\" {\n  match { env = lower(\"PROD\") }\n}\n"
    "app \"billing\" {\n  need \"db\" { type = \"postgres\" }\n}\n";

static void spec_scores(void **state) {
  (void)state;
  idp_spec *s = model(platform);
  int crit;
  assert_int_equal(idp_spec_score(provide(s, "shared"), "dev", "billing", "development", &crit), 0);
  assert_int_equal(crit, -1);
  assert_int_equal(idp_spec_score(provide(s, "billing-prod"), "prod", "billing", "production", NULL), 6);
  assert_int_equal(idp_spec_score(provide(s, "billing-prod"), "dev", "billing", "development", &crit),
                   IDP_SPEC_NOFIT);
  assert_int_equal(crit, IDP_CRIT_ENV);
  assert_int_equal(idp_spec_score(provide(s, "billing-prod"), "prod", "shop", "production", &crit), IDP_SPEC_NOFIT);
  assert_int_equal(crit, IDP_CRIT_APP);
  assert_int_equal(idp_spec_score(provide(s, "prod-any"), "prod", "shop", "production", NULL), 1);
  /* An env without a type fits no env_type criterion. */
  assert_int_equal(idp_spec_score(provide(s, "prod-any"), "x", "shop", NULL, &crit), IDP_SPEC_NOFIT);
  assert_int_equal(crit, IDP_CRIT_ENV_TYPE);
  /* A criterion set by an expression cannot be decided from literals. */
  assert_int_equal(idp_spec_score(provide(s, "computed"), "prod", "shop", "production", &crit), IDP_SPEC_UNDECIDED);
  assert_int_equal(crit, IDP_CRIT_ENV);
  idp_spec_free(s);
}

static void spec_all_weights(void **state) {
  (void)state;
  idp_spec *s = model("provide t \"all\" {\n  match {\n    env      = \"e\"\n    app      = \"a\"\n"
                      "    env_type = \"k\"\n  }\n}\n"
                      "provide t \"empty-match\" {\n  match {}\n}\n");
  assert_int_equal(idp_spec_score(provide(s, "all"), "e", "a", "k", NULL), 7);
  assert_int_equal(idp_spec_score(provide(s, "empty-match"), "e", "a", "k", NULL), 0);
  idp_spec_free(s);
}

static void spec_choose(void **state) {
  (void)state;
  idp_spec *s = model(platform);
  idp_spec_choice ch;
  idp_spec_choose(s, "postgres", "prod", "billing", "production", &ch);
  assert_string_equal(s->provides[ch.win].name, "billing-prod");
  assert_int_equal(ch.score, 6);
  assert_true(ch.tie == NONE);
  assert_int_equal(ch.nfit, 3);
  assert_true(ch.undecided);
  idp_spec_choose(s, "postgres", "dev", "billing", "development", &ch);
  assert_string_equal(s->provides[ch.win].name, "shared");
  assert_int_equal(ch.score, 0);
  idp_spec_choose(s, "redis", "dev", "billing", "development", &ch);
  assert_true(ch.win == NONE);
  assert_int_equal(ch.nfit, 0);
  idp_spec_free(s);
}

static void spec_tie(void **state) {
  (void)state;
  idp_spec *s = model("provide dns \"a\" {\n  match { app = \"shop\" }\n}\n"
                      "provide dns \"b\" {\n  match { app = \"shop\" }\n}\n"
                      "provide dns \"c\" {\n  match { env_type = \"development\" }\n}\n"
                      "provide dns \"d\" {\n  match { env = \"dev\" }\n}\n");
  idp_spec_choice ch;
  idp_spec_choose(s, "dns", "prod", "shop", "development", &ch);
  assert_string_equal(s->provides[ch.win].name, "a");
  assert_string_equal(s->provides[ch.tie].name, "b");
  assert_int_equal(ch.score, 2);
  /* env (4) outweighs app (2): no tie in dev. */
  idp_spec_choose(s, "dns", "dev", "shop", "development", &ch);
  assert_string_equal(s->provides[ch.win].name, "d");
  assert_true(ch.tie == NONE);
  idp_spec_free(s);
}

static void spec_recorded(void **state) {
  (void)state;
  idp_spec *s = model("env \"dev\" { type = \"development\" }\n"
                      "env \"x\" { type = \"dev${1}\" }\n"
                      "env \"dev\" { type = \"other\" }\n" /* a duplicate: the first one is kept */
                      "app \"shop\" {\n  need \"db\" { type = \"postgres\" }\n}\n"
                      "pipeline \"p\" {\n  stage \"a\" {\n    after = [\"b\", x]\n"
                      "    deploy {\n      app = \"shop\"\n      env = env.name\n    }\n  }\n}\n");
  assert_int_equal(s->nenvs, 2);
  assert_string_equal(idp_spec_find_env(s, "dev")->type.s, "development");
  assert_int_equal(idp_spec_find_env(s, "x")->type.kind, IDP_SPEC_EXPR);
  const idp_spec_app *a = idp_spec_find_app(s, "shop");
  assert_non_null(a);
  assert_int_equal(a->nneeds, 2);
  assert_true(a->needs[0].implicit);
  assert_string_equal(a->needs[0].type.s, "workload");
  assert_string_equal(a->needs[1].type.s, "postgres");
  const idp_spec_stage *st = &s->pipelines[0].stages[0];
  assert_int_equal(st->nafter, 2);
  assert_int_equal(st->after[0].kind, IDP_SPEC_LITERAL);
  assert_int_equal(st->after[1].kind, IDP_SPEC_EXPR);
  assert_string_equal(st->deploy_app.s, "shop");
  assert_int_equal(st->deploy_env.kind, IDP_SPEC_EXPR);
  idp_spec_free(s);
}

/* The checks find a tie once per pair of provides, and no error where a provide wins. */
static void spec_check_tie(void **state) {
  (void)state;
  idp_spec *s = model("env_type development {}\n"
                      "env \"dev\" { type = \"development\" }\n"
                      "env \"qa\" { type = \"development\" }\n"
                      "provide workload \"w\" {}\n"
                      "provide dns \"a\" {}\n"
                      "provide dns \"b\" {}\n"
                      "provide dns \"shop-dns\" {\n  match { app = \"shop\" }\n}\n"
                      "app \"shop\" {\n  need \"host\" { type = \"dns\" }\n}\n"
                      "app \"blog\" {\n  need \"host\" { type = \"dns\" }\n}\n"
                      "app \"wiki\" {\n  need \"host\" { type = \"dns\" }\n}\n");
  assert_int_equal(idp_spec_check(s, &F->diags), 1);
  const char *text = diags_text();
  if (!strstr(text, "need 'host' of app 'blog' in env 'dev': provides dns \"a\" and \"b\" both fit with score 0"))
    FAIL("unexpected diagnostics:\n%s", text);
  idp_spec_free(s);
}

/* Provides that name an app: a tie in the one env both name, and no fit where none reaches. */
static void spec_check_named(void **state) {
  (void)state;
  idp_spec *s = model("env_type development {}\n"
                      "env_type production {}\n"
                      "env \"dev\" { type = \"development\" }\n"
                      "env \"prod\" { type = \"production\" }\n"
                      "provide workload \"w\" {}\n"
                      "provide postgres \"x\" {\n  match {\n    app = \"shop\"\n    env = \"prod\"\n  }\n}\n"
                      "provide postgres \"y\" {\n  match {\n    env = \"prod\"\n    app = \"shop\"\n  }\n}\n"
                      "provide postgres \"z\" {\n  match { env_type = \"development\" }\n}\n"
                      "app \"shop\" {\n  need \"db\" { type = \"postgres\" }\n}\n"
                      "app \"blog\" {\n  need \"db\" { type = \"postgres\" }\n}\n");
  assert_int_equal(idp_spec_check(s, &F->diags), 2);
  const char *text = diags_text();
  if (!strstr(text, "need 'db' of app 'shop' in env 'prod': provides postgres \"x\" and \"y\" both fit with score 6") ||
      !strstr(text, "no provide postgres fits need 'db' of app 'blog' in env prod"))
    FAIL("unexpected diagnostics:\n%s", text);
  idp_spec_choice ch;
  idp_spec_choose(s, "postgres", "prod", "shop", "production", &ch);
  assert_string_equal(s->provides[ch.win].name, "x");
  assert_string_equal(s->provides[ch.tie].name, "y");
  idp_spec_free(s);
}

static void spec_check_partial(void **state) {
  (void)state;
  /* An app team's file alone: no provide, env or env type is declared, so nothing is missing. */
  idp_spec *s = model("app \"shop\" {\n  need \"db\" { type = \"postgres\" }\n}\n"
                      "pipeline \"p\" {\n  stage \"a\" {\n    deploy {\n      app = \"shop\"\n"
                      "      env = \"dev\"\n    }\n  }\n}\n");
  assert_int_equal(idp_spec_check(s, &F->diags), 0);
  idp_spec_free(s);
}

int test_spec(void) {
  const struct CMUnitTest tests[] = {
      FX_TEST(spec_scores),   FX_TEST(spec_all_weights), FX_TEST(spec_choose),        FX_TEST(spec_tie),
      FX_TEST(spec_recorded), FX_TEST(spec_check_tie),   FX_TEST(spec_check_partial), FX_TEST(spec_check_named),
  };
  return cmocka_run_group_tests_name("spec", tests, NULL, NULL);
}
