/* test_http.c - the runtime's HTTP client (runtime/http.h) against a real HTTP server on
 * loopback (libmicrohttpd, in a thread of this process): bodies and headers, retries of 503 and
 * 429 with Retry-After, giving up, connection refused, no_retry, and many requests at once over
 * the one multi handle. */
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "unit.h"

#include "http.h"

typedef struct server {
  struct MHD_Daemon *d;
  unsigned port;
  pthread_mutex_t mu;
  unsigned flaky;          /* /flaky answers 503 this many times more */
  unsigned calls;          /* every request */
  char last_method[16], last_body[64], last_key[64];
} server;

static server S;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body, const char *hname,
                             const char *hval) {
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
  if (hname) MHD_add_response_header(r, hname, hval);
  enum MHD_Result ok = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **ctx) {
  (void)cls;
  (void)version;
  if (!*ctx) { /* first call: headers only */
    *ctx = c;
    pthread_mutex_lock(&S.mu);
    S.calls++;
    snprintf(S.last_method, sizeof S.last_method, "%s", method);
    S.last_body[0] = '\0';
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Key");
    snprintf(S.last_key, sizeof S.last_key, "%s", key ? key : "");
    pthread_mutex_unlock(&S.mu);
    return MHD_YES;
  }
  if (*size) {
    pthread_mutex_lock(&S.mu);
    size_t n = strlen(S.last_body);
    snprintf(S.last_body + n, sizeof S.last_body - n, "%.*s", (int)*size, data);
    pthread_mutex_unlock(&S.mu);
    *size = 0;
    return MHD_YES;
  }
  if (strcmp(url, "/ok") == 0) return reply(c, 200, "hello", "X-Thing", "  spaced value  ");
  if (strcmp(url, "/created") == 0) return reply(c, 201, "{\"id\": 7}", NULL, NULL);
  if (strcmp(url, "/flaky") == 0) {
    pthread_mutex_lock(&S.mu);
    bool fail = S.flaky > 0;
    if (fail) S.flaky--;
    pthread_mutex_unlock(&S.mu);
    return fail ? reply(c, 503, "busy", "Retry-After", "0") : reply(c, 200, "at last", NULL, NULL);
  }
  if (strcmp(url, "/limited") == 0) return reply(c, 429, "slow down", "Retry-After", "0");
  if (strcmp(url, "/slow") == 0) {
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return reply(c, 200, "slow", NULL, NULL);
  }
  return reply(c, 404, "no such thing", NULL, NULL);
}

static int start_server(void **state) {
  (void)state;
  memset(&S, 0, sizeof S);
  pthread_mutex_init(&S.mu, NULL);
  S.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, handle,
                         NULL, MHD_OPTION_SOCK_ADDR,
                         &(struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)},
                         MHD_OPTION_END);
  if (!S.d) return -1;
  const union MHD_DaemonInfo *i = MHD_get_daemon_info(S.d, MHD_DAEMON_INFO_BIND_PORT);
  S.port = i ? i->port : 0;
  return S.port ? 0 : -1;
}

static int stop_server(void **state) {
  (void)state;
  MHD_stop_daemon(S.d);
  pthread_mutex_destroy(&S.mu);
  return 0;
}

static const idp_http_opts fast = {.max_attempts = 4, .backoff_base_s = 0.01, .backoff_max_s = 0.05};

static void url(char *buf, size_t n, const char *path) { snprintf(buf, n, "http://127.0.0.1:%u%s", S.port, path); }

static void test_get_and_headers(void **state) {
  (void)state;
  char err[256], u[128], v[64];
  idp_http *h = idp_http_new(&fast, err, sizeof err);
  assert_non_null(h);
  url(u, sizeof u, "/ok");
  idp_http_resp r;
  assert_int_equal(idp_http_do(h, &(idp_http_req){.method = "GET", .url = u}, &r, err, sizeof err), 0);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.body, "hello");
  assert_int_equal(r.body_len, 5);
  assert_int_equal(r.attempts, 1);
  assert_string_equal(idp_http_header(&r, "x-thing", v, sizeof v), "spaced value");
  assert_null(idp_http_header(&r, "X-Nothing", v, sizeof v));
  idp_http_resp_free(&r);
  /* a 404 is an answer, not a failure, and is not retried */
  url(u, sizeof u, "/nope");
  assert_int_equal(idp_http_do(h, &(idp_http_req){.method = "GET", .url = u}, &r, err, sizeof err), 0);
  assert_int_equal(r.status, 404);
  assert_int_equal(r.attempts, 1);
  idp_http_resp_free(&r);
  idp_http_free(h);
}

static void test_post_body_and_header(void **state) {
  (void)state;
  char err[256], u[128];
  idp_http *h = idp_http_new(&fast, err, sizeof err);
  url(u, sizeof u, "/created");
  const char *hdrs[] = {"X-API-Key: k-123", "Content-Type: application/json"};
  const char *body = "{\"name\":\"z.\"}";
  idp_http_resp r;
  assert_int_equal(idp_http_do(h,
                               &(idp_http_req){.method = "POST", .url = u, .headers = hdrs, .nheaders = 2,
                                               .body = body, .body_len = strlen(body)},
                               &r, err, sizeof err),
                   0);
  assert_int_equal(r.status, 201);
  assert_string_equal(r.body, "{\"id\": 7}");
  assert_string_equal(S.last_method, "POST");
  assert_string_equal(S.last_body, body);
  assert_string_equal(S.last_key, "k-123");
  idp_http_resp_free(&r);
  idp_http_free(h);
}

static void test_retries_503_then_succeeds(void **state) {
  (void)state;
  char err[256], u[128];
  idp_http *h = idp_http_new(&fast, err, sizeof err);
  S.flaky = 2;
  url(u, sizeof u, "/flaky");
  idp_http_resp r;
  assert_int_equal(idp_http_do(h, &(idp_http_req){.method = "GET", .url = u}, &r, err, sizeof err), 0);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.attempts, 3);
  assert_string_equal(r.body, "at last");
  idp_http_resp_free(&r);
  /* no_retry: the 503 comes back as it is */
  S.flaky = 1;
  assert_int_equal(idp_http_do(h, &(idp_http_req){.method = "POST", .url = u, .no_retry = true}, &r, err, sizeof err), 0);
  assert_int_equal(r.status, 503);
  assert_int_equal(r.attempts, 1);
  idp_http_resp_free(&r);
  idp_http_free(h);
}

static void test_gives_up(void **state) {
  (void)state;
  char err[256], u[128];
  idp_http *h = idp_http_new(&fast, err, sizeof err);
  url(u, sizeof u, "/limited");
  unsigned before = S.calls;
  idp_http_resp r;
  assert_int_equal(idp_http_do(h, &(idp_http_req){.method = "GET", .url = u}, &r, err, sizeof err), 0);
  assert_int_equal(r.status, 429); /* the last answer, after every attempt */
  assert_int_equal(r.attempts, 4);
  assert_int_equal(S.calls - before, 4);
  idp_http_resp_free(&r);
  idp_http_free(h);
}

static void test_connection_refused(void **state) {
  (void)state;
  /* a port nobody listens on: bind, read the port, close */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
  close(fd);
  char err[256], u[160];
  snprintf(u, sizeof u, "http://user:s3cret-PLAINTEXT@127.0.0.1:%u/x?token=s3cret-PLAINTEXT", ntohs(a.sin_port));
  idp_http *h = idp_http_new(&fast, err, sizeof err);
  idp_http_resp r;
  assert_int_equal(idp_http_do(h, &(idp_http_req){.method = "GET", .url = u}, &r, err, sizeof err), -1);
  assert_non_null(strstr(err, "GET http://127.0.0.1:"));
  assert_non_null(strstr(err, "(4 attempts)"));
  assert_null(strstr(err, "s3cret")); /* neither the password nor the query */
  assert_null(r.body);
  idp_http_free(h);
}

typedef struct par {
  idp_http *h;
  int rc;
  long status;
} par;

static void *one_slow(void *arg) {
  par *p = arg;
  char err[256], u[128];
  url(u, sizeof u, "/slow");
  idp_http_resp r;
  p->rc = idp_http_do(p->h, &(idp_http_req){.method = "GET", .url = u}, &r, err, sizeof err);
  p->status = r.status;
  idp_http_resp_free(&r);
  return NULL;
}

/* 20 requests of 50 ms each from 20 threads finish together, not one after another. */
static void test_parallel(void **state) {
  (void)state;
  char err[256];
  idp_http *h = idp_http_new(&fast, err, sizeof err);
  enum { N = 20 };
  pthread_t t[N];
  par p[N];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < N; i++) {
    p[i] = (par){.h = h};
    pthread_create(&t[i], NULL, one_slow, &p[i]);
  }
  for (int i = 0; i < N; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(p[i].rc, 0);
    assert_int_equal(p[i].status, 200);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  assert_true(s < 0.5); /* serial would be 1 s; generous for a loaded sanitized run */
  idp_http_free(h);
}

static void test_retry_after_and_backoff(void **state) {
  (void)state;
  assert_true(idp_http_retry_after("7", 0) == 7);
  assert_true(idp_http_retry_after(" 0 ", 0) == 0);
  assert_true(idp_http_retry_after("soon", 0) < 0);
  /* an HTTP date 30 s after "now" */
  assert_true(idp_http_retry_after("Thu, 01 Jan 1970 00:00:40 GMT", 10) == 30);
  assert_true(idp_http_retry_after("Thu, 01 Jan 1970 00:00:05 GMT", 10) == 0);
  assert_true(idp_http_backoff(1, 0.25, 10, 0.999) < 0.25);
  assert_true(idp_http_backoff(3, 0.25, 10, 0.5) == 0.5);
  assert_true(idp_http_backoff(20, 0.25, 10, 0.5) == 5);
  assert_true(idp_http_status_transient(503) && idp_http_status_transient(429) && !idp_http_status_transient(500) &&
              !idp_http_status_transient(404));
}

int test_http(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_get_and_headers),     cmocka_unit_test(test_post_body_and_header),
      cmocka_unit_test(test_retries_503_then_succeeds), cmocka_unit_test(test_gives_up),
      cmocka_unit_test(test_connection_refused),  cmocka_unit_test(test_parallel),
      cmocka_unit_test(test_retry_after_and_backoff),
  };
  return cmocka_run_group_tests_name("http", tests, start_server, stop_server);
}
