/* test_state.c - the state store: format round trip, serial and lineage, sealed secrets (round
 * trip, wrong key, tampering, values moved to another attribute, no key), refused files left
 * intact, atomic writes and modes, and locks held by another process. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "backend.h"
#include "state.h"
#include "util.h"

static const char key_hex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char other_hex[] = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char role[] = "env.dev/app.shop/need.db/postgres.role.owner";
static const char pw[] = "env.dev/app.shop/need.db/random.password.pw";
static const char plaintext[] = "s3cr3t-Plaintext-42";

static char tmpdir[64]; /* made by setup, removed by teardown */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int st_setup(void **state) {
  strcpy(tmpdir, "/tmp/idp-state-test-XXXXXX");
  if (!mkdtemp(tmpdir)) return -1;
  return fx_setup(state);
}

static int st_teardown(void **state) {
  nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return fx_teardown(state);
}
#define ST_TEST(f) cmocka_unit_test_setup_teardown(f, st_setup, st_teardown)

static idp_state_key key_of(const char *hex) {
  idp_state_key k;
  idp_state_error err = {0};
  if (idp_state_key_parse(&k, hex, &err) < 0) FAIL("key: %s", err.msg);
  return k;
}

static char *path_in(const char *rel) {
  static char buf[4][256];
  static int next;
  char *p = buf[next++ % 4];
  snprintf(p, 256, "%s/%s", tmpdir, rel);
  return p;
}

static char *slurp(const char *path) {
  char *text = NULL;
  size_t len = 0;
  if (idp_read_file(path, &text, &len) < 0) FAIL("cannot read %s: %s", path, strerror(errno));
  return text;
}

static void spit(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void expect_err(int rc, int code, const idp_state_error *err, const char *needle) {
  if (rc != code) FAIL("rc %d, want %d (%s)", rc, code, err->msg);
  if (needle && !strstr(err->msg, needle)) FAIL("error lacks '%s':\n%s", needle, err->msg);
  if (strstr(err->msg, plaintext)) FAIL("error shows the secret:\n%s", err->msg);
}

/* A state of dev with two resources, the role holding a secret password (key given). */
static idp_state *sample(const idp_state_key *key) {
  idp_state_error err = {0};
  idp_state *st = idp_state_new("dev", NULL);
  idp_state_set_key(st, key);
  idp_state_res *r = NULL, *p = NULL;
  assert_int_equal(idp_state_add(st, role, "postgres.role", &r, &err), 0);
  assert_int_equal(idp_state_add(st, pw, "random.password", &p, &err), 0);
  json_t *v = json_string("shop_dev");
  assert_int_equal(idp_state_res_set(st, r, IDP_STATE_INPUTS, "name", v, false, &err), 0);
  json_decref(v);
  v = json_string(plaintext);
  if (idp_state_res_set(st, r, IDP_STATE_INPUTS, "password", v, true, &err) < 0) FAIL("%s", err.msg);
  json_decref(v);
  v = json_pack("{s:i,s:[s,s]}", "oid", 16384, "grants", "a", "b");
  assert_int_equal(idp_state_res_set(st, r, IDP_STATE_OUTPUTS, "info", v, false, &err), 0);
  json_decref(v);
  const char *deps[] = {pw, pw};
  idp_state_res_set_deps(st, r, deps, 2);
  idp_state_res_set_status(st, r, IDP_STATE_CREATED);
  return st;
}

/* Locks dev in a fresh backend and writes st there. */
static void write_dev(idp_state *st) {
  idp_state_error err = {0};
  idp_backend *b = idp_backend_local(tmpdir);
  if (idp_backend_lock(b, "dev", 0, "test", &err) < 0) FAIL("%s", err.msg);
  bool written = false;
  if (idp_backend_write(b, st, &written, &err) < 0) FAIL("%s", err.msg);
  assert_true(written);
  idp_backend_free(b);
}

static idp_state *read_dev(const idp_state_key *key) {
  idp_state_error err = {0};
  idp_backend *b = idp_backend_local(tmpdir);
  idp_state *st = NULL;
  if (idp_backend_read(b, "dev", key, &st, &err) < 0) FAIL("%s", err.msg);
  idp_backend_free(b);
  return st;
}

/* --- tests ---------------------------------------------------------------------------------------- */

static void round_trip(void **state) {
  (void)state;
  idp_state_key key = key_of(key_hex);
  idp_state *st = sample(&key);
  assert_int_equal(idp_state_begin_write(st, NULL), 0);
  char *text = idp_state_dump(st);
  idp_state *back = NULL;
  idp_state_error err = {0};
  if (idp_state_parse(&back, text, strlen(text), "x.json", &err) < 0) FAIL("%s\n%s", err.msg, text);
  char *again = idp_state_dump(back);
  assert_string_equal(text, again);
  assert_false(idp_state_dirty(back));
  idp_state_res *r = idp_state_find(back, role);
  assert_non_null(r);
  assert_string_equal(idp_state_res_driver(r), "postgres.role");
  assert_int_equal(idp_state_res_status(r), IDP_STATE_CREATED);
  assert_int_equal(idp_state_res_ndeps(r), 1); /* sorted and unique */
  assert_string_equal(idp_state_res_dep(r, 0), pw);
  assert_int_equal(idp_state_res_status(idp_state_find(back, pw)), IDP_STATE_PENDING_CREATE);
  json_t *v = NULL;
  assert_int_equal(idp_state_res_get(back, r, IDP_STATE_OUTPUTS, "info", &v, NULL, &err), 0);
  assert_int_equal(json_integer_value(json_object_get(v, "oid")), 16384);
  json_decref(v);
  assert_int_equal(idp_state_res_get(back, r, IDP_STATE_OUTPUTS, "nope", &v, NULL, &err), IDP_STATE_ENOTFOUND);
  /* Sorted by address in the file; the plaintext is nowhere. */
  assert_true(strstr(text, role) < strstr(text, pw));
  assert_null(strstr(text, plaintext));
  assert_non_null(strstr(text, "\"$secret\": \"v1:"));
  /* Status names round trip. */
  for (int s = IDP_STATE_CREATED; s <= IDP_STATE_DELETING; s++) {
    idp_state_status back_s;
    assert_int_equal(idp_state_status_parse(idp_state_status_name((idp_state_status)s), &back_s), 0);
    assert_int_equal(back_s, s);
  }
  free(text);
  free(again);
  idp_state_free(st);
  idp_state_free(back);
}

static void serial_and_lineage(void **state) {
  (void)state;
  idp_state_error err = {0};
  idp_state_key key = key_of(key_hex);
  idp_state *st = read_dev(&key); /* missing file: empty state */
  assert_null(idp_state_lineage(st));
  assert_int_equal(idp_state_serial(st), 0);
  assert_int_equal(idp_state_count(st), 0);
  idp_state_free(st);

  st = sample(&key);
  idp_backend *b = idp_backend_local(tmpdir);
  assert_int_equal(idp_backend_lock(b, "dev", 0, "test", &err), 0);
  bool written = false;
  assert_int_equal(idp_backend_write(b, st, &written, &err), 0);
  assert_true(written);
  assert_int_equal(idp_state_serial(st), 1);
  const char *l = idp_state_lineage(st);
  assert_non_null(l);
  assert_int_equal(strlen(l), 36);
  assert_int_equal(l[14], '4'); /* UUID v4 */
  assert_true(strchr("89ab", l[19]) != NULL);
  char lineage[37];
  strcpy(lineage, l);
  /* Nothing changed: no write, same serial. Setting equal values (the secret too) is no change. */
  json_t *v = json_string(plaintext);
  assert_int_equal(idp_state_res_set(st, idp_state_find(st, role), IDP_STATE_INPUTS, "password", v, true, &err), 0);
  json_decref(v);
  v = json_string("shop_dev");
  assert_int_equal(idp_state_res_set(st, idp_state_find(st, role), IDP_STATE_INPUTS, "name", v, false, &err), 0);
  json_decref(v);
  idp_state_res_set_status(st, idp_state_find(st, role), IDP_STATE_CREATED);
  assert_false(idp_state_dirty(st));
  assert_int_equal(idp_backend_write(b, st, &written, &err), 0);
  assert_false(written);
  assert_int_equal(idp_state_serial(st), 1);
  /* A change: serial 2, same lineage. */
  idp_state_res_set_status(st, idp_state_find(st, pw), IDP_STATE_CREATED);
  assert_int_equal(idp_backend_write(b, st, &written, &err), 0);
  assert_true(written);
  assert_int_equal(idp_state_serial(st), 2);
  assert_string_equal(idp_state_lineage(st), lineage);
  idp_backend_free(b);

  idp_state *back = read_dev(&key);
  assert_int_equal(idp_state_serial(back), 2);
  assert_string_equal(idp_state_lineage(back), lineage);
  assert_int_equal(idp_state_check_secrets(back, "dev.json", &err), 0);

  /* A second writer that read serial 2 cannot overwrite serial 3 written by another. */
  b = idp_backend_local(tmpdir);
  assert_int_equal(idp_backend_lock(b, "dev", 0, "test", &err), 0);
  idp_state *stale = NULL;
  assert_int_equal(idp_backend_read(b, "dev", &key, &stale, &err), 0);
  idp_state_res_set_status(back, idp_state_find(back, pw), IDP_STATE_TAINTED);
  idp_backend *b2 = idp_backend_local(tmpdir);
  idp_backend_unlock(b, "dev");
  assert_int_equal(idp_backend_lock(b2, "dev", 0, "test", &err), 0);
  assert_int_equal(idp_backend_write(b2, back, &written, &err), 0);
  idp_backend_free(b2);
  assert_int_equal(idp_backend_lock(b, "dev", 0, "test", &err), 0);
  idp_state_remove(stale, pw, NULL);
  expect_err(idp_backend_write(b, stale, &written, &err), IDP_STATE_ESTALE, &err, "changed since it was read");
  assert_int_equal(idp_state_serial(stale), 2); /* untouched by the failed write */
  idp_backend_free(b);
  idp_state_free(stale);
  idp_state_free(back);
  idp_state_free(st);
}

static void secrets(void **state) {
  (void)state;
  idp_state_error err = {0};
  idp_state_key key = key_of(key_hex), other = key_of(other_hex);
  idp_state *st = sample(&key);
  write_dev(st);
  idp_state_free(st);
  char *text = slurp(path_in(".idp/state/dev.json"));
  assert_null(strstr(text, plaintext));
  free(text);

  /* Round trip with the key. */
  st = read_dev(&key);
  assert_true(idp_state_has_secrets(st));
  json_t *v = NULL;
  bool secret = false;
  assert_int_equal(idp_state_res_get(st, idp_state_find(st, role), IDP_STATE_INPUTS, "password", &v, &secret, &err), 0);
  assert_true(secret);
  assert_string_equal(json_string_value(v), plaintext);
  json_decref(v);
  assert_int_equal(idp_state_res_get(st, idp_state_find(st, role), IDP_STATE_INPUTS, "name", &v, &secret, &err), 0);
  assert_false(secret);
  json_decref(v);
  idp_state_free(st);

  /* Wrong key: a clear error, never garbage. */
  st = read_dev(&other);
  expect_err(idp_state_res_get(st, idp_state_find(st, role), IDP_STATE_INPUTS, "password", &v, NULL, &err),
             IDP_STATE_EDECRYPT, &err, "not the key this state was written with");
  assert_null(v);
  expect_err(idp_state_check_secrets(st, "dev.json", &err), IDP_STATE_EDECRYPT, &err, "dev.json: ");
  assert_non_null(strstr(err.msg, role));
  idp_state_free(st);

  /* No key: reading the secret says how to set one; the rest of the state reads fine. */
  st = read_dev(NULL);
  expect_err(idp_state_res_get(st, idp_state_find(st, role), IDP_STATE_INPUTS, "password", &v, NULL, &err),
             IDP_STATE_ENOKEY, &err, "IDP_STATE_KEY");
  expect_err(idp_state_check_secrets(st, "dev.json", &err), IDP_STATE_ENOKEY, &err, "IDP_STATE_KEY");
  assert_int_equal(idp_state_res_get(st, idp_state_find(st, role), IDP_STATE_INPUTS, "name", &v, NULL, &err), 0);
  json_decref(v);
  /* ... and storing a secret fails with the recipe. */
  v = json_string(plaintext);
  expect_err(idp_state_res_set(st, idp_state_find(st, pw), IDP_STATE_OUTPUTS, "result", v, true, &err),
             IDP_STATE_ENOKEY, &err, "head -c 32 /dev/urandom");
  assert_non_null(strstr(err.msg, "export IDP_STATE_KEY="));
  json_decref(v);
  idp_state_free(st);

  /* A plain value may not pose as a sealed one. */
  st = idp_state_new("dev", NULL);
  idp_state_res *r = NULL;
  assert_int_equal(idp_state_add(st, role, "postgres.role", &r, &err), 0);
  v = json_pack("{s:{s:s}}", "x", "$secret", "v1:AAAA");
  expect_err(idp_state_res_set(st, r, IDP_STATE_INPUTS, "m", v, false, &err), IDP_STATE_EINVALID, &err, "$secret");
  json_decref(v);
  idp_state_free(st);
}

/* Replaces the first occurrence of from in the state file with to. */
static void edit_file(const char *from, const char *to) {
  char *text = slurp(path_in(".idp/state/dev.json"));
  char *at = strstr(text, from);
  if (!at) FAIL("'%s' not in the state file", from);
  idp_buf b = {0};
  idp_buf_append(&b, text, (size_t)(at - text));
  idp_buf_puts(&b, to);
  idp_buf_puts(&b, at + strlen(from));
  spit(path_in(".idp/state/dev.json"), idp_buf_cstr(&b));
  idp_buf_free(&b);
  free(text);
}

static void tampered_and_moved(void **state) {
  (void)state;
  idp_state_error err = {0};
  idp_state_key key = key_of(key_hex);
  idp_state *st = sample(&key);
  json_t *v = json_string("another");
  assert_int_equal(idp_state_res_set(st, idp_state_find(st, pw), IDP_STATE_OUTPUTS, "result", v, true, &err), 0);
  json_decref(v);
  write_dev(st);
  const json_t *sealed = json_object_get(idp_state_res_map(idp_state_find(st, role), IDP_STATE_INPUTS), "password");
  char ct[256];
  snprintf(ct, sizeof ct, "%s", json_string_value(json_object_get(sealed, "$secret")));
  idp_state_free(st);

  /* One flipped base64 digit in the ciphertext. */
  char bad[256];
  strcpy(bad, ct);
  size_t mid = strlen(bad) / 2;
  bad[mid] = bad[mid] == 'A' ? 'B' : 'A';
  edit_file(ct, bad);
  st = read_dev(&key);
  expect_err(idp_state_res_get(st, idp_state_find(st, role), IDP_STATE_INPUTS, "password", &v, NULL, &err),
             IDP_STATE_EDECRYPT, &err, "authentication failed");
  idp_state_free(st);
  edit_file(bad, ct);

  /* The password's ciphertext copied into another attribute (AAD: address + path). */
  char quoted[300];
  snprintf(quoted, sizeof quoted, "{\n          \"$secret\": \"%s\"\n        }", ct);
  edit_file("\"name\": \"shop_dev\"", "\"name\": PLACEHOLDER");
  edit_file("PLACEHOLDER", quoted);
  st = read_dev(&key);
  v = NULL;
  expect_err(idp_state_res_get(st, idp_state_find(st, role), IDP_STATE_INPUTS, "name", &v, NULL, &err),
             IDP_STATE_EDECRYPT, &err, "inputs/name");
  assert_int_equal(idp_state_res_get(st, idp_state_find(st, role), IDP_STATE_INPUTS, "password", &v, NULL, &err), 0);
  json_decref(v);
  /* ... or into the same attribute path of another resource. */
  json_t *moved = NULL;
  const json_t *orig = json_object_get(idp_state_res_map(idp_state_find(st, role), IDP_STATE_INPUTS), "password");
  expect_err(idp_state_unseal(&moved, &key, pw, "inputs/password", orig, &err), IDP_STATE_EDECRYPT, &err, pw);
  assert_int_equal(idp_state_unseal(&moved, &key, role, "inputs/password", orig, &err), 0);
  assert_string_equal(json_string_value(moved), plaintext);
  json_decref(moved);

  /* state mv re-seals for the new address: the value opens there, and only there. */
  const char *to = "env.dev/app.shop/need.db/postgres.role.admin";
  expect_err(idp_state_move(st, role, to, &err), IDP_STATE_EDECRYPT, &err, "inputs/name"); /* the bad copy */
  assert_non_null(idp_state_find(st, role));
  v = json_string("shop_dev");
  assert_int_equal(idp_state_res_set(st, idp_state_find(st, role), IDP_STATE_INPUTS, "name", v, false, &err), 0);
  json_decref(v);
  assert_int_equal(idp_state_move(st, role, to, &err), 0);
  assert_null(idp_state_find(st, role));
  assert_int_equal(idp_state_res_get(st, idp_state_find(st, to), IDP_STATE_INPUTS, "password", &v, NULL, &err), 0);
  assert_string_equal(json_string_value(v), plaintext);
  json_decref(v);
  idp_state_free(st);
}

static void no_key_move_and_keys(void **state) {
  (void)state;
  idp_state_error err = {0};
  idp_state_key key = key_of(key_hex);
  idp_state *st = sample(&key);
  idp_state_set_key(st, NULL);
  const char *to = "env.dev/app.shop/need.db/postgres.role.admin";
  expect_err(idp_state_move(st, role, to, &err), IDP_STATE_ENOKEY, &err, "IDP_STATE_KEY");
  assert_non_null(idp_state_find(st, role)); /* unchanged */
  /* Without secrets a move needs no key; dependencies follow; never onto a taken address. */
  expect_err(idp_state_move(st, role, pw, &err), IDP_STATE_EINVALID, &err, "random.password");
  idp_state_set_key(st, &key);
  idp_state_res *r = NULL;
  assert_int_equal(idp_state_add(st, to, "postgres.role", &r, &err), 0);
  expect_err(idp_state_move(st, role, to, &err), IDP_STATE_EEXISTS, &err, to);
  assert_int_equal(idp_state_remove(st, to, &err), 0);
  const char *pw2 = "env.dev/app.shop/need.db/random.password.pw2";
  assert_int_equal(idp_state_move(st, pw, pw2, &err), 0);
  assert_string_equal(idp_state_res_dep(idp_state_find(st, role), 0), pw2);
  expect_err(idp_state_move(st, pw, pw2, &err), IDP_STATE_ENOTFOUND, &err, pw);
  expect_err(idp_state_move(st, pw2, "random.password.shared", &err), IDP_STATE_EINVALID, &err, "not in the state");
  expect_err(idp_state_add(st, "env.prod/app.x/need.y/a.b.c", "a.b", NULL, &err), IDP_STATE_EINVALID, &err, "dev");
  expect_err(idp_state_remove(st, "nope.nope.nope", &err), IDP_STATE_ENOTFOUND, &err, NULL);
  idp_state_free(st);

  /* Keys: hex, base64 (with or without padding), else a clear error that never quotes the text. */
  idp_state_key k;
  assert_int_equal(idp_state_key_parse(&k, "  000102030405060708090A0B0C0D0E0F101112131415161718191a1b1c1d1e1f\n", &err), 0);
  assert_memory_equal(k.bytes, key.bytes, 32);
  assert_int_equal(idp_state_key_parse(&k, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", &err), 0);
  assert_memory_equal(k.bytes, key.bytes, 32);
  assert_int_equal(idp_state_key_parse(&k, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", &err), 0);
  assert_memory_equal(k.bytes, key.bytes, 32);
  expect_err(idp_state_key_parse(&k, "hunter2hunter2", &err), IDP_STATE_EINVALID, &err, "64 hex digits");
  assert_null(strstr(err.msg, "hunter2"));
  expect_err(idp_state_key_parse(&k, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g", &err),
             IDP_STATE_EINVALID, &err, NULL);
  const char *saved = getenv("IDP_STATE_KEY");
  char *copy = saved ? strdup(saved) : NULL;
  unsetenv("IDP_STATE_KEY");
  expect_err(idp_state_key_from_env(&k, &err), IDP_STATE_ENOKEY, &err, "openssl rand -hex 32");
  setenv("IDP_STATE_KEY", key_hex, 1);
  assert_int_equal(idp_state_key_from_env(&k, &err), 0);
  if (copy) setenv("IDP_STATE_KEY", copy, 1);
  else unsetenv("IDP_STATE_KEY");
  free(copy);

  /* Addresses. */
  char *env = NULL, *drv = NULL;
  assert_int_equal(idp_state_address_parse(role, &env, &drv, &err), 0);
  assert_string_equal(env, "dev");
  assert_string_equal(drv, "postgres.role");
  free(env);
  free(drv);
  assert_int_equal(idp_state_address_parse("powerdns.zone.dev-zone", &env, &drv, &err), 0);
  assert_null(env);
  assert_string_equal(drv, "powerdns.zone");
  free(drv);
  const char *bad[] = {"", "env.Dev/app.a/need.b/x.y.z", "env.dev", "env.dev/app.a//x.y.z", "x.y", "app.a/x.y.z",
                       "env.dev/app.a/need.b/x.y.", "Powerdns.zone.z"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    if (idp_state_address_parse(bad[i], NULL, NULL, &err) != IDP_STATE_EINVALID) FAIL("'%s' accepted", bad[i]);
  assert_true(idp_state_env_name_ok("pr-42"));
  assert_false(idp_state_env_name_ok("_shared"));
  assert_false(idp_state_env_name_ok("a234567890123456789012345678901"));

  /* Durations. */
  double s = -1;
  assert_int_equal(idp_parse_duration("0", &s), 0);
  assert_true(s == 0);
  assert_int_equal(idp_parse_duration("10", &s), 0);
  assert_true(s == 10);
  assert_int_equal(idp_parse_duration("10s", &s), 0);
  assert_true(s == 10);
  assert_int_equal(idp_parse_duration("1m30s", &s), 0);
  assert_true(s == 90);
  assert_int_equal(idp_parse_duration("500ms", &s), 0);
  assert_true(s == 0.5);
  assert_int_equal(idp_parse_duration("10x", &s), -1);
  assert_int_equal(idp_parse_duration("", &s), -1);
  assert_int_equal(idp_parse_duration("-1", &s), -1);
  assert_int_equal(idp_parse_duration("1m30", &s), -1);
}

/* Writes text as dev.json, checks that reading and writing are refused with needle in the error,
 * and that the file is left byte for byte. */
static void expect_refused(const char *text, const char *needle) {
  idp_state_error err = {0};
  mkdir(path_in(".idp"), 0700);
  mkdir(path_in(".idp/state"), 0700);
  spit(path_in(".idp/state/dev.json"), text);
  idp_backend *b = idp_backend_local(tmpdir);
  assert_int_equal(idp_backend_lock(b, "dev", 0, "test", &err), 0);
  idp_state *st = NULL;
  expect_err(idp_backend_read(b, "dev", NULL, &st, &err), IDP_STATE_EREFUSED, &err, needle);
  assert_non_null(strstr(err.msg, ".idp/state/dev.json"));
  assert_null(st);
  /* Any later write refuses too: a fresh state, or one read before the file went bad. */
  st = idp_state_new("dev", NULL);
  assert_int_equal(idp_state_add(st, pw, "random.password", NULL, &err), 0);
  bool written = true;
  expect_err(idp_backend_write(b, st, &written, &err), IDP_STATE_EREFUSED, &err, needle);
  assert_false(written);
  assert_null(idp_state_lineage(st));
  idp_state_free(st);
  idp_backend_free(b);
  char *now = slurp(path_in(".idp/state/dev.json"));
  assert_string_equal(now, text);
  free(now);
}

static void refused_files(void **state) {
  (void)state;
  expect_refused("{\n  \"version\": 1,\n  \"lineage\": oops\n}\n", "dev.json:3:");
  expect_refused("{\"version\": 2, \"lineage\": \"x\", \"serial\": 1, \"resources\": []}\n", "version 2 is newer");
  expect_refused("[1, 2]\n", "not an object");
  expect_refused("", "malformed");
  expect_refused("{\"version\": 1, \"lineage\": \"6a3d5f87-8813-4c47-b723-2b357dd03352\", \"serial\": 1, \"env\": \"prod\", "
                 "\"resources\": []}\n",
                 "not of environment dev");
  expect_refused("{\"version\": 1, \"lineage\": \"6a3d5f87-8813-4c47-b723-2b357dd03352\", \"serial\": 1, \"env\": \"dev\", "
                 "\"resources\": [{\"address\": \"env.dev/app.a/need.b/x.y.z\", \"driver\": \"x.y\", \"status\": \"gone\"}]}\n",
                 "unknown status");
  expect_refused("{\"version\": 1, \"lineage\": \"6a3d5f87-8813-4c47-b723-2b357dd03352\", \"serial\": 1, \"env\": \"dev\", "
                 "\"extra\": 1, \"resources\": []}\n",
                 "unknown key \"extra\"");

  /* A state read while the file was good, written after it went bad: refused as well. */
  idp_state_error err = {0};
  remove(path_in(".idp/state/dev.json"));
  idp_state_key key = key_of(key_hex);
  idp_state *st = sample(&key);
  write_dev(st);
  idp_backend *b = idp_backend_local(tmpdir);
  assert_int_equal(idp_backend_lock(b, "dev", 0, "test", &err), 0);
  idp_state_free(st);
  assert_int_equal(idp_backend_read(b, "dev", &key, &st, &err), 0);
  spit(path_in(".idp/state/dev.json"), "{ broken");
  idp_state_res_set_status(st, idp_state_find(st, pw), IDP_STATE_CREATED);
  expect_err(idp_backend_write(b, st, NULL, &err), IDP_STATE_EREFUSED, &err, "refusing to overwrite");
  char *now = slurp(path_in(".idp/state/dev.json"));
  assert_string_equal(now, "{ broken");
  free(now);
  idp_state_free(st);
  idp_backend_free(b);
}

static void atomic_files_and_modes(void **state) {
  (void)state;
  idp_state_error err = {0};
  idp_state_key key = key_of(key_hex);
  idp_state *st = sample(&key);
  idp_backend *b = idp_backend_local(tmpdir);
  assert_int_equal(idp_backend_lock(b, "dev", 0, "test", &err), 0);
  for (int i = 0; i < 5; i++) {
    idp_state_res_set_status(st, idp_state_find(st, pw), i % 2 ? IDP_STATE_CREATED : IDP_STATE_TAINTED);
    assert_int_equal(idp_backend_write(b, st, NULL, &err), 0);
  }
  assert_int_equal(idp_state_serial(st), 5);
  /* The shared state too, and the listing. */
  idp_state *sh = idp_state_new(NULL, NULL);
  assert_int_equal(idp_state_add(sh, "powerdns.zone.dev-zone", "powerdns.zone", NULL, &err), 0);
  expect_err(idp_backend_write(b, sh, NULL, &err), IDP_STATE_EINVALID, &err, "without holding its lock");
  assert_int_equal(idp_backend_lock(b, NULL, 0, "test", &err), 0);
  assert_int_equal(idp_backend_write(b, sh, NULL, &err), 0);
  idp_state_free(sh);
  idp_backend_free(b);

  DIR *d = opendir(path_in(".idp/state"));
  assert_non_null(d);
  struct dirent *de;
  int n = 0;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' && (de->d_name[1] == '\0' || strcmp(de->d_name, "..") == 0)) continue;
    const char *ok[] = {"dev.json", "dev.lock", "_shared.json", "_shared.lock"};
    bool known = false;
    for (int i = 0; i < 4; i++) known |= strcmp(de->d_name, ok[i]) == 0;
    if (!known) FAIL("unexpected file left in .idp/state: %s", de->d_name);
    n++;
  }
  closedir(d);
  assert_int_equal(n, 4);
  struct stat sb;
  assert_int_equal(stat(path_in(".idp/state/dev.json"), &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  assert_int_equal(stat(path_in(".idp/state/_shared.json"), &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  assert_int_equal(stat(path_in(".idp/state"), &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0700);
  assert_int_equal(stat(path_in(".idp"), &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0700);

  b = idp_backend_local(tmpdir);
  bool shared = false;
  char **envs = NULL;
  size_t nenvs = 0;
  spit(path_in(".idp/state/.dev.json.tmp-abc"), "x"); /* a crashed writer's leftovers are not states */
  assert_int_equal(idp_backend_list(b, &shared, &envs, &nenvs, &err), 0);
  assert_true(shared);
  assert_int_equal(nenvs, 1);
  assert_string_equal(envs[0], "dev");
  idp_backend_free_list(envs, nenvs);
  char *p = idp_backend_path(b, NULL);
  assert_non_null(strstr(p, "/.idp/state/_shared.json"));
  free(p);
  idp_backend_free(b);
  idp_state_free(st);
}

static void lock_contention(void **state) {
  (void)state;
  int ready[2], release[2];
  assert_int_equal(pipe(ready), 0);
  assert_int_equal(pipe(release), 0);
  fflush(NULL);
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    close(ready[0]);
    close(release[1]);
    idp_backend *b = idp_backend_local(tmpdir);
    idp_state_error err = {0};
    if (idp_backend_lock(b, "prod", 0, "idp apply", &err) < 0) _exit(3);
    char c = 'x';
    if (write(ready[1], &c, 1) != 1) _exit(4);
    if (read(release[0], &c, 1) < 0) _exit(5); /* until the parent closes its end */
    _exit(0);                                  /* the lock dies with the process */
  }
  close(ready[1]);
  close(release[0]);
  char c;
  assert_int_equal(read(ready[0], &c, 1), 1);

  idp_state_error err = {0};
  idp_backend *b = idp_backend_local(tmpdir);
  char pid[32];
  snprintf(pid, sizeof pid, "pid %ld", (long)child);
  expect_err(idp_backend_lock(b, "prod", 0, "test", &err), IDP_STATE_ELOCKED, &err, pid);
  assert_non_null(strstr(err.msg, "idp apply"));
  assert_non_null(strstr(err.msg, "environment prod"));
  assert_non_null(strstr(err.msg, "-lock-timeout"));
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  expect_err(idp_backend_lock(b, "prod", 0.3, "test", &err), IDP_STATE_ELOCKED, &err, "waited");
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  if (waited < 0.29 || waited > 3) FAIL("waited %.2fs for a 0.3s lock timeout", waited);
  /* Decision 6's order, all or nothing: the locks taken before prod's are released again. */
  const char *envs[] = {"staging", "prod", "dev"};
  expect_err(idp_backend_lock_all(b, true, envs, 3, 0, "test", &err), IDP_STATE_ELOCKED, &err, "prod");
  assert_false(idp_backend_locked(b, NULL));
  assert_false(idp_backend_locked(b, "dev"));
  assert_false(idp_backend_locked(b, "staging"));
  /* The holder ends: a waiting run gets the lock. */
  close(release[1]);
  assert_int_equal(idp_backend_lock_all(b, true, envs, 3, 5, "test", &err), 0);
  assert_true(idp_backend_locked(b, NULL));
  assert_true(idp_backend_locked(b, "prod"));
  int status = 0;
  assert_int_equal(waitpid(child, &status, 0), child);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(ready[0]);
  idp_backend_free(b);
}

static void big_state(void **state) {
  (void)state;
  /* The index survives growth, removals and moves. */
  idp_state_error err = {0};
  idp_state *st = idp_state_new("dev", NULL);
  char addr[128];
  for (int i = 0; i < 3000; i++) {
    snprintf(addr, sizeof addr, "env.dev/app.a%d/need.db/postgres.role.r", i);
    assert_int_equal(idp_state_add(st, addr, "postgres.role", NULL, &err), 0);
  }
  for (int i = 0; i < 3000; i += 2) {
    snprintf(addr, sizeof addr, "env.dev/app.a%d/need.db/postgres.role.r", i);
    assert_int_equal(idp_state_remove(st, addr, &err), 0);
  }
  for (int i = 1; i < 3000; i += 4) {
    char to[128];
    snprintf(addr, sizeof addr, "env.dev/app.a%d/need.db/postgres.role.r", i);
    snprintf(to, sizeof to, "env.dev/app.b%d/need.db/postgres.role.r", i);
    assert_int_equal(idp_state_move(st, addr, to, &err), 0);
  }
  assert_int_equal(idp_state_count(st), 1500);
  for (int i = 0; i < 3000; i++) {
    snprintf(addr, sizeof addr, "env.dev/app.%s%d/need.db/postgres.role.r", i % 4 == 1 ? "b" : "a", i);
    bool want = i % 2 == 1;
    if ((idp_state_find(st, addr) != NULL) != want) FAIL("%s: found %d", addr, !want);
  }
  idp_state_free(st);
}

/* Decision 9's pins: set, kept through a write and a read, changed, forgotten; the shared state
 * keeps none; malformed pins are refused. */
static void pins(void **state) {
  (void)state;
  idp_state_key key = key_of(key_hex);
  idp_state *st = sample(&key);
  assert_null(idp_state_pin(st, "shop"));
  assert_null(idp_state_pins(st));
  idp_state_set_pin(st, "shop", "r.test/acme/shop@sha256:aa", "shop-release", "shop-release-1", "2026-11-27T10:00:00Z");
  write_dev(st);
  idp_state_free(st);
  st = read_dev(&key);
  assert_string_equal(idp_state_pin(st, "shop"), "r.test/acme/shop@sha256:aa");
  assert_string_equal(json_string_value(json_object_get(json_object_get(idp_state_pins(st), "shop"), "run")),
                      "shop-release-1");
  assert_false(idp_state_dirty(st));
  idp_state_set_pin(st, "shop", "r.test/acme/shop@sha256:aa", "shop-release", "shop-release-1", "2026-11-27T10:00:00Z");
  assert_false(idp_state_dirty(st)); /* the same pin again changes nothing */
  idp_state_set_pin(st, "shop", "r.test/acme/shop@sha256:bb", "shop-release", "shop-release-2", NULL);
  assert_true(idp_state_dirty(st));
  assert_string_equal(idp_state_pin(st, "shop"), "r.test/acme/shop@sha256:bb");
  idp_state_set_pin(st, "shop", NULL, NULL, NULL, NULL);
  assert_null(idp_state_pin(st, "shop"));
  assert_null(idp_state_pins(st));
  char *text = idp_state_dump(st);
  assert_null(strstr(text, "\"pins\""));
  free(text);
  idp_state_free(st);
  idp_state *shared = idp_state_new(NULL, NULL);
  idp_state_set_pin(shared, "shop", "r.test/acme/shop@sha256:aa", NULL, NULL, NULL);
  assert_null(idp_state_pins(shared));
  idp_state_free(shared);
  const char *head = "{\"version\": 1, \"lineage\": \"6a3d5f87-8813-4c47-b723-2b357dd03352\", \"serial\": 1, \"env\": \"dev\", ";
  char buf[512];
  snprintf(buf, sizeof buf, "%s\"pins\": [], \"resources\": []}\n", head);
  expect_refused(buf, "\"pins\" must be an object");
  snprintf(buf, sizeof buf, "%s\"pins\": {\"shop\": {\"run\": \"x\"}}, \"resources\": []}\n", head);
  expect_refused(buf, "the pin of app shop must be an object with an \"image\" string");
  snprintf(buf, sizeof buf, "%s\"pins\": {\"shop\": {\"image\": \"i\", \"by\": \"x\"}}, \"resources\": []}\n", head);
  expect_refused(buf, "unknown key \"by\" in the pin of app shop");
}

int test_state(void) {
  const struct CMUnitTest tests[] = {
      ST_TEST(round_trip),       ST_TEST(serial_and_lineage),     ST_TEST(secrets),         ST_TEST(tampered_and_moved),
      ST_TEST(no_key_move_and_keys), ST_TEST(refused_files),      ST_TEST(atomic_files_and_modes), ST_TEST(lock_contention),
      ST_TEST(big_state),        ST_TEST(pins),
  };
  return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}
