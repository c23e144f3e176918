/* test_registry.c - registry_image()'s resolver (runtime/registry.h): the version order, the pattern
 * filter, Link and WWW-Authenticate parsing, and conversations with a canned HTTP server on
 * loopback for what docker-registry 2.8 cannot show (tag pages, the token service, a registry that
 * sends no Docker-Content-Digest). tests/plan/run.sh runs it against a real docker-registry. */
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "eval.h"
#include "registry.h"

/* --- the order of tags ---------------------------------------------------------------------- */

static void tag_semver(void **state) {
  (void)state;
  bool pre;
  assert_true(idp_tag_semver("v1.2.3", &pre) && !pre);
  assert_true(idp_tag_semver("1.2.3", NULL));
  assert_true(idp_tag_semver("v2.0.0-rc.1", &pre) && pre);
  assert_true(idp_tag_semver("1.0.0-x-y.7+build.5", &pre) && pre);
  assert_true(idp_tag_semver("1.0.0+build", &pre) && !pre);
  const char *no[] = {"latest", "v1.2", "v1", "1.2.3.4", "v1.2.x", "V1.2.3", "v1.2.3-", "v1.2.3-rc..1",
                      "v1.2.3+", "vv1.2.3", "", "v", "1..3", "v1.2.3 "};
  for (size_t i = 0; i < sizeof no / sizeof *no; i++)
    if (idp_tag_semver(no[i], NULL)) FAIL("'%s' taken for a semantic version", no[i]);
}

static void tag_order(void **state) {
  (void)state;
  /* Ascending: non-semver tags first (by bytes), then versions by precedence (semver 2.0.0's own
   * example among them), numbers as numbers of any length. */
  const char *asc[] = {"latest", "v1.9", "vnext", "v0.9.1", "v1.0.0-alpha", "1.0.0-alpha.1", "v1.0.0-alpha.beta",
                       "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "v1.0.0-rc.1", "v1.0.0", "v1.2.0",
                       "v1.9.0", "v1.10.0", "v1.10.1", "v2.0.0-rc.1", "v2.0.0-rc.2", "v2.0.0",
                       "v2.00000000000000000000001.0", "v2.99999999999999999999999.0", "10.0.0"};
  size_t n = sizeof asc / sizeof *asc;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++) {
      int c = idp_tag_cmp(asc[i], asc[j]), want = (i > j) - (i < j);
      if (c != want) FAIL("idp_tag_cmp(%s, %s) = %d, want %d", asc[i], asc[j], c, want);
    }
  /* Equal precedence: decided by bytes, so the order is total and the pick deterministic. */
  assert_true(idp_tag_cmp("v1.2.0", "1.2.0") > 0);
  assert_true(idp_tag_cmp("1.2.0+b", "1.2.0+a") > 0);
  assert_true(idp_tag_cmp("v1.02.0", "v1.2.0") < 0);
  assert_int_equal(idp_tag_cmp("v1.2.0", "v1.2.0"), 0);
}

static void tag_pick(void **state) {
  (void)state;
  const char *tags[] = {"v1.2.0", "latest", "v1.10.0", "v0.9.1", "v2.0.0-rc.1", "v1.9", "build-7", "v1.10.0-rc.3"};
  size_t n = sizeof tags / sizeof *tags, m, skipped;
  assert_string_equal(idp_tag_pick(tags, n, "v*", &m, &skipped), "v1.10.0");
  assert_int_equal(m, 6);
  assert_int_equal(skipped, 2);
  /* A '-' in the pattern takes pre-releases; a release still beats its own pre-releases. */
  assert_string_equal(idp_tag_pick(tags, n, "v2.0.0-*", &m, &skipped), "v2.0.0-rc.1");
  assert_int_equal(skipped, 0);
  assert_string_equal(idp_tag_pick(tags, n, "v*-*", NULL, NULL), "v2.0.0-rc.1");
  assert_string_equal(idp_tag_pick(tags, n, "v1.10.*", NULL, NULL), "v1.10.0");
  assert_string_equal(idp_tag_pick(tags, n, "v1.10.*-*", NULL, NULL), "v1.10.0-rc.3");
  /* Non-semver tags compete among themselves when nothing else matches. */
  assert_string_equal(idp_tag_pick(tags, n, "latest", &m, NULL), "latest");
  assert_int_equal(m, 1);
  assert_string_equal(idp_tag_pick(tags, n, "*[a-z]", NULL, NULL), "latest");
  assert_string_equal(idp_tag_pick(tags, n, "v[01].*", NULL, NULL), "v1.10.0");
  /* Nothing matches, or only pre-releases without a '-' in the pattern. */
  assert_null(idp_tag_pick(tags, n, "x*", &m, &skipped));
  assert_int_equal(m, 0);
  assert_null(idp_tag_pick(tags, n, "v2.*", &m, &skipped));
  assert_int_equal(m, 1);
  assert_int_equal(skipped, 1);
  assert_null(idp_tag_pick(NULL, 0, "*", &m, NULL));
}

/* --- header values -------------------------------------------------------------------------- */

static void link_next(void **state) {
  (void)state;
  struct {
    const char *in, *want;
  } cases[] = {
      {"</v2/acme/shop/tags/list?last=v1.2.0&n=100>; rel=\"next\"", "/v2/acme/shop/tags/list?last=v1.2.0&n=100"},
      {"<https://r.example/v2/a/tags/list?last=b&n=2>;rel=next", "https://r.example/v2/a/tags/list?last=b&n=2"},
      {"</first>; rel=\"prev\", </second>; rel=\"next\"", "/second"},
      {"</a>; title=\"x, y; rel=next\", </b>; rel=\"next\"", "/b"},
      {"</a>; rel=\"prev next\"", "/a"},
      {"  </a> ;  REL = \"Next\" ", "/a"},
      {"</a>; rel=\"prev\"", NULL},
      {"</a>", NULL},
      {"", NULL},
      {"</a; rel=\"next\"", NULL},
      {"junk, </a>; rel=\"next\"", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *got = idp_link_next(cases[i].in);
    bool same = got && cases[i].want ? strcmp(got, cases[i].want) == 0 : got == cases[i].want;
    char shown[256];
    snprintf(shown, sizeof shown, "%s", got ? got : "(null)");
    free(got);
    if (!same) FAIL("idp_link_next(%s) = %s, want %s", cases[i].in, shown, cases[i].want ? cases[i].want : "(null)");
  }
}

static void bearer_challenge(void **state) {
  (void)state;
  char *realm, *service, *scope;
  assert_true(idp_bearer_challenge(
      "Bearer realm=\"https://auth.example/token\",service=\"registry.example\",scope=\"repository:acme/shop:pull,push\"",
      &realm, &service, &scope));
  assert_string_equal(realm, "https://auth.example/token");
  assert_string_equal(service, "registry.example");
  assert_string_equal(scope, "repository:acme/shop:pull,push");
  free(realm), free(service), free(scope);
  assert_true(idp_bearer_challenge("bearer  realm=\"http://a/t\\\"q\"", &realm, &service, &scope));
  assert_string_equal(realm, "http://a/t\"q");
  assert_null(service);
  assert_null(scope);
  free(realm);
  assert_true(idp_bearer_challenge("Bearer scope=x, realm=http://a/t", &realm, &service, &scope));
  assert_string_equal(realm, "http://a/t");
  assert_string_equal(scope, "x");
  free(realm), free(scope);
  assert_false(idp_bearer_challenge("Basic realm=\"registry\"", &realm, &service, &scope));
  assert_false(idp_bearer_challenge("Bearer service=\"x\"", &realm, &service, &scope));
  assert_false(idp_bearer_challenge("Bearer realm=\"\"", &realm, &service, &scope));
  assert_false(idp_bearer_challenge("Bearerrealm=\"x\"", &realm, &service, &scope));
  assert_null(realm);
}

/* --- a canned HTTP server ------------------------------------------------------------------- */

/* One canned answer: to the first request of method and target whose Authorization is auth
 * (NULL: any). "{base}" in headers and body reads http://127.0.0.1:PORT. */
typedef struct route {
  const char *method, *target, *auth;
  int status;
  const char *headers;       /* header lines, each ending in \r\n */
  const char *body;
} route;

typedef struct canned {
  int lfd, port;
  const route *routes;
  size_t nroutes;
  pthread_t th;
  atomic_bool stop;
  char log[8192];            /* "METHOD TARGET [AUTHORIZATION]\n" per request; read after the join */
  size_t loglen;
  int nreq;
} canned;

static char *expand(const canned *c, const char *s) {
  char base[64];
  snprintf(base, sizeof base, "http://127.0.0.1:%d", c->port);
  size_t cap = strlen(s) * 2 + 64, n = 0;
  char *out = malloc(cap);
  for (const char *p = s; *p;) {
    if (strncmp(p, "{base}", 6) == 0) {
      n += (size_t)sprintf(out + n, "%s", base);
      p += 6;
    } else {
      out[n++] = *p++;
    }
  }
  out[n] = '\0';
  return out;
}

/* Answers the requests of one connection until it closes (or the server stops). */
static void serve_conn(canned *c, int fd) {
  char buf[8192];
  size_t len = 0;
  while (!atomic_load(&c->stop)) {
    char *end = len ? memmem(buf, len, "\r\n\r\n", 4) : NULL;
    if (!end) {
      struct pollfd p = {fd, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      ssize_t r = recv(fd, buf + len, sizeof buf - 1 - len, 0);
      if (r <= 0) return;
      len += (size_t)r;
      continue;
    }
    *end = '\0';
    char method[16] = "", target[2048] = "", auth[512] = "";
    sscanf(buf, "%15s %2047s", method, target);
    for (char *h = strstr(buf, "\r\n"); h; h = strstr(h + 2, "\r\n"))
      if (strncasecmp(h + 2, "Authorization: ", 15) == 0) sscanf(h + 17, "%511[^\r]", auth);
    c->nreq++;
    c->loglen += (size_t)snprintf(c->log + c->loglen, sizeof c->log - c->loglen, "%s %s%s%s\n", method, target,
                                  *auth ? " " : "", auth);
    const route *rt = NULL;
    for (size_t i = 0; i < c->nroutes && !rt; i++)
      if (strcmp(c->routes[i].method, method) == 0 && strcmp(c->routes[i].target, target) == 0 &&
          (!c->routes[i].auth || strcmp(c->routes[i].auth, auth) == 0))
        rt = &c->routes[i];
    char *hdrs = expand(c, rt && rt->headers ? rt->headers : "");
    char *body = expand(c, rt && rt->body ? rt->body : "{\"errors\":[{\"code\":\"NAME_UNKNOWN\"}]}");
    char head[4096];
    int hn = snprintf(head, sizeof head, "HTTP/1.1 %d Canned\r\nContent-Length: %zu\r\n%s\r\n", rt ? rt->status : 404,
                      strlen(body), hdrs);
    ssize_t ignored = send(fd, head, (size_t)hn, MSG_NOSIGNAL);
    if (strcmp(method, "HEAD") != 0) ignored = send(fd, body, strlen(body), MSG_NOSIGNAL);
    (void)ignored;
    free(hdrs);
    free(body);
    size_t used = (size_t)(end + 4 - buf);
    memmove(buf, buf + used, len - used);
    len -= used;
  }
}

static void *serve(void *payload) {
  canned *c = payload;
  while (!atomic_load(&c->stop)) {
    struct pollfd p = {c->lfd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    int fd = accept(c->lfd, NULL, NULL);
    if (fd < 0) continue;
    serve_conn(c, fd);
    close(fd);
  }
  return NULL;
}

/* What a test holds, released by its teardown even when an assertion fails. */
static canned *srv;
static idp_registry *reg;

static void canned_start(const route *routes, size_t n) {
  srv = calloc(1, sizeof *srv);
  srv->routes = routes;
  srv->nroutes = n;
  srv->lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  assert_true(srv->lfd >= 0);
  assert_int_equal(bind(srv->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(srv->lfd, 8), 0);
  assert_int_equal(getsockname(srv->lfd, (struct sockaddr *)&sa, &sl), 0);
  srv->port = ntohs(sa.sin_port);
  atomic_init(&srv->stop, false);
  assert_int_equal(pthread_create(&srv->th, NULL, serve, srv), 0);
}

/* Stops the server; its log and count are then safe to read. */
static void canned_stop(void) {
  if (!srv || srv->lfd < 0) return;
  atomic_store(&srv->stop, true);
  pthread_join(srv->th, NULL);
  close(srv->lfd);
  srv->lfd = -1;
}

static int reg_setup(void **state) {
  srv = NULL;
  reg = idp_registry_new(NULL);
  return fx_setup(state);
}

static int reg_teardown(void **state) {
  canned_stop();
  free(srv);
  srv = NULL;
  idp_registry_free(reg);
  reg = NULL;
  return fx_teardown(state);
}

#define REG_TEST(f) cmocka_unit_test_setup_teardown(f, reg_setup, reg_teardown)

/* An oci_registry integration as the evaluator hands it over; password and token secret. */
static idp_value *integration(const char *url, const char *user, const char *pass, const char *token) {
  idp_arena *a = &F->arena;
  idp_map_builder mb;
  idp_map_builder_init(&mb, a);
  if (url) idp_map_builder_add(&mb, "url", 3, idp_value_cstring(a, url));
  if (user) idp_map_builder_add(&mb, "username", 8, idp_value_cstring(a, user));
  if (pass) idp_map_builder_add(&mb, "password", 8, idp_value_taint(a, idp_value_cstring(a, pass), NULL, true));
  if (token) idp_map_builder_add(&mb, "token", 5, idp_value_taint(a, idp_value_cstring(a, token), NULL, true));
  return idp_map_builder_build(&mb, NULL);
}

static const char *base_url(void) { return idp_arena_sprintf(&F->arena, "http://127.0.0.1:%d", srv->port); }

/* Resolves and returns the image reference, or "error: MESSAGE". */
static const char *image(const idp_value *integ, const char *repo, const char *pattern) {
  idp_value *v = NULL;
  const char *err = NULL;
  int rc = idp_registry_image(&v, &err, integ, repo, pattern, reg);
  if (rc == 0) {
    assert_non_null(v);
    if (v->kind == IDP_V_UNKNOWN) return "(unknown)";
    assert_int_equal(v->kind, IDP_V_STRING);
    assert_false(v->secret);
    assert_null(v->deps);
    return v->u.string.s;
  }
  assert_int_equal(rc, -1);
  assert_non_null(err);
  return idp_arena_sprintf(&F->arena, "error: %s", err);
}

static const char *sha256_hex(const char *s) {
  unsigned char md[32];
  assert_int_equal(EVP_Digest(s, strlen(s), md, NULL, EVP_sha256(), NULL), 1);
  char *hex = idp_arena_alloc(&F->arena, 65);
  for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", md[i]);
  return hex;
}

#define DIGEST_A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define MANIFEST "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}"

/* Tag pages (a relative and an absolute Link), a registry without Docker-Content-Digest (the
 * digest is the sha256 of the manifest it serves), and the cache. */
static void canned_pages_and_digest(void **state) {
  (void)state;
  static const route routes[] = {
      {"GET", "/v2/acme/p/tags/list?n=100", NULL, 200, "Link: </v2/acme/p/tags/list?last=b&n=100>; rel=\"next\"\r\n",
       "{\"name\":\"acme/p\",\"tags\":[\"v1.2.0\",\"v1.9.0\",\"latest\"]}"},
      {"GET", "/v2/acme/p/tags/list?last=b&n=100", NULL, 200,
       "Link: <{base}/v2/acme/p/tags/list?last=c&n=100>; rel=\"next\"\r\n", "{\"name\":\"acme/p\",\"tags\":[\"v1.10.0\"]}"},
      {"GET", "/v2/acme/p/tags/list?last=c&n=100", NULL, 200, NULL,
       "{\"name\":\"acme/p\",\"tags\":[\"v0.1.0\",\"v9.0.0-rc.1\",\"bad/tag\"]}"},
      {"HEAD", "/v2/acme/p/manifests/v1.10.0", NULL, 200, NULL, MANIFEST},
      {"GET", "/v2/acme/p/manifests/v1.10.0", NULL, 200, NULL, MANIFEST},
  };
  canned_start(routes, sizeof routes / sizeof *routes);
  const idp_value *integ = integration(base_url(), NULL, NULL, NULL);
  const char *want = idp_arena_sprintf(&F->arena, "127.0.0.1:%d/acme/p@sha256:%s", srv->port, sha256_hex(MANIFEST));
  assert_string_equal(image(integ, "acme/p", "v*"), want);
  /* The same question again: answered from the cache. */
  assert_string_equal(image(integ, "acme/p", "v*"), want);
  canned_stop();
  assert_string_equal(srv->log, "GET /v2/acme/p/tags/list?n=100\n"
                                "GET /v2/acme/p/tags/list?last=b&n=100\n"
                                "GET /v2/acme/p/tags/list?last=c&n=100\n"
                                "HEAD /v2/acme/p/manifests/v1.10.0\n"
                                "GET /v2/acme/p/manifests/v1.10.0\n");
}

/* The token service: a 401 with a Bearer challenge, a token asked for with username + password
 * (Basic), the request repeated with the token; the password in no message. */
static void canned_token_service(void **state) {
  (void)state;
  /* base64("idp:hunter2-pw") */
  static const route routes[] = {
      {"GET", "/v2/acme/t/tags/list?n=100", "Bearer tok-123", 200, NULL, "{\"tags\":[\"v1.0.0\",\"v1.1.0\"]}"},
      {"GET", "/v2/acme/t/tags/list?n=100", NULL, 401,
       "WWW-Authenticate: Bearer realm=\"{base}/token\",service=\"canned\",scope=\"repository:acme/t:pull\"\r\n",
       "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}"},
      {"GET", "/token?service=canned&scope=repository%3Aacme%2Ft%3Apull", "Basic aWRwOmh1bnRlcjItcHc=", 200, NULL,
       "{\"access_token\":\"tok-123\",\"expires_in\":300}"},
      {"GET", "/token?service=canned&scope=repository%3Aacme%2Ft%3Apull", NULL, 401, NULL, "{}"},
      {"HEAD", "/v2/acme/t/manifests/v1.1.0", "Bearer tok-123", 200, "Docker-Content-Digest: " DIGEST_A "\r\n", NULL},
  };
  canned_start(routes, sizeof routes / sizeof *routes);
  const char *want = idp_arena_sprintf(&F->arena, "127.0.0.1:%d/acme/t@" DIGEST_A, srv->port);
  assert_string_equal(image(integration(base_url(), "idp", "hunter2-pw", NULL), "acme/t", "v*"), want);
  /* A wrong password: the token service refuses, and the message says so without it. */
  idp_registry_free(reg);
  reg = idp_registry_new(NULL);
  const char *err = image(integration(base_url(), "idp", "hunter2-wrong", NULL), "acme/t", "v*");
  assert_string_equal(err, idp_arena_sprintf(&F->arena,
                                             "error: registry %s: its token service refused a token for acme/t (HTTP 401)",
                                             base_url()));
  /* A bearer token of the integration goes as it is. */
  idp_registry_free(reg);
  reg = idp_registry_new(NULL);
  assert_string_equal(image(integration(base_url(), NULL, NULL, "tok-123"), "acme/t", "v*"), want);
  canned_stop();
  assert_string_equal(srv->log, "GET /v2/acme/t/tags/list?n=100\n"
                                "GET /token?service=canned&scope=repository%3Aacme%2Ft%3Apull Basic aWRwOmh1bnRlcjItcHc=\n"
                                "GET /v2/acme/t/tags/list?n=100 Bearer tok-123\n"
                                "HEAD /v2/acme/t/manifests/v1.1.0 Bearer tok-123\n"
                                "GET /v2/acme/t/tags/list?n=100\n"
                                "GET /token?service=canned&scope=repository%3Aacme%2Ft%3Apull Basic aWRwOmh1bnRlcjItd3Jvbmc=\n"
                                "GET /v2/acme/t/tags/list?n=100 Bearer tok-123\n"
                                "HEAD /v2/acme/t/manifests/v1.1.0 Bearer tok-123\n");
}

/* What the registry answers that is not an image, and integrations that cannot be asked. */
static void canned_errors(void **state) {
  (void)state;
  static const route routes[] = {
      {"GET", "/v2/acme/off/tags/list?n=100", NULL, 200, "Link: <http://elsewhere.test/v2/acme/off/tags/list?last=a>; rel=\"next\"\r\n",
       "{\"tags\":[\"v1.0.0\"]}"},
      {"GET", "/v2/acme/pre/tags/list?n=100", NULL, 200, NULL, "{\"tags\":[\"v1.0.0-rc.1\",\"latest\"]}"},
      {"GET", "/v2/acme/junk/tags/list?n=100", NULL, 200, NULL, "<html>"},
      {"GET", "/v2/acme/empty/tags/list?n=100", NULL, 200, NULL, "{\"name\":\"acme/empty\",\"tags\":null}"},
      {"GET", "/v2/acme/boom/tags/list?n=100", NULL, 500, NULL, "{\"errors\":[{\"code\":\"UNKNOWN\"}]}"},
      {"GET", "/v2/acme/gone/tags/list?n=100", NULL, 200, NULL, "{\"tags\":[\"v1.0.0\"]}"},
      {"GET", "/v2/acme/private/tags/list?n=100", NULL, 401, "WWW-Authenticate: Basic realm=\"canned\"\r\n",
       "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}"},
  };
  canned_start(routes, sizeof routes / sizeof *routes);
  const char *b = base_url();
  const idp_value *integ = integration(b, NULL, NULL, NULL);
  struct {
    const char *repo, *pattern, *want;
  } cases[] = {
      {"acme/off", "v*", "cannot list the tags of acme/off: the next page's link leads off the registry"},
      {"acme/pre", "v*",
       "no tag of acme/pre matches \"v*\" but pre-releases (2 tags seen, 1 pre-release left out: a pattern with a '-' takes them)"},
      {"acme/junk", "v*", "cannot list the tags of acme/junk: the answer is not a tag list"},
      {"acme/empty", "v*", "no tag of acme/empty matches \"v*\" (0 tags seen)"},
      {"acme/boom", "v*", "cannot list the tags of acme/boom: HTTP 500 (UNKNOWN)"},
      {"acme/gone", "v*", "cannot read the manifest of acme/gone:v1.0.0: HTTP 404"},
      {"acme/nope", "v*", "repository acme/nope not found (404 NAME_UNKNOWN)"},
      {"acme/private", "v*",
       "not authorized to read acme/private (401 UNAUTHORIZED); set username and password, or token, on the integration"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    assert_string_equal(image(integ, cases[i].repo, cases[i].pattern),
                        idp_arena_sprintf(&F->arena, "error: registry %s: %s", b, cases[i].want));
  /* With a '-' in the pattern the pre-release is picked (this server has no manifest for it). */
  assert_string_equal(image(integ, "acme/pre", "v*-*"),
                      idp_arena_sprintf(&F->arena, "error: registry %s: cannot read the manifest of acme/pre:v1.0.0-rc.1: HTTP 404", b));
}

/* Integrations that cannot be asked: no request goes out. */
static void integration_errors(void **state) {
  (void)state;
  assert_string_equal(image(integration(NULL, "u", "hunter2", NULL), "acme/a", "v*"),
                      "error: the first argument is not an oci_registry integration (it has no url)");
  assert_string_equal(image(integration("ftp://127.0.0.1:1", NULL, NULL, NULL), "acme/a", "v*"),
                      "error: the integration's url is not an http:// or https:// URL");
  assert_string_equal(image(integration("http://u:hunter2@127.0.0.1:1", NULL, NULL, NULL), "acme/a", "v*"),
                      "error: the integration's url holds credentials; set username and password instead");
  assert_string_equal(image(integration("http://127.0.0.1:1/prefix", NULL, NULL, NULL), "acme/a", "v*"),
                      "error: the integration's url has a path or query; the registry API is at SCHEME://HOST[:PORT]/v2/");
  assert_string_equal(image(integration("http://127.0.0.1:1/", NULL, NULL, NULL), "Acme/A", "v*"),
                      "error: \"Acme/A\" is not a repository name (lowercase letters, digits, '.', '_', '-' and '/')");
  /* An unknown attribute (derived from a resource) leaves the image unknown. */
  idp_map_builder mb;
  idp_map_builder_init(&mb, &F->arena);
  idp_map_builder_add(&mb, "url", 3, idp_value_cstring(&F->arena, "http://127.0.0.1:1"));
  idp_map_builder_add(&mb, "password", 8, idp_value_unknown(&F->arena, IDP_V_STRING));
  assert_string_equal(image(idp_map_builder_build(&mb, NULL), "acme/a", "v*"), "(unknown)");
  /* A secret url would show in messages and references. */
  idp_map_builder_init(&mb, &F->arena);
  idp_map_builder_add(&mb, "url", 3, idp_value_taint(&F->arena, idp_value_cstring(&F->arena, "http://h"), NULL, true));
  assert_string_equal(image(idp_map_builder_build(&mb, NULL), "acme/a", "v*"),
                      "error: the integration's url is secret, and would show in image references and messages");
  /* A refused connection names the registry and the repository. */
  const char *e = image(integration("http://127.0.0.1:1", "u", "hunter2", NULL), "acme/a", "v*");
  if (strncmp(e, "error: registry http://127.0.0.1:1: cannot list the tags of acme/a: ", 68) != 0 || strstr(e, "hunter2"))
    FAIL("refused connection: %s", e);
}

/* Through the evaluator: registry_image() with the resolver hooked in gives a known string, not
 * secret although the integration holds a secret, with no dependencies; a secret repository or
 * pattern is refused before anything is asked. */
static void eval_registry_image(void **state) {
  (void)state;
  static const route routes[] = {
      {"GET", "/v2/acme/e/tags/list?n=100", NULL, 200, NULL, "{\"tags\":[\"v1.0.0\"]}"},
      {"HEAD", "/v2/acme/e/manifests/v1.0.0", NULL, 200, "Docker-Content-Digest: " DIGEST_A "\r\n", NULL},
  };
  canned_start(routes, sizeof routes / sizeof *routes);
  idp_file *f = parse_ok(idp_arena_sprintf(&F->arena,
                                           "a = registry_image({ url = \"%s\", password = secret(\"hunter2\") }, \"acme/e\", \"v*\")\n"
                                           "b = registry_image({ url = \"%s\" }, secret(\"acme/e\"), \"v*\")\n",
                                           base_url(), base_url()));
  idp_eval_ctx c;
  idp_eval_ctx_init(&c, &F->arena, &F->diags, f->src);
  c.image_resolver = idp_registry_image;
  c.image_payload = reg;
  idp_value *v;
  assert_int_equal(idp_eval(&c, top_attr(f, "a"), &v), IDP_EVAL_OK);
  assert_int_equal(v->kind, IDP_V_STRING);
  assert_string_equal(v->u.string.s, idp_arena_sprintf(&F->arena, "127.0.0.1:%d/acme/e@" DIGEST_A, srv->port));
  assert_false(v->secret);
  assert_int_equal(idp_deps_count(v->deps), 0);
  assert_int_equal(idp_eval(&c, top_attr(f, "b"), &v), IDP_EVAL_ERROR);
  assert_non_null(strstr(diags_text(), "test.idp:2:5: error: registry_image(): the repository and the pattern may not be secret"));
  canned_stop();
  assert_int_equal(srv->nreq, 2);
}

/* idp_registry_digest: a tag's digest now, a digest the repository holds, one it does not (404),
 * references that are neither, and no cache (webhooks want the registry's answer of the moment). */
static void registry_digest(void **state) {
  (void)state;
  static const route routes[] = {
      {"HEAD", "/v2/acme/d/manifests/v2.0.0", NULL, 200, "Docker-Content-Digest: " DIGEST_A "\r\n", MANIFEST},
      {"HEAD", "/v2/acme/d/manifests/" DIGEST_A, NULL, 200, "Docker-Content-Digest: " DIGEST_A "\r\n", MANIFEST},
  };
  canned_start(routes, sizeof routes / sizeof *routes);
  const idp_value *integ = integration(base_url(), "idp", "hunter2-pw", NULL);
  const char *want = idp_arena_sprintf(&F->arena, "127.0.0.1:%d/acme/d@" DIGEST_A, srv->port);
  char *img = NULL, *err = NULL;
  assert_int_equal(idp_registry_digest(reg, integ, "acme/d", "v2.0.0", &img, &err), 0);
  assert_string_equal(img, want);
  free(img);
  assert_int_equal(idp_registry_digest(reg, integ, "acme/d", DIGEST_A, &img, &err), 0);
  assert_string_equal(img, want);
  free(img);
  const char *missing = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
  assert_int_equal(idp_registry_digest(reg, integ, "acme/d", missing, &img, &err), IDP_REGISTRY_ENOTFOUND);
  assert_null(img);
  if (!strstr(err, "HTTP 404") || !strstr(err, "acme/d") || strstr(err, "hunter2")) FAIL("message: %s", err);
  free(err);
  assert_int_equal(idp_registry_digest(reg, integ, "acme/d", "v2 0", &img, &err), -1);
  assert_non_null(strstr(err, "is neither a tag nor a sha256: digest"));
  free(err);
  assert_int_equal(idp_registry_digest(reg, integ, "acme/d", "sha256:abc", &img, &err), -1);
  free(err);
  assert_int_equal(idp_registry_digest(reg, integ, "Acme/D", "v2.0.0", &img, &err), -1);
  assert_non_null(strstr(err, "is not a repository name"));
  free(err);
  assert_int_equal(idp_registry_digest(reg, integ, "acme/d", "v2.0.0", &img, &err), 0); /* asked again */
  free(img);
  canned_stop();
  assert_int_equal(srv->nreq, 4);
}

int test_registry(void) {
  const struct CMUnitTest tests[] = {
      FX_TEST(tag_semver),
      FX_TEST(tag_order),
      FX_TEST(tag_pick),
      FX_TEST(link_next),
      FX_TEST(bearer_challenge),
      REG_TEST(canned_pages_and_digest),
      REG_TEST(canned_token_service),
      REG_TEST(canned_errors),
      REG_TEST(integration_errors),
      REG_TEST(eval_registry_image),
      REG_TEST(registry_digest),
  };
  return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
