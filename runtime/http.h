/* http.h - the runtime's one HTTP client: every request of a run goes through one libcurl multi
 * handle, driven by a thread of its own, so connections to the same server are reused across
 * the steps that run in parallel.
 *
 * A caller (a step's worker thread) makes a blocking call, idp_http_do(); it hands the request to
 * the loop thread and sleeps until the answer is complete. Transient failures are retried there,
 * in the caller's thread: connection errors, timeouts, 429 and 502/503/504, with exponential
 * backoff and full jitter, honouring Retry-After, bounded in attempts and in time
 * (idp_http_opts). TLS verification is on unless a request turns it off.
 *
 * Nothing here prints or logs a request: headers and bodies may hold secrets (an API key), and
 * error messages name the method, the URL without its query and the failure only. */
#ifndef IDP_HTTP_H
#define IDP_HTTP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct idp_http idp_http;

typedef struct idp_http_opts {
  unsigned max_attempts;   /* per request, first try included; 0: 5 */
  double retry_budget_s;   /* give up retrying after this long since the first try; 0: 60 */
  double backoff_base_s;   /* first backoff (doubling, full jitter); 0: 0.25 */
  double backoff_max_s;    /* cap of one backoff, and of a Retry-After honoured; 0: 10 */
  double connect_timeout_s; /* 0: 10 */
} idp_http_opts;

typedef struct idp_http_tls {
  const char *ca_file;     /* PEM CA bundle, or NULL for the system's */
  const char *cert_file, *key_file; /* client certificate (mutual TLS), or NULL */
  /* The same as in-memory PEM text (NUL-terminated), e.g. a kubeconfig's *-data; each, when set,
   * is used instead of its file (libcurl's CURLOPT_*_BLOB, copied). */
  const char *ca_pem, *cert_pem, *key_pem;
  bool insecure;           /* do not verify the server (tests only) */
} idp_http_tls;

typedef struct idp_http_req {
  const char *method;      /* "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" */
  const char *url;
  const char *const *headers; /* "Name: value" lines */
  size_t nheaders;
  const char *body;        /* NULL: none */
  size_t body_len;
  const idp_http_tls *tls; /* NULL: verify against the system's CAs */
  double timeout_s;        /* one attempt, whole transfer; 0: 60 */
  bool no_retry;           /* a request that must not be sent twice */
} idp_http_req;

typedef struct idp_http_resp {
  long status;             /* the final attempt's HTTP status */
  char *body;              /* malloc'd, NUL-terminated (may hold NULs of its own) */
  size_t body_len;
  char *headers;           /* the final response's header lines, malloc'd, NUL-terminated */
  unsigned attempts;       /* how many tries it took */
} idp_http_resp;

/* Starts the client and its loop thread; opts may be NULL. Returns NULL (with a message in err)
 * when libcurl or the thread cannot start. */
idp_http *idp_http_new(const idp_http_opts *opts, char *err, size_t errsize);
/* Finishes in-flight requests' waits (they fail with "cancelled"), stops the thread, frees. */
void idp_http_free(idp_http *h);

/* Sends rq and waits for the answer, retrying transient failures. Returns 0 when an HTTP answer
 * came (any status; rs filled, free it with idp_http_resp_free), or -1 with a message in err
 * (transport failure after the retries, or cancelled); rs is then empty. Thread-safe. */
int idp_http_do(idp_http *h, const idp_http_req *rq, idp_http_resp *rs, char *err, size_t errsize);
void idp_http_resp_free(idp_http_resp *rs);

/* The value of response header name (case-insensitive), trimmed, copied into buf (NUL-terminated,
 * truncated to size); NULL when absent. */
const char *idp_http_header(const idp_http_resp *rs, const char *name, char *buf, size_t size);

/* Makes every waiting and later idp_http_do fail with "cancelled" (e.g. on a second Ctrl-C). */
void idp_http_cancel(idp_http *h);

/* Is the status one to retry? 429, 502, 503, 504. */
bool idp_http_status_transient(long status);
/* The delay a Retry-After value asks for, in seconds (delta-seconds or an HTTP date), or -1 when
 * it is neither. now: the current time (seconds since the epoch). */
double idp_http_retry_after(const char *value, double now);
/* The backoff before retry number `retry` (1 for the first retry): a uniform random delay in
 * [0, min(max, base * 2^(retry-1))] (full jitter); r01 is a random number in [0, 1). */
double idp_http_backoff(unsigned retry, double base, double max, double r01);

#endif
