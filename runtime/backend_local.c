/* backend_local.c - states as files under SPEC_DIR/.idp/state/: ENV.json per environment,
 * _shared.json for top-level resources (env names start with a letter, so they cannot clash),
 * each with a lock file beside it (ENV.lock) held with flock for the whole run.
 *
 * Writes go to a temp file in the same directory (.ENV.json.tmp-XXXXXX), are fsync'd, renamed
 * over the state and the directory fsync'd: a crash leaves the old state or the new one. Before
 * writing, the file on disk is checked to be the one read (same inode, size and mtime, or else
 * re-read: same lineage and serial); a file idp refuses to read is never replaced. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../compiler/util.h"
#include "backend.h"

static const char shared_name[] = "_shared";

/* What the backend knows of one state. */
typedef struct entry {
  char *name;         /* env name, or "_shared" */
  int lock_fd;        /* open lock file while locked, else -1 */
  bool seen;          /* the file was read or written by us: id below is valid */
  bool absent;        /* ... and it did not exist then */
  dev_t dev;          /* identity of the file as last read or written */
  ino_t ino;
  off_t size;
  struct timespec mtime;
} entry;

struct idp_backend {
  char *dir;          /* the spec directory, as given (no trailing '/') */
  entry *v;           /* owned */
  size_t n, cap;
};

idp_backend *idp_backend_local(const char *dir) {
  idp_backend *b = idp_xcalloc(1, sizeof *b);
  size_t n = strlen(dir && *dir ? dir : ".");
  b->dir = idp_xstrdup(dir && *dir ? dir : ".");
  while (n > 1 && b->dir[n - 1] == '/') b->dir[--n] = '\0';
  return b;
}

void idp_backend_free(idp_backend *b) {
  if (!b) return;
  for (size_t i = 0; i < b->n; i++) {
    if (b->v[i].lock_fd >= 0) idp_backend_unlock(b, strcmp(b->v[i].name, shared_name) == 0 ? NULL : b->v[i].name);
  }
  for (size_t i = 0; i < b->n; i++) free(b->v[i].name);
  free(b->v);
  free(b->dir);
  free(b);
}

static const char *state_name(const char *env) { return env ? env : shared_name; }

static entry *find_entry(const idp_backend *b, const char *env) {
  for (size_t i = 0; i < b->n; i++)
    if (strcmp(b->v[i].name, state_name(env)) == 0) return &b->v[i];
  return NULL;
}

static entry *get_entry(idp_backend *b, const char *env) {
  entry *e = find_entry(b, env);
  if (e) return e;
  if (b->n == b->cap) {
    b->cap = b->cap ? b->cap * 2 : 8;
    b->v = idp_xrealloc(b->v, b->cap * sizeof *b->v);
  }
  e = &b->v[b->n++];
  memset(e, 0, sizeof *e);
  e->name = idp_xstrdup(state_name(env));
  e->lock_fd = -1;
  return e;
}

/* DIR/.idp/state[/NAME SUFFIX]; "." as DIR is left out, so messages show .idp/state/dev.json. */
static char *make_path(const idp_backend *b, const char *name, const char *suffix) {
  idp_buf p = {0};
  if (strcmp(b->dir, ".") != 0) idp_buf_printf(&p, "%s%s", b->dir, strcmp(b->dir, "/") == 0 ? "" : "/");
  idp_buf_puts(&p, ".idp/state");
  if (name) idp_buf_printf(&p, "/%s%s", name, suffix);
  return p.data;
}

char *idp_backend_path(const idp_backend *b, const char *env) { return make_path(b, state_name(env), ".json"); }

static const char *what(const char *env, char *buf, size_t n) {
  if (env) snprintf(buf, n, "the state of environment %s", env);
  else snprintf(buf, n, "the shared state (top-level resources)");
  return buf;
}

/* Makes DIR/.idp and DIR/.idp/state, mode 0700. */
static int make_dirs(const idp_backend *b, idp_state_error *err) {
  char *state_dir = make_path(b, NULL, "");
  char *idp_dir = idp_xstrdup(state_dir);
  idp_dir[strlen(idp_dir) - strlen("/state")] = '\0';
  int rc = 0;
  const char *dirs[2] = {idp_dir, state_dir};
  for (int i = 0; i < 2 && rc == 0; i++)
    if (mkdir(dirs[i], 0700) < 0 && errno != EEXIST)
      rc = idp_state_fail(err, IDP_STATE_ERROR, "cannot create %s: %s", dirs[i], strerror(errno));
  free(idp_dir);
  free(state_dir);
  return rc;
}

/* --- locks ---------------------------------------------------------------------------------------- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Who holds the lock, from its lock file: "pid N on host H since T (COMMAND)". */
static void holder_of(const char *lock_path, char *out, size_t n) {
  snprintf(out, n, "another process");
  int fd = open(lock_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[512];
  ssize_t got = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (got <= 0) return;
  buf[got] = '\0';
  char *nl = strchr(buf, '\n');
  if (nl) *nl = '\0';
  for (char *p = buf; *p; p++)
    if ((unsigned char)*p < 0x20) *p = ' ';
  snprintf(out, n, "%s", buf);
}

bool idp_backend_locked(const idp_backend *b, const char *env) {
  entry *e = find_entry(b, env);
  return e && e->lock_fd >= 0;
}

int idp_backend_lock(idp_backend *b, const char *env, double timeout_s, const char *command, idp_state_error *err) {
  char wbuf[128];
  if (env && !idp_state_env_name_ok(env))
    return idp_state_fail(err, IDP_STATE_EINVALID, "'%s' is not an environment name ([a-z][a-z0-9-]{0,29})", env);
  entry *e = get_entry(b, env);
  if (e->lock_fd >= 0) return 0;
  int rc = make_dirs(b, err);
  if (rc < 0) return rc;
  char *path = make_path(b, state_name(env), ".lock");
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    rc = idp_state_fail(err, IDP_STATE_ERROR, "cannot open the lock file %s: %s", path, strerror(errno));
    goto done;
  }
  double start = now_s();
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) break;
    if (errno != EWOULDBLOCK && errno != EINTR) {
      rc = idp_state_fail(err, IDP_STATE_ERROR, "cannot lock %s: %s", path, strerror(errno));
      goto done;
    }
    double waited = now_s() - start;
    if (waited >= timeout_s) {
      char holder[600];
      holder_of(path, holder, sizeof holder);
      char waitmsg[64] = "";
      if (timeout_s > 0) snprintf(waitmsg, sizeof waitmsg, " (waited %.0fs)", waited);
      rc = idp_state_fail(err, IDP_STATE_ELOCKED,
                          "%s is locked by %s%s\n"
                          "hint: lock file %s; wait for that run to end, or give -lock-timeout=DURATION "
                          "(e.g. -lock-timeout=5m) to wait for it",
                          what(env, wbuf, sizeof wbuf), holder, waitmsg, path);
      goto done;
    }
    struct timespec pause = {0, 50 * 1000 * 1000};
    double left = timeout_s - waited;
    if (left < 0.05) pause.tv_nsec = (long)(left * 1e9) + 1;
    nanosleep(&pause, NULL);
  }
  /* Record the holder for whoever finds the lock taken. */
  char host[256] = "?";
  gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  time_t t = time(NULL);
  struct tm tm;
  char when[32] = "?";
  if (gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  char info[700];
  int len = snprintf(info, sizeof info, "pid %ld on host %s since %s (%s)\n", (long)getpid(), host, when,
                     command && *command ? command : "idp");
  if (len >= (int)sizeof info) len = (int)sizeof info - 1;
  if (ftruncate(fd, 0) < 0 || pwrite(fd, info, (size_t)len, 0) < 0) {
    /* The lock is ours all the same; only the message for others is lost. */
  }
  e->lock_fd = fd;
  fd = -1;
done:
  if (fd >= 0) close(fd);
  free(path);
  return rc;
}

void idp_backend_unlock(idp_backend *b, const char *env) {
  entry *e = find_entry(b, env);
  if (!e || e->lock_fd < 0) return;
  if (ftruncate(e->lock_fd, 0) < 0) {
    /* stale holder text is harmless: nobody is told about it while the lock is free */
  }
  flock(e->lock_fd, LOCK_UN);
  close(e->lock_fd);
  e->lock_fd = -1;
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

int idp_backend_lock_all(idp_backend *b, bool shared, const char *const *envs, size_t n, double timeout_s,
                         const char *command, idp_state_error *err) {
  int rc = 0;
  const char **v = idp_xmalloc((n + 1) * sizeof *v);
  bool *taken = idp_xcalloc(n + 1, sizeof *taken);
  memcpy(v, envs, n * sizeof *v);
  qsort(v, n, sizeof *v, cmp_cstr);
  bool shared_taken = false;
  if (shared) {
    shared_taken = !idp_backend_locked(b, NULL);
    if ((rc = idp_backend_lock(b, NULL, timeout_s, command, err)) < 0) {
      shared_taken = false;
      goto done;
    }
  }
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && strcmp(v[i], v[i - 1]) == 0) continue;
    taken[i] = !idp_backend_locked(b, v[i]);
    if ((rc = idp_backend_lock(b, v[i], timeout_s, command, err)) < 0) {
      taken[i] = false;
      break;
    }
  }
done:
  if (rc < 0) {
    for (size_t i = 0; i < n; i++)
      if (taken[i]) idp_backend_unlock(b, v[i]);
    if (shared_taken) idp_backend_unlock(b, NULL);
  }
  free(taken);
  free(v);
  return rc;
}

/* --- reading and writing -------------------------------------------------------------------------- */

static void remember(entry *e, const struct stat *sb) {
  e->seen = true;
  e->absent = sb == NULL;
  if (sb) {
    e->dev = sb->st_dev;
    e->ino = sb->st_ino;
    e->size = sb->st_size;
    e->mtime = sb->st_mtim;
  }
}

static bool same_file(const entry *e, const struct stat *sb) {
  return e->seen && !e->absent && e->dev == sb->st_dev && e->ino == sb->st_ino && e->size == sb->st_size &&
         e->mtime.tv_sec == sb->st_mtim.tv_sec && e->mtime.tv_nsec == sb->st_mtim.tv_nsec;
}

/* Reads and parses path. *out NULL (rc 0) when the file does not exist; *sb gets its identity. */
static int load(const char *path, const char *env, idp_state **out, struct stat *sb, bool *exists,
                idp_state_error *err) {
  int rc = 0;
  char *text = NULL;
  *out = NULL;
  *exists = false;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return 0;
    return idp_state_fail(err, IDP_STATE_ERROR, "cannot read %s: %s", path, strerror(errno));
  }
  *exists = true;
  if (fstat(fd, sb) < 0 || !S_ISREG(sb->st_mode)) {
    rc = idp_state_fail(err, IDP_STATE_EREFUSED, "%s: not a regular file", path);
    goto done;
  }
  size_t len = (size_t)sb->st_size, got = 0;
  text = idp_xmalloc(len + 1);
  while (got < len) {
    ssize_t r = read(fd, text + got, len - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = idp_state_fail(err, IDP_STATE_ERROR, "cannot read %s: %s", path, strerror(errno));
      goto done;
    }
    if (r == 0) break;
    got += (size_t)r;
  }
  if ((rc = idp_state_parse(out, text, got, path, err)) < 0) goto done;
  const char *fenv = idp_state_env(*out);
  if ((fenv == NULL) != (env == NULL) || (env && strcmp(fenv, env) != 0)) {
    rc = idp_state_fail(err, IDP_STATE_EREFUSED, "%s: the file holds the state of %s%s, not of %s%s", path,
                        fenv ? "environment " : "", fenv ? fenv : "the shared resources", env ? "environment " : "",
                        env ? env : "the shared resources");
    idp_state_free(*out);
    *out = NULL;
  }
done:
  free(text);
  close(fd);
  return rc;
}

int idp_backend_read(idp_backend *b, const char *env, const idp_state_key *key, idp_state **out,
                     idp_state_error *err) {
  *out = NULL;
  if (env && !idp_state_env_name_ok(env))
    return idp_state_fail(err, IDP_STATE_EINVALID, "'%s' is not an environment name ([a-z][a-z0-9-]{0,29})", env);
  char *path = idp_backend_path(b, env);
  struct stat sb;
  bool exists;
  idp_state *st = NULL;
  int rc = load(path, env, &st, &sb, &exists, err);
  entry *e = get_entry(b, env);
  if (rc < 0) {
    e->seen = false; /* whatever is there, a write re-checks it (and refuses it) */
    goto done;
  }
  if (!exists) {
    st = idp_state_new(env, NULL);
    remember(e, NULL);
  } else {
    remember(e, &sb);
  }
  idp_state_set_key(st, key);
  *out = st;
done:
  free(path);
  return rc;
}

/* One state to read for idp_backend_read_many: a worker thread loads (reads and parses) it. */
typedef struct read_job {
  const char *env;
  char *path;
  idp_state *st;
  struct stat sb;
  bool exists;
  idp_state_error err;
  int rc;
} read_job;

typedef struct read_pool {
  read_job *v;
  size_t n, next;
  pthread_mutex_t mu;
} read_pool;

static void *read_worker(void *arg) {
  read_pool *p = arg;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    size_t i = p->next < p->n ? p->next++ : p->n;
    pthread_mutex_unlock(&p->mu);
    if (i == p->n) return NULL;
    read_job *j = &p->v[i];
    j->rc = load(j->path, j->env, &j->st, &j->sb, &j->exists, &j->err);
  }
}

int idp_backend_read_many(idp_backend *b, const char *const *envs, size_t n, const idp_state_key *key,
                          idp_state **out, idp_state_error *err) {
  for (size_t i = 0; i < n; i++) {
    out[i] = NULL;
    if (envs[i] && !idp_state_env_name_ok(envs[i]))
      return idp_state_fail(err, IDP_STATE_EINVALID, "'%s' is not an environment name ([a-z][a-z0-9-]{0,29})", envs[i]);
  }
  read_pool p = {.v = idp_xcalloc(n + 1, sizeof *p.v), .n = n};
  for (size_t i = 0; i < n; i++) p.v[i] = (read_job){.env = envs[i], .path = idp_backend_path(b, envs[i])};
  /* parsing is most of it, and a state file is parsed on its own: one thread per core */
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  size_t nt = cores > 1 ? (size_t)cores : 1;
  if (nt > n) nt = n;
  pthread_t *t = idp_xcalloc(nt + 1, sizeof *t);
  size_t started = 0;
  pthread_mutex_init(&p.mu, NULL);
  for (size_t i = 1; i < nt; i++)
    if (pthread_create(&t[i], NULL, read_worker, &p) == 0) started++;
  read_worker(&p); /* this thread reads too */
  for (size_t i = 1; i <= started; i++) pthread_join(t[i], NULL);
  pthread_mutex_destroy(&p.mu);
  free(t);
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    read_job *j = &p.v[i];
    entry *e = get_entry(b, j->env);
    if (j->rc < 0 || rc < 0) {
      if (j->rc < 0 && rc == 0) {
        rc = j->rc;
        if (err) *err = j->err;
      }
      e->seen = false;
      idp_state_free(j->st);
    } else {
      if (!j->exists) j->st = idp_state_new(j->env, NULL);
      remember(e, j->exists ? &j->sb : NULL);
      idp_state_set_key(j->st, key);
      out[i] = j->st;
    }
    free(j->path);
  }
  if (rc < 0)
    for (size_t i = 0; i < n; i++) {
      idp_state_free(out[i]);
      out[i] = NULL;
    }
  free(p.v);
  return rc;
}

/* Makes sure the file at path is the one st was read from (or is still absent). */
static int check_current(idp_backend *b, entry *e, const char *path, const idp_state *st, idp_state_error *err) {
  struct stat sb;
  if (stat(path, &sb) == 0 && same_file(e, &sb)) return 0;
  idp_state *cur = NULL;
  bool exists;
  idp_state_error lerr = {0};
  int rc = load(path, idp_state_env(st), &cur, &sb, &exists, &lerr);
  (void)b;
  if (rc == IDP_STATE_EREFUSED) {
    rc = idp_state_fail(err, rc, "refusing to overwrite a state file idp cannot read:\n%s", lerr.msg);
  } else if (rc < 0) {
    rc = idp_state_fail(err, rc, "%s", lerr.msg);
  } else if (!exists && idp_state_lineage(st)) {
    rc = idp_state_fail(err, IDP_STATE_ESTALE, "%s was removed since it was read: not writing it back", path);
  } else if (exists && !idp_state_lineage(st)) {
    rc = idp_state_fail(err, IDP_STATE_ESTALE, "%s was created by another run since this one found none: not overwriting it",
                        path);
  } else if (exists && (strcmp(idp_state_lineage(cur), idp_state_lineage(st)) != 0 ||
                        idp_state_serial(cur) != idp_state_serial(st))) {
    rc = idp_state_fail(err, IDP_STATE_ESTALE,
                        "%s changed since it was read (lineage %s serial %lld on disk, %s serial %lld read): "
                        "not overwriting it",
                        path, idp_state_lineage(cur), idp_state_serial(cur), idp_state_lineage(st), idp_state_serial(st));
  }
  idp_state_free(cur);
  return rc;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int idp_backend_write(idp_backend *b, idp_state *st, bool *written, idp_state_error *err) {
  int rc = 0, fd = -1, dfd = -1;
  const char *env = idp_state_env(st);
  char *path = idp_backend_path(b, env), *tmp = NULL, *dir = NULL, *text = NULL;
  char *old_lineage = idp_state_lineage(st) ? idp_xstrdup(idp_state_lineage(st)) : NULL;
  long long old_serial = idp_state_serial(st);
  bool begun = false;
  char wbuf[128];
  if (written) *written = false;
  if (!idp_state_dirty(st)) goto done;
  entry *e = find_entry(b, env);
  if (!e || e->lock_fd < 0) {
    rc = idp_state_fail(err, IDP_STATE_EINVALID, "internal error: writing %s without holding its lock",
                        what(env, wbuf, sizeof wbuf));
    goto done;
  }
  if ((rc = make_dirs(b, err)) < 0) goto done;
  if ((rc = check_current(b, e, path, st, err)) < 0) goto done;
  if ((rc = idp_state_begin_write(st, err)) < 0) goto done;
  begun = true;
  text = idp_state_dump(st);
  if (!text) {
    rc = idp_state_fail(err, IDP_STATE_ERROR, "cannot encode %s as JSON", path);
    goto done;
  }
  dir = make_path(b, NULL, "");
  idp_buf t = {0};
  idp_buf_printf(&t, "%s/.%s.json.tmp-XXXXXX", dir, state_name(env));
  tmp = t.data;
  fd = mkstemp(tmp); /* mode 0600 */
  if (fd < 0) {
    rc = idp_state_fail(err, IDP_STATE_ERROR, "cannot create a temporary file in %s: %s", dir, strerror(errno));
    free(tmp);
    tmp = NULL;
    goto done;
  }
  if (fchmod(fd, 0600) < 0 || write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0) {
    rc = idp_state_fail(err, IDP_STATE_ERROR, "cannot write %s: %s", tmp, strerror(errno));
    goto done;
  }
  if (close(fd) < 0) {
    fd = -1;
    rc = idp_state_fail(err, IDP_STATE_ERROR, "cannot write %s: %s", tmp, strerror(errno));
    goto done;
  }
  fd = -1;
  if (rename(tmp, path) < 0) {
    rc = idp_state_fail(err, IDP_STATE_ERROR, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    goto done;
  }
  free(tmp);
  tmp = NULL;
  /* The rename is durable once the directory is. */
  dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || fsync(dfd) < 0) {
    rc = idp_state_fail(err, IDP_STATE_ERROR, "cannot sync the directory %s: %s", dir, strerror(errno));
    goto done;
  }
  struct stat sb;
  if (stat(path, &sb) == 0) remember(e, &sb);
  else e->seen = false;
  idp_state_written(st);
  begun = false;
  if (written) *written = true;
done:
  if (fd >= 0) close(fd);
  if (dfd >= 0) close(dfd);
  if (tmp) {
    unlink(tmp);
    free(tmp);
  }
  if (begun && rc < 0) { /* put the serial (and lineage) back: nothing was written */
    idp_state_rollback(st, old_lineage, old_serial);
  }
  free(old_lineage);
  free(text);
  free(dir);
  free(path);
  return rc;
}

/* --- listing -------------------------------------------------------------------------------------- */

int idp_backend_list(idp_backend *b, bool *shared, char ***envs, size_t *n, idp_state_error *err) {
  *shared = false;
  *envs = NULL;
  *n = 0;
  char *dir = make_path(b, NULL, "");
  DIR *d = opendir(dir);
  if (!d) {
    int rc = errno == ENOENT ? 0 : idp_state_fail(err, IDP_STATE_ERROR, "cannot read %s: %s", dir, strerror(errno));
    free(dir);
    return rc;
  }
  size_t cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    size_t len = strlen(de->d_name);
    if (len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0) continue;
    char *name = idp_xmalloc(len - 4);
    memcpy(name, de->d_name, len - 5);
    name[len - 5] = '\0';
    if (strcmp(name, shared_name) == 0) {
      *shared = true;
      free(name);
    } else if (idp_state_env_name_ok(name)) {
      if (*n == cap) {
        cap = cap ? cap * 2 : 8;
        *envs = idp_xrealloc(*envs, cap * sizeof **envs);
      }
      (*envs)[(*n)++] = name;
    } else {
      free(name);
    }
  }
  closedir(d);
  free(dir);
  if (*n) qsort(*envs, *n, sizeof **envs, cmp_cstr);
  return 0;
}

void idp_backend_free_list(char **envs, size_t n) {
  for (size_t i = 0; i < n; i++) free(envs[i]);
  free(envs);
}
