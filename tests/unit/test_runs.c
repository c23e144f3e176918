/* test_runs.c - pipeline run records (runtime/runs.h): creating runs and their ids (also from
 * processes racing), dedupe keys (also after a crash between the key and the record), records
 * idp refuses to read and never overwrites, the driver lock and who holds it, writes that keep
 * approvals and cancels made meanwhile, and the pure parts the engine decides with. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "runs.h"
#include "util.h"

static char tmpdir[64]; /* made by setup, removed by teardown */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int runs_setup(void **state) {
  strcpy(tmpdir, "/tmp/idp-runs-test-XXXXXX");
  if (!mkdtemp(tmpdir)) return -1;
  return fx_setup(state);
}

static int runs_teardown(void **state) {
  nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return fx_teardown(state);
}
#define RUNS_TEST(f) cmocka_unit_test_setup_teardown(f, runs_setup, runs_teardown)

static const char *const stages3[] = {"dev", "staging", "prod"};

static char *path_in(const char *rel) {
  static char buf[4][256];
  static int next;
  char *p = buf[next++ % 4];
  snprintf(p, 256, "%s/.idp/runs/%s", tmpdir, rel);
  return p;
}

/* Creates a run of pipeline "rel" (key may be NULL); fails the test unless the result is want. */
static char *create(const char *key, int want) {
  char err[512] = "", *id = NULL;
  json_t *trig = json_pack("{s:s}", "kind", "cli");
  int rc = idp_run_create(tmpdir, "rel", "127.0.0.1:5000/acme/shop@sha256:aa", trig, stages3, 3, key, &id, err, sizeof err);
  if (rc != want) FAIL("idp_run_create: %d, want %d: %s", rc, want, err);
  return id;
}

static char *file_text(const char *path) {
  char *text = NULL;
  size_t len;
  if (idp_read_file(path, &text, &len) < 0) FAIL("cannot read %s", path);
  return text;
}

static void write_text(const char *path, const char *text) {
  if (idp_replace_file(path, text, strlen(text), 0600) < 0) FAIL("cannot write %s", path);
}

static void runs_create_and_read(void **state) {
  (void)state;
  char *a = create(NULL, 0), *b = create(NULL, 0);
  assert_string_equal(a, "rel-1");
  assert_string_equal(b, "rel-2");
  json_t *run = NULL;
  char err[512];
  assert_int_equal(idp_run_read(tmpdir, "rel-2", &run, err, sizeof err), 0);
  assert_string_equal(json_string_value(json_object_get(run, "kind")), IDP_RUN_KIND);
  assert_int_equal(json_integer_value(json_object_get(run, "version")), 1);
  assert_string_equal(json_string_value(json_object_get(run, "status")), "pending");
  assert_string_equal(json_string_value(json_object_get(run, "image")), "127.0.0.1:5000/acme/shop@sha256:aa");
  assert_string_equal(json_string_value(json_object_get(json_object_get(run, "trigger"), "kind")), "cli");
  json_t *st = json_object_get(run, "stages");
  assert_int_equal(json_array_size(st), 3);
  assert_string_equal(json_string_value(json_object_get(json_array_get(st, 2), "name")), "prod");
  assert_string_equal(json_string_value(json_object_get(json_array_get(st, 2), "status")), "pending");
  assert_non_null(json_string_value(json_object_get(run, "created")));
  json_decref(run);
  /* Only the owner reads records: the folder 0700, the files 0600. */
  struct stat sb;
  assert_int_equal(stat(path_in("rel-1.json"), &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  char dir[128];
  snprintf(dir, sizeof dir, "%s/.idp/runs", tmpdir);
  assert_int_equal(stat(dir, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0700);
  /* A missing run, and ids that are no run's (a path among them). */
  assert_int_equal(idp_run_read(tmpdir, "rel-9", &run, err, sizeof err), -1);
  assert_non_null(strstr(err, "no run rel-9"));
  assert_int_equal(idp_run_read(tmpdir, "../../etc/passwd-1", &run, err, sizeof err), -1);
  assert_non_null(strstr(err, "is not a run id"));
  /* A pipeline name that cannot name a file. */
  char *id = NULL;
  assert_int_equal(idp_run_create(tmpdir, "a/b", NULL, NULL, stages3, 1, NULL, &id, err, sizeof err), -1);
  assert_null(id);
  free(a);
  free(b);
}

static void runs_ids(void **state) {
  (void)state;
  assert_true(idp_run_id_ok("shop-release-3"));
  assert_true(idp_run_id_ok("a_b.c-10"));
  assert_false(idp_run_id_ok("shop-release"));
  assert_false(idp_run_id_ok("shop-01"));
  assert_false(idp_run_id_ok("-1"));
  assert_false(idp_run_id_ok(".x-1"));
  assert_false(idp_run_id_ok("a/b-1"));
  assert_false(idp_run_id_ok("x-0"));
  /* A run of pipeline "rel-1" is rel-1-1, and does not move the numbers of "rel". */
  char err[256], *id = NULL;
  assert_int_equal(idp_run_create(tmpdir, "rel-1", NULL, NULL, stages3, 1, NULL, &id, err, sizeof err), 0);
  assert_string_equal(id, "rel-1-1");
  free(id);
  char *a = create(NULL, 0);
  assert_string_equal(a, "rel-1");
  free(a);
}

static void runs_dedupe(void **state) {
  (void)state;
  char *a = create("registry-event:42", 0);
  char *b = create("registry-event:42", 1); /* a replayed delivery */
  char *c = create("registry-event:43", 0);
  assert_string_equal(a, "rel-1");
  assert_string_equal(b, "rel-1");
  assert_string_equal(c, "rel-2");
  char **ids;
  size_t n;
  char err[256];
  assert_int_equal(idp_run_list(tmpdir, &ids, &n, err, sizeof err), 0);
  assert_int_equal(n, 2);
  idp_run_free_ids(ids, n);
  /* A crash after the key was recorded and before the record: the next delivery of that key
   * creates the run under the id the key holds, and once only. */
  unlink(path_in("rel-2.json"));
  char *d = create("registry-event:43", 0);
  assert_string_equal(d, "rel-2");
  char *e = create("registry-event:43", 1);
  assert_string_equal(e, "rel-2");
  char *f = create(NULL, 0);
  assert_string_equal(f, "rel-3");
  free(a), free(b), free(c), free(d), free(e), free(f);
}

/* Processes creating runs at once get distinct ids, and the same key makes one run. */
static void runs_concurrent(void **state) {
  (void)state;
  enum { N = 16 };
  pid_t kids[N];
  for (int i = 0; i < N; i++) {
    kids[i] = fork();
    if (kids[i] == 0) {
      char err[256], *id = NULL;
      /* half of them deliver the same event */
      int rc = idp_run_create(tmpdir, "rel", NULL, NULL, stages3, 3, i % 2 ? "same-event" : NULL, &id, err, sizeof err);
      free(id);
      _exit(rc < 0 ? 1 : 0);
    }
    assert_true(kids[i] > 0);
  }
  for (int i = 0; i < N; i++) {
    int status;
    assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  char **ids, err[256];
  size_t n;
  assert_int_equal(idp_run_list(tmpdir, &ids, &n, err, sizeof err), 0);
  assert_int_equal(n, N / 2 + 1);
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++) assert_string_not_equal(ids[i], ids[j]);
  for (size_t i = 0; i < n; i++) {
    char want[32];
    bool found = false;
    snprintf(want, sizeof want, "rel-%zu", i + 1);
    for (size_t j = 0; j < n; j++) found = found || strcmp(ids[j], want) == 0;
    if (!found) FAIL("no run %s: the ids are not 1..%zu", want, n);
  }
  idp_run_free_ids(ids, n);
}

static void runs_refused(void **state) {
  (void)state;
  char *a = create(NULL, 0);
  json_t *run = NULL, *mine = NULL;
  char err[512];
  assert_int_equal(idp_run_read(tmpdir, a, &mine, err, sizeof err), 0);
  /* malformed JSON: named with line and column, and never overwritten */
  write_text(path_in("rel-1.json"), "{\n  \"kind\": \"idp-pipeline-run\",\n  oops\n}\n");
  assert_int_equal(idp_run_read(tmpdir, a, &run, err, sizeof err), -1);
  if (!strstr(err, "rel-1.json:3:") || !strstr(err, "not a run record")) FAIL("message: %s", err);
  assert_int_equal(idp_run_write(tmpdir, mine, err, sizeof err), -1);
  assert_non_null(strstr(err, "refusing to overwrite"));
  char *text = file_text(path_in("rel-1.json"));
  assert_non_null(strstr(text, "oops"));
  free(text);
  /* a newer version */
  write_text(path_in("rel-1.json"), "{\"kind\": \"idp-pipeline-run\", \"version\": 2, \"id\": \"rel-1\", \"pipeline\": "
                                    "\"rel\", \"status\": \"running\", \"stages\": []}\n");
  assert_int_equal(idp_run_read(tmpdir, a, &run, err, sizeof err), -1);
  assert_non_null(strstr(err, "version 2 is newer"));
  assert_int_equal(idp_run_write(tmpdir, mine, err, sizeof err), -1);
  text = file_text(path_in("rel-1.json"));
  assert_non_null(strstr(text, "\"version\": 2"));
  free(text);
  /* another kind of file, and a record of another run */
  write_text(path_in("rel-1.json"), "{\"kind\": \"idp-state\"}\n");
  assert_int_equal(idp_run_read(tmpdir, a, &run, err, sizeof err), -1);
  assert_non_null(strstr(err, "not a run record"));
  write_text(path_in("rel-1.json"), "{\"kind\": \"idp-pipeline-run\", \"version\": 1, \"id\": \"rel-7\", \"pipeline\": "
                                    "\"rel\", \"status\": \"running\", \"stages\": []}\n");
  assert_int_equal(idp_run_read(tmpdir, a, &run, err, sizeof err), -1);
  assert_non_null(strstr(err, "holds run rel-7"));
  /* stages without a status */
  write_text(path_in("rel-1.json"), "{\"kind\": \"idp-pipeline-run\", \"version\": 1, \"id\": \"rel-1\", \"pipeline\": "
                                    "\"rel\", \"status\": \"running\", \"stages\": [{\"name\": \"dev\"}]}\n");
  assert_int_equal(idp_run_read(tmpdir, a, &run, err, sizeof err), -1);
  assert_non_null(strstr(err, "malformed run record"));
  json_decref(mine);
  free(a);
}

static void runs_lock(void **state) {
  (void)state;
  char *a = create(NULL, 0), *holder = NULL, err[256];
  int fd, fd2;
  assert_int_equal(idp_run_holder(tmpdir, a, &holder), 0);
  assert_int_equal(idp_run_lock(tmpdir, a, &fd, NULL, err, sizeof err), 0);
  /* another open of the lock file is another holder, as another process would be */
  assert_int_equal(idp_run_lock(tmpdir, a, &fd2, &holder, err, sizeof err), 1);
  char want[64];
  snprintf(want, sizeof want, "pid %ld on ", (long)getpid());
  if (!holder || strncmp(holder, want, strlen(want)) != 0 || !strstr(holder, " since "))
    FAIL("holder: %s", holder ? holder : "(null)");
  free(holder);
  assert_int_equal(idp_run_holder(tmpdir, a, &holder), 1);
  free(holder);
  idp_run_unlock(fd);
  assert_int_equal(idp_run_holder(tmpdir, a, &holder), 0);
  assert_int_equal(idp_run_lock(tmpdir, a, &fd2, &holder, err, sizeof err), 0);
  idp_run_unlock(fd2);
  /* A holder that died (a pid that is no process) leaves the run to whoever comes. */
  char text[128], host[256] = "";
  gethostname(host, sizeof host - 1);
  pid_t kid = fork();
  if (kid == 0) _exit(0);
  waitpid(kid, NULL, 0);
  snprintf(text, sizeof text, "pid %ld on %s since 2024-01-01T00:00:00Z\n", (long)kid, host);
  write_text(path_in("rel-1.lock"), text);
  assert_int_equal(idp_run_holder(tmpdir, a, &holder), 0);
  free(a);
}

static int add_approval(json_t *run, void *payload, char *err, size_t errsize) {
  (void)err, (void)errsize;
  json_array_append_new(json_object_get(run, "approvals"), json_pack("{s:s,s:s,s:s}", "stage", "prod", "by", payload,
                                                                     "at", "2024-01-01T00:00:00Z"));
  return 0;
}

static int cancel(json_t *run, void *payload, char *err, size_t errsize) {
  (void)payload, (void)err, (void)errsize;
  json_object_set_new(run, "status", json_string("cancelled"));
  json_object_set_new(run, "cancelled", json_pack("{s:s}", "by", "carol"));
  return 0;
}

static int refuse(json_t *run, void *payload, char *err, size_t errsize) {
  (void)run, (void)payload;
  snprintf(err, errsize, "no");
  return -1;
}

/* A driver's write keeps what others recorded meanwhile: approvals, and a cancel. */
static void runs_merge(void **state) {
  (void)state;
  char *a = create(NULL, 0), err[256];
  json_t *driver = NULL, *run = NULL;
  assert_int_equal(idp_run_read(tmpdir, a, &driver, err, sizeof err), 0);
  assert_int_equal(idp_run_update(tmpdir, a, add_approval, "alice", err, sizeof err), 0);
  json_object_set_new(driver, "status", json_string("running"));
  assert_int_equal(idp_run_write(tmpdir, driver, err, sizeof err), 0);
  assert_int_equal(idp_run_approvals(driver, "prod"), 1); /* taken in, in place */
  assert_int_equal(idp_run_update(tmpdir, a, add_approval, "bob", err, sizeof err), 0);
  assert_int_equal(idp_run_update(tmpdir, a, cancel, NULL, err, sizeof err), 0);
  assert_int_equal(idp_run_update(tmpdir, a, refuse, NULL, err, sizeof err), -1);
  assert_string_equal(err, "no");
  json_object_set_new(driver, "status", json_string("running"));
  assert_int_equal(idp_run_write(tmpdir, driver, err, sizeof err), 0);
  assert_int_equal(idp_run_read(tmpdir, a, &run, err, sizeof err), 0);
  assert_string_equal(json_string_value(json_object_get(run, "status")), "cancelled");
  assert_string_equal(json_string_value(json_object_get(json_object_get(run, "cancelled"), "by")), "carol");
  assert_int_equal(idp_run_approvals(run, "prod"), 2);
  assert_string_equal(json_string_value(json_object_get(driver, "status")), "cancelled");
  json_decref(run);
  json_decref(driver);
  /* A record removed meanwhile is not written back. */
  assert_int_equal(idp_run_read(tmpdir, a, &run, err, sizeof err), 0);
  unlink(path_in("rel-1.json"));
  assert_int_equal(idp_run_write(tmpdir, run, err, sizeof err), -1);
  json_decref(run);
  free(a);
}

/* A run in memory: stages NAME:STATUS[:AFTER[,AFTER]][:approvers]. */
static json_t *run_of(const char *status, const char *const *stages, size_t n) {
  json_t *run = json_pack("{s:s,s:s,s:s,s:[],s:[]}", "id", "rel-1", "pipeline", "rel", "status", status, "stages",
                          "approvals");
  for (size_t i = 0; i < n; i++) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", stages[i]);
    char *name = strtok(buf, ":"), *st = strtok(NULL, ":"), *after = strtok(NULL, ":"), *appr = strtok(NULL, ":");
    json_t *s = json_pack("{s:s,s:s,s:[],s:[]}", "name", name, "status", st, "after", "steps");
    if (after && strcmp(after, "-") != 0)
      for (char *t = strtok(after, ","); t; t = strtok(NULL, ",")) json_array_append_new(json_object_get(s, "after"), json_string(t));
    if (appr)
      json_array_append_new(json_object_get(s, "steps"),
                            json_pack("{s:s,s:i,s:s}", "kind", "approval", "approvers", atoi(appr), "status", "pending"));
    json_array_append_new(json_object_get(run, "stages"), s);
  }
  return run;
}

static const char *status_of(const json_t *run, const char *stage) {
  return json_string_value(json_object_get(idp_run_stage(run, stage), "status"));
}

static void approve(json_t *run, const char *stage, const char *by) {
  json_array_append_new(json_object_get(run, "approvals"), json_pack("{s:s,s:s}", "stage", stage, "by", by));
}

static void runs_engine_parts(void **state) {
  (void)state;
  /* next stage: record order, after the stages it runs after */
  const char *const s1[] = {"dev:succeeded", "staging:pending:dev", "prod:pending:staging:2", "docs:pending"};
  json_t *run = run_of("running", s1, 4);
  assert_string_equal(json_string_value(json_object_get(idp_run_next_stage(run), "name")), "staging");
  json_object_set_new(idp_run_stage(run, "staging"), "status", json_string("succeeded"));
  assert_string_equal(json_string_value(json_object_get(idp_run_next_stage(run), "name")), "prod");
  /* a waiting stage goes on with as many distinct approvers as it needs, and not before */
  json_object_set_new(idp_run_stage(run, "prod"), "status", json_string("waiting"));
  assert_string_equal(json_string_value(json_object_get(idp_run_next_stage(run), "name")), "docs");
  json_object_set_new(idp_run_stage(run, "docs"), "status", json_string("succeeded"));
  assert_null(idp_run_next_stage(run));
  json_object_set_new(run, "status", json_string("waiting"));
  assert_false(idp_run_runnable(run));
  assert_int_equal(idp_run_approvers_needed(idp_run_stage(run, "prod")), 2);
  approve(run, "prod", "alice");
  approve(run, "prod", "alice");
  approve(run, "dev", "bob");
  assert_int_equal(idp_run_approvals(run, "prod"), 1);
  assert_null(idp_run_next_stage(run));
  assert_false(idp_run_runnable(run));
  approve(run, "prod", "bob");
  assert_int_equal(idp_run_approvals(run, "prod"), 2);
  assert_string_equal(json_string_value(json_object_get(idp_run_next_stage(run), "name")), "prod");
  assert_true(idp_run_runnable(run));
  /* conclude: waiting while a stage waits; succeeded once all did */
  assert_string_equal(idp_run_conclude(run, "T"), "waiting");
  assert_null(json_object_get(run, "finished"));
  json_object_set_new(idp_run_stage(run, "prod"), "status", json_string("succeeded"));
  assert_string_equal(idp_run_conclude(run, "T"), "succeeded");
  assert_string_equal(json_string_value(json_object_get(run, "finished")), "T");
  assert_false(idp_run_runnable(run));
  json_decref(run);

  /* a failure skips the stages after it, transitively, and fails the run with its reason */
  const char *const s2[] = {"dev:failed", "staging:pending:dev", "prod:pending:staging", "docs:succeeded"};
  run = run_of("running", s2, 4);
  json_object_set_new(idp_run_stage(run, "dev"), "error", json_string("check http://x: answered 503, want 200"));
  assert_int_equal(idp_run_skip_dependents(run, "T"), 2);
  assert_string_equal(status_of(run, "staging"), "skipped");
  assert_string_equal(status_of(run, "prod"), "skipped");
  assert_string_equal(json_string_value(json_object_get(idp_run_stage(run, "staging"), "error")), "stage dev failed");
  assert_string_equal(json_string_value(json_object_get(idp_run_stage(run, "prod"), "error")), "stage staging was skipped");
  assert_null(idp_run_next_stage(run));
  assert_string_equal(idp_run_conclude(run, "T"), "failed");
  assert_string_equal(json_string_value(json_object_get(run, "error")),
                      "stage dev failed: check http://x: answered 503, want 200");
  json_decref(run);

  /* a cancelled run has nothing to run, and conclude leaves it cancelled */
  const char *const s3[] = {"dev:pending"};
  run = run_of("cancelled", s3, 1);
  assert_false(idp_run_runnable(run));
  assert_string_equal(idp_run_conclude(run, "T"), "cancelled");
  json_decref(run);
  run = run_of("pending", s3, 1);
  assert_true(idp_run_runnable(run));
  json_decref(run);
  assert_true(idp_run_finished("failed"));
  assert_false(idp_run_finished("waiting"));
}

int test_runs(void) {
  const struct CMUnitTest tests[] = {
      RUNS_TEST(runs_create_and_read), RUNS_TEST(runs_ids),   RUNS_TEST(runs_dedupe),       RUNS_TEST(runs_concurrent),
      RUNS_TEST(runs_refused),         RUNS_TEST(runs_lock),  RUNS_TEST(runs_merge),        RUNS_TEST(runs_engine_parts),
  };
  return cmocka_run_group_tests_name("runs", tests, NULL, NULL);
}
