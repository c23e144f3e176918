/* genspec.c - writes a large, realistic, valid .idp spec for the front-end benchmark.
 *
 * Usage: genspec BYTES OUT [SEED]
 *
 * The spec is made of the baseline's kinds of blocks (integrations, environment types,
 * environments, provides with resources and outputs, top-level resources, apps with needs and
 * variables, pipelines, vars and outputs), with comments, interpolated strings, heredocs, lists,
 * maps, conditionals and function calls. Every name is unique, so `idp validate` finds no error.
 * A given build writes the same spec for the same BYTES and SEED; it stops after the first group
 * of blocks that reaches BYTES. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE *out;
static uint64_t written;
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}
static unsigned pick(unsigned n) { return rnd() % n; }

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vfprintf(out, fmt, ap);
  va_end(ap);
  if (n > 0) written += (uint64_t)n;
}

static const char *const words[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot",
                                    "golf", "hotel", "india", "juliet", "kilo", "lima"};
static const char *const levels[] = {"debug", "info", "warn", "error"};
#define N(a) (sizeof(a) / sizeof *(a))

static const char *word(void) { return words[pick(N(words))]; }

static void comment(unsigned g) {
  switch (pick(4)) {
  case 0: emit("# Group %u: %s and %s.\n", g, word(), word()); break;
  case 1: emit("// %s %s %s\n", word(), word(), word()); break;
  case 2: emit("/* Block comment for group %u,\n   spanning two lines. */\n", g); break;
  default: break;
  }
}

static void integrations(unsigned g) {
  emit("integration powerdns \"dns-%u\" {\n", g);
  emit("  api       = env(\"PDNS_API_%u\", \"http://127.0.0.1:%u\")\n", g, 8000 + g % 1000);
  emit("  api_key   = secret(env(\"PDNS_API_KEY\"))\n");
  emit("  server_id = \"localhost\"\n}\n\n");
  emit("integration postgres \"pg-%u\" {\n  dsn = secret(env(\"PG_ADMIN_DSN\"))  # superuser\n}\n\n", g);
  emit("integration http \"extra-%u\" {\n", g);
  emit("  base_url = env(\"EXTRA_URL\", \"http://127.0.0.1:5000\")\n");
  emit("  timeout  = %u\n", 5 + pick(55));
  emit("  headers  = { team = \"%s\", tier = \"%u\" }\n}\n\n", word(), pick(3));
}

static void env_types(unsigned g) {
  emit("env_type dev%u {\n  dns_zone = powerdns.zone.dev-zone-%u.name\n  replicas = 1\n}\n\n", g, g);
  emit("env_type prod%u {\n  dns_zone = powerdns.zone.prod-zone-%u.name\n  replicas = %u\n}\n\n", g, g,
       2 + pick(4));
  emit("env \"dev-%u\"     { type = \"dev%u\" }\n", g, g);
  emit("env \"staging-%u\" { type = \"dev%u\" }\n", g, g);
  emit("env \"prod-%u\"    { type = \"prod%u\" }\n\n", g, g);
}

static void provides(unsigned g) {
  emit("provide workload \"rendered-%u\" {\n  match { env_type = \"dev%u\" }\n", g, g);
  emit("  resource gitops.deployment \"app\" {\n");
  emit("    target    = integration.manifests\n");
  emit("    path      = \"${env.name}/${app.name}-%u.yaml\"\n", g);
  emit("    namespace = env.name\n    name      = app.name\n    image     = app.image\n");
  emit("    replicas  = env_type.replicas * %u\n    port      = app.port\n    env       = app.variables\n",
       1 + pick(3));
  emit("  }\n}\n\n");

  /* Every need must be met, once (validate checks matching): a cluster workload for production,
   * a database per env type, a fallback for dns and one redis, both without match. */
  emit("provide workload \"cluster-%u\" {\n  match { env_type = \"prod%u\" }\n}\n\n", g, g);
  if (g == 0) emit("provide dns \"fallback\" {}\n\nprovide redis \"cache\" {}\n\n");
  emit("provide postgres \"prod-%u\" {\n  match { env_type = \"prod%u\" }\n}\n\n", g, g);
  emit("provide postgres \"shared-%u\" {\n  match { env_type = \"dev%u\" }\n", g, g);
  emit("  resource random.password \"pw\" {\n    length = %u\n  }\n", 16 + pick(17));
  emit("  resource postgres.role \"owner\" {\n");
  emit("    server   = integration.pg-%u\n    name     = \"${app.name}_${env.name}\"\n", g);
  emit("    password = resource.pw.value\n    login    = true\n");
  emit("    connection_limit = env.name == \"prod-%u\" ? %u : -1\n  }\n", g, 10 + pick(50));
  emit("  resource postgres.database \"db\" {\n    server = integration.pg-%u\n", g);
  emit("    name   = \"${app.name}_${env.name}\"\n    owner  = resource.owner.name\n  }\n");
  emit("  outputs {\n    host     = integration.pg-%u.host\n    port     = integration.pg-%u.port\n", g, g);
  emit("    name     = resource.db.name\n    user     = resource.owner.name\n");
  emit("    password = resource.pw.value\n  }\n}\n\n");

  emit("provide dns \"subdomain-%u\" {\n", g);
  emit("  match {\n    app = \"app-%u\"\n    env = \"prod-%u\"\n  }\n", g, g);
  emit("  resource powerdns.record \"host\" {\n    server  = integration.dns-%u\n", g);
  emit("    zone    = env_type.dns_zone\n");
  emit("    name    = env.name == \"prod\" ? \"${app.name}.${env_type.dns_zone}\" : "
       "\"${app.name}.${env.name}.${env_type.dns_zone}\"\n");
  emit("    type    = \"A\"\n    ttl     = %u\n    records = [\"127.0.0.%u\", \"127.0.1.%u\"]\n  }\n",
       60 * (1 + pick(10)), 1 + pick(250), 1 + pick(250));
  emit("  outputs {\n    fqdn = trimsuffix(resource.host.name, \".\")\n  }\n}\n\n");
}

static void resources(unsigned g) {
  emit("resource powerdns.zone \"dev-zone-%u\" {\n  server      = integration.dns-%u\n", g, g);
  emit("  name        = \"dev%u.example.test.\"\n  nameservers = [\"ns1.example.test.\"]\n}\n\n", g);
  emit("resource powerdns.zone \"prod-zone-%u\" {\n  server      = integration.dns-%u\n", g, g);
  emit("  name        = \"prod%u.example.test.\"\n", g);
  emit("  nameservers = [\n    \"ns1.example.test.\",\n    \"ns2.example.test.\",\n  ]\n");
  emit("  lifecycle {\n    prevent_destroy = true\n  }\n}\n\n");
}

static void apps(unsigned g) {
  for (unsigned k = 0; k < 2; k++) {
    emit("app \"app-%u%s\" {\n", g, k ? "-worker" : "");
    emit("  image = registry_image(integration.main, \"acme/app-%u\", \"v*\")\n", g);
    emit("  port  = %u\n\n", 8000 + pick(2000));
    emit("  need \"db\"   { type = \"postgres\" }\n  need \"host\" { type = \"dns\" }\n");
    if (pick(2)) emit("  need \"cache\" {\n    type = \"redis\"\n    size = %u\n  }\n", 64 << pick(4));
    emit("\n  variables {\n");
    emit("    DATABASE_URL = \"postgres://${need.db.user}:${need.db.password}@${need.db.host}:"
         "${need.db.port}/${need.db.name}\"\n");
    emit("    PUBLIC_URL   = \"https://${need.host.fqdn}/%s\"\n", word());
    emit("    LOG_LEVEL    = env.type == \"production\" ? \"%s\" : \"%s\"\n", levels[pick(4)],
         levels[pick(4)]);
    emit("    WORKERS      = max(1, env_type.replicas * %u - %u) %% 64\n", 2 + pick(4), pick(2));
    emit("    FEATURES     = join(\",\", [\"%s\", \"%s\", upper(\"%s\")])\n", word(), word(), word());
    emit("    LIMITS       = {\n      cpu    = \"%um\"\n      memory = \"%uMi\"\n      burst  = %s\n    }\n",
         100 * (1 + pick(20)), 128 << pick(4), pick(2) ? "true" : "false");
    emit("    ESCAPED      = \"tab\\there \\\"quoted\\\" $${not_interpolated} caf\\u00e9\"\n");
    emit("    ENABLED      = !(env.name == \"dev\") && (%u >= 2 || need.db.port != 5432)\n", pick(4));
    emit("    CONFIG       = <<EOT\n[server]\nname = \"${app.name}\"\nport = ${app.port}\n"
         "# not a comment: heredoc text\nEOT\n");
    emit("    BANNER       = <<-TXT\n      Welcome to ${upper(app.name)} (group %u)\n      TXT\n", g);
    emit("  }\n}\n\n");
  }
}

static void pipelines(unsigned g) {
  emit("pipeline \"release-%u\" {\n", g);
  emit("  trigger \"image_push\" {\n    registry   = integration.main\n");
  emit("    repository = \"acme/app-%u\"\n    tag        = \"v*\"\n  }\n\n", g);
  emit("  stage \"dev\" {\n    deploy {\n      app = \"app-%u\"\n      env = \"dev-%u\"\n    }\n  }\n\n", g, g);
  emit("  stage \"staging\" {\n    after = [\"dev\"]\n");
  emit("    check \"http\" {\n      url    = \"https://app-%u.staging.example.test/health\"\n", g);
  emit("      expect = 200\n    }\n");
  emit("    wait {\n      seconds = %u\n    }\n", 30 * (1 + pick(10)));
  emit("    deploy {\n      app = \"app-%u\"\n      env = \"staging-%u\"\n    }\n  }\n\n", g, g);
  emit("  stage \"prod\" {\n    after = [\"staging\"]\n    approval {\n      approvers = %u\n    }\n",
       1 + pick(3));
  emit("    deploy {\n      app = \"app-%u\"\n      env = \"prod-%u\"\n    }\n  }\n}\n\n", g, g);
}

static void vars(unsigned g) {
  emit("var \"region-%u\" {\n  default = \"eu-%s-%u\"\n}\n\n", g, word(), 1 + pick(3));
  emit("output \"summary-%u\" {\n  value = {\n    \"apps\"  = [\"app-%u\", \"app-%u-worker\"]\n"
       "    zones   = length([powerdns.zone.dev-zone-%u, powerdns.zone.prod-zone-%u])\n"
       "    ratio   = %u.%u / 3 + 1.5e2\n  }\n}\n\n",
       g, g, g, g, g, pick(100), pick(10));
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: genspec BYTES OUT [SEED]\n");
    return 2;
  }
  char *end;
  errno = 0;
  uint64_t target = strtoull(argv[1], &end, 10);
  if (errno || *end || end == argv[1]) {
    fprintf(stderr, "genspec: bad size '%s'\n", argv[1]);
    return 2;
  }
  if (argc == 4) rng_state ^= strtoull(argv[3], NULL, 10) * 0x9E3779B97F4A7C15ull + 1;
  out = strcmp(argv[2], "-") == 0 ? stdout : fopen(argv[2], "w");
  if (!out) {
    fprintf(stderr, "genspec: %s: %s\n", argv[2], strerror(errno));
    return 1;
  }
  static char buf[1 << 16];
  setvbuf(out, buf, _IOFBF, sizeof buf);

  emit("# Generated by genspec: %" PRIu64 " bytes requested. Every name is unique, so the spec is\n"
       "# valid; the groups repeat the baseline's shapes with varied values.\n\n",
       target);
  emit("integration oci_registry \"main\" {\n  url = env(\"REGISTRY_URL\", \"http://127.0.0.1:5000\")\n}\n\n");
  emit("integration gitops \"manifests\" {\n  dir         = env(\"MANIFEST_DIR\", \"./rendered\")\n"
       "  secrets_dir = env(\"SECRETS_DIR\", \"./rendered-secrets\")\n}\n\n");
  for (unsigned g = 0; written < target; g++) {
    comment(g);
    integrations(g);
    env_types(g);
    provides(g);
    resources(g);
    apps(g);
    pipelines(g);
    vars(g);
  }
  if (fflush(out) != 0 || ferror(out) || (out != stdout && fclose(out) != 0)) {
    fprintf(stderr, "genspec: %s: write error\n", argv[2]);
    return 1;
  }
  return 0;
}
