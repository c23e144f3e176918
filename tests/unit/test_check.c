/* test_check.c - checks after instantiation (compiler/check.h): input types, integrations and
 * secrets (decision 8) against the driver schemas, and did-you-mean for missing attributes. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "instance.h"

#define HEAD                                            \
  "integration postgres \"shared-pg\" {\n"              \
  "  dsn = secret(env(\"CHK_DSN\"))\n"                  \
  "}\n"                                                 \
  "integration powerdns \"corp-dns\" {\n"               \
  "  api     = \"http://127.0.0.1:8081\"\n"             \
  "  api_key = secret(env(\"CHK_KEY\"))\n"              \
  "}\n"

/* Instantiates text (every top-level resource; no instantiation error allowed), runs the checks
 * and returns the diagnostics; *errors gets the errors the checks reported. */
static const char *check_text(const char *text, unsigned *errors) {
  setenv("CHK_DSN", "postgres://admin:hunter2-dsn@db/postgres", 1);
  setenv("CHK_KEY", "hunter2-key", 1);
  setenv("CHK_NAME", "hunter2-name", 1);
  idp_file *f = parse_str("chk.idp", text, NULL);
  expect_errors(0);
  idp_graph *g = idp_instantiate(&f, 1, NULL, 0, NULL, &F->diags);
  if (F->diags.errors) {
    const char *t = diags_text();
    idp_graph_free(g);
    FAIL("instantiation failed:\n%s", t);
  }
  unsigned n = idp_check_graph(g, &F->diags);
  idp_graph_free(g);
  assert_int_equal(n, F->diags.errors);
  if (errors) *errors = n;
  const char *out = diags_text();
  if (strstr(out, "hunter2")) FAIL("a secret's text in the diagnostics:\n%s", out);
  return out;
}

static void check_type_number(void **state) {
  (void)state;
  unsigned n;
  const char *out = check_text(HEAD
                               "resource powerdns.record \"r\" {\n"
                               "  server  = integration.corp-dns\n"
                               "  zone    = \"example.test.\"\n"
                               "  name    = \"www.example.test.\"\n"
                               "  type    = \"A\"\n"
                               "  ttl     = \"60\"\n"
                               "  records = [\"127.0.0.1\", 5]\n"
                               "}\n",
                               &n);
  assert_int_equal(n, 2);
  assert_string_equal(out,
                      "chk.idp:13:3: error: input 'ttl' of powerdns.record wants a number, found string \"60\" (in powerdns.record.r)\n"
                      " 13 |   ttl     = \"60\"\n"
                      "    |   ^~~\n"
                      "chk.idp:14:3: error: input 'records' of powerdns.record: element 1 wants a string, found number 5 (in powerdns.record.r)\n"
                      " 14 |   records = [\"127.0.0.1\", 5]\n"
                      "    |   ^~~~~~~\n");
}

static void check_integration_driver(void **state) {
  (void)state;
  unsigned n;
  const char *out = check_text(HEAD
                               "resource powerdns.zone \"z\" {\n"
                               "  server = integration.shared-pg\n"
                               "  name   = \"example.test.\"\n"
                               "}\n",
                               &n);
  assert_int_equal(n, 1);
  assert_string_equal(out,
                      "chk.idp:9:3: error: input 'server' of powerdns.zone wants an integration(powerdns), found integration.shared-pg of driver postgres (in powerdns.zone.z)\n"
                      " 9 |   server = integration.shared-pg\n"
                      "   |   ^~~~~~\n"
                      "hint: refer to an `integration powerdns \"NAME\"` block here\n");
}

static void check_secret_chain(void **state) {
  (void)state;
  unsigned n;
  const char *out = check_text(HEAD
                               "resource random.password \"pw\" {\n"
                               "  length = 24\n"
                               "}\n"
                               "resource postgres.role \"owner\" {\n"
                               "  server   = integration.shared-pg\n"
                               "  name     = random.password.pw.value\n"
                               "  password = random.password.pw.value\n"
                               "}\n",
                               &n);
  assert_int_equal(n, 1);
  assert_string_equal(out,
                      "chk.idp:13:3: error: secret from random.password.pw.value (random.password.pw) reaches input 'name' of "
                      "postgres.role, which may not take a secret (in postgres.role.owner)\n"
                      " 13 |   name     = random.password.pw.value\n"
                      "    |   ^~~~\n"
                      "hint: decision 8: a secret goes only into inputs marked as taking one (see 'idp describe postgres.role')\n");
}

/* A wholesale secret of the wrong type: the type error (one error per line is kept), without the
 * secret's text. */
static void check_secret_wrong_type(void **state) {
  (void)state;
  unsigned n;
  const char *out = check_text(HEAD
                               "resource postgres.role \"owner\" {\n"
                               "  server           = integration.shared-pg\n"
                               "  name             = \"shop\"\n"
                               "  connection_limit = secret(env(\"CHK_NAME\"))\n"
                               "}\n",
                               &n);
  assert_int_equal(n, 1);
  assert_string_equal(out,
                      "chk.idp:11:3: error: input 'connection_limit' of postgres.role wants a number, found a secret string (in postgres.role.owner)\n"
                      " 11 |   connection_limit = secret(env(\"CHK_NAME\"))\n"
                      "    |   ^~~~~~~~~~~~~~~~\n");
}

/* Maps: gitops.deployment env takes secrets per key; gitops labels do not, and the key is named. */
static void check_secret_map_keys(void **state) {
  (void)state;
  unsigned n;
  const char *out = check_text("integration gitops \"m\" {\n"
                               "  dir = \"./r\"\n"
                               "}\n"
                               "resource gitops.deployment \"app\" {\n"
                               "  target = integration.m\n"
                               "  path   = \"a.yaml\"\n"
                               "  name   = \"a\"\n"
                               "  image  = \"a:1\"\n"
                               "  env    = { PLAIN = \"x\", DB_PASSWORD = secret(env(\"CHK_NAME\")) }\n"
                               "  labels = { team = \"a\", token = secret(env(\"CHK_NAME\")) }\n"
                               "}\n",
                               &n);
  assert_int_equal(n, 1);
  assert_string_equal(out,
                      "chk.idp:10:3: error: secret from secret(...) reaches input 'labels' of gitops.deployment at key 'token', "
                      "which may not take a secret (in gitops.deployment.app)\n"
                      " 10 |   labels = { team = \"a\", token = secret(env(\"CHK_NAME\")) }\n"
                      "    |   ^~~~~~\n"
                      "hint: decision 8: a secret goes only into inputs marked as taking one (see 'idp describe gitops.deployment')\n");
}

/* Unknown values pass; null passes an optional input and fails a required one. */
static void check_unknown_and_null(void **state) {
  (void)state;
  unsigned n;
  const char *out = check_text(HEAD
                               "resource random.password \"pw\" {\n"
                               "  length = 24\n"
                               "}\n"
                               "resource postgres.role \"owner\" {\n"
                               "  server           = integration.shared-pg\n"
                               "  name             = null\n"
                               "  password         = random.password.pw.value\n"
                               "  connection_limit = null\n"
                               "}\n",
                               &n);
  assert_int_equal(n, 1);
  assert_non_null(strstr(out, "chk.idp:13:3: error: input 'name' of postgres.role wants a string, found null (in postgres.role.owner)\n"));
}

/* A reference to an attribute the driver does not have: did-you-mean over inputs and outputs. */
static void check_attr_did_you_mean(void **state) {
  (void)state;
  idp_file *f = parse_str("dym.idp",
                          HEAD
                          "resource random.password \"pw\" {\n"
                          "  length = 24\n"
                          "}\n"
                          "resource postgres.role \"owner\" {\n"
                          "  server   = integration.shared-pg\n"
                          "  name     = integration.shared-pg.hots\n"
                          "  password = random.password.pw.valu\n"
                          "}\n",
                          NULL);
  expect_errors(0);
  idp_graph *g = idp_instantiate(&f, 1, NULL, 0, NULL, &F->diags);
  idp_graph_free(g);
  const char *out = diags_text();
  assert_int_equal(F->diags.errors, 2);
  assert_non_null(strstr(out, "hint: integration postgres has no attribute 'hots'; did you mean 'host'?\n"));
  assert_non_null(strstr(out, "hint: random.password has no attribute 'valu'; did you mean 'value'?\n"));
}

/* The baseline passes every check, secrets included (workload env, role password, api_key). */
static void check_baseline_clean(void **state) {
  (void)state;
  static const char *const names[] = {"billing.idp", "platform.idp", "release.idp", "shop.idp"};
  idp_file *files[4];
  setenv("PDNS_API_KEY", "test-key", 1);
  setenv("PG_ADMIN_DSN", "postgres://admin:pw@127.0.0.1:5432/postgres", 1);
  for (size_t i = 0; i < 4; i++) {
    char path[256];
    snprintf(path, sizeof path, "../shared/design/baseline/%s", names[i]);
    errno = 0;
    idp_source *src = idp_source_load(path);
    if (!src) {
      if (errno == ENOENT) skip();
      FAIL("cannot read %s: %s", path, strerror(errno));
    }
    assert_true(F->nsrcs < FX_MAX_SOURCES);
    F->srcs[F->nsrcs++] = src;
    if (idp_parse(src, &F->arena, &F->diags, &files[i])) FAIL("%s:\n%s", path, diags_text());
  }
  idp_env_sel sel[4] = {{"dev", NULL}, {"staging", NULL}, {"prod", NULL}, {"pr-7", "development"}};
  idp_graph *g = idp_instantiate(files, 4, sel, 4, "../shared/design/baseline", &F->diags);
  unsigned n = F->diags.errors ? 0 : idp_check_graph(g, &F->diags);
  idp_graph_free(g);
  if (F->diags.errors) FAIL("baseline:\n%s", diags_text());
  assert_int_equal(n, 0);
}

int test_check(void) {
  const struct CMUnitTest tests[] = {
      FX_TEST(check_type_number),
      FX_TEST(check_integration_driver),
      FX_TEST(check_secret_chain),
      FX_TEST(check_secret_wrong_type),
      FX_TEST(check_secret_map_keys),
      FX_TEST(check_unknown_and_null),
      FX_TEST(check_attr_did_you_mean),
      FX_TEST(check_baseline_clean),
  };
  return cmocka_run_group_tests_name("check", tests, NULL, NULL);
}
