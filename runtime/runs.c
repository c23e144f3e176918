/* runs.c - pipeline run records under SPEC_DIR/.idp/runs/ (runs.h).
 *
 * The folder, mode 0700 like the states':
 *   RUNID.json        the record (0600), replaced atomically (idp_replace_file: temp file, fsync,
 *                     rename, fsync of the folder)
 *   RUNID.lock        the driver's flock, with who holds it; made with O_EXCL when the id is
 *                     taken, so it also reserves the id (and is never removed: ids are not reused)
 *   keys/SHA256       one file per dedupe key (the sha256 hex of the key), holding the run's id;
 *                     written before the record, so a crash in between leaves a key whose run the
 *                     next delivery creates under that same id
 *   .update.lock      flock held while a record is read, changed and written back, and while a
 *                     run is created (ids and keys), never longer
 * A record idp cannot read (malformed, another kind, a newer version) is reported with its path
 * (and line:column for JSON errors) and never replaced. */
#include "runs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util.h"

enum { RUN_VERSION = 1, MAX_ID = 200 };

static int fail(char *err, size_t errsize, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errsize, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (err && errsize) vsnprintf(err, errsize, fmt, ap);
  va_end(ap);
  return -1;
}

/* DIR/.idp/runs[/NAME]; "." as DIR is left out, so messages show .idp/runs/x-1.json. */
static char *path_of(const char *dir, const char *name) {
  idp_buf p = {0};
  if (dir && *dir && strcmp(dir, ".") != 0) idp_buf_printf(&p, "%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/");
  idp_buf_puts(&p, ".idp/runs");
  if (name) idp_buf_printf(&p, "/%s", name);
  return p.data;
}

static char *run_path(const char *dir, const char *id, const char *suffix) {
  idp_buf n = {0};
  idp_buf_printf(&n, "%s%s", id, suffix);
  char *p = path_of(dir, n.data);
  idp_buf_free(&n);
  return p;
}

/* Makes DIR/.idp, DIR/.idp/runs and DIR/.idp/runs/keys, mode 0700. */
static int make_dirs(const char *dir, char *err, size_t errsize) {
  char *runs = path_of(dir, NULL), *keys = path_of(dir, "keys");
  char *idp = idp_xstrdup(runs);
  idp[strlen(idp) - strlen("/runs")] = '\0';
  const char *dirs[] = {idp, runs, keys};
  int rc = 0;
  for (int i = 0; i < 3 && rc == 0; i++)
    if (mkdir(dirs[i], 0700) < 0 && errno != EEXIST) rc = fail(err, errsize, "cannot create %s: %s", dirs[i], strerror(errno));
  free(idp);
  free(runs);
  free(keys);
  return rc;
}

const char *idp_run_time(char *buf, size_t size) {
  time_t t = time(NULL);
  struct tm tm;
  if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm)) snprintf(buf, size, "?");
  return buf;
}

bool idp_run_finished(const char *status) {
  return status && (strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0);
}

static bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* A pipeline name that can start a run id (a file name: no '/', no leading '.' or '-'). */
static bool pipeline_ok(const char *p) {
  if (!*p || *p == '.' || *p == '-' || strlen(p) > MAX_ID - 12) return false;
  for (; *p; p++)
    if (!name_char(*p)) return false;
  return true;
}

/* The N of id "PIPELINE-N" when id is one of pipeline's (pipeline NULL: any), else 0. */
static unsigned long run_number(const char *id, const char *pipeline) {
  const char *dash = strrchr(id, '-');
  if (!dash || !dash[1] || dash == id) return 0;
  for (const char *p = dash + 1; *p; p++)
    if (*p < '0' || *p > '9') return 0;
  if (pipeline && (strlen(pipeline) != (size_t)(dash - id) || strncmp(id, pipeline, (size_t)(dash - id)) != 0)) return 0;
  if (dash[1] == '0') return 0; /* no leading zeros: one spelling per run */
  errno = 0;
  unsigned long n = strtoul(dash + 1, NULL, 10);
  return errno ? 0 : n;
}

bool idp_run_id_ok(const char *id) {
  size_t n = strlen(id);
  if (n == 0 || n > MAX_ID || !run_number(id, NULL)) return false;
  char *p = idp_xstrdup(id);
  *strrchr(p, '-') = '\0';
  bool ok = pipeline_ok(p);
  free(p);
  return ok;
}

/* --- locks -------------------------------------------------------------------------------------- */

/* Takes the update lock (blocking: it is only ever held for a read and a write). Returns its fd. */
static int update_lock(const char *dir, char *err, size_t errsize) {
  if (make_dirs(dir, err, errsize) < 0) return -1;
  char *path = path_of(dir, ".update.lock");
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    fail(err, errsize, "cannot open %s: %s", path, strerror(errno));
  } else {
    while (flock(fd, LOCK_EX) < 0) {
      if (errno == EINTR) continue;
      fail(err, errsize, "cannot lock %s: %s", path, strerror(errno));
      close(fd);
      fd = -1;
      break;
    }
  }
  free(path);
  return fd;
}

static void update_unlock(int fd) {
  if (fd < 0) return;
  flock(fd, LOCK_UN);
  close(fd);
}

int idp_run_lock(const char *dir, const char *id, int *fd, char **holder, char *err, size_t errsize) {
  *fd = -1;
  if (holder) *holder = NULL;
  if (!idp_run_id_ok(id)) return fail(err, errsize, "'%s' is not a run id (PIPELINE-N)", id);
  if (make_dirs(dir, err, errsize) < 0) return -1;
  char *path = run_path(dir, id, ".lock");
  int rc = 0;
  int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (f < 0) {
    rc = fail(err, errsize, "cannot open the lock file %s: %s", path, strerror(errno));
    goto done;
  }
  while (flock(f, LOCK_EX | LOCK_NB) < 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) {
      rc = fail(err, errsize, "cannot lock %s: %s", path, strerror(errno));
    } else {
      rc = 1;
      if (holder) {
        char buf[512];
        ssize_t got = pread(f, buf, sizeof buf - 1, 0);
        buf[got > 0 ? got : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        for (char *p = buf; *p; p++)
          if ((unsigned char)*p < 0x20) *p = ' ';
        *holder = idp_xstrdup(buf[0] ? buf : "another process");
      }
    }
    close(f);
    goto done;
  }
  /* Who holds it, for whoever finds it taken. */
  char host[256] = "?", when[32], info[400];
  gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  int len = snprintf(info, sizeof info, "pid %ld on %s since %s\n", (long)getpid(), host, idp_run_time(when, sizeof when));
  if (len >= (int)sizeof info) len = (int)sizeof info - 1;
  if (ftruncate(f, 0) < 0 || pwrite(f, info, (size_t)len, 0) < 0) {
    /* the lock is ours all the same; only the message for others is lost */
  }
  *fd = f;
done:
  free(path);
  return rc;
}

void idp_run_unlock(int fd) {
  if (fd < 0) return;
  if (ftruncate(fd, 0) < 0) {
    /* stale holder text is harmless: nobody reads it while the lock is free */
  }
  flock(fd, LOCK_UN);
  close(fd);
}

int idp_run_holder(const char *dir, const char *id, char **holder) {
  *holder = NULL;
  if (!idp_run_id_ok(id)) return 0;
  char *path = run_path(dir, id, ".lock");
  char buf[512];
  int f = open(path, O_RDONLY | O_CLOEXEC);
  free(path);
  if (f < 0) return 0;
  ssize_t got = read(f, buf, sizeof buf - 1);
  close(f);
  buf[got > 0 ? got : 0] = '\0';
  buf[strcspn(buf, "\n")] = '\0';
  long pid;
  char host[256], me[256] = "";
  if (sscanf(buf, "pid %ld on %255s", &pid, host) != 2 || pid <= 0) return 0;
  gethostname(me, sizeof me - 1);
  if (strcmp(host, me) == 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH) return 0;
  *holder = idp_xstrdup(buf);
  return 1;
}

/* --- reading and writing ----------------------------------------------------------------------- */

/* Reads the record at path (id: the one it must hold). *exists says whether there was a file. */
static int load(const char *path, const char *id, json_t **out, bool *exists, char *err, size_t errsize) {
  *out = NULL;
  *exists = false;
  struct stat sb;
  if (stat(path, &sb) < 0) {
    if (errno == ENOENT) return 0;
    return fail(err, errsize, "cannot read %s: %s", path, strerror(errno));
  }
  *exists = true;
  if (!S_ISREG(sb.st_mode)) return fail(err, errsize, "%s: not a regular file", path);
  json_error_t jerr;
  json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
  if (!j) {
    if (jerr.line < 1) return fail(err, errsize, "%s: %s", path, jerr.text);
    return fail(err, errsize, "%s:%d:%d: not a run record: %s", path, jerr.line, jerr.column, jerr.text);
  }
  const json_t *kind = json_object_get(j, "kind"), *ver = json_object_get(j, "version");
  int rc = 0;
  if (!json_is_object(j) || !json_is_string(kind) || strcmp(json_string_value(kind), IDP_RUN_KIND) != 0)
    rc = fail(err, errsize, "%s: not a run record (no \"kind\": \"" IDP_RUN_KIND "\")", path);
  else if (!json_is_integer(ver) || json_integer_value(ver) < 1)
    rc = fail(err, errsize, "%s: malformed run record: \"version\" is not a positive whole number", path);
  else if (json_integer_value(ver) > RUN_VERSION)
    rc = fail(err, errsize, "%s: run record version %lld is newer than this idp reads (%d): use a newer idp", path,
              (long long)json_integer_value(ver), RUN_VERSION);
  else if (!json_is_string(json_object_get(j, "id")) || !json_is_string(json_object_get(j, "pipeline")) ||
           !json_is_string(json_object_get(j, "status")) || !json_is_array(json_object_get(j, "stages")))
    rc = fail(err, errsize, "%s: malformed run record: want \"id\", \"pipeline\", \"status\" and \"stages\"", path);
  else if (strcmp(json_string_value(json_object_get(j, "id")), id) != 0)
    rc = fail(err, errsize, "%s: the file holds run %s, not %s", path, json_string_value(json_object_get(j, "id")), id);
  if (rc == 0) {
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(j, "stages"), i, st) {
      if (!json_is_string(json_object_get(st, "name")) || !json_is_string(json_object_get(st, "status"))) {
        rc = fail(err, errsize, "%s: malformed run record: stage %zu has no \"name\" or \"status\"", path, i + 1);
        break;
      }
      json_t *steps = json_object_get(st, "steps");
      if (steps && !json_is_array(steps)) {
        rc = fail(err, errsize, "%s: malformed run record: the steps of stage %zu are not a list", path, i + 1);
        break;
      }
    }
    json_t *ap = json_object_get(j, "approvals");
    if (rc == 0 && ap && !json_is_array(ap))
      rc = fail(err, errsize, "%s: malformed run record: \"approvals\" is not a list", path);
  }
  if (rc < 0) {
    json_decref(j);
    return rc;
  }
  *out = j;
  return 0;
}

int idp_run_read(const char *dir, const char *id, json_t **out, char *err, size_t errsize) {
  *out = NULL;
  if (!idp_run_id_ok(id)) return fail(err, errsize, "'%s' is not a run id (PIPELINE-N, as 'idp pipeline status' lists them)", id);
  char *path = run_path(dir, id, ".json");
  bool exists;
  int rc = load(path, id, out, &exists, err, errsize);
  if (rc == 0 && !exists) rc = fail(err, errsize, "no run %s (no file %s)", id, path);
  free(path);
  return rc;
}

/* Writes run to path (0600, atomically), "updated" set to now. */
static int store(const char *path, json_t *run, char *err, size_t errsize) {
  char now[32];
  json_object_set_new(run, "updated", json_string(idp_run_time(now, sizeof now)));
  if (idp_replace_json(path, run, JSON_INDENT(2) | JSON_PRESERVE_ORDER, 0600) < 0)
    return fail(err, errsize, "cannot write %s: %s", path, strerror(errno));
  return 0;
}

static bool has_approval(const json_t *list, const char *stage, const char *by) {
  size_t i;
  json_t *a;
  json_array_foreach(list, i, a) {
    const char *s = json_string_value(json_object_get(a, "stage")), *b = json_string_value(json_object_get(a, "by"));
    if (s && b && strcmp(s, stage) == 0 && strcmp(b, by) == 0) return true;
  }
  return false;
}

/* What others wrote meanwhile, into mine: approvals (union) and a cancel (sticky). */
static void merge(json_t *mine, const json_t *disk) {
  json_t *ours = json_object_get(mine, "approvals");
  size_t i;
  json_t *a;
  json_array_foreach(json_object_get(disk, "approvals"), i, a) {
    const char *s = json_string_value(json_object_get(a, "stage")), *b = json_string_value(json_object_get(a, "by"));
    if (!s || !b || (ours && has_approval(ours, s, b))) continue;
    if (!ours) {
      ours = json_array();
      json_object_set_new(mine, "approvals", ours);
    }
    json_array_append(ours, a);
  }
  const char *ds = json_string_value(json_object_get(disk, "status"));
  const char *ms = json_string_value(json_object_get(mine, "status"));
  if (ds && strcmp(ds, "cancelled") == 0 && (!ms || strcmp(ms, "cancelled") != 0)) {
    json_object_set_new(mine, "status", json_string("cancelled"));
    const char *keys[] = {"cancelled", "finished", "error"};
    for (int k = 0; k < 3; k++) {
      json_t *v = json_object_get(disk, keys[k]);
      if (v) json_object_set(mine, keys[k], v);
    }
  }
}

int idp_run_write(const char *dir, json_t *run, char *err, size_t errsize) {
  const char *id = json_string_value(json_object_get(run, "id"));
  if (!id || !idp_run_id_ok(id)) return fail(err, errsize, "internal error: writing a run record without a good \"id\"");
  int lfd = update_lock(dir, err, errsize);
  if (lfd < 0) return -1;
  char *path = run_path(dir, id, ".json");
  json_t *disk = NULL;
  bool exists;
  char lerr[600];
  int rc = load(path, id, &disk, &exists, lerr, sizeof lerr);
  if (rc < 0) rc = fail(err, errsize, "refusing to overwrite a run record idp cannot read:\n%s", lerr);
  else if (!exists) rc = fail(err, errsize, "%s was removed: not writing run %s back", path, id);
  if (rc == 0) {
    merge(run, disk);
    rc = store(path, run, err, errsize);
  }
  json_decref(disk);
  free(path);
  update_unlock(lfd);
  return rc;
}

int idp_run_update(const char *dir, const char *id, idp_run_edit_fn edit, void *payload, char *err, size_t errsize) {
  if (!idp_run_id_ok(id)) return fail(err, errsize, "'%s' is not a run id (PIPELINE-N, as 'idp pipeline status' lists them)", id);
  int lfd = update_lock(dir, err, errsize);
  if (lfd < 0) return -1;
  char *path = run_path(dir, id, ".json");
  json_t *run = NULL;
  bool exists;
  int rc = load(path, id, &run, &exists, err, errsize);
  if (rc == 0 && !exists) rc = fail(err, errsize, "no run %s (no file %s)", id, path);
  if (rc == 0) {
    rc = edit(run, payload, err, errsize);
    if (rc == 0) rc = store(path, run, err, errsize);
    else if (rc > 0) rc = 0;
  }
  json_decref(run);
  free(path);
  update_unlock(lfd);
  return rc;
}

/* --- creating ------------------------------------------------------------------------------------ */

/* The sha256 of key in hex (65 bytes). */
static void key_hash(const char *key, char out[65]) {
  unsigned char md[32];
  if (EVP_Digest(key, strlen(key), md, NULL, EVP_sha256(), NULL) != 1) abort(); /* only out of memory */
  for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The highest N of pipeline's runs in the folder (records or reserved ids). */
static unsigned long highest(const char *dir, const char *pipeline) {
  char *runs = path_of(dir, NULL);
  DIR *d = opendir(runs);
  free(runs);
  if (!d) return 0;
  unsigned long max = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    char *name = idp_xstrdup(de->d_name);
    size_t n = strlen(name);
    if (n > 5 && strcmp(name + n - 5, ".json") == 0) name[n - 5] = '\0';
    else if (n > 5 && strcmp(name + n - 5, ".lock") == 0) name[n - 5] = '\0';
    else name[0] = '\0';
    unsigned long k = name[0] ? run_number(name, pipeline) : 0;
    if (k > max) max = k;
    free(name);
  }
  closedir(d);
  return max;
}

int idp_run_create(const char *dir, const char *pipeline, const char *image, json_t *trigger,
                   const char *const *stages, size_t nstages, const char *dedupe_key, char **id, char *err,
                   size_t errsize) {
  *id = NULL;
  if (!trigger) trigger = json_object();
  if (!pipeline_ok(pipeline)) {
    json_decref(trigger);
    return fail(err, errsize, "pipeline name '%s' cannot name a run: use letters, digits, '.', '_' and '-'", pipeline);
  }
  int lfd = update_lock(dir, err, errsize);
  if (lfd < 0) {
    json_decref(trigger);
    return -1;
  }
  int rc = 0;
  char *keypath = NULL, *runid = NULL, *path = NULL;
  json_t *run = NULL;
  if (dedupe_key) {
    char h[65];
    key_hash(dedupe_key, h);
    idp_buf kp = {0};
    idp_buf_printf(&kp, "keys/%s", h);
    keypath = path_of(dir, kp.data);
    idp_buf_free(&kp);
    char *text = NULL;
    size_t len;
    if (idp_read_file(keypath, &text, &len) == 0) {
      text[strcspn(text, "\r\n")] = '\0';
      if (!idp_run_id_ok(text)) {
        rc = fail(err, errsize, "%s: not a run id; remove the file if no run of that key exists", keypath);
        free(text);
        goto done;
      }
      runid = text;
      char *rp = run_path(dir, runid, ".json");
      bool there = access(rp, F_OK) == 0;
      free(rp);
      if (there) { /* a delivery seen before */
        *id = runid;
        runid = NULL;
        rc = 1;
        goto done;
      }
      /* the key was recorded, the run not (a crash in between): the run gets that id now */
    } else if (errno != ENOENT) {
      rc = fail(err, errsize, "cannot read %s: %s", keypath, strerror(errno));
      goto done;
    }
  }
  if (!runid) {
    /* The next number; its lock file, made with O_EXCL, reserves it. */
    for (unsigned long n = highest(dir, pipeline) + 1;; n++) {
      idp_buf b = {0};
      idp_buf_printf(&b, "%s-%lu", pipeline, n);
      char *lp = run_path(dir, b.data, ".lock");
      int fd = open(lp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      int e = errno;
      free(lp);
      if (fd >= 0) {
        close(fd);
        runid = b.data;
        break;
      }
      idp_buf_free(&b);
      if (e != EEXIST) {
        rc = fail(err, errsize, "cannot reserve a run id in %s: %s", ".idp/runs", strerror(e));
        goto done;
      }
    }
    if (keypath) {
      idp_buf t = {0};
      idp_buf_printf(&t, "%s\n", runid);
      int w = idp_replace_file(keypath, t.data, t.len, 0600);
      int e = errno;
      idp_buf_free(&t);
      if (w < 0) {
        rc = fail(err, errsize, "cannot write %s: %s", keypath, strerror(e));
        goto done;
      }
    }
  }
  char now[32];
  idp_run_time(now, sizeof now);
  run = json_object();
  json_object_set_new(run, "kind", json_string(IDP_RUN_KIND));
  json_object_set_new(run, "version", json_integer(RUN_VERSION));
  json_object_set_new(run, "id", json_string(runid));
  json_object_set_new(run, "pipeline", json_string(pipeline));
  json_object_set_new(run, "status", json_string("pending"));
  json_object_set_new(run, "image", image ? json_string(image) : json_null());
  json_object_set(run, "trigger", trigger);
  if (dedupe_key) json_object_set_new(run, "dedupe_key", json_string(dedupe_key));
  json_object_set_new(run, "created", json_string(now));
  json_t *sv = json_array();
  for (size_t i = 0; i < nstages; i++) {
    json_t *st = json_object();
    json_object_set_new(st, "name", json_string(stages[i]));
    json_object_set_new(st, "status", json_string("pending"));
    json_array_append_new(sv, st);
  }
  json_object_set_new(run, "stages", sv);
  json_object_set_new(run, "approvals", json_array());
  path = run_path(dir, runid, ".json");
  if ((rc = store(path, run, err, errsize)) < 0) goto done;
  *id = runid;
  runid = NULL;
done:
  update_unlock(lfd);
  json_decref(trigger);
  json_decref(run);
  free(keypath);
  free(runid);
  free(path);
  return rc;
}

/* --- listing ------------------------------------------------------------------------------------- */

typedef struct listed {
  char *id;
  char *created;            /* "" when the record cannot be read */
} listed;

static int cmp_listed(const void *x, const void *y) {
  const listed *a = x, *b = y;
  int c = strcmp(a->created, b->created);
  if (c) return c;
  const char *da = strrchr(a->id, '-'), *db = strrchr(b->id, '-');
  size_t pa = (size_t)(da - a->id), pb = (size_t)(db - b->id);
  c = strncmp(a->id, b->id, pa < pb ? pa : pb);
  if (c || pa != pb) return c ? c : (pa < pb ? -1 : 1);
  unsigned long na = strtoul(da + 1, NULL, 10), nb = strtoul(db + 1, NULL, 10);
  return (na > nb) - (na < nb);
}

int idp_run_list(const char *dir, char ***ids, size_t *n, char *err, size_t errsize) {
  *ids = NULL;
  *n = 0;
  char *runs = path_of(dir, NULL);
  DIR *d = opendir(runs);
  if (!d) {
    int rc = errno == ENOENT ? 0 : fail(err, errsize, "cannot read %s: %s", runs, strerror(errno));
    free(runs);
    return rc;
  }
  listed *v = NULL;
  size_t nv = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    size_t len = strlen(de->d_name);
    if (len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0) continue;
    char *id = idp_xstrdup(de->d_name);
    id[len - 5] = '\0';
    if (!idp_run_id_ok(id)) {
      free(id);
      continue;
    }
    if (nv == cap) {
      cap = cap ? 2 * cap : 16;
      v = idp_xrealloc(v, cap * sizeof *v);
    }
    char *p = run_path(dir, id, ".json");
    json_t *j = json_load_file(p, 0, NULL);
    const char *c = json_string_value(json_object_get(j, "created"));
    v[nv++] = (listed){id, idp_xstrdup(c ? c : "")};
    json_decref(j);
    free(p);
  }
  closedir(d);
  free(runs);
  if (nv) qsort(v, nv, sizeof *v, cmp_listed);
  *ids = idp_xcalloc(nv + 1, sizeof **ids);
  for (size_t i = 0; i < nv; i++) {
    (*ids)[i] = v[i].id;
    free(v[i].created);
  }
  *n = nv;
  free(v);
  return 0;
}

void idp_run_free_ids(char **ids, size_t n) {
  for (size_t i = 0; i < n; i++) free(ids[i]);
  free(ids);
}

/* --- the pure parts ------------------------------------------------------------------------------ */

static const char *str(const json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }

static bool is(const json_t *o, const char *key, const char *want) {
  const char *s = str(o, key);
  return s && strcmp(s, want) == 0;
}

json_t *idp_run_stage(const json_t *run, const char *name) {
  size_t i;
  json_t *st;
  json_array_foreach(json_object_get(run, "stages"), i, st) {
    if (is(st, "name", name)) return st;
  }
  return NULL;
}

size_t idp_run_approvals(const json_t *run, const char *stage) {
  const json_t *list = json_object_get(run, "approvals");
  size_t i, n = 0;
  json_t *a;
  json_array_foreach(list, i, a) {
    const char *s = str(a, "stage"), *by = str(a, "by");
    if (!s || !by || strcmp(s, stage) != 0) continue;
    bool seen = false; /* distinct people: an earlier entry by the same name counts once */
    for (size_t k = 0; k < i && !seen; k++) {
      const json_t *b = json_array_get(list, k);
      seen = is(b, "stage", stage) && is(b, "by", by);
    }
    n += !seen;
  }
  return n;
}

size_t idp_run_approvers_needed(const json_t *stage) {
  size_t i;
  json_t *step;
  json_array_foreach(json_object_get(stage, "steps"), i, step) {
    if (!is(step, "kind", "approval")) continue;
    json_int_t n = json_integer_value(json_object_get(step, "approvers"));
    return n > 0 ? (size_t)n : 1;
  }
  return 0;
}

/* Whether every stage stage runs after has succeeded. */
static bool afters_done(const json_t *run, const json_t *stage) {
  size_t i;
  json_t *a;
  json_array_foreach(json_object_get(stage, "after"), i, a) {
    const json_t *dep = json_is_string(a) ? idp_run_stage(run, json_string_value(a)) : NULL;
    if (!dep || !is(dep, "status", "succeeded")) return false;
  }
  return true;
}

json_t *idp_run_next_stage(const json_t *run) {
  size_t i;
  json_t *st;
  json_array_foreach(json_object_get(run, "stages"), i, st) {
    const char *s = str(st, "status");
    bool go = strcmp(s, "pending") == 0 || strcmp(s, "running") == 0;
    if (strcmp(s, "waiting") == 0) go = idp_run_approvals(run, str(st, "name")) >= idp_run_approvers_needed(st);
    if (go && afters_done(run, st)) return st;
  }
  return NULL;
}

bool idp_run_runnable(const json_t *run) {
  const char *s = str(run, "status");
  if (!s || idp_run_finished(s)) return false;
  if (strcmp(s, "pending") == 0 || strcmp(s, "running") == 0) return true;
  return idp_run_next_stage(run) != NULL;
}

size_t idp_run_skip_dependents(json_t *run, const char *now) {
  size_t marked = 0;
  bool again = true;
  while (again) { /* a skip may skip further stages (any order of the record works) */
    again = false;
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(run, "stages"), i, st) {
      if (!is(st, "status", "pending")) continue;
      size_t k;
      json_t *a;
      json_array_foreach(json_object_get(st, "after"), k, a) {
        const json_t *dep = json_is_string(a) ? idp_run_stage(run, json_string_value(a)) : NULL;
        const char *ds = dep ? str(dep, "status") : NULL;
        if (!ds || !(strcmp(ds, "failed") == 0 || strcmp(ds, "skipped") == 0 || strcmp(ds, "cancelled") == 0)) continue;
        char why[300];
        snprintf(why, sizeof why, "stage %s %s", json_string_value(a),
                 strcmp(ds, "failed") == 0 ? "failed" : strcmp(ds, "skipped") == 0 ? "was skipped" : "was cancelled");
        json_object_set_new(st, "status", json_string("skipped"));
        json_object_set_new(st, "error", json_string(why));
        json_object_set_new(st, "finished", json_string(now));
        marked++;
        again = true;
        break;
      }
    }
  }
  return marked;
}

const char *idp_run_conclude(json_t *run, const char *now) {
  if (is(run, "status", "cancelled")) return "cancelled";
  bool waiting = false, all = true;
  const json_t *failed = NULL;
  size_t i;
  json_t *st;
  json_array_foreach(json_object_get(run, "stages"), i, st) {
    if (is(st, "status", "waiting")) waiting = true;
    if (is(st, "status", "failed") && !failed) failed = st;
    if (!is(st, "status", "succeeded")) all = false;
  }
  const char *status = waiting ? "waiting" : failed ? "failed" : all ? "succeeded" : "failed";
  json_object_set_new(run, "status", json_string(status));
  if (strcmp(status, "failed") == 0) {
    char why[1200];
    if (failed)
      snprintf(why, sizeof why, "stage %s failed: %s", str(failed, "name"),
               str(failed, "error") ? str(failed, "error") : "(no reason recorded)");
    else
      snprintf(why, sizeof why, "no stage can run: their `after` stages never succeed");
    json_object_set_new(run, "error", json_string(why));
  }
  if (idp_run_finished(status)) json_object_set_new(run, "finished", json_string(now));
  return status;
}
