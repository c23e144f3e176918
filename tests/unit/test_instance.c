/* test_instance.c - environment instantiation and the dependency graph (compiler/instance.h), on
 * the design baseline (../shared/design/baseline, skipped when absent) and on small specs. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "instance.h"

#define BASELINE_DIR "../shared/design/baseline"

static idp_file *baseline[4];

/* Parses the four baseline files into the fixture, skipping the test when they are not there. */
static void load_baseline(void) {
  static const char *const names[] = {"billing.idp", "platform.idp", "release.idp", "shop.idp"};
  setenv("PDNS_API_KEY", "test-key", 1);
  setenv("PG_ADMIN_DSN", "postgres://admin:pw@127.0.0.1:5432/postgres", 1);
  for (size_t i = 0; i < 4; i++) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", BASELINE_DIR, names[i]);
    errno = 0;
    idp_source *src = idp_source_load(path);
    if (!src) {
      if (errno == ENOENT) skip();
      FAIL("cannot read %s: %s", path, strerror(errno));
    }
    assert_true(F->nsrcs < FX_MAX_SOURCES);
    F->srcs[F->nsrcs++] = src;
    if (idp_parse(src, &F->arena, &F->diags, &baseline[i])) FAIL("%s:\n%s", path, diags_text());
  }
}

/* Instantiates the baseline for envs (space-separated NAME[:TYPE], "" for none); no errors. */
static idp_graph *inst_baseline(const char *envs) {
  idp_env_sel sel[8];
  size_t n = 0;
  char *copy = idp_arena_strndup(&F->arena, envs, strlen(envs));
  for (char *tok = strtok(copy, " "); tok && n < 8; tok = strtok(NULL, " ")) {
    char *colon = strchr(tok, ':');
    if (colon) *colon = '\0';
    sel[n++] = (idp_env_sel){tok, colon ? colon + 1 : NULL};
  }
  idp_graph *g = idp_instantiate(baseline, 4, sel, n, BASELINE_DIR, &F->diags);
  if (F->diags.errors) {
    const char *text = diags_text();
    idp_graph_free(g);
    FAIL("instantiation failed:\n%s", text);
  }
  return g;
}

static void instance_counts(void **state) {
  (void)state;
  load_baseline();
  idp_graph *g = inst_baseline("dev staging");
  size_t n1 = g->n;
  idp_graph_free(g);
  g = inst_baseline("prod");
  size_t n2 = g->n;
  bool prod_zone = idp_graph_find(g, "powerdns.zone.prod-zone") && !idp_graph_find(g, "powerdns.zone.dev-zone");
  idp_graph_free(g);
  g = inst_baseline("");
  size_t n3 = g->n;
  idp_graph_free(g);
  g = inst_baseline("pr-42:development");
  size_t n4 = g->n;
  bool pr = idp_graph_find(g, "env.pr-42/app.shop/need.workload/gitops.deployment.app") != NULL;
  idp_graph_free(g);
  assert_int_equal(n1, 21);
  assert_int_equal(n2, 13);
  assert_true(prod_zone);
  assert_int_equal(n3, 34);
  assert_int_equal(n4, 11);
  assert_true(pr);
}

static void instance_dev_addresses(void **state) {
  (void)state;
  load_baseline();
  static const char *const want[] = {
      "env.dev/app.billing/need.db/postgres.database.db",
      "env.dev/app.billing/need.db/postgres.role.owner",
      "env.dev/app.billing/need.db/random.password.pw",
      "env.dev/app.billing/need.host/powerdns.record.host",
      "env.dev/app.billing/need.workload/gitops.deployment.app",
      "env.dev/app.shop/need.db/postgres.database.db",
      "env.dev/app.shop/need.db/postgres.role.owner",
      "env.dev/app.shop/need.db/random.password.pw",
      "env.dev/app.shop/need.host/powerdns.record.host",
      "env.dev/app.shop/need.workload/gitops.deployment.app",
      "powerdns.zone.dev-zone",
  };
  idp_graph *g = inst_baseline("dev");
  size_t n = g->n;
  const char *got[16] = {0};
  for (size_t i = 0; i < n && i < 16; i++) got[i] = idp_arena_strndup(&F->arena, g->v[i]->addr, strlen(g->v[i]->addr));
  size_t records = 0, with_zone = 0;
  for (size_t i = 0; i < n; i++)
    if (strcmp(g->v[i]->driver_kind, "powerdns.record") == 0) {
      records++;
      with_zone += idp_deps_has(g->v[i]->deps, "powerdns.zone.dev-zone");
    }
  idp_graph_free(g);
  assert_int_equal(n, sizeof want / sizeof *want);
  for (size_t i = 0; i < n; i++) assert_string_equal(got[i], want[i]);
  assert_int_equal(records, 2);
  assert_int_equal(with_zone, 2);
}

static void instance_workload_deps_and_secrets(void **state) {
  (void)state;
  load_baseline();
  idp_graph *g = inst_baseline("dev");
  const idp_inst *w = idp_graph_find(g, "env.dev/app.shop/need.workload/gitops.deployment.app");
  const idp_inst *role = idp_graph_find(g, "env.dev/app.shop/need.db/postgres.role.owner");
  const idp_inst *bw = idp_graph_find(g, "env.dev/app.billing/need.workload/gitops.deployment.app");
  bool ok_w = w && role && bw;
  bool dep_db = ok_w && idp_deps_has(w->deps, "env.dev/app.shop/need.db/postgres.database.db");
  bool dep_role = ok_w && idp_deps_has(w->deps, "env.dev/app.shop/need.db/postgres.role.owner");
  bool dep_pw = ok_w && idp_deps_has(w->deps, "env.dev/app.shop/need.db/random.password.pw");
  bool not_other = ok_w && !idp_deps_has(w->deps, "env.dev/app.billing/need.db/postgres.database.db");
  /* billing reads app.shop.need.host.fqdn: it depends on shop's record. */
  bool cross = ok_w && idp_deps_has(bw->deps, "env.dev/app.shop/need.host/powerdns.record.host");
  const idp_value *pw = ok_w ? idp_map_get(role->inputs, "password", 8) : NULL;
  const idp_value *env = ok_w ? idp_map_get(w->inputs, "env", 3) : NULL;
  const idp_value *url = env ? idp_map_get(env, "DATABASE_URL", 12) : NULL;
  const idp_value *lvl = env ? idp_map_get(env, "LOG_LEVEL", 9) : NULL;
  const idp_value *benv = ok_w ? idp_map_get(bw->inputs, "env", 3) : NULL;
  const idp_value *bpw = benv ? idp_map_get(benv, "DB_PASSWORD", 11) : NULL;
  const idp_value *bname = benv ? idp_map_get(benv, "DB_NAME", 7) : NULL;
  bool pw_secret = pw && pw->secret && pw->kind == IDP_V_UNKNOWN;
  bool url_secret = url && url->secret && url->kind == IDP_V_UNKNOWN;
  bool lvl_plain = lvl && !lvl->secret && lvl->kind == IDP_V_STRING && strcmp(lvl->u.string.s, "debug") == 0;
  bool env_not_wholesale = env && !env->secret && benv && !benv->secret;
  bool b_secret = bpw && bpw->secret && bname && !bname->secret;
  idp_graph_free(g);
  assert_true(ok_w);
  assert_true(dep_db);
  assert_true(dep_role);
  assert_true(dep_pw);
  assert_true(not_other);
  assert_true(cross);
  assert_true(pw_secret);
  assert_true(url_secret);
  assert_true(lvl_plain);
  assert_true(env_not_wholesale);
  assert_true(b_secret);
}

static void instance_cycle(void **state) {
  (void)state;
  idp_file *f = parse_str("cycle.idp",
                          "resource random.password \"a\" {\n"
                          "  length = random.password.b.length\n"
                          "}\n"
                          "resource random.password \"b\" {\n"
                          "  length = random.password.a.length\n"
                          "}\n",
                          NULL);
  expect_errors(0);
  idp_graph *g = idp_instantiate(&f, 1, NULL, 0, NULL, &F->diags);
  idp_graph_free(g);
  assert_int_equal(F->diags.errors, 1);
  assert_string_equal(diags_text(),
                      "cycle.idp:2:3: error: dependency cycle: random.password.a.length (cycle.idp:2:3) -> "
                      "random.password.b.length (cycle.idp:5:3) -> random.password.a.length\n"
                      " 2 |   length = random.password.b.length\n"
                      "   |   ^~~~~~\n"
                      "hint: each arrow reads 'needs'; remove one of these references\n");
}

/* No attribute needs itself, but a needs b and b needs a: a cycle of the graph. */
static void instance_graph_cycle(void **state) {
  (void)state;
  idp_file *f = parse_str("gcycle.idp",
                          "resource random.password \"a\" {\n"
                          "  length  = 10\n"
                          "  special = random.password.b.length > 0\n"
                          "}\n"
                          "resource random.password \"b\" {\n"
                          "  length = random.password.a.length\n"
                          "}\n",
                          NULL);
  expect_errors(0);
  idp_graph *g = idp_instantiate(&f, 1, NULL, 0, NULL, &F->diags);
  idp_graph_free(g);
  assert_int_equal(F->diags.errors, 1);
  assert_string_equal(diags_text(),
                      "gcycle.idp:1:10: error: dependency cycle: random.password.a (gcycle.idp:1:10) -> "
                      "random.password.b (gcycle.idp:5:10) -> random.password.a\n"
                      " 1 | resource random.password \"a\" {\n"
                      "   |          ^~~~~~~~~~~~~~~\n"
                      "hint: each arrow reads 'depends on'; remove one of these references\n");
}

static void instance_unknown_env(void **state) {
  (void)state;
  load_baseline();
  idp_env_sel sel = {"qa", NULL};
  idp_graph *g = idp_instantiate(baseline, 4, &sel, 1, NULL, &F->diags);
  idp_graph_free(g);
  assert_int_equal(F->diags.errors, 1);
  assert_non_null(strstr(diags_text(), "env 'qa' is not declared"));
}

int test_instance(void) {
  const struct CMUnitTest tests[] = {
      FX_TEST(instance_counts),
      FX_TEST(instance_dev_addresses),
      FX_TEST(instance_workload_deps_and_secrets),
      FX_TEST(instance_cycle),
      FX_TEST(instance_graph_cycle),
      FX_TEST(instance_unknown_env),
  };
  return cmocka_run_group_tests_name("instance", tests, NULL, NULL);
}
