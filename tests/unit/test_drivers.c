/* test_drivers.c - driver schemas (runtime/drivers): the tables hold together, lookups, what the
 * baseline sets and reads exists, the decisions the tables encode, and the checks' exact messages. */
#include "unit.h"

#include <errno.h>
#include <string.h>

#include "drivers/driver.h"
#include "validate.h"

#define BASELINE_DIR "../shared/design/baseline"

static const idp_drv_input *input_of(const char *kind, const char *name) {
  const idp_drv_kind *k = idp_driver_find_kind(kind, NULL);
  if (!k) FAIL("no kind %s", kind);
  const idp_drv_input *in = idp_drv_find_input(&k->io, name);
  if (!in) FAIL("%s has no input %s", kind, name);
  return in;
}

static const idp_drv_output *output_of(const char *kind, const char *name) {
  const idp_drv_kind *k = idp_driver_find_kind(kind, NULL);
  if (!k) FAIL("no kind %s", kind);
  const idp_drv_output *o = idp_drv_find_output(&k->io, name);
  if (!o) FAIL("%s has no output %s", kind, name);
  return o;
}

static const idp_drv_input *integration_input(const char *driver, const char *name) {
  const idp_driver *d = idp_driver_find(driver);
  if (!d) FAIL("no driver %s", driver);
  const idp_drv_input *in = idp_drv_find_input(&d->io, name);
  if (!in) FAIL("integration %s has no input %s", driver, name);
  return in;
}

/* --- the tables ------------------------------------------------------------------------------ */

static void check_io(const char *what, const idp_drv_io *io) {
  for (size_t i = 0; i < io->ninputs; i++) {
    const idp_drv_input *in = &io->inputs[i];
    if (!in->name || !*in->name || !in->doc || !*in->doc) FAIL("%s: input %zu lacks a name or doc", what, i);
    if (in->required && in->def.kind != IDP_DRV_DEF_NONE) FAIL("%s.%s: required with a default", what, in->name);
    if (in->type.kind == IDP_DRV_T_INTEGRATION) {
      const idp_driver *target = in->type.driver ? idp_driver_find(in->type.driver) : NULL;
      if (!target || !target->integration) FAIL("%s.%s: integration of an unknown driver", what, in->name);
    } else if (in->type.driver) {
      FAIL("%s.%s: a driver on a type that is not an integration", what, in->name);
    }
    if (in->def.kind == IDP_DRV_DEF_EMPTY && in->type.kind != IDP_DRV_T_LIST_STRING &&
        in->type.kind != IDP_DRV_T_LIST_NUMBER && in->type.kind != IDP_DRV_T_MAP_STRING)
      FAIL("%s.%s: an empty default for a type that is no list or map", what, in->name);
    for (size_t j = 0; j < i; j++)
      if (strcmp(io->inputs[j].name, in->name) == 0) FAIL("%s: input %s twice", what, in->name);
    if (idp_drv_find_output(io, in->name)) FAIL("%s: %s is an input and an output", what, in->name);
  }
  for (size_t i = 0; i < io->noutputs; i++) {
    const idp_drv_output *o = &io->outputs[i];
    if (!o->name || !*o->name || !o->doc || !*o->doc) FAIL("%s: output %zu lacks a name or doc", what, i);
    for (size_t j = 0; j < i; j++)
      if (strcmp(io->outputs[j].name, o->name) == 0) FAIL("%s: output %s twice", what, o->name);
  }
}

static void drivers_tables_hold_together(void **state) {
  (void)state;
  size_t n;
  const idp_driver *const *all = idp_driver_all(&n);
  assert_int_equal(n, 7);
  for (size_t i = 0; i < n; i++) {
    const idp_driver *d = all[i];
    if (i && strcmp(all[i - 1]->name, d->name) >= 0) FAIL("drivers not sorted: %s, %s", all[i - 1]->name, d->name);
    assert_ptr_equal(idp_driver_find(d->name), d);
    assert_true(d->doc && *d->doc);
    /* Only an integration is configured. */
    if (d->ops.configure) assert_true(d->integration);
    if (d->integration) {
      check_io(d->name, &d->io);
      /* Every integration takes max_parallel, last. */
      assert_true(d->io.ninputs > 0);
      assert_string_equal(d->io.inputs[d->io.ninputs - 1].name, "max_parallel");
      assert_int_equal(d->io.inputs[d->io.ninputs - 1].type.kind, IDP_DRV_T_NUMBER);
    } else {
      assert_int_equal(d->io.ninputs, 0);
      assert_int_equal(d->io.noutputs, 0);
    }
    for (size_t k = 0; k < d->nkinds; k++) {
      const idp_drv_kind *kind = &d->kinds[k];
      char full[128];
      snprintf(full, sizeof full, "%s.%s", d->name, kind->name);
      assert_string_equal(kind->full, full);
      assert_true(kind->doc && *kind->doc);
      check_io(kind->full, &kind->io);
      const idp_driver *found;
      assert_ptr_equal(idp_driver_find_kind(kind->full, &found), kind);
      assert_ptr_equal(found, d);
      /* A kind has its whole API or none of it yet (apply refuses it by name). */
      bool api = kind->ops.read;
      if (api != !!kind->ops.create || api != !!kind->ops.update || api != !!kind->ops.delete)
        FAIL("%s: some API slots set, some NULL", kind->full);
    }
  }
}

static void drivers_lookups(void **state) {
  (void)state;
  const idp_driver *d;
  assert_non_null(idp_driver_find("powerdns"));
  assert_null(idp_driver_find("powerdns.zone"));
  assert_null(idp_driver_find("PowerDNS"));
  assert_null(idp_driver_find(""));

  const idp_drv_kind *k = idp_driver_find_kind("postgres.database", &d);
  assert_non_null(k);
  assert_string_equal(k->name, "database");
  assert_ptr_equal(d, idp_driver_find("postgres"));
  /* A known driver without that kind: the driver comes back, for the hint. */
  assert_null(idp_driver_find_kind("postgres.grant", &d));
  assert_ptr_equal(d, idp_driver_find("postgres"));
  assert_null(idp_driver_find_kind("redis.instance", &d));
  assert_null(d);
  assert_null(idp_driver_find_kind("powerdns", &d));
  assert_null(idp_driver_find_kind("powerdns.", NULL));
  assert_null(idp_driver_find_kind(".zone", NULL));
  assert_null(idp_driver_find_kind("powerdns.zone.x", NULL));
  assert_null(idp_driver_find("oci_registry")->kinds);

  const char *names[64];
  size_t n = idp_driver_names(names, 64), nd, nk = 0;
  const idp_driver *const *all = idp_driver_all(&nd);
  for (size_t i = 0; i < nd; i++) nk += all[i]->nkinds;
  assert_int_equal(n, nd + nk);
  assert_string_equal(names[0], "gitops");
  assert_string_equal(names[nd], "gitops.deployment");
  /* A short buffer gets what fits, and the count of all. */
  assert_int_equal(idp_driver_names(names, 2), nd + nk);

  assert_string_equal(idp_driver_suggest_kind("powerdns.zones"), "powerdns.zone");
  assert_string_equal(idp_driver_suggest_kind("postgres.databse"), "postgres.database");
  assert_string_equal(idp_driver_suggest_kind("kubernetes.configmap"), "kubernetes.config_map");
  assert_null(idp_driver_suggest_kind("redis.instance"));

  assert_non_null(idp_drv_find_input(&idp_driver_find("gitops")->io, "secrets_dir"));
  assert_null(idp_drv_find_input(&idp_driver_find("gitops")->io, "secret_dir"));
  assert_non_null(idp_drv_find_output(&idp_driver_find("postgres")->io, "host"));
}

static void drivers_type_and_default_text(void **state) {
  (void)state;
  char buf[64];
  assert_string_equal(idp_drv_type_name(input_of("powerdns.record", "server")->type, buf, sizeof buf),
                      "integration(powerdns)");
  assert_string_equal(idp_drv_type_name(input_of("powerdns.record", "records")->type, buf, sizeof buf),
                      "list(string)");
  assert_string_equal(idp_drv_type_name(input_of("gitops.deployment", "env")->type, buf, sizeof buf), "map(string)");
  assert_string_equal(idp_drv_type_name(input_of("kubernetes.manifest", "manifest")->type, buf, sizeof buf), "any");

  const idp_drv_input *in = integration_input("powerdns", "server_id");
  assert_string_equal(idp_drv_default_text(&in->def, in->type, buf, sizeof buf), "\"localhost\"");
  in = input_of("powerdns.record", "ttl");
  assert_string_equal(idp_drv_default_text(&in->def, in->type, buf, sizeof buf), "300");
  in = input_of("postgres.role", "connection_limit");
  assert_string_equal(idp_drv_default_text(&in->def, in->type, buf, sizeof buf), "-1");
  in = input_of("postgres.database", "force_drop");
  assert_string_equal(idp_drv_default_text(&in->def, in->type, buf, sizeof buf), "false");
  in = input_of("powerdns.zone", "nameservers");
  assert_string_equal(idp_drv_default_text(&in->def, in->type, buf, sizeof buf), "[]");
  in = input_of("gitops.deployment", "env");
  assert_string_equal(idp_drv_default_text(&in->def, in->type, buf, sizeof buf), "{}");
  in = input_of("powerdns.record", "zone");
  assert_string_equal(idp_drv_default_text(&in->def, in->type, buf, sizeof buf), "");
}

/* What the design's decisions and the runtime and Kubernetes issues put in the tables. */
static void drivers_decisions(void **state) {
  (void)state;
  /* Decision 8: secrets. */
  const idp_drv_output *value = output_of("random.password", "value");
  assert_true(value->secret && value->computed);
  assert_true(integration_input("postgres", "dsn")->secret_ok);
  assert_true(integration_input("postgres", "dsn")->required);
  const idp_drv_output *host = idp_drv_find_output(&idp_driver_find("postgres")->io, "host");
  const idp_drv_output *port = idp_drv_find_output(&idp_driver_find("postgres")->io, "port");
  assert_true(host && port && !host->secret && !port->secret && !host->computed);
  assert_int_equal(port->type.kind, IDP_DRV_T_NUMBER);
  assert_true(input_of("postgres.role", "password")->secret_ok);
  assert_false(input_of("postgres.role", "name")->secret_ok);
  assert_true(input_of("gitops.deployment", "env")->secret_ok);
  assert_true(input_of("kubernetes.deployment", "env")->secret_ok);
  assert_true(input_of("kubernetes.secret", "data")->secret_ok);
  assert_false(input_of("kubernetes.config_map", "data")->secret_ok);
  assert_true(integration_input("powerdns", "api_key")->secret_ok);
  assert_false(integration_input("powerdns", "api")->secret_ok);
  assert_true(integration_input("kubernetes", "token")->secret_ok);
  assert_true(input_of("http.request", "headers")->secret_ok);
  /* Decision 13: a zone's nameservers update in place; its name replaces it. */
  assert_false(input_of("powerdns.zone", "nameservers")->force_new);
  assert_true(input_of("powerdns.zone", "name")->force_new);
  assert_true(input_of("postgres.role", "name")->force_new);
  assert_true(input_of("postgres.database", "name")->force_new);
  assert_false(input_of("postgres.role", "password")->force_new);
  /* The runtime issue: drop refuses live connections unless force_drop. */
  assert_int_equal(input_of("postgres.database", "force_drop")->def.kind, IDP_DRV_DEF_BOOL);
  assert_false(input_of("postgres.database", "force_drop")->def.u.boolean);
  /* Integration references. */
  assert_string_equal(input_of("gitops.deployment", "target")->type.driver, "gitops");
  assert_string_equal(input_of("kubernetes.deployment", "cluster")->type.driver, "kubernetes");
  assert_string_equal(input_of("postgres.role", "server")->type.driver, "postgres");
  /* The Kubernetes issue's kinds and options. */
  static const char *const k8s[] = {"namespace", "deployment", "service", "ingress", "secret", "config_map", "manifest"};
  for (size_t i = 0; i < sizeof k8s / sizeof *k8s; i++) {
    char full[64];
    snprintf(full, sizeof full, "kubernetes.%s", k8s[i]);
    assert_non_null(input_of(full, "force_conflicts"));
  }
  assert_non_null(input_of("kubernetes.deployment", "resources"));
  assert_non_null(input_of("kubernetes.deployment", "probes"));
  static const char *const kube_in[] = {"kubeconfig", "context", "server", "token", "ca_file", "insecure_skip_tls_verify"};
  for (size_t i = 0; i < sizeof kube_in / sizeof *kube_in; i++) integration_input("kubernetes", kube_in[i]);
  assert_false(idp_driver_find("random")->integration);
  assert_int_equal(idp_driver_find("oci_registry")->nkinds, 0);
}

/* --- the baseline ---------------------------------------------------------------------------- */

static idp_file *load_baseline(const char *name) {
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
  if (idp_parse(src, &F->arena, &F->diags, &f)) FAIL("%s has syntax errors:\n%s", path, diags_text());
  return f;
}

/* Every attribute of every resource and integration block is an input of its driver. */
static size_t check_blocks(idp_source *src, const idp_body *body, const char *parent, size_t *nattrs) {
  size_t nblocks = 0;
  for (const idp_item *b = body->first; b; b = b->next) {
    if (b->kind != IDP_ITEM_BLOCK) continue;
    if (strcmp(b->name, "provide") == 0) nblocks += check_blocks(src, &b->body, "provide", nattrs);
    const idp_drv_io *io = NULL;
    if (strcmp(b->name, "integration") == 0) {
      const idp_driver *d = idp_driver_find(b->labels->name);
      if (!d || !d->integration) FAIL("integration %s: no such driver", b->labels->name);
      io = &d->io;
    } else if (strcmp(b->name, "resource") == 0) {
      const idp_drv_kind *k = idp_driver_find_kind(b->labels->name, NULL);
      if (!k) FAIL("resource %s: no such kind", b->labels->name);
      io = &k->io;
    } else {
      continue;
    }
    nblocks++;
    for (const idp_item *a = b->body.first; a; a = a->next) {
      if (a->kind != IDP_ITEM_ATTR) continue;
      if (!idp_drv_find_input(io, a->name)) FAIL("%s %s: no input '%s'", b->name, b->labels->name, a->name);
      (*nattrs)++;
    }
    if (idp_driver_check_block(&F->diags, src, parent, b)) FAIL("%s:\n%s", b->labels->name, diags_text());
  }
  return nblocks;
}

static void drivers_baseline_attributes_exist(void **state) {
  (void)state;
  static const char *const files[] = {"platform.idp", "shop.idp", "billing.idp", "release.idp"};
  size_t nblocks = 0, nattrs = 0;
  for (size_t i = 0; i < 4; i++) {
    idp_file *f = load_baseline(files[i]);
    nblocks += check_blocks(f->src, &f->body, "file", &nattrs);
  }
  /* 5 integrations, 10 resources in provides, 2 top-level zones. */
  assert_int_equal(nblocks, 17);
  assert_int_equal(nattrs, 55);
  expect_errors(0);
}

/* What the baseline reads of resources and integrations is an input or an output. */
static void drivers_baseline_references_exist(void **state) {
  (void)state;
  static const struct { const char *kind, *attr; } reads[] = {
      {"powerdns.zone", "name"},       /* env_type.dns_zone = powerdns.zone.dev-zone.name */
      {"random.password", "value"},    /* password = resource.pw.value */
      {"postgres.role", "name"},       /* owner = resource.owner.name */
      {"postgres.database", "name"},   /* name = resource.db.name */
      {"kubernetes.namespace", "name"}, /* namespace = resource.ns.name */
      {"powerdns.record", "name"},     /* fqdn = trimsuffix(resource.host.name, ".") */
  };
  for (size_t i = 0; i < sizeof reads / sizeof *reads; i++) {
    const idp_drv_kind *k = idp_driver_find_kind(reads[i].kind, NULL);
    assert_non_null(k);
    if (!idp_drv_find_input(&k->io, reads[i].attr) && !idp_drv_find_output(&k->io, reads[i].attr))
      FAIL("%s has no attribute %s", reads[i].kind, reads[i].attr);
  }
  /* host = integration.shared-pg.host, port = integration.shared-pg.port */
  assert_non_null(idp_drv_find_output(&idp_driver_find("postgres")->io, "host"));
  assert_non_null(idp_drv_find_output(&idp_driver_find("postgres")->io, "port"));
}

/* --- the checks ------------------------------------------------------------------------------ */

/* Validates text as one streamed file with the driver hook, as `idp validate` does; returns the
 * printed diagnostics. */
static const char *validate_with_drivers(const char *text) {
  idp_file *f = parse_str("d.idp", text, NULL);
  expect_errors(0);
  idp_validator *v = idp_validator_new(&F->diags);
  idp_validator_set_hook(v, idp_driver_check_block);
  for (const idp_item *it = f->body.first; it; it = it->next) idp_validator_item(v, f->src, it);
  idp_validator_free(v);
  return diags_text();
}

static void assert_text(const char *got, const char *want) {
  if (strcmp(got, want) != 0) FAIL("got:\n%s\nwant:\n%s", got, want);
}

static void drivers_check_attrs_messages(void **state) {
  (void)state;
  static const idp_drv_input inputs[] = {
      {.name = "alpha", .type = IDP_DRV_TYPE(STRING), .required = true, .doc = "a"},
      {.name = "beta", .type = IDP_DRV_TYPE(NUMBER), .required = true, .doc = "b"},
      {.name = "gamma", .type = IDP_DRV_TYPE(BOOL), .required = true, .doc = "c"},
      {.name = "delta", .type = IDP_DRV_TYPE(BOOL), .doc = "d"},
  };
  static const idp_drv_output outputs[] = {{.name = "id", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "i"}};
  idp_drv_io io = {inputs, 4, outputs, 1};
  idp_drv_subject s = {&io, "test.thing", "test.thing", "x", "resource.x", true};
  idp_file *f = parse_ok("resource test.thing \"x\" {\n  alpa = 1\n  id = 2\n  delta = true\n  zzz = 3\n  lifecycle {}\n}\n");
  const idp_item *b = f->body.first;
  assert_int_equal(idp_driver_check_attrs(&F->diags, f->src, &s, b->body.first, b->labels->loc), 4);
  assert_text(diags_text(),
              "test.idp:1:10: error: test.thing \"x\" is missing required inputs 'alpha', 'beta' and 'gamma'\n"
              " 1 | resource test.thing \"x\" {\n"
              "   |          ^~~~~~~~~~\n"
              "hint: add them to the block; 'idp describe test.thing' says what each takes\n"
              "test.idp:2:3: error: unknown input 'alpa' of test.thing\n"
              " 2 |   alpa = 1\n"
              "   |   ^~~~\n"
              "hint: did you mean 'alpha'?\n"
              "test.idp:3:3: error: 'id' is an output of test.thing: it cannot be set\n"
              " 3 |   id = 2\n"
              "   |   ^~\n"
              "hint: the driver sets it; read it as resource.x.id\n"
              "test.idp:5:3: error: unknown input 'zzz' of test.thing\n"
              " 5 |   zzz = 3\n"
              "   |   ^~~\n"
              "hint: run 'idp describe test.thing' to list its inputs\n");

  /* Everything required set, nothing unknown: no error. */
  idp_diags_free(&F->diags);
  f = parse_ok("resource test.thing \"y\" {\n  gamma = true\n  beta = 1\n  alpha = \"a\"\n}\n");
  b = f->body.first;
  assert_int_equal(idp_driver_check_attrs(&F->diags, f->src, &s, b->body.first, b->labels->loc), 0);
  assert_int_equal(F->diags.n, 0);

  /* One missing input is named alone. */
  f = parse_ok("resource test.thing \"z\" {\n  gamma = true\n  beta = 1\n}\n");
  b = f->body.first;
  assert_int_equal(idp_driver_check_attrs(&F->diags, f->src, &s, b->body.first, b->labels->loc), 1);
  assert_text(diags_text(), "test.idp:1:10: error: test.thing \"x\" is missing required input 'alpha'\n"
                            " 1 | resource test.thing \"z\" {\n"
                            "   |          ^~~~~~~~~~\n"
                            "hint: add alpha = ... to the block; 'idp describe test.thing' says what it takes\n");
}

static void drivers_check_unknown_kinds_and_drivers(void **state) {
  (void)state;
  assert_text(validate_with_drivers("resource powerdns.zones \"a\" {}\n"
                                    "resource postgres.grant \"b\" {}\n"
                                    "resource redis.instance \"c\" {}\n"
                                    "integration postgress \"d\" {}\n"
                                    "integration consul \"e\" {}\n"
                                    "integration random \"f\" {}\n"),
              "d.idp:1:10: error: unknown resource kind 'powerdns.zones'\n"
              " 1 | resource powerdns.zones \"a\" {}\n"
              "   |          ^~~~~~~~~~~~~~\n"
              "hint: did you mean 'powerdns.zone'?\n"
              "d.idp:2:10: error: unknown resource kind 'postgres.grant'\n"
              " 2 | resource postgres.grant \"b\" {}\n"
              "   |          ^~~~~~~~~~~~~~\n"
              "hint: driver 'postgres' has: postgres.role, postgres.database\n"
              "d.idp:3:10: error: unknown resource kind 'redis.instance'\n"
              " 3 | resource redis.instance \"c\" {}\n"
              "   |          ^~~~~~~~~~~~~~\n"
              "hint: run 'idp describe' to list the drivers and their resource kinds\n"
              "d.idp:4:13: error: unknown integration driver 'postgress'\n"
              " 4 | integration postgress \"d\" {}\n"
              "   |             ^~~~~~~~~\n"
              "hint: did you mean 'postgres'?\n"
              "d.idp:5:13: error: unknown integration driver 'consul'\n"
              " 5 | integration consul \"e\" {}\n"
              "   |             ^~~~~~\n"
              "hint: expected one of: gitops, http, kubernetes, oci_registry, postgres, powerdns\n"
              "d.idp:6:13: error: driver 'random' takes no integration block\n"
              " 6 | integration random \"f\" {}\n"
              "   |             ^~~~~~\n"
              "hint: its resources need none: remove this block\n");
  expect_errors(6);
}

/* An output's hint reads it the way its place allows: resource.NAME in a provide, DRIVER.KIND.NAME
 * at the top level, integration.NAME for an integration. */
static void drivers_check_output_hint_follows_the_place(void **state) {
  (void)state;
  const char *out = validate_with_drivers("resource random.password \"top\" {\n  value = 1\n}\n"
                                          "provide postgres \"p\" {\n"
                                          "  resource random.password \"pw\" {\n    value = 1\n  }\n}\n"
                                          "integration postgres \"pg\" {\n  dsn  = \"x\"\n  host = \"h\"\n}\n");
  expect_errors(3);
  assert_non_null(strstr(out, "hint: the driver sets it; read it as random.password.top.value\n"));
  assert_non_null(strstr(out, "hint: the driver sets it; read it as resource.pw.value\n"));
  assert_non_null(strstr(out, "d.idp:11:3: error: 'host' is an output of integration postgres: it cannot be set\n"));
  assert_non_null(strstr(out, "hint: the driver sets it; read it as integration.pg.host\n"));
}

/* Blocks whose labels are wrong are left to the structural checks; idp_validate (no hook) does
 * not look at drivers; a duplicate's header reports the duplicate. */
static void drivers_check_only_well_formed_blocks(void **state) {
  (void)state;
  validate_with_drivers("resource \"zone\" \"x\" {}\nintegration powerdns {}\n");
  expect_errors(2);
  assert_null(strstr(diags_text(), "missing"));
  assert_null(strstr(diags_text(), "unknown"));

  idp_diags_free(&F->diags);
  idp_file *f = parse_ok("resource redis.instance \"c\" {}\nintegration powerdns \"p\" { bogus = 1 }\n");
  assert_int_equal(idp_validate(&f, 1, &F->diags), 0);

  idp_diags_free(&F->diags);
  const char *out = validate_with_drivers("resource random.password \"a\" {}\nresource random.password \"a\" { lenght = 1 }\n");
  expect_errors(1);
  assert_non_null(strstr(out, "d.idp:2:1: error: duplicate resource 'random.password \"a\"'\n"));
}

int test_drivers(void) {
  const struct CMUnitTest tests[] = {
      FX_TEST(drivers_tables_hold_together),
      FX_TEST(drivers_lookups),
      FX_TEST(drivers_type_and_default_text),
      FX_TEST(drivers_decisions),
      FX_TEST(drivers_baseline_attributes_exist),
      FX_TEST(drivers_baseline_references_exist),
      FX_TEST(drivers_check_attrs_messages),
      FX_TEST(drivers_check_unknown_kinds_and_drivers),
      FX_TEST(drivers_check_output_hint_follows_the_place),
      FX_TEST(drivers_check_only_well_formed_blocks),
  };
  return cmocka_run_group_tests_name("drivers", tests, NULL, NULL);
}
