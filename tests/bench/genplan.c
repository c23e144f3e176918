/* genplan.c - writes a spec for the plan benchmark: ENVS environments x APPS apps x 3 needs each,
 * plus the workload every app needs, so about 4 resource instances per (environment, app).
 *
 * Usage: genplan ENVS APPS DIR
 *
 * DIR gets platform.idp (integrations, three environment types, ENVS environments, the provides and
 * a few top-level resources) and apps-NNN.idp, 50 apps a file as app teams would keep them. What
 * planning meets there, as in the design baseline:
 *   - matching: several provides per need type, with match blocks of every specificity (none,
 *     env_type, app, app + env_type, env), so that scores 0 to 4 win somewhere; every 50th app has
 *     a provide of its own for its workload and its database, every 100th one more for production,
 *     every 8th environment its own database provide;
 *   - references: env.*, env_type.* (whose dns_zone reads a top-level zone: an edge to it),
 *     app.*, need.*, resource.*, integration.* (whose secret api_key and dsn taint every record,
 *     database and role input `server`), a top-level role (postgres.role.apps) and another app's
 *     need (app.OTHER.need.host.fqdn);
 *   - secrets: a random.password per (environment, app), whose value reaches the workload's env;
 *   - functions: replace, trimsuffix, join, a conditional.
 * No registry_image() (no network) and no env() (plan reads BENCH_PDNS_KEY and BENCH_PG_DSN through
 * secret(env(...)), so those two must be set). The same arguments always give the same files. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { APPS_PER_FILE = 50 };

static FILE *out;

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(out, fmt, ap);
  va_end(ap);
}

static const char *const env_types[] = {"development", "staging", "development", "production"};
static const char *env_type_of(unsigned e) { return env_types[e % 4]; }

static int open_out(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  out = fopen(path, "w");
  if (!out) {
    fprintf(stderr, "genplan: %s: %s\n", path, strerror(errno));
    return -1;
  }
  return 0;
}

static int close_out(void) {
  int rc = ferror(out) | fclose(out);
  if (rc) fprintf(stderr, "genplan: write error\n");
  return rc ? -1 : 0;
}

static void database(const char *label, const char *conn_limit) {
  emit("  resource postgres.database \"db\" {\n");
  emit("    server           = integration.shared-pg\n");
  emit("    name             = \"${replace(app.name, \"-\", \"_\")}_${replace(env.name, \"-\", \"_\")}%s\"\n", label);
  emit("    owner            = postgres.role.apps.name\n");
  emit("    connection_limit = %s\n", conn_limit);
  emit("  }\n");
  emit("  outputs {\n");
  emit("    name = resource.db.name\n");
  emit("    user = resource.db.owner\n");
  emit("  }\n");
}

static void rendered(const char *extra_label) {
  emit("  resource gitops.deployment \"app\" {\n");
  emit("    target    = integration.manifests\n");
  emit("    path      = \"${env.name}/${app.name}.yaml\"\n");
  emit("    namespace = env.name\n");
  emit("    name      = app.name\n");
  emit("    image     = app.image\n");
  emit("    replicas  = env_type.replicas\n");
  emit("    port      = app.port\n");
  emit("    env       = app.variables\n");
  emit("    labels    = { app = app.name, env = env.name%s }\n", extra_label);
  emit("  }\n");
}

static int platform(const char *dir, unsigned envs, unsigned apps) {
  if (open_out(dir, "platform.idp") < 0) return -1;
  emit("# The platform side of the plan benchmark (tests/bench/genplan.c): %u environments, %u apps.\n\n", envs, apps);
  emit("integration powerdns \"corp-dns\" {\n  api       = \"http://127.0.0.1:8081\"\n");
  emit("  api_key   = secret(env(\"BENCH_PDNS_KEY\"))\n  server_id = \"localhost\"\n}\n\n");
  emit("integration postgres \"shared-pg\" {\n  dsn = secret(env(\"BENCH_PG_DSN\"))\n}\n\n");
  emit("integration gitops \"manifests\" {\n  dir         = \"./rendered\"\n  secrets_dir = \"./rendered-secrets\"\n}\n\n");
  emit("integration kubernetes \"prod-cluster\" {\n  kubeconfig = \"~/.kube/config\"\n  context    = \"prod\"\n}\n\n");

  emit("env_type development {\n  dns_zone = powerdns.zone.dev-zone.name\n  replicas = 1\n  db_conns = 10\n}\n\n");
  emit("env_type staging {\n  dns_zone = powerdns.zone.staging-zone.name\n  replicas = 2\n  db_conns = 20\n}\n\n");
  emit("env_type production {\n  dns_zone = powerdns.zone.prod-zone.name\n  replicas = 3\n  db_conns = 50\n}\n\n");
  for (unsigned e = 0; e < envs; e++) emit("env \"env-%03u\" { type = \"%s\" }\n", e, env_type_of(e));
  emit("\n");

  /* Top-level resources: the zones the env types place records in, and the role owning every database. */
  static const char *const zones[][2] = {{"dev-zone", "dev.example.test."},
                                         {"staging-zone", "staging.example.test."},
                                         {"prod-zone", "example.test."}};
  for (size_t z = 0; z < 3; z++) {
    emit("resource powerdns.zone \"%s\" {\n  server      = integration.corp-dns\n  name        = \"%s\"\n", zones[z][0], zones[z][1]);
    emit("  nameservers = [\"ns1.example.test.\", \"ns2.example.test.\"]\n}\n\n");
  }
  emit("resource postgres.role \"apps\" {\n  server = integration.shared-pg\n  name   = \"apps\"\n  login  = false\n}\n\n");

  /* workload */
  emit("provide workload \"rendered\" {\n  match { env_type = \"development\" }\n");
  rendered("");
  emit("}\n\n");
  emit("provide workload \"rendered-staging\" {\n  match { env_type = \"staging\" }\n");
  rendered(", stage = \"staging\"");
  emit("}\n\n");
  emit("provide workload \"cluster\" {\n  match { env_type = \"production\" }\n");
  emit("  resource kubernetes.deployment \"app\" {\n    cluster   = integration.prod-cluster\n");
  emit("    namespace = \"${app.name}-${env.name}\"\n    name      = app.name\n    image     = app.image\n");
  emit("    replicas  = env_type.replicas\n    port      = app.port\n    env       = app.variables\n");
  emit("    labels    = { app = app.name, env = env.name }\n    timeout   = 600\n  }\n}\n\n");
  for (unsigned a = 0; a < apps; a += 50) {
    emit("provide workload \"pinned-app-%04u\" {\n  match { app = \"app-%04u\" }\n", a, a);
    rendered(", pinned = \"true\"");
    emit("}\n\n");
  }

  /* postgres: scores 0 (everyone), 2 (app), 3 (app + env_type), 4 (env) */
  emit("provide postgres \"shared-server\" {\n");
  database("", "env_type.db_conns");
  emit("}\n\n");
  for (unsigned a = 0; a < apps; a += 50) {
    emit("provide postgres \"dedicated-app-%04u\" {\n  match { app = \"app-%04u\" }\n", a, a);
    database("", "100");
    emit("}\n\n");
  }
  for (unsigned a = 0; a < apps; a += 100) {
    emit("provide postgres \"dedicated-app-%04u-prod\" {\n  match {\n    app      = \"app-%04u\"\n    env_type = \"production\"\n  }\n", a, a);
    database("", "200");
    emit("}\n\n");
  }
  for (unsigned e = 3; e < envs; e += 8) {
    emit("provide postgres \"env-%03u-server\" {\n  match { env = \"env-%03u\" }\n", e, e);
    database("_e", "env_type.db_conns * 2");
    emit("}\n\n");
  }

  /* dns: scores 0 and 1 */
  emit("provide dns \"subdomain\" {\n  resource powerdns.record \"host\" {\n    server  = integration.corp-dns\n");
  emit("    zone    = env_type.dns_zone\n    name    = \"${app.name}.${env.name}.${env_type.dns_zone}\"\n");
  emit("    type    = \"A\"\n    ttl     = 60\n    records = [\"127.0.0.1\"]\n  }\n");
  emit("  outputs {\n    fqdn = trimsuffix(resource.host.name, \".\")\n  }\n}\n\n");
  emit("provide dns \"apex\" {\n  match { env_type = \"production\" }\n  resource powerdns.record \"host\" {\n");
  emit("    server  = integration.corp-dns\n    zone    = env_type.dns_zone\n");
  emit("    name    = \"${app.name}.${env_type.dns_zone}\"\n    type    = \"A\"\n    ttl     = 300\n");
  emit("    records = [\"127.0.0.1\", \"127.0.0.2\"]\n  }\n");
  emit("  outputs {\n    fqdn = trimsuffix(resource.host.name, \".\")\n  }\n}\n\n");

  /* password: scores 0 and 1 */
  emit("provide password \"random\" {\n  resource random.password \"pw\" {\n    length = 24\n  }\n");
  emit("  outputs {\n    value = resource.pw.value\n  }\n}\n\n");
  emit("provide password \"strong\" {\n  match { env_type = \"production\" }\n");
  emit("  resource random.password \"pw\" {\n    length      = 40\n    special     = true\n    min_special = 2\n  }\n");
  emit("  outputs {\n    value = resource.pw.value\n  }\n}\n");
  return close_out();
}

static int app_files(const char *dir, unsigned apps) {
  for (unsigned first = 0; first < apps; first += APPS_PER_FILE) {
    char name[64];
    snprintf(name, sizeof name, "apps-%03u.idp", first / APPS_PER_FILE);
    if (open_out(dir, name) < 0) return -1;
    emit("# Apps %u to %u of the plan benchmark.\n", first, (first + APPS_PER_FILE < apps ? first + APPS_PER_FILE : apps) - 1);
    for (unsigned a = first; a < apps && a < first + APPS_PER_FILE; a++) {
      emit("\napp \"app-%04u\" {\n", a);
      emit("  image = \"registry.example.test/acme/app-%04u@sha256:%08x%056u\"\n", a, a * 2654435761u, 0u);
      emit("  port  = %u\n\n", 8000 + a % 100);
      emit("  need \"db\"    { type = \"postgres\" }\n");
      emit("  need \"host\"  { type = \"dns\" }\n");
      emit("  need \"creds\" { type = \"password\" }\n\n");
      emit("  variables {\n");
      emit("    DB_NAME     = need.db.name\n");
      emit("    DB_URL      = \"postgres://${need.db.user}@pg.example.test:5432/${need.db.name}\"\n");
      emit("    DB_PASSWORD = need.creds.value\n");
      emit("    PUBLIC_URL  = \"https://${need.host.fqdn}\"\n");
      if (a > 0) emit("    UPSTREAM    = \"https://${app.app-%04u.need.host.fqdn}\"\n", a - 1);
      emit("    LOG_LEVEL   = env.type == \"production\" ? \"info\" : \"debug\"\n");
      emit("    FEATURES    = join(\",\", [\"search\", \"cart\", \"app-%04u\"])\n", a);
      emit("  }\n}\n");
    }
    if (close_out() < 0) return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fputs("usage: genplan ENVS APPS DIR\n", stderr);
    return 2;
  }
  char *end;
  unsigned long envs = strtoul(argv[1], &end, 10);
  if (*end || envs < 1 || envs > 999) {
    fputs("genplan: ENVS must be 1 to 999\n", stderr);
    return 2;
  }
  unsigned long apps = strtoul(argv[2], &end, 10);
  if (*end || apps < 1 || apps > 9999) {
    fputs("genplan: APPS must be 1 to 9999\n", stderr);
    return 2;
  }
  if (platform(argv[3], (unsigned)envs, (unsigned)apps) < 0 || app_files(argv[3], (unsigned)apps) < 0) return 1;
  return 0;
}
