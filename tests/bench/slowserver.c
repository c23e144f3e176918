/* slowserver.c - the apply benchmark's REST server: answers every call after a fixed delay.
 *
 * Usage: slowserver PORTFILE [DELAY_MS]
 *
 * Listens on 127.0.0.1 (a port the kernel picks, written to PORTFILE once it listens) and serves
 * the calls http.request makes, each answered DELAY_MS (default 20) after its request arrived,
 * whole: the delay is a sleep in the connection's own thread (libmicrohttpd, one thread per
 * connection), so a call waiting never holds up another connection's.
 *
 *   POST   /things      201 {"id":"N"} (N counts from 1)
 *   GET    /things/N    200 {"id":"N"}
 *   PUT    /things/N    200 {"id":"N"}
 *   DELETE /things/N    204
 *   GET    /_stats      (no delay) {"creates":..,"reads":..,"updates":..,"deletes":..,"max_in_flight":..}
 *   DELETE /_stats      (no delay) the counters back to 0
 *
 * Anything else is 404 after the delay. Runs until SIGINT or SIGTERM. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long next_id, creates, reads, updates, deletes;
static unsigned in_flight, max_in_flight;
static long delay_ms = 20;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body) {
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  if (*body) MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result ok = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ok;
}

/* Sleeps until delay_ms after *t0. */
static void wait_from(const struct timespec *t0) {
  struct timespec until = *t0;
  until.tv_sec += delay_ms / 1000;
  until.tv_nsec += (delay_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR) {
  }
}

/* Per request: when it arrived. */
typedef struct call {
  struct timespec t0;
} call;

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **ctx) {
  (void)cls;
  (void)version;
  (void)data;
  if (!*ctx) { /* first call: headers only */
    call *k = calloc(1, sizeof *k);
    if (!k) return MHD_NO;
    clock_gettime(CLOCK_MONOTONIC, &k->t0);
    *ctx = k;
    return MHD_YES;
  }
  if (*size) { /* the body: not needed */
    *size = 0;
    return MHD_YES;
  }
  call *k = *ctx;
  char body[256];
  if (strcmp(url, "/_stats") == 0) {
    pthread_mutex_lock(&mu);
    if (strcmp(method, "DELETE") == 0) creates = reads = updates = deletes = max_in_flight = 0;
    snprintf(body, sizeof body,
             "{\"creates\":%lu,\"reads\":%lu,\"updates\":%lu,\"deletes\":%lu,\"max_in_flight\":%u}\n", creates,
             reads, updates, deletes, max_in_flight);
    pthread_mutex_unlock(&mu);
    return reply(c, 200, body);
  }
  pthread_mutex_lock(&mu);
  if (++in_flight > max_in_flight) max_in_flight = in_flight;
  pthread_mutex_unlock(&mu);
  wait_from(&k->t0);
  unsigned status = 404;
  snprintf(body, sizeof body, "{\"message\":\"no such thing\"}");
  const char *id = strncmp(url, "/things/", 8) == 0 && url[8] && !strchr(url + 8, '/') ? url + 8 : NULL;
  pthread_mutex_lock(&mu);
  if (strcmp(url, "/things") == 0 && strcmp(method, "POST") == 0) {
    creates++;
    status = 201;
    snprintf(body, sizeof body, "{\"id\":\"%lu\"}", ++next_id);
  } else if (id && strcmp(method, "GET") == 0) {
    reads++;
    status = 200;
    snprintf(body, sizeof body, "{\"id\":\"%.64s\"}", id);
  } else if (id && (strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0)) {
    updates++;
    status = 200;
    snprintf(body, sizeof body, "{\"id\":\"%.64s\"}", id);
  } else if (id && strcmp(method, "DELETE") == 0) {
    deletes++;
    status = 204;
    body[0] = '\0';
  }
  in_flight--;
  pthread_mutex_unlock(&mu);
  return reply(c, status, body);
}

static void done(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode why) {
  (void)cls;
  (void)c;
  (void)why;
  free(*ctx);
  *ctx = NULL;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fputs("usage: slowserver PORTFILE [DELAY_MS]\n", stderr);
    return 2;
  }
  if (argc == 3) {
    char *end;
    delay_ms = strtol(argv[2], &end, 10);
    if (*end || delay_ms < 0 || delay_ms > 60000) {
      fprintf(stderr, "slowserver: DELAY_MS must be 0 to 60000, not '%s'\n", argv[2]);
      return 2;
    }
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL); /* the daemon's threads inherit the mask: only sigwait sees them */
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  struct MHD_Daemon *d =
      MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0, NULL, NULL,
                       handle, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED, done, NULL,
                       MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                       MHD_OPTION_END);
  if (!d) {
    fputs("slowserver: cannot start the server\n", stderr);
    return 1;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  unsigned port = info ? info->port : 0;
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
  FILE *f = port ? fopen(tmp, "w") : NULL;
  if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 || rename(tmp, argv[1]) != 0) {
    fprintf(stderr, "slowserver: cannot write the port to %s\n", argv[1]);
    MHD_stop_daemon(d);
    return 1;
  }
  int sig;
  sigwait(&set, &sig);
  MHD_stop_daemon(d);
  return 0;
}
