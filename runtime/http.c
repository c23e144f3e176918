/* http.c - one libcurl multi handle driven by a loop thread; blocking calls with retries
 * (http.h). */
#include "http.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "util.h"

/* One request in flight: made by the caller, added and completed by the loop thread. */
typedef struct job {
  CURL *easy;
  bool done;
  CURLcode result;
  pthread_cond_t cond;        /* signalled when done: wakes its caller only */
  struct job *next;           /* in pending, then in active */
} job;

struct idp_http {
  CURLM *multi;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cond;        /* broadcast on cancel (wakes the callers pausing between tries) */
  job *pending, *active;      /* under mu */
  bool stop, cancelled;       /* under mu */
  idp_http_opts o;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void finish(idp_http *h, job *j, CURLcode result) {
  curl_multi_remove_handle(h->multi, j->easy);
  pthread_mutex_lock(&h->mu);
  for (job **p = &h->active; *p; p = &(*p)->next)
    if (*p == j) {
      *p = j->next;
      break;
    }
  j->done = true;
  j->result = result;
  pthread_cond_signal(&j->cond);
  pthread_mutex_unlock(&h->mu);
}

static void *loop(void *arg) {
  idp_http *h = arg;
  for (;;) {
    pthread_mutex_lock(&h->mu);
    bool stop = h->stop, cancelled = h->cancelled;
    job *add = h->pending;
    h->pending = NULL;
    for (job *j = add, *next; j; j = next) {
      next = j->next;
      j->next = h->active;
      h->active = j;
      curl_multi_add_handle(h->multi, j->easy);
    }
    pthread_mutex_unlock(&h->mu);
    if (stop || cancelled) { /* fail what is in flight: its callers are waiting */
      pthread_mutex_lock(&h->mu);
      job *act = h->active;
      pthread_mutex_unlock(&h->mu);
      while (act) {
        job *next = act->next;
        finish(h, act, CURLE_ABORTED_BY_CALLBACK);
        act = next;
      }
      if (stop) return NULL;
    }
    int running = 0;
    curl_multi_perform(h->multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left))) {
      if (m->msg != CURLMSG_DONE) continue;
      job *j = NULL;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
      if (j) finish(h, j, m->data.result);
    }
    curl_multi_poll(h->multi, NULL, 0, 1000, NULL);
  }
}

static CURLcode global_rc = CURLE_OK;
static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

idp_http *idp_http_new(const idp_http_opts *opts, char *err, size_t errsize) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, global_init);
  if (global_rc != CURLE_OK) {
    snprintf(err, errsize, "cannot start libcurl: %s", curl_easy_strerror(global_rc));
    return NULL;
  }
  idp_http *h = idp_xcalloc(1, sizeof *h);
  if (opts) h->o = *opts;
  if (!h->o.max_attempts) h->o.max_attempts = 5;
  if (h->o.retry_budget_s <= 0) h->o.retry_budget_s = 60;
  if (h->o.backoff_base_s <= 0) h->o.backoff_base_s = 0.25;
  if (h->o.backoff_max_s <= 0) h->o.backoff_max_s = 10;
  if (h->o.connect_timeout_s <= 0) h->o.connect_timeout_s = 10;
  h->multi = curl_multi_init();
  pthread_mutex_init(&h->mu, NULL);
  pthread_cond_init(&h->cond, NULL);
  int e = h->multi ? pthread_create(&h->thread, NULL, loop, h) : ENOMEM;
  if (e) {
    snprintf(err, errsize, "cannot start the HTTP thread: %s", strerror(e));
    if (h->multi) curl_multi_cleanup(h->multi);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cond);
    free(h);
    return NULL;
  }
  return h;
}

void idp_http_free(idp_http *h) {
  if (!h) return;
  pthread_mutex_lock(&h->mu);
  h->stop = true;
  pthread_mutex_unlock(&h->mu);
  curl_multi_wakeup(h->multi);
  pthread_join(h->thread, NULL);
  curl_multi_cleanup(h->multi);
  pthread_mutex_destroy(&h->mu);
  pthread_cond_destroy(&h->cond);
  free(h);
}

void idp_http_cancel(idp_http *h) {
  pthread_mutex_lock(&h->mu);
  h->cancelled = true;
  pthread_cond_broadcast(&h->cond);
  pthread_mutex_unlock(&h->mu);
  curl_multi_wakeup(h->multi);
}

/* --- one attempt ------------------------------------------------------------------------------ */

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
  idp_buf_append(arg, p, size * n);
  return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg) {
  idp_buf *b = arg;
  if (size * n >= 5 && strncmp(p, "HTTP/", 5) == 0) b->len = 0; /* a new response (after a 100) */
  idp_buf_append(b, p, size * n);
  return size * n;
}

/* The URL for messages: no user or password, no query. */
static void safe_url(const char *url, char *out, size_t size) {
  CURLU *u = curl_url();
  char *text = NULL;
  if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK) {
    curl_url_set(u, CURLUPART_USER, NULL, 0);
    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
    curl_url_set(u, CURLUPART_QUERY, NULL, 0);
    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
    curl_url_get(u, CURLUPART_URL, &text, 0);
  }
  snprintf(out, size, "%s", text ? text : "(a malformed URL)");
  curl_free(text);
  curl_url_cleanup(u);
}

static CURLcode attempt(idp_http *h, const idp_http_req *rq, idp_http_resp *rs, char *cerr) {
  CURL *e = curl_easy_init();
  if (!e) return CURLE_OUT_OF_MEMORY;
  idp_buf body = {0}, hdrs = {0};
  struct curl_slist *list = NULL;
  for (size_t i = 0; i < rq->nheaders; i++) list = curl_slist_append(list, rq->headers[i]);
  list = curl_slist_append(list, "Expect:"); /* no 100-continue round trip */
  curl_easy_setopt(e, CURLOPT_URL, rq->url);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, cerr);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(h->o.connect_timeout_s * 1000));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)((rq->timeout_s > 0 ? rq->timeout_s : 60) * 1000));
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &hdrs);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  if (strcmp(rq->method, "HEAD") == 0) curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  else if (strcmp(rq->method, "GET") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
  if (rq->body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
  }
  if (rq->tls) {
    if (rq->tls->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, rq->tls->ca_file);
    if (rq->tls->cert_file) curl_easy_setopt(e, CURLOPT_SSLCERT, rq->tls->cert_file);
    if (rq->tls->key_file) curl_easy_setopt(e, CURLOPT_SSLKEY, rq->tls->key_file);
    if (rq->tls->ca_pem) {
      struct curl_blob b = {(void *)rq->tls->ca_pem, strlen(rq->tls->ca_pem), CURL_BLOB_COPY};
      curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
    }
    if (rq->tls->cert_pem) {
      struct curl_blob b = {(void *)rq->tls->cert_pem, strlen(rq->tls->cert_pem), CURL_BLOB_COPY};
      curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
      curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (rq->tls->key_pem) {
      struct curl_blob b = {(void *)rq->tls->key_pem, strlen(rq->tls->key_pem), CURL_BLOB_COPY};
      curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
      curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (rq->tls->insecure) {
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
  }
  job j = {.easy = e};
  pthread_cond_init(&j.cond, NULL);
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)&j);
  pthread_mutex_lock(&h->mu);
  bool cancelled = h->cancelled;
  if (!cancelled) {
    j.next = h->pending;
    h->pending = &j;
  }
  pthread_mutex_unlock(&h->mu);
  if (!cancelled) {
    curl_multi_wakeup(h->multi);
    pthread_mutex_lock(&h->mu);
    while (!j.done) pthread_cond_wait(&j.cond, &h->mu);
    pthread_mutex_unlock(&h->mu);
  } else {
    j.result = CURLE_ABORTED_BY_CALLBACK;
  }
  if (j.result == CURLE_OK) {
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &rs->status);
    rs->body_len = body.len;
    idp_buf_cstr(&body);
    rs->body = body.data ? body.data : idp_xstrdup("");
    idp_buf_cstr(&hdrs);
    rs->headers = hdrs.data ? hdrs.data : idp_xstrdup("");
  } else {
    idp_buf_free(&body);
    idp_buf_free(&hdrs);
  }
  pthread_cond_destroy(&j.cond);
  curl_slist_free_all(list);
  curl_easy_cleanup(e);
  return j.result;
}

/* --- retries ---------------------------------------------------------------------------------- */

bool idp_http_status_transient(long status) { return status == 429 || (status >= 502 && status <= 504); }

double idp_http_retry_after(const char *value, double now) {
  while (*value == ' ' || *value == '\t') value++;
  if (!*value) return -1;
  char *end;
  errno = 0;
  long secs = strtol(value, &end, 10);
  if (end != value && errno == 0) {
    while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n') end++;
    if (!*end) return secs < 0 ? 0 : (double)secs;
  }
  time_t t = curl_getdate(value, NULL);
  if (t < 0) return -1;
  double d = (double)t - now;
  return d < 0 ? 0 : d;
}

double idp_http_backoff(unsigned retry, double base, double max, double r01) {
  double cap = base * ldexp(1.0, retry > 30 ? 30 : (int)retry - 1);
  if (cap > max) cap = max;
  return cap * r01;
}

static bool transport_transient(CURLcode c) {
  switch (c) {
  case CURLE_COULDNT_CONNECT:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_GOT_NOTHING:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_PARTIAL_FILE: return true;
  default: return false;
  }
}

/* Sleeps s seconds unless cancelled first. Returns false when cancelled. */
static bool pause_for(idp_http *h, double s) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  double t = (double)until.tv_sec + (double)until.tv_nsec / 1e9 + s;
  until.tv_sec = (time_t)t;
  until.tv_nsec = (long)((t - (double)until.tv_sec) * 1e9);
  pthread_mutex_lock(&h->mu);
  while (!h->cancelled && pthread_cond_timedwait(&h->cond, &h->mu, &until) != ETIMEDOUT) {
  }
  bool ok = !h->cancelled;
  pthread_mutex_unlock(&h->mu);
  return ok;
}

int idp_http_do(idp_http *h, const idp_http_req *rq, idp_http_resp *rs, char *err, size_t errsize) {
  memset(rs, 0, sizeof *rs);
  char url[512], cerr[CURL_ERROR_SIZE];
  double start = now_s();
  for (unsigned n = 1;; n++) {
    cerr[0] = '\0';
    idp_http_resp r = {0};
    CURLcode c = attempt(h, rq, &r, cerr);
    r.attempts = n;
    /* A request that never connected was not sent: safe to retry even when no_retry. */
    bool connect_failed = c == CURLE_COULDNT_CONNECT || c == CURLE_COULDNT_RESOLVE_HOST;
    bool transient = c == CURLE_OK ? idp_http_status_transient(r.status) : transport_transient(c);
    bool retry = transient && (!rq->no_retry || connect_failed) && n < h->o.max_attempts;
    double delay = -1;
    if (retry && c == CURLE_OK) {
      char ra[128];
      if (idp_http_header(&r, "Retry-After", ra, sizeof ra)) delay = idp_http_retry_after(ra, now_s());
      if (delay > h->o.backoff_max_s) delay = h->o.backoff_max_s;
    }
    if (delay < 0) delay = idp_http_backoff(n, h->o.backoff_base_s, h->o.backoff_max_s, arc4random() / 4294967296.0);
    if (retry && now_s() + delay - start > h->o.retry_budget_s) retry = false;
    if (!retry) {
      if (c == CURLE_OK) {
        *rs = r;
        return 0;
      }
      safe_url(rq->url, url, sizeof url);
      char tries[32] = "";
      if (n > 1) snprintf(tries, sizeof tries, " (%u attempts)", n);
      snprintf(err, errsize, "%s %s: %s%s", rq->method, url,
               c == CURLE_ABORTED_BY_CALLBACK ? "cancelled" : cerr[0] ? cerr : curl_easy_strerror(c), tries);
      return -1;
    }
    idp_http_resp_free(&r);
    if (!pause_for(h, delay)) {
      safe_url(rq->url, url, sizeof url);
      snprintf(err, errsize, "%s %s: cancelled", rq->method, url);
      return -1;
    }
  }
}

void idp_http_resp_free(idp_http_resp *rs) {
  free(rs->body);
  free(rs->headers);
  memset(rs, 0, sizeof *rs);
}

const char *idp_http_header(const idp_http_resp *rs, const char *name, char *buf, size_t size) {
  size_t nl = strlen(name);
  for (const char *p = rs->headers; p && *p;) {
    const char *eol = strchr(p, '\n');
    size_t len = eol ? (size_t)(eol - p) : strlen(p);
    if (len > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
      const char *v = p + nl + 1, *e = p + len;
      while (v < e && (*v == ' ' || *v == '\t')) v++;
      while (e > v && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t')) e--;
      snprintf(buf, size, "%.*s", (int)(e - v), v);
      return buf;
    }
    p = eol ? eol + 1 : p + len;
  }
  return NULL;
}
