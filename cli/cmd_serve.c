/* cmd_serve.c - the triggers of pipelines (docs/triggers.md):
 *
 *   idp serve [DIR] [-listen ADDR:PORT] [-rescan DURATION]
 *       webhooks over libmicrohttpd (a thread per connection): the registry's push notifications
 *       on /hooks/registry and CI's requests on /hooks/ci, both only with `Authorization: Bearer
 *       $IDP_WEBHOOK_TOKEN` (decision 12); /healthz and /metrics without it.
 *   idp watch [DIR] [-interval DURATION] [-min-request-interval DURATION] [-once] [-rescan DURATION]
 *       the same by polling each image_push trigger's registry.
 *
 * Both create runs (runtime/runs.h) and have a child `idp pipeline resume RUN DIR` drive each one
 * (its output appended to DIR/.idp/runs/RUN.log). Only the main thread forks, because
 * PR_SET_PDEATHSIG follows the thread that forked, not the process; it also reaps, and every few
 * seconds starts a driver for each runnable run that has none, so approvals given by another
 * process and runs a killed server left behind go on. The run's lock keeps two drivers off one run.
 *
 * What one delivery may start (the keys are idp_run_create's dedupe keys, durable across crashes):
 *   registry  "registry-event:EVENT:PIPELINE": a replayed delivery starts nothing new, ever;
 *   ci        "ci:PIPELINE:DIGEST:N", N the finished runs of the pipeline with that digest: two
 *             requests at once (even to two servers) start one run, and once it has finished a
 *             request for the same digest starts a new one (a retry after a failed deploy);
 *   watch     "watch:PIPELINE:DIGEST:N", N the changes the trigger has seen: a restarted watch
 *             that had not recorded its last change yet starts nothing twice.
 * Besides, no trigger starts a run for a digest that a live (unfinished) run of the same pipeline
 * already carries: the request is answered with that run. */
#include <netinet/in.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "../compiler/util.h"
#include "../runtime/registry.h"
#include "../runtime/runs.h"
#include "cli.h"
#include "pipeline.h"

enum {
  BODY_LIMIT = 1 << 20,    /* bytes of a webhook body kept; a larger one gets 400 */
  DISCARD_LIMIT = 8 << 20, /* bytes read (and dropped) before the connection is closed instead */
  MAX_STATUS = 600,
  MAX_BACKOFF_S = 300,     /* a driver that keeps failing is started again at most this far apart */
  STOP_GRACE_S = 30,       /* drivers get this long after SIGTERM when the server stops */
};

/* The paths /metrics counts requests by. */
enum { P_REGISTRY, P_CI, P_HEALTHZ, P_METRICS, P_OTHER, NPATHS };
static const char *const path_names[NPATHS] = {"/hooks/registry", "/hooks/ci", "/healthz", "/metrics", "other"};

/* One image_push trigger of one pipeline, with its registry's address as deliveries name it. */
typedef struct watched {
  const idp_pipeline_def *def;
  const idp_pl_trigger *t;
  char *scheme;             /* of the integration's url: "http" or "https" */
  char *hostport;           /* "host:port", the port explicit: what an event's registry must be */
} watched;

/* A run and its driver process (main thread only). */
typedef struct driver {
  char *run;
  pid_t pid;                /* 0 while none runs */
  unsigned failures;        /* drivers in a row that did not exit 0 */
  double not_before;        /* monotonic time before which none is started again (backoff) */
} driver;

typedef struct hub {
  const char *cmd;          /* "serve" or "watch": messages */
  const char *dir;          /* the spec directory, absolute (the pipelines') */
  idp_pipelines *pl;
  idp_registry *reg;        /* idp_registry_digest is safe from several threads (no cache) */
  watched *w;
  size_t nw;
  unsigned char token[32];  /* sha256 of IDP_WEBHOOK_TOKEN (serve): compared in constant time */
  double rescan;            /* seconds between two scans of the runs */

  pthread_mutex_t mu;       /* guards run creation, the queue and the counters below */
  char **queue;             /* runs created, not handed to the main thread yet (malloc'd) */
  size_t nqueue;
  int wake[2];              /* a byte in wake[1] wakes the main thread */
  unsigned long requests[NPATHS][MAX_STATUS];
  unsigned long started_registry, started_ci, started_watch, deduplicated, auth_failures, ignored;
  unsigned long drivers_started;
  unsigned drivers_running;

  driver *drv;              /* main thread only */
  size_t ndrv;
  char **skip;              /* runs not to read again: finished, or unreadable (logged once) */
  size_t nskip;
} hub;

/* --- small helpers -------------------------------------------------------------------------- */

static double now_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A log line: `idp CMD: TIME message`, control characters of the message (names from a payload)
 * shown as '?'. Never given a token or a request body. */
static void say(const hub *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const hub *h, const char *fmt, ...) {
  char msg[2048], ts[32];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  for (char *p = msg; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  fprintf(stderr, "idp %s: %s %s\n", h->cmd, ts, msg);
}

static const char *jstr(const json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }

static void sha256(const char *s, size_t n, unsigned char md[32]) { EVP_Digest(s, n, md, NULL, EVP_sha256(), NULL); }

/* "host:port" of url, host lowercased and the port explicit (the scheme's default when the URL
 * names none); malloc'd, or NULL when url is not one. */
static char *url_hostport(const char *url) {
  CURLU *u = curl_url();
  char *host = NULL, *port = NULL, *out = NULL;
  if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
    for (char *p = host; *p; p++) *p = (char)tolower((unsigned char)*p);
    idp_buf b = {0};
    idp_buf_printf(&b, "%s:%s", host, port);
    out = idp_xstrdup(idp_buf_cstr(&b));
    idp_buf_free(&b);
  }
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  return out;
}

static char *url_scheme(const char *url) {
  CURLU *u = curl_url();
  char *s = NULL, *out = NULL;
  if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK && curl_url_get(u, CURLUPART_SCHEME, &s, 0) == CURLUE_OK)
    out = idp_xstrdup(s);
  curl_free(s);
  curl_url_cleanup(u);
  return out;
}

/* hostport of HOST[:PORT] (an event's request.host) read with scheme's default port. */
static char *host_hostport(const char *scheme, const char *host) {
  idp_buf b = {0};
  idp_buf_printf(&b, "%s://%s/", scheme, host);
  char *out = url_hostport(idp_buf_cstr(&b));
  idp_buf_free(&b);
  return out;
}

/* Whether id is a run of pipeline name: "NAME-N". */
static bool run_of(const char *id, const char *name) {
  size_t n = strlen(name);
  if (strncmp(id, name, n) != 0 || id[n] != '-' || !id[n + 1]) return false;
  for (const char *p = id + n + 1; *p; p++)
    if (!isdigit((unsigned char)*p)) return false;
  return true;
}

static bool good_sha256(const char *d) {
  if (strncmp(d, "sha256:", 7) != 0 || strlen(d) != 7 + 64) return false;
  for (const char *p = d + 7; *p; p++)
    if (!isdigit((unsigned char)*p) && !(*p >= 'a' && *p <= 'f')) return false;
  return true;
}

/* The image_push triggers of the spec, each with its registry's address; logs what it listens for
 * and which it leaves out (no registry to match or poll). */
static int watch_list(hub *h) {
  const idp_pipelines *pl = h->pl;
  for (size_t i = 0; i < pl->n; i++)
    for (size_t k = 0; k < pl->v[i].ntriggers; k++) {
      const idp_pl_trigger *t = &pl->v[i].triggers[k];
      if (!t->kind || strcmp(t->kind, "image_push") != 0) continue;
      char *hp = t->registry_url ? url_hostport(t->registry_url) : NULL, *sc = t->registry_url ? url_scheme(t->registry_url) : NULL;
      if (!t->registry || !hp || !sc) { /* valid for `pipeline run -image`, but nothing to match or poll */
        say(h, "warning: %s: pipeline %s: the trigger on %s %s: left out", pl->v[i].where, pl->v[i].name, t->repository,
            !t->registry ? "names no registry" : "has a registry whose url is not a known http(s) URL");
        free(hp);
        free(sc);
        continue;
      }
      h->w = idp_xrealloc(h->w, (h->nw + 1) * sizeof *h->w);
      h->w[h->nw++] = (watched){.def = &pl->v[i], .t = t, .scheme = sc, .hostport = hp};
      say(h, "pipeline %s: image_push of %s:%s on registry %s (%s)", pl->v[i].name, t->repository, t->tag,
          t->registry_name ? t->registry_name : "?", hp);
    }
  if (!h->nw)
    say(h, "no pipeline of %s has an image_push trigger: %s", h->dir,
        strcmp(h->cmd, "serve") == 0 ? "every registry event will be ignored and /hooks/ci has nothing to start"
                                     : "there is nothing to watch");
  return 0;
}

static void hub_free(hub *h) {
  for (size_t i = 0; i < h->nw; i++) {
    free(h->w[i].hostport);
    free(h->w[i].scheme);
  }
  free(h->w);
  for (size_t i = 0; i < h->nqueue; i++) free(h->queue[i]);
  free(h->queue);
  for (size_t i = 0; i < h->ndrv; i++) free(h->drv[i].run);
  free(h->drv);
  for (size_t i = 0; i < h->nskip; i++) free(h->skip[i]);
  free(h->skip);
  idp_registry_free(h->reg);
  idp_pipelines_free(h->pl);
  if (h->wake[0] >= 0) close(h->wake[0]);
  if (h->wake[1] >= 0) close(h->wake[1]);
  pthread_mutex_destroy(&h->mu);
}

/* --- starting runs (any thread) --------------------------------------------------------------- */

/* Among the runs of pipeline carrying image: *live the id of one not finished (malloc'd, NULL when
 * none), *nfinished how many have finished. Unreadable records are passed over. */
static int image_runs(const char *dir, const char *pipeline, const char *image, char **live, unsigned *nfinished,
                      char *err, size_t errsize) {
  char **ids;
  size_t n;
  *live = NULL;
  *nfinished = 0;
  if (idp_run_list(dir, &ids, &n, err, errsize) < 0) return -1;
  for (size_t i = 0; i < n; i++) {
    if (!run_of(ids[i], pipeline)) continue;
    json_t *run;
    char e[512];
    if (idp_run_read(dir, ids[i], &run, e, sizeof e) < 0) continue;
    const char *img = jstr(run, "image"), *st = jstr(run, "status"), *pl = jstr(run, "pipeline");
    if (img && pl && strcmp(pl, pipeline) == 0 && strcmp(img, image) == 0) {
      if (st && idp_run_finished(st)) (*nfinished)++;
      else if (!*live) *live = idp_xstrdup(ids[i]);
    }
    json_decref(run);
  }
  idp_run_free_ids(ids, n);
  return 0;
}

typedef enum { START_NEW, START_DEDUPLICATED, START_FAILED } start_result;

/* Creates a run of def for image, once: when a live run of def carries image, or key was used
 * already, that run is the answer (START_DEDUPLICATED). With gen, ":N" is appended to key, N the
 * finished runs of def with image (a later N when that key names a finished run, as after
 * records were removed). trigger is taken. *id: the run started or answered (malloc'd); why: the
 * reason of a deduplication or the error. A new run is queued for the main thread to drive. */
static start_result start_run(hub *h, const idp_pipeline_def *def, const char *image, json_t *trigger, const char *key,
                              bool gen, unsigned long *started, char **id, char *why, size_t whysize) {
  start_result res = START_FAILED;
  char *live = NULL;
  unsigned nfin = 0;
  *id = NULL;
  why[0] = '\0';
  pthread_mutex_lock(&h->mu);
  if (image_runs(h->dir, def->name, image, &live, &nfin, why, whysize) < 0) goto done;
  if (live) {
    *id = live;
    snprintf(why, whysize, "run %s of this image has not finished", live);
    res = START_DEDUPLICATED;
    goto done;
  }
  const char **stages = idp_xcalloc(def->nstages + 1, sizeof *stages);
  for (size_t i = 0; i < def->nstages; i++) stages[i] = def->stages[i].name;
  for (unsigned attempt = 0; attempt < 1000; attempt++) {
    idp_buf k = {0};
    if (gen) idp_buf_printf(&k, "%s:%u", key, nfin + attempt);
    else idp_buf_puts(&k, key);
    json_incref(trigger);
    int rc = idp_run_create(h->dir, def->name, image, trigger, stages, def->nstages, idp_buf_cstr(&k), id, why, whysize);
    idp_buf_free(&k);
    if (rc == 0) {
      res = START_NEW;
      break;
    }
    if (rc < 0) break;
    json_t *run = NULL;
    char e[512];
    bool finished = gen && idp_run_read(h->dir, *id, &run, e, sizeof e) == 0 && jstr(run, "status") &&
                    idp_run_finished(jstr(run, "status"));
    json_decref(run);
    if (!finished) {
      snprintf(why, whysize, "this delivery started run %s already", *id);
      res = START_DEDUPLICATED;
      break;
    }
    free(*id);
    *id = NULL;
  }
  free(stages);
done:
  if (res == START_NEW) {
    (*started)++;
    h->queue = idp_xrealloc(h->queue, (h->nqueue + 1) * sizeof *h->queue);
    h->queue[h->nqueue++] = idp_xstrdup(*id);
  } else if (res == START_DEDUPLICATED) {
    h->deduplicated++;
  }
  pthread_mutex_unlock(&h->mu);
  json_decref(trigger);
  if (res == START_NEW && write(h->wake[1], "r", 1) < 0 && errno != EAGAIN)
    say(h, "cannot wake the main thread: %s", strerror(errno));
  return res;
}

/* --- drivers (main thread) -------------------------------------------------------------------- */

static driver *drv_find(hub *h, const char *id) {
  for (size_t i = 0; i < h->ndrv; i++)
    if (strcmp(h->drv[i].run, id) == 0) return &h->drv[i];
  return NULL;
}

static bool skipped(const hub *h, const char *id) {
  for (size_t i = 0; i < h->nskip; i++)
    if (strcmp(h->skip[i], id) == 0) return true;
  return false;
}

static void skip_add(hub *h, const char *id) {
  h->skip = idp_xrealloc(h->skip, (h->nskip + 1) * sizeof *h->skip);
  h->skip[h->nskip++] = idp_xstrdup(id);
}

/* Starts `idp pipeline resume ID DIR` for run id unless one runs or its backoff holds it back. */
static void drv_spawn(hub *h, const char *id) {
  driver *d = drv_find(h, id);
  if (!d) {
    h->drv = idp_xrealloc(h->drv, (h->ndrv + 1) * sizeof *h->drv);
    d = &h->drv[h->ndrv++];
    *d = (driver){.run = idp_xstrdup(id)};
  }
  if (d->pid || now_mono() < d->not_before) return;
  idp_buf log = {0};
  idp_buf_printf(&log, "%s/.idp/runs/%s.log", h->dir, id);
  int fd = open(idp_buf_cstr(&log), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    say(h, "run %s: cannot open %s: %s", id, idp_buf_cstr(&log), strerror(errno));
    idp_buf_free(&log);
    d->not_before = now_mono() + h->rescan;
    return;
  }
  char *argv[] = {"idp", "pipeline", "resume", (char *)id, (char *)h->dir, NULL};
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    /* The child: only async-signal-safe calls until exec. It dies with the server. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent) _exit(126);
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigaction(SIGPIPE, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int nul = open("/dev/null", O_RDONLY);
    if (nul > 0) {
      dup2(nul, 0);
      close(nul);
    }
    dup2(fd, 1);
    dup2(fd, 2);
    execv("/proc/self/exe", argv);
    _exit(127);
  }
  close(fd);
  if (pid < 0) {
    say(h, "run %s: cannot start its driver: %s", id, strerror(errno));
    d->not_before = now_mono() + h->rescan;
  } else {
    d->pid = pid;
    pthread_mutex_lock(&h->mu);
    h->drivers_started++;
    h->drivers_running++;
    pthread_mutex_unlock(&h->mu);
    say(h, "run %s: driver started (pid %d; its output goes to %s)", id, (int)pid, idp_buf_cstr(&log));
  }
  idp_buf_free(&log);
}

static void drv_reap(hub *h) {
  int st;
  pid_t pid;
  while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
    driver *d = NULL;
    for (size_t i = 0; i < h->ndrv && !d; i++)
      if (h->drv[i].pid == pid) d = &h->drv[i];
    if (!d) continue;
    d->pid = 0;
    pthread_mutex_lock(&h->mu);
    h->drivers_running--;
    pthread_mutex_unlock(&h->mu);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
      d->failures = 0;
      say(h, "run %s: driver done (pid %d)", d->run, (int)pid);
      continue;
    }
    d->failures++;
    double wait = h->rescan;
    for (unsigned i = 1; i < d->failures && wait < MAX_BACKOFF_S; i++) wait *= 2;
    if (wait > MAX_BACKOFF_S) wait = MAX_BACKOFF_S;
    d->not_before = now_mono() + wait;
    if (WIFEXITED(st))
      say(h, "run %s: driver (pid %d) exited %d: the run failed or could not go on; see %s/.idp/runs/%s.log", d->run,
          (int)pid, WEXITSTATUS(st), h->dir, d->run);
    else
      say(h, "run %s: driver (pid %d) killed by signal %d; see %s/.idp/runs/%s.log", d->run, (int)pid,
          WIFSIGNALED(st) ? WTERMSIG(st) : 0, h->dir, d->run);
  }
}

/* Starts a driver for each runnable run that has none. */
static void drv_scan(hub *h) {
  char **ids;
  size_t n;
  char err[1024];
  if (idp_run_list(h->dir, &ids, &n, err, sizeof err) < 0) {
    say(h, "cannot list the runs: %s", err);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    driver *d = drv_find(h, ids[i]);
    if (skipped(h, ids[i]) || (d && d->pid)) continue;
    json_t *run;
    if (idp_run_read(h->dir, ids[i], &run, err, sizeof err) < 0) {
      say(h, "run %s is left alone: %s", ids[i], err);
      skip_add(h, ids[i]);
      continue;
    }
    const char *st = jstr(run, "status");
    if (st && idp_run_finished(st)) skip_add(h, ids[i]);
    else if (idp_run_runnable(run)) drv_spawn(h, ids[i]);
    json_decref(run);
  }
  idp_run_free_ids(ids, n);
}

/* Drives the runs created since the last call (or, with drop, leaves them to the next server:
 * their records stay pending). */
static void drv_take_queue(hub *h, bool drop) {
  char buf[64];
  while (read(h->wake[0], buf, sizeof buf) > 0) {
  }
  pthread_mutex_lock(&h->mu);
  char **q = h->queue;
  size_t n = h->nqueue;
  h->queue = NULL;
  h->nqueue = 0;
  pthread_mutex_unlock(&h->mu);
  for (size_t i = 0; i < n; i++) {
    if (!drop) drv_spawn(h, q[i]);
    free(q[i]);
  }
  free(q);
}

static size_t drv_running(const hub *h) {
  size_t n = 0;
  for (size_t i = 0; i < h->ndrv; i++) n += h->drv[i].pid != 0;
  return n;
}

/* SIGTERM to every driver; SIGKILL to those still there after STOP_GRACE_S. Their runs go on
 * under the next serve or `idp pipeline resume`. */
static void drv_stop(hub *h) {
  if (!drv_running(h)) return;
  say(h, "stopping %zu driver%s", drv_running(h), drv_running(h) == 1 ? "" : "s");
  for (size_t i = 0; i < h->ndrv; i++)
    if (h->drv[i].pid) kill(h->drv[i].pid, SIGTERM);
  double deadline = now_mono() + STOP_GRACE_S;
  while (drv_running(h) && now_mono() < deadline) {
    drv_reap(h);
    if (drv_running(h)) poll(NULL, 0, 50);
  }
  for (size_t i = 0; i < h->ndrv; i++)
    if (h->drv[i].pid) {
      say(h, "run %s: driver (pid %d) did not stop: killed", h->drv[i].run, (int)h->drv[i].pid);
      kill(h->drv[i].pid, SIGKILL);
      waitpid(h->drv[i].pid, NULL, 0);
      h->drv[i].pid = 0;
    }
}

/* Blocks SIGINT, SIGTERM, SIGHUP and SIGCHLD in this thread (and the threads it starts later) and
 * answers them on a signalfd instead; SIGPIPE ignored. Returns the fd or -1. */
static int signals_take(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGCHLD);
  if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return -1;
  struct sigaction ign = {.sa_handler = SIG_IGN};
  sigaction(SIGPIPE, &ign, NULL);
  return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Reads the pending signals: reaps on SIGCHLD; returns true when asked to stop. */
static bool signals_read(hub *h, int sfd) {
  struct signalfd_siginfo si;
  bool stop = false;
  while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
    if (si.ssi_signo == SIGCHLD) drv_reap(h);
    else {
      say(h, "%s received: stopping", strsignal((int)si.ssi_signo));
      stop = true;
    }
  }
  return stop;
}

/* Waits up to timeout seconds for a signal or a wake-up, handling them. Returns true to stop. */
static bool wait_events(hub *h, int sfd, double timeout) {
  struct pollfd p[2] = {{.fd = sfd, .events = POLLIN}, {.fd = h->wake[0], .events = POLLIN}};
  int ms = timeout <= 0 ? 0 : timeout > 3600 ? 3600000 : (int)(timeout * 1000) + 1;
  if (poll(p, 2, ms) < 0 && errno != EINTR) return false;
  bool stop = p[0].revents ? signals_read(h, sfd) : false;
  if (p[1].revents) drv_take_queue(h, false);
  return stop;
}

static int hub_init(hub *h, const char *cmd) {
  h->cmd = cmd;
  h->wake[0] = h->wake[1] = -1;
  pthread_mutex_init(&h->mu, NULL);
  if (pipe2(h->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
    fprintf(stderr, "idp %s: error: cannot make a pipe: %s\n", cmd, strerror(errno));
    return -1;
  }
  return 0;
}

/* --- the HTTP side (serve) -------------------------------------------------------------------- */

/* One request: what its headers decided, and its body. */
typedef struct req {
  int path;                 /* P_* */
  unsigned early;           /* a status decided from the headers (401, 404, 405, 400, 415), or 0 */
  const char *early_msg;
  idp_buf body;             /* at most BODY_LIMIT bytes */
  size_t seen;              /* body bytes received */
  bool too_big;
} req;

static void count(hub *h, int path, unsigned status) {
  pthread_mutex_lock(&h->mu);
  if (status < MAX_STATUS) h->requests[path][status]++;
  pthread_mutex_unlock(&h->mu);
}

static enum MHD_Result reply(hub *h, struct MHD_Connection *c, int path, unsigned status, const char *ctype, const char *body) {
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", ctype);
  MHD_add_response_header(r, "Cache-Control", "no-store");
  if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"idp\"");
  if (status == 405) MHD_add_response_header(r, "Allow", path == P_REGISTRY || path == P_CI ? "POST" : "GET, HEAD");
  enum MHD_Result ok = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  count(h, path, status);
  return ok;
}

/* Answers the JSON j (taken). */
static enum MHD_Result reply_json(hub *h, struct MHD_Connection *c, int path, unsigned status, json_t *j) {
  char *s = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  idp_buf b = {0};
  idp_buf_puts(&b, s ? s : "{}");
  idp_buf_putc(&b, '\n');
  free(s);
  enum MHD_Result ok = reply(h, c, path, status, "application/json", idp_buf_cstr(&b));
  idp_buf_free(&b);
  return ok;
}

static enum MHD_Result reply_error(hub *h, struct MHD_Connection *c, int path, unsigned status, const char *msg) {
  return reply_json(h, c, path, status, json_pack("{s:s}", "error", msg));
}

/* The peer as ADDR:PORT. */
static void peer(struct MHD_Connection *c, char *out, size_t n) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  const struct sockaddr *sa = ci ? ci->client_addr : NULL;
  char a[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (sa && sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
    inet_ntop(AF_INET, &s4->sin_addr, a, sizeof a);
    port = ntohs(s4->sin_port);
    snprintf(out, n, "%s:%u", a, port);
  } else if (sa && sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
    inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof a);
    port = ntohs(s6->sin6_port);
    snprintf(out, n, "[%s]:%u", a, port);
  } else {
    snprintf(out, n, "?");
  }
}

/* NULL when hdr carries the webhook token as a bearer token, else why not (never the token). */
static const char *check_auth(const hub *h, const char *hdr) {
  if (!hdr) return "no Authorization header";
  if (strncasecmp(hdr, "Bearer ", 7) != 0) return "not a Bearer authorization";
  const char *tok = hdr + 7;
  while (*tok == ' ') tok++;
  unsigned char md[32];
  sha256(tok, strlen(tok), md);
  if (CRYPTO_memcmp(md, h->token, sizeof md) != 0) return "wrong bearer token";
  return NULL;
}

/* The Content-Type a hook takes: JSON, or the registry's events media type; parameters aside. */
static bool json_media_type(const char *ct) {
  if (!ct) return true;
  size_t n = strcspn(ct, "; \t");
  return (n == 16 && strncasecmp(ct, "application/json", n) == 0) ||
         (n == 50 && strncasecmp(ct, "application/vnd.docker.distribution.events.v1+json", n) == 0);
}

static enum MHD_Result metrics(hub *h, struct MHD_Connection *c) {
  idp_buf b = {0};
  pthread_mutex_lock(&h->mu);
  h->requests[P_METRICS][200]++; /* this request, counted before it is shown */
  idp_buf_puts(&b, "# HELP idp_serve_requests_total HTTP requests answered, by path and status.\n"
                   "# TYPE idp_serve_requests_total counter\n");
  for (int p = 0; p < NPATHS; p++)
    for (unsigned s = 0; s < MAX_STATUS; s++)
      if (h->requests[p][s])
        idp_buf_printf(&b, "idp_serve_requests_total{path=\"%s\",code=\"%u\"} %lu\n", path_names[p], s, h->requests[p][s]);
  idp_buf_printf(&b,
                 "# HELP idp_serve_runs_started_total Pipeline runs created, by trigger.\n"
                 "# TYPE idp_serve_runs_started_total counter\n"
                 "idp_serve_runs_started_total{trigger=\"registry\"} %lu\n"
                 "idp_serve_runs_started_total{trigger=\"ci\"} %lu\n"
                 "# HELP idp_serve_deliveries_deduplicated_total Deliveries answered with a run that existed already.\n"
                 "# TYPE idp_serve_deliveries_deduplicated_total counter\n"
                 "idp_serve_deliveries_deduplicated_total %lu\n"
                 "# HELP idp_serve_auth_failures_total Hook requests refused with 401.\n"
                 "# TYPE idp_serve_auth_failures_total counter\n"
                 "idp_serve_auth_failures_total %lu\n"
                 "# HELP idp_serve_events_ignored_total Registry events that started nothing (not a push, no tag, no matching trigger).\n"
                 "# TYPE idp_serve_events_ignored_total counter\n"
                 "idp_serve_events_ignored_total %lu\n"
                 "# HELP idp_serve_drivers_started_total Run drivers (idp pipeline resume) started.\n"
                 "# TYPE idp_serve_drivers_started_total counter\n"
                 "idp_serve_drivers_started_total %lu\n"
                 "# HELP idp_serve_drivers_running Run drivers running now.\n"
                 "# TYPE idp_serve_drivers_running gauge\n"
                 "idp_serve_drivers_running %u\n",
                 h->started_registry, h->started_ci, h->deduplicated, h->auth_failures, h->ignored, h->drivers_started,
                 h->drivers_running);
  pthread_mutex_unlock(&h->mu);
  struct MHD_Response *r = MHD_create_response_from_buffer(b.len, b.data ? b.data : (void *)"", MHD_RESPMEM_MUST_COPY);
  idp_buf_free(&b);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  enum MHD_Result ok = MHD_queue_response(c, 200, r);
  MHD_destroy_response(r);
  return ok;
}

/* --- /hooks/registry -------------------------------------------------------------------------- */

typedef struct tally {
  unsigned started, deduplicated, ignored, failed;
} tally;

/* The newest tag of w's pattern in its repository now (*newest NULL when none matches), or -1
 * with *err (malloc'd). */
static int newest_tag(hub *h, const watched *w, char **newest, char **err) {
  char **tags = NULL;
  size_t n = 0;
  *newest = NULL;
  if (idp_registry_tags(h->reg, w->t->registry, w->t->repository, &tags, &n, err) < 0) return -1;
  const char *best = idp_tag_pick((const char *const *)tags, n, w->t->tag, NULL, NULL);
  if (best) *newest = idp_xstrdup(best);
  for (size_t i = 0; i < n; i++) free(tags[i]);
  free(tags);
  return 0;
}

/* One event of an envelope: a result per matching pipeline (or one "ignored") into results. */
static void registry_event(hub *h, json_t *ev, const char *from, json_t *results, tally *t) {
  json_t *target = json_object_get(ev, "target");
  const char *id = jstr(ev, "id"), *action = jstr(ev, "action"), *repo = jstr(target, "repository"),
             *tag = jstr(target, "tag"), *turl = jstr(target, "url"), *pushed = jstr(target, "digest"),
             *rhost = jstr(json_object_get(ev, "request"), "host");
  char why[1024] = "";
  if (!json_is_object(ev)) snprintf(why, sizeof why, "not an event object");
  else if (!action || strcmp(action, "push") != 0) snprintf(why, sizeof why, "action %s: only pushes start runs", action ? action : "(none)");
  else if (!repo || !*repo) snprintf(why, sizeof why, "no target repository");
  else if (!tag || !*tag) snprintf(why, sizeof why, "no tag: a blob, or a manifest pushed by digest");
  else if (!id || !*id) snprintf(why, sizeof why, "no event id, so a replay could not be told apart");
  bool matched = false;
  char *where = NULL; /* the event's registry, as the last trigger's scheme reads it */
  for (size_t i = 0; !*why && i < h->nw; i++) {
    const watched *w = &h->w[i];
    if (strcmp(w->t->repository, repo) != 0 || !idp_tag_matches(w->t->tag, tag)) continue;
    char *hp = turl ? url_hostport(turl) : NULL;
    if (!hp && rhost) hp = host_hostport(w->scheme, rhost);
    bool same = hp && strcmp(hp, w->hostport) == 0;
    free(where);
    where = hp;
    if (!same) continue;
    matched = true;
    json_t *r = json_pack("{s:s, s:s, s:s, s:s}", "event", id, "pipeline", w->def->name, "repository", repo, "tag", tag);
    char *image = NULL, *err = NULL;
    /* A pipeline ships the newest tag of its pattern, as registry_image() picks it: a late or
     * replayed notification of an older push never takes an environment back. */
    char *newest = NULL;
    if (newest_tag(h, w, &newest, &err) < 0 || (newest && strcmp(newest, tag) != 0)) {
      if (err) {
        t->failed++;
        json_object_set_new(r, "outcome", json_string("failed"));
        json_object_set_new(r, "reason", json_sprintf("cannot list the tags of %s: %s", repo, err));
        say(h, "event %s from %s: pipeline %s: cannot list the tags of %s: %s (answering 503: the registry retries)", id,
            from, w->def->name, repo, err);
      } else {
        t->ignored++;
        pthread_mutex_lock(&h->mu);
        h->ignored++;
        pthread_mutex_unlock(&h->mu);
        json_object_set_new(r, "outcome", json_string("ignored"));
        json_object_set_new(r, "reason", json_sprintf("%s is not the newest tag of %s (%s is): pipelines ship the newest; "
                                                      "'idp pipeline run %s -tag %s' deploys it on purpose",
                                                      tag, w->t->tag, newest, w->def->name, tag));
        say(h, "event %s from %s: pipeline %s: %s:%s ignored: %s is the newest tag of %s", id, from, w->def->name, repo,
            tag, newest, w->t->tag);
      }
      free(err);
      free(newest);
      json_array_append_new(results, r);
      continue;
    }
    free(newest);
    if (idp_registry_digest(h->reg, w->t->registry, repo, tag, &image, &err) < 0) {
      /* 503: the registry delivers the envelope again, and what started meanwhile is deduplicated. */
      t->failed++;
      json_object_set_new(r, "outcome", json_string("failed"));
      json_object_set_new(r, "reason", json_sprintf("cannot read the digest of %s:%s from the registry: %s", repo, tag, err));
      say(h, "event %s from %s: pipeline %s: cannot read the digest of %s:%s: %s (answering 503: the registry retries)",
          id, from, w->def->name, repo, tag, err);
      free(err);
      json_array_append_new(results, r);
      continue;
    }
    const char *digest = strchr(image, '@') + 1;
    json_object_set_new(r, "image", json_string(image));
    if (pushed && strcmp(pushed, digest) != 0) {
      json_object_set_new(r, "note", json_sprintf("the tag moved since this push (%s): the registry's digest is used", pushed));
      say(h, "event %s: %s:%s moved since the push (%s, now %s): using the registry's digest", id, repo, tag, pushed, digest);
    }
    json_t *trig = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kind", "registry", "event", id, "registry",
                             w->t->registry_name ? w->t->registry_name : "", "repository", repo, "tag", tag, "from", from);
    if (pushed) json_object_set_new(trig, "pushed_digest", json_string(pushed));
    idp_buf key = {0};
    idp_buf_printf(&key, "registry-event:%s:%s", id, w->def->name);
    char *run = NULL;
    char reason[1024];
    start_result s = start_run(h, w->def, image, trig, idp_buf_cstr(&key), false, &h->started_registry, &run, reason, sizeof reason);
    idp_buf_free(&key);
    if (s == START_NEW) {
      t->started++;
      json_object_set_new(r, "outcome", json_string("started"));
      json_object_set_new(r, "run", json_string(run));
      say(h, "event %s from %s: %s:%s -> run %s of pipeline %s (%s)", id, from, repo, tag, run, w->def->name, image);
    } else if (s == START_DEDUPLICATED) {
      t->deduplicated++;
      json_object_set_new(r, "outcome", json_string("deduplicated"));
      json_object_set_new(r, "run", json_string(run));
      json_object_set_new(r, "reason", json_string(reason));
      say(h, "event %s from %s: pipeline %s: nothing new started: %s", id, from, w->def->name, reason);
    } else {
      t->failed++;
      json_object_set_new(r, "outcome", json_string("failed"));
      json_object_set_new(r, "reason", json_string(reason));
      say(h, "event %s from %s: pipeline %s: cannot create a run: %s (answering 503: the registry retries)", id, from,
          w->def->name, reason);
    }
    free(run);
    free(image);
    json_array_append_new(results, r);
  }
  if (!*why && !matched)
    snprintf(why, sizeof why, "no image_push trigger matches %s:%s on %s", repo, tag, where ? where : turl ? turl : "this registry");
  free(where);
  if (*why) {
    say(h, "event %s from %s: ignored: %s", id ? id : "(no id)", from, why);
    t->ignored++;
    pthread_mutex_lock(&h->mu);
    h->ignored++;
    pthread_mutex_unlock(&h->mu);
    json_t *r = json_pack("{s:s?, s:s?, s:s?, s:s?, s:s, s:s}", "event", id, "action", action, "repository", repo, "tag", tag,
                          "outcome", "ignored", "reason", why);
    json_array_append_new(results, r ? r : json_object());
  }
}

static enum MHD_Result hook_registry(hub *h, struct MHD_Connection *c, req *q, const char *from) {
  json_error_t je;
  json_t *env = json_loadb(q->body.data ? q->body.data : "", q->body.len, JSON_REJECT_DUPLICATES, &je);
  json_t *events = json_object_get(env, "events");
  if (!env || !json_is_array(events)) {
    char msg[400];
    if (!env) snprintf(msg, sizeof msg, "malformed JSON (line %d, column %d): %s", je.line, je.column, je.text);
    else snprintf(msg, sizeof msg, "not a notification envelope: {\"events\": [...]} expected");
    say(h, "400 POST /hooks/registry from %s: %s", from, env ? msg : "malformed JSON");
    json_decref(env);
    return reply_error(h, c, P_REGISTRY, 400, msg);
  }
  tally t = {0};
  json_t *results = json_array();
  for (size_t i = 0; i < json_array_size(events); i++) registry_event(h, json_array_get(events, i), from, results, &t);
  unsigned status = t.failed ? 503 : 200;
  say(h, "%u POST /hooks/registry from %s: %zu event%s: %u started, %u deduplicated, %u ignored, %u failed", status, from,
      json_array_size(events), json_array_size(events) == 1 ? "" : "s", t.started, t.deduplicated, t.ignored, t.failed);
  json_decref(env);
  return reply_json(h, c, P_REGISTRY, status,
                    json_pack("{s:o, s:I, s:I, s:I, s:I}", "results", results, "started", (json_int_t)t.started,
                              "deduplicated", (json_int_t)t.deduplicated, "ignored", (json_int_t)t.ignored, "failed",
                              (json_int_t)t.failed));
}

/* --- /hooks/ci -------------------------------------------------------------------------------- */

static enum MHD_Result ci_fail(hub *h, struct MHD_Connection *c, const char *from, unsigned status, const char *msg) {
  say(h, "%u POST /hooks/ci from %s: %s", status, from, msg);
  return reply_error(h, c, P_CI, status, msg);
}

/* Whether the first component of name (before a '/') is a registry host, as Docker reads names. */
static bool has_host(const char *name) {
  const char *slash = strchr(name, '/');
  if (!slash) return false;
  size_t n = (size_t)(slash - name);
  return memchr(name, '.', n) || memchr(name, ':', n) || (n == 9 && strncmp(name, "localhost", 9) == 0);
}

static enum MHD_Result hook_ci(hub *h, struct MHD_Connection *c, req *q, const char *from) {
  json_error_t je;
  json_t *body = json_loadb(q->body.data ? q->body.data : "", q->body.len, JSON_REJECT_DUPLICATES, &je);
  char msg[2048];
  enum MHD_Result res;
  const watched *w = NULL;
  char *host = NULL, *repo = NULL, *image = NULL, *err = NULL;
  if (!json_is_object(body)) {
    if (!body) snprintf(msg, sizeof msg, "malformed JSON (line %d, column %d): %s", je.line, je.column, je.text);
    say(h, "400 POST /hooks/ci from %s: %s", from, body ? "not a JSON object" : "malformed JSON");
    res = reply_error(h, c, P_CI, 400, body ? "a JSON object {\"pipeline\": NAME, \"image\": \"REPO@sha256:...\"} expected" : msg);
    goto done;
  }
  const char *name = jstr(body, "pipeline"), *img = jstr(body, "image"), *tag = jstr(body, "tag"),
             *want_repo = jstr(body, "repository");
  json_t *jimg = json_object_get(body, "image"), *jtag = json_object_get(body, "tag");
  if (!name || (jimg && !img) || (jtag && !tag) || (!img == !tag)) {
    res = ci_fail(h, c, from, 400,
                  !name ? "\"pipeline\" (a string) is missing"
                  : img && tag ? "give \"image\" or \"tag\", not both"
                               : "\"image\" (\"REPO@sha256:...\") or \"tag\" (a string) is missing");
    goto done;
  }
  const idp_pipeline_def *def = idp_pipelines_find(h->pl, name);
  if (!def) {
    snprintf(msg, sizeof msg, "no pipeline \"%s\" in %s", name, h->dir);
    res = ci_fail(h, c, from, 404, msg);
    goto done;
  }
  /* The repository (and registry) the request names, and the digest or tag. */
  const char *ref = tag;
  if (img) {
    const char *at = strrchr(img, '@');
    ref = at ? at + 1 : img;
    if (at) {
      const char *name_part = img;
      size_t n = (size_t)(at - img);
      if (has_host(img)) {
        const char *slash = strchr(img, '/');
        host = idp_xmalloc((size_t)(slash - img) + 1);
        memcpy(host, img, (size_t)(slash - img));
        host[slash - img] = '\0';
        name_part = slash + 1;
        n = (size_t)(at - name_part);
      }
      repo = idp_xmalloc(n + 1);
      memcpy(repo, name_part, n);
      repo[n] = '\0';
    }
    if (!good_sha256(ref)) {
      snprintf(msg, sizeof msg, "\"%s\" is not pinned by digest: \"image\" takes REPO@sha256:<64 hex digits> (or give \"tag\")", img);
      res = ci_fail(h, c, from, 422, msg);
      goto done;
    }
  } else if (want_repo) {
    repo = idp_xstrdup(want_repo);
  }
  /* The pipeline's trigger for that repository (decision 12: only its digests are deployed). */
  size_t ntrig = 0, nrepo = 0;
  bool repos_differ = false;
  for (size_t i = 0; i < h->nw; i++) {
    const watched *x = &h->w[i];
    if (x->def != def) continue;
    ntrig++;
    if (repo && strcmp(x->t->repository, repo) != 0) continue;
    if (host) {
      char *hp = host_hostport(x->scheme, host);
      bool same = hp && strcmp(hp, x->hostport) == 0;
      free(hp);
      if (!same) continue;
    }
    nrepo++;
    if (tag && !idp_tag_matches(x->t->tag, tag)) continue;
    if (w && strcmp(w->t->repository, x->t->repository) != 0) repos_differ = true;
    if (!w) w = x;
  }
  if (!ntrig)
    snprintf(msg, sizeof msg, "pipeline %s has no image_push trigger, so no repository to take images from (decision 12)", name);
  else if (!nrepo)
    snprintf(msg, sizeof msg, "%s%s%s is not a repository of pipeline %s's triggers (decision 12: only their images are deployed)",
             host ? host : "", host ? "/" : "", repo, name);
  else if (!w)
    snprintf(msg, sizeof msg, "tag %s does not match the tag pattern of pipeline %s's trigger", tag, name);
  else if (repos_differ && !repo)
    snprintf(msg, sizeof msg, "pipeline %s has triggers on several repositories: name one (\"image\": \"REPO@sha256:...\", or \"repository\")", name);
  if (!ntrig || !nrepo || !w || (repos_differ && !repo)) {
    res = ci_fail(h, c, from, 422, msg);
    goto done;
  }
  int found = idp_registry_digest(h->reg, w->t->registry, w->t->repository, ref, &image, &err);
  if (found < 0) {
    /* A 404 is the answer (not in the repository); anything else is the registry failing. */
    bool missing = found == IDP_REGISTRY_ENOTFOUND;
    if (missing)
      snprintf(msg, sizeof msg, "%s %s is not in repository %s on registry %s (decision 12): %s", img ? "digest" : "tag", ref,
               w->t->repository, w->t->registry_name ? w->t->registry_name : w->hostport, err);
    else
      snprintf(msg, sizeof msg, "cannot check %s %s in %s: %s", img ? "digest" : "tag", ref, w->t->repository, err);
    res = ci_fail(h, c, from, missing ? 422 : 502, msg);
    goto done;
  }
  const char *digest = strchr(image, '@') + 1;
  json_t *trig = json_pack("{s:s, s:s, s:s, s:s}", "kind", "ci", "registry", w->t->registry_name ? w->t->registry_name : "",
                           "repository", w->t->repository, "from", from);
  if (tag) json_object_set_new(trig, "tag", json_string(tag));
  idp_buf key = {0};
  idp_buf_printf(&key, "ci:%s:%s", name, digest);
  char *run = NULL;
  char reason[1024];
  start_result s = start_run(h, def, image, trig, idp_buf_cstr(&key), true, &h->started_ci, &run, reason, sizeof reason);
  idp_buf_free(&key);
  if (s == START_FAILED) {
    snprintf(msg, sizeof msg, "cannot create a run of %s: %s", name, reason);
    res = ci_fail(h, c, from, 500, msg);
  } else {
    bool isnew = s == START_NEW;
    say(h, "%u POST /hooks/ci from %s: pipeline %s, %s: %s run %s%s%s", isnew ? 202 : 200, from, name, image,
        isnew ? "started" : "deduplicated to", run, isnew ? "" : ": ", isnew ? "" : reason);
    json_t *out = json_pack("{s:s, s:s, s:s, s:s}", "outcome", isnew ? "started" : "deduplicated", "run", run, "pipeline", name,
                            "image", image);
    if (!isnew) json_object_set_new(out, "reason", json_string(reason));
    res = reply_json(h, c, P_CI, isnew ? 202 : 200, out);
  }
  free(run);
done:
  json_decref(body);
  free(host);
  free(repo);
  free(image);
  free(err);
  return res;
}

/* --- the request handler ---------------------------------------------------------------------- */

static int classify(const char *url) {
  for (int p = 0; p < P_OTHER; p++)
    if (strcmp(url, path_names[p]) == 0) return p;
  return P_OTHER;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **ctx) {
  hub *h = cls;
  (void)version;
  req *q = *ctx;
  char from[80];
  if (!q) { /* the headers: decide what can be decided before the body */
    q = idp_xcalloc(1, sizeof *q);
    *ctx = q;
    q->path = classify(url);
    bool hook = strncmp(url, "/hooks/", 7) == 0;
    const char *why;
    if (hook && (why = check_auth(h, MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION)))) {
      q->early = 401;
      q->early_msg = "unauthorized: this hook needs Authorization: Bearer <IDP_WEBHOOK_TOKEN>";
      pthread_mutex_lock(&h->mu);
      h->auth_failures++;
      pthread_mutex_unlock(&h->mu);
      peer(c, from, sizeof from);
      say(h, "401 %s %s from %s: %s", method, url, from, why);
    } else if (hook && q->path == P_OTHER) {
      q->early = 404;
      q->early_msg = "no such hook: POST /hooks/registry or /hooks/ci";
    } else if (hook && strcmp(method, "POST") != 0) {
      q->early = 405;
      q->early_msg = "this hook takes POST";
    } else if (hook && !json_media_type(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE))) {
      q->early = 415;
      q->early_msg = "the body must be JSON (application/json, or application/vnd.docker.distribution.events.v1+json)";
    } else if (hook) {
      const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
      if (cl && strtoull(cl, NULL, 10) > BODY_LIMIT) {
        q->early = 400;
        q->early_msg = "the body is larger than 1 MiB";
      }
    } else if (q->path != P_HEALTHZ && q->path != P_METRICS) {
      q->early = 404;
      q->early_msg = "not found: POST /hooks/registry, POST /hooks/ci, GET /healthz, GET /metrics";
    } else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
      q->early = 405;
      q->early_msg = "this path takes GET";
    }
    if (q->early == 400 || q->early == 404 || q->early == 405 || q->early == 415) {
      peer(c, from, sizeof from);
      if (hook) say(h, "%u %s %s from %s: %s", q->early, method, url, from, q->early_msg);
    }
    /* A client waiting for 100 Continue gets the answer instead, and sends no body. */
    const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    if (q->early && expect && strcasecmp(expect, "100-continue") == 0)
      return reply_error(h, c, q->path, q->early, q->early_msg);
    return MHD_YES;
  }
  if (*size) { /* the body: kept up to BODY_LIMIT when it will be read, else dropped */
    q->seen += *size;
    if (!q->early && !q->too_big && q->body.len + *size <= BODY_LIMIT) {
      idp_buf_append(&q->body, data, *size);
    } else if (!q->early && !q->too_big) {
      q->too_big = true;
      idp_buf_free(&q->body);
    }
    *size = 0;
    /* Dropping bytes forever helps no one: close the connection (a refused request: sooner). */
    if (q->seen > (q->early == 401 ? (size_t)BODY_LIMIT : (size_t)DISCARD_LIMIT)) return MHD_NO;
    return MHD_YES;
  }
  if (q->early) return reply_error(h, c, q->path, q->early, q->early_msg);
  if (q->path == P_HEALTHZ) return reply(h, c, P_HEALTHZ, 200, "text/plain; charset=utf-8", "ok\n");
  if (q->path == P_METRICS) return metrics(h, c);
  peer(c, from, sizeof from);
  if (q->too_big) {
    say(h, "400 %s %s from %s: the body is larger than 1 MiB (%zu bytes)", method, url, from, q->seen);
    return reply_error(h, c, q->path, 400, "the body is larger than 1 MiB");
  }
  return q->path == P_REGISTRY ? hook_registry(h, c, q, from) : hook_ci(h, c, q, from);
}

static void on_done(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode why) {
  (void)cls;
  (void)c;
  (void)why;
  req *q = *ctx;
  if (!q) return;
  idp_buf_free(&q->body);
  free(q);
  *ctx = NULL;
}

/* ADDR:PORT or [ADDR6]:PORT (numeric, or a name the resolver knows) into ss. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len) {
  char host[256];
  const char *port;
  if (s[0] == '[') {
    const char *end = strchr(s, ']');
    if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof host) return -1;
    memcpy(host, s + 1, (size_t)(end - s - 1));
    host[end - s - 1] = '\0';
    port = end + 2;
  } else {
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host || colon == s) return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = colon + 1;
  }
  char *end;
  long p = strtol(port, &end, 10);
  if (!*port || *end || p < 0 || p > 65535) return -1;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
  if (getaddrinfo(host, port, &hints, &ai) != 0) return -1;
  memcpy(ss, ai->ai_addr, ai->ai_addrlen);
  *len = ai->ai_addrlen;
  freeaddrinfo(ai);
  return 0;
}

int idp_cmd_serve(int argc, char **argv) {
  const char *listen = "127.0.0.1:8080";
  double rescan = 5;
  const idp_flag flags[] = {{"listen", IDP_FLAG_STRING, &listen}, {"rescan", IDP_FLAG_DURATION, &rescan}};
  char **args;
  size_t nargs;
  if (idp_parse_flags("serve", argc, argv, flags, sizeof flags / sizeof *flags, &args, &nargs) < 0) {
    idp_flags_free(flags, sizeof flags / sizeof *flags, args);
    return IDP_EXIT_USAGE;
  }
  const char *dir = nargs ? args[0] : ".";
  struct sockaddr_storage ss;
  socklen_t sslen;
  int rc = IDP_EXIT_USAGE;
  if (nargs > 1) {
    fprintf(stderr, "idp serve: error: one spec directory at most (got %zu)\nhint: idp serve [DIR] -listen 127.0.0.1:PORT\n", nargs);
    idp_flags_free(flags, sizeof flags / sizeof *flags, args);
    return rc;
  }
  if (parse_listen(listen, &ss, &sslen) < 0) {
    fprintf(stderr, "idp serve: error: bad -listen '%s'\nhint: write ADDRESS:PORT, as 127.0.0.1:8080 or [::1]:8080\n", listen);
    idp_flags_free(flags, sizeof flags / sizeof *flags, args);
    return rc;
  }
  if (rescan < 0.1) rescan = 0.1;
  const char *token = getenv("IDP_WEBHOOK_TOKEN");
  if (!token || !*token) {
    fputs("idp serve: error: IDP_WEBHOOK_TOKEN is not set: the webhooks would accept anyone (decision 12)\n"
          "hint: export IDP_WEBHOOK_TOKEN=$(openssl rand -hex 32), and give the registry and CI the same bearer token\n",
          stderr);
    idp_flags_free(flags, sizeof flags / sizeof *flags, args);
    return IDP_EXIT_ERROR;
  }
  hub h = {0};
  if (hub_init(&h, "serve") < 0) {
    idp_flags_free(flags, sizeof flags / sizeof *flags, args);
    return IDP_EXIT_ERROR;
  }
  h.rescan = rescan;
  sha256(token, strlen(token), h.token);
  if (strlen(token) < 16) say(&h, "warning: IDP_WEBHOOK_TOKEN is short (%zu characters); use 32 random bytes or more", strlen(token));
  unsetenv("IDP_WEBHOOK_TOKEN"); /* the drivers (and what they run) do not get it */
  rc = IDP_EXIT_ERROR;
  struct MHD_Daemon *d = NULL;
  int sfd = -1;
  if (idp_pipelines_load("serve", dir, &h.pl) < 0) goto done;
  h.dir = h.pl->spec_dir;
  h.reg = idp_registry_new(h.dir);
  if (watch_list(&h) < 0) goto done;
  if ((sfd = signals_take()) < 0) {
    fprintf(stderr, "idp serve: error: cannot take the signals: %s\n", strerror(errno));
    goto done;
  }
  unsigned mhd_flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
  if (ss.ss_family == AF_INET6) mhd_flags |= MHD_USE_IPv6;
  errno = 0;
  d = MHD_start_daemon(mhd_flags, 0, NULL, NULL, on_request, &h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                       MHD_OPTION_NOTIFY_COMPLETED, on_done, &h, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                       MHD_OPTION_CONNECTION_LIMIT, (unsigned)128, MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "idp serve: error: cannot listen on %s%s%s\n", listen, errno ? ": " : "", errno ? strerror(errno) : "");
    goto done;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  char shown[300];
  snprintf(shown, sizeof shown, "%.*s:%u", (int)(strrchr(listen, ':') - listen), listen, di ? di->port : 0);
  say(&h, "listening on http://%s (POST /hooks/registry, POST /hooks/ci, GET /healthz, GET /metrics); runs in %s/.idp/runs",
      shown, h.dir);
  drv_scan(&h);
  double next_scan = now_mono() + h.rescan;
  for (;;) {
    if (wait_events(&h, sfd, next_scan - now_mono())) break;
    if (now_mono() >= next_scan) {
      drv_scan(&h);
      next_scan = now_mono() + h.rescan;
    }
  }
  MHD_stop_daemon(d); /* waits for the requests in flight */
  d = NULL;
  drv_take_queue(&h, true); /* none are started now: their records stay pending for the next server */
  drv_stop(&h);
  say(&h, "stopped");
  rc = IDP_EXIT_OK;
done:
  if (d) MHD_stop_daemon(d);
  if (sfd >= 0) close(sfd);
  hub_free(&h);
  idp_flags_free(flags, sizeof flags / sizeof *flags, args);
  return rc;
}

/* --- idp watch ---------------------------------------------------------------------------------- */

/* What watch saw, kept in DIR/.idp/watch.json:
 *   {"kind": "idp-watch", "version": 1, "triggers": {"PIPELINE|URL|REPOSITORY|GLOB":
 *     {"image": "HOST/REPO@sha256:..." or null, "tag", "changes": N, "seen": RFC 3339}}} */
#define WATCH_KIND "idp-watch"

static char *seen_key(const watched *w) {
  idp_buf b = {0};
  idp_buf_printf(&b, "%s|%s|%s|%s", w->def->name, w->t->registry_url, w->t->repository, w->t->tag);
  char *s = idp_xstrdup(idp_buf_cstr(&b));
  idp_buf_free(&b);
  return s;
}

static int seen_load(const char *path, json_t **out) {
  json_error_t je;
  struct stat st;
  if (stat(path, &st) < 0 && errno == ENOENT) {
    *out = json_pack("{s:s, s:i, s:{}}", "kind", WATCH_KIND, "version", 1, "triggers");
    return 0;
  }
  json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  if (!j) {
    fprintf(stderr, "idp watch: error: %s:%d:%d: %s\nhint: fix or remove the file (watch then records what it sees without starting runs)\n",
            path, je.line, je.column, je.text);
    return -1;
  }
  json_t *v = json_object_get(j, "version");
  if (!json_is_object(j) || !jstr(j, "kind") || strcmp(jstr(j, "kind"), WATCH_KIND) != 0 || !json_is_integer(v) ||
      !json_is_object(json_object_get(j, "triggers"))) {
    fprintf(stderr, "idp watch: error: %s is not what idp watch writes; left alone\n", path);
    json_decref(j);
    return -1;
  }
  if (json_integer_value(v) > 1) {
    fprintf(stderr, "idp watch: error: %s is of a newer version (%lld) than this idp reads (1)\n", path, (long long)json_integer_value(v));
    json_decref(j);
    return -1;
  }
  *out = j;
  return 0;
}

static int seen_save(hub *h, const char *path, json_t *seen) {
  int rc = idp_replace_json(path, seen, JSON_INDENT(2) | JSON_SORT_KEYS, 0600);
  if (rc < 0) say(h, "cannot write %s: %s", path, strerror(errno));
  return rc;
}

/* One poll of trigger w: its newest matching tag's digest against what was seen. Returns 0, or
 * -1 when the registry could not be read or a run not created (the next poll tries again). */
static int watch_poll(hub *h, const watched *w, json_t *seen, const char *seen_path) {
  const char *rname = w->t->registry_name ? w->t->registry_name : w->hostport;
  char **tags = NULL, *err = NULL, *image = NULL;
  size_t ntags = 0;
  int rc = idp_registry_tags(h->reg, w->t->registry, w->t->repository, &tags, &ntags, &err);
  if (rc < 0) {
    say(h, "pipeline %s: cannot list the tags of %s on registry %s: %s", w->def->name, w->t->repository, rname, err);
    free(err);
    return -1;
  }
  const char *tag = idp_tag_pick((const char *const *)tags, ntags, w->t->tag, NULL, NULL);
  if (tag && idp_registry_digest(h->reg, w->t->registry, w->t->repository, tag, &image, &err) < 0) {
    say(h, "pipeline %s: cannot read the digest of %s:%s on registry %s: %s", w->def->name, w->t->repository, tag, rname, err);
    free(err);
    for (size_t i = 0; i < ntags; i++) free(tags[i]);
    free(tags);
    return -1;
  }
  char *key = seen_key(w);
  json_t *triggers = json_object_get(seen, "triggers"), *prev = json_object_get(triggers, key);
  const char *prev_image = jstr(prev, "image");
  json_int_t changes = json_integer_value(json_object_get(prev, "changes"));
  char now[32];
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
  bool record = false;
  rc = 0;
  if (!json_is_object(prev)) {
    say(h, "pipeline %s: first look at %s:%s on registry %s: %s%s%s (recorded; a run starts when it changes)", w->def->name,
        w->t->repository, w->t->tag, rname, image ? image : "no matching tag", tag ? " from tag " : "", tag ? tag : "");
    record = true;
  } else if (!image && prev_image) {
    say(h, "pipeline %s: no tag of %s matches %s any more (recorded)", w->def->name, w->t->repository, w->t->tag);
    record = true;
  } else if (image && (!prev_image || strcmp(prev_image, image) != 0)) {
    changes++;
    json_t *trig = json_pack("{s:s, s:s, s:s, s:s}", "kind", "watch", "registry", w->t->registry_name ? w->t->registry_name : "",
                             "repository", w->t->repository, "tag", tag);
    json_object_set_new(trig, "previous", prev_image ? json_string(prev_image) : json_null());
    idp_buf k = {0};
    idp_buf_printf(&k, "watch:%s:%s:%lld", w->def->name, strchr(image, '@') + 1, (long long)changes);
    char *run = NULL;
    char reason[1024];
    start_result s = start_run(h, w->def, image, trig, idp_buf_cstr(&k), false, &h->started_watch, &run, reason, sizeof reason);
    idp_buf_free(&k);
    if (s == START_NEW)
      say(h, "pipeline %s: %s:%s is now %s -> run %s", w->def->name, w->t->repository, tag, image, run);
    else if (s == START_DEDUPLICATED)
      say(h, "pipeline %s: %s:%s is now %s: nothing new started: %s", w->def->name, w->t->repository, tag, image, reason);
    else {
      say(h, "pipeline %s: %s:%s is now %s, but no run could be created: %s", w->def->name, w->t->repository, tag, image, reason);
      rc = -1;
    }
    record = s != START_FAILED;
    free(run);
  }
  if (record) {
    json_t *e = json_pack("{s:o, s:o, s:I, s:s}", "image", image ? json_string(image) : json_null(), "tag",
                          tag ? json_string(tag) : json_null(), "changes", changes, "seen", now);
    json_object_set_new(triggers, key, e);
    if (seen_save(h, seen_path, seen) < 0) rc = -1;
  }
  free(key);
  free(image);
  for (size_t i = 0; i < ntags; i++) free(tags[i]);
  free(tags);
  return rc;
}

int idp_cmd_watch(int argc, char **argv) {
  double interval = 30, min_interval = 1, rescan = 5;
  bool once = false;
  const idp_flag flags[] = {{"interval", IDP_FLAG_DURATION, &interval},
                            {"min-request-interval", IDP_FLAG_DURATION, &min_interval},
                            {"once", IDP_FLAG_BOOL, &once},
                            {"rescan", IDP_FLAG_DURATION, &rescan}};
  const size_t nflags = sizeof flags / sizeof *flags;
  char **args;
  size_t nargs;
  if (idp_parse_flags("watch", argc, argv, flags, nflags, &args, &nargs) < 0) {
    idp_flags_free(flags, nflags, args);
    return IDP_EXIT_USAGE;
  }
  if (nargs > 1) {
    fprintf(stderr, "idp watch: error: one spec directory at most (got %zu)\nhint: idp watch [DIR] [-interval 30s]\n", nargs);
    idp_flags_free(flags, nflags, args);
    return IDP_EXIT_USAGE;
  }
  if (interval < 1) {
    fprintf(stderr, "idp watch: error: -interval must be 1s or more\n");
    idp_flags_free(flags, nflags, args);
    return IDP_EXIT_USAGE;
  }
  if (rescan < 0.1) rescan = 0.1;
  hub h = {0};
  if (hub_init(&h, "watch") < 0) {
    idp_flags_free(flags, nflags, args);
    return IDP_EXIT_ERROR;
  }
  h.rescan = rescan;
  int rc = IDP_EXIT_ERROR, sfd = -1, lockfd = -1;
  json_t *seen = NULL;
  idp_buf path = {0}, lock = {0};
  if (idp_pipelines_load("watch", nargs ? args[0] : ".", &h.pl) < 0) goto done;
  h.dir = h.pl->spec_dir;
  h.reg = idp_registry_new(h.dir);
  idp_registry_set_min_interval(h.reg, min_interval);
  idp_buf_printf(&path, "%s/.idp", h.dir);
  if (mkdir(idp_buf_cstr(&path), 0700) < 0 && errno != EEXIST) {
    fprintf(stderr, "idp watch: error: cannot create %s: %s\n", idp_buf_cstr(&path), strerror(errno));
    goto done;
  }
  idp_buf_printf(&lock, "%s/watch.lock", idp_buf_cstr(&path));
  idp_buf_puts(&path, "/watch.json");
  lockfd = open(idp_buf_cstr(&lock), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
    fprintf(stderr, "idp watch: error: %s: %s\n", idp_buf_cstr(&lock),
            lockfd >= 0 && errno == EWOULDBLOCK ? "another idp watch is watching this spec directory" : strerror(errno));
    goto done;
  }
  if (seen_load(idp_buf_cstr(&path), &seen) < 0) goto done;
  if (watch_list(&h) < 0) goto done;
  if ((sfd = signals_take()) < 0) {
    fprintf(stderr, "idp watch: error: cannot take the signals: %s\n", strerror(errno));
    goto done;
  }
  bool failed = false, stop = false;
  double next_poll = now_mono(), next_scan = now_mono();
  while (!stop) {
    if (now_mono() >= next_poll) {
      for (size_t i = 0; i < h.nw && !stop; i++) {
        if (watch_poll(&h, &h.w[i], seen, idp_buf_cstr(&path)) < 0) failed = true;
        stop = wait_events(&h, sfd, 0);
      }
      next_poll = now_mono() + interval;
    }
    if (stop) break;
    if (now_mono() >= next_scan) {
      drv_scan(&h);
      next_scan = now_mono() + h.rescan;
    }
    if (once) {
      /* The runs started (and any other runnable one) are driven as far as they go now. */
      drv_take_queue(&h, false);
      while (!stop && drv_running(&h)) stop = wait_events(&h, sfd, 1);
      break;
    }
    double wake = next_poll < next_scan ? next_poll : next_scan;
    stop = wait_events(&h, sfd, wake - now_mono());
  }
  drv_take_queue(&h, true);
  drv_stop(&h);
  if (!once) say(&h, "stopped");
  rc = failed && once ? IDP_EXIT_ERROR : IDP_EXIT_OK;
done:
  if (sfd >= 0) close(sfd);
  if (lockfd >= 0) close(lockfd);
  json_decref(seen);
  idp_buf_free(&path);
  idp_buf_free(&lock);
  hub_free(&h);
  idp_flags_free(flags, nflags, args);
  return rc;
}
