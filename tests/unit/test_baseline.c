/* test_baseline.c - the acceptance baseline specs (../shared/design/baseline, relative to the repo,
 * where the test runner starts) parse without error, hold what they say, and validate as one spec.
 * Skipped when the directory is not there. */
#include "unit.h"

#include <errno.h>
#include <string.h>

#include "validate.h"

#define BASELINE_DIR "../shared/design/baseline"

/* Loads and parses one baseline file, skipping the test if it is missing. */
static idp_file *load(const char *name) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", BASELINE_DIR, name);
  errno = 0;
  idp_source *src = idp_source_load(path);
  if (!src) {
    if (errno == ENOENT) skip();
    FAIL("cannot read %s: %s", path, strerror(errno));
  }
  assert_true(F->nsrcs < FX_MAX_SOURCES);
  F->srcs[F->nsrcs++] = src;
  idp_file *f = NULL;
  unsigned n = idp_parse(src, &F->arena, &F->diags, &f);
  if (n) FAIL("%s has %u syntax error(s):\n%s", path, n, diags_text());
  return f;
}

static size_t count_blocks(const idp_body *b, const char *kind) {
  size_t n = 0;
  for (idp_item *it = b->first; it; it = it->next)
    if (it->kind == IDP_ITEM_BLOCK && strcmp(it->name, kind) == 0) n++;
  return n;
}

static idp_item *block(const idp_body *b, const char *kind, const char *label) {
  for (idp_item *it = b->first; it; it = it->next)
    if (it->kind == IDP_ITEM_BLOCK && strcmp(it->name, kind) == 0 && it->nlabels &&
        strcmp(it->labels->next ? it->labels->next->name : it->labels->name, label) == 0)
      return it;
  FAIL("no %s \"%s\"", kind, label);
  return NULL;
}

static void baseline_platform_parses(void **state) {
  (void)state;
  idp_file *f = load("platform.idp");
  assert_int_equal(count_blocks(&f->body, "integration"), 5);
  assert_int_equal(count_blocks(&f->body, "env_type"), 2);
  assert_int_equal(count_blocks(&f->body, "env"), 3);
  assert_int_equal(count_blocks(&f->body, "provide"), 5);
  assert_int_equal(count_blocks(&f->body, "resource"), 2);
  assert_int_equal(f->body.n, 17);
  assert_true(f->ncomments >= 8);

  idp_item *dns = block(&f->body, "integration", "corp-dns");
  assert_string_equal(dns->labels->name, "powerdns");
  idp_expr *api = body_attr(&dns->body, "api");
  assert_int_equal(api->kind, IDP_E_CALL);
  assert_string_equal(api->u.call.name, "env");
  assert_int_equal(api->u.call.nargs, 2);

  idp_item *dev = block(&f->body, "env_type", "development");
  idp_expr *zone = body_attr(&dev->body, "dns_zone");
  assert_int_equal(zone->kind, IDP_E_GETATTR);
  assert_string_equal(zone->u.getattr.name, "name");
  assert_string_equal(zone->u.getattr.obj->u.getattr.name, "dev-zone");

  /* The conditional with interpolated strings in provide dns "subdomain". */
  idp_item *sub = block(&f->body, "provide", "subdomain");
  idp_item *rec = sub->body.first;
  assert_string_equal(rec->labels->name, "powerdns.record");
  idp_expr *name = body_attr(&rec->body, "name");
  assert_int_equal(name->kind, IDP_E_COND);
  assert_int_equal(name->u.cond.cond->kind, IDP_E_BINARY);
  assert_int_equal(name->u.cond.cond->u.binary.op, IDP_OP_EQ);
  assert_int_equal(name->u.cond.otherwise->kind, IDP_E_TEMPLATE);

  idp_item *prod = block(&f->body, "resource", "prod-zone");
  assert_string_equal(prod->labels->name, "powerdns.zone");
  assert_string_equal(prod->body.last->name, "lifecycle");
}

static void baseline_shop_parses(void **state) {
  (void)state;
  idp_file *f = load("shop.idp");
  assert_int_equal(f->body.n, 1);
  idp_item *app = block(&f->body, "app", "shop");
  assert_int_equal(count_blocks(&app->body, "need"), 2);
  idp_item *vars = app->body.last;
  assert_string_equal(vars->name, "variables");
  idp_expr *url = body_attr(&vars->body, "DATABASE_URL");
  size_t interps = 0;
  for (idp_tpart *p = url->u.template.parts; p; p = p->next) interps += p->expr != NULL;
  assert_int_equal(interps, 5);
}

static void baseline_billing_parses(void **state) {
  (void)state;
  idp_file *f = load("billing.idp");
  idp_item *app = block(&f->body, "app", "billing");
  idp_expr *shop = body_attr(&app->body.last->body, "SHOP_URL");
  idp_expr *fqdn = shop->u.template.parts->next->expr;
  assert_int_equal(fqdn->kind, IDP_E_GETATTR);
  assert_string_equal(fqdn->u.getattr.name, "fqdn");
  assert_loc_text(f->src, fqdn->loc, "app.shop.need.host.fqdn");
}

static void baseline_release_parses(void **state) {
  (void)state;
  idp_file *f = load("release.idp");
  idp_item *p = block(&f->body, "pipeline", "shop-release");
  assert_int_equal(count_blocks(&p->body, "trigger"), 1);
  assert_int_equal(count_blocks(&p->body, "stage"), 3);
}

static void baseline_validates_as_one_spec(void **state) {
  (void)state;
  idp_file *files[4];
  files[0] = load("platform.idp");
  files[1] = load("shop.idp");
  files[2] = load("billing.idp");
  files[3] = load("release.idp");
  unsigned n = idp_validate(files, 4, &F->diags);
  if (n) FAIL("baseline rejected:\n%s", diags_text());
  assert_int_equal(F->diags.n, 0);
}

int test_baseline(void) {
  const struct CMUnitTest tests[] = {
      FX_TEST(baseline_platform_parses),
      FX_TEST(baseline_shop_parses),
      FX_TEST(baseline_billing_parses),
      FX_TEST(baseline_release_parses),
      FX_TEST(baseline_validates_as_one_spec),
  };
  return cmocka_run_group_tests_name("baseline", tests, NULL, NULL);
}
