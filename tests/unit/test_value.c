/* test_value.c - values (value.h), the evaluator (eval.h) and the function table (funcs.c).
 *
 * Each test parses `x = EXPR` and evaluates EXPR with a context whose references come from a small
 * table (ref_table below) and whose environment variables come from env_table, never from the
 * real environment. */
#include "unit.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval.h"
#include "value.h"

/* --- the context the tests evaluate in ------------------------------------------------------ */

typedef struct ref_row {
  const char *path;   /* dotted: root.step.step */
  idp_value *value;
} ref_row;

enum { MAX_REFS = 32 };
static ref_row refs[MAX_REFS];
static size_t nrefs;
static idp_eval_ctx CTX;

static const char *env_table[][2] = {
    {"HOME", "/home/tester"},
    {"PDNS_API", "http://pdns:8081"},
    {"EMPTY", ""},
};

static const char *test_getenv(const char *name, void *payload) {
  (void)payload;
  for (size_t i = 0; i < sizeof env_table / sizeof env_table[0]; i++)
    if (strcmp(env_table[i][0], name) == 0) return env_table[i][1];
  return NULL;
}

/* The longest dotted prefix of root.steps that the table holds. Index steps go into the path as
 * `[n]` / `["k"]`, so the table can hold them too, but it holds none: the evaluator applies them. */
static int table_resolve(idp_ref_result *res, const char *root, const idp_ref_step *steps, size_t n,
                         void *payload) {
  (void)payload;
  idp_buf b = {0};
  idp_buf_puts(&b, root);
  size_t best_used = 0;
  idp_value *best = NULL;
  size_t prefix_ok = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i > 0) {
      if (!steps[i - 1].name) break;
      idp_buf_printf(&b, ".%s", steps[i - 1].name);
    }
    const char *p = idp_buf_cstr(&b);
    for (size_t r = 0; r < nrefs; r++) {
      if (strcmp(refs[r].path, p) == 0) {
        best = refs[r].value;
        best_used = i;
      }
      size_t pl = strlen(p);
      if (strncmp(refs[r].path, p, pl) == 0 && refs[r].path[pl] == '.' && i > prefix_ok) prefix_ok = i;
    }
  }
  idp_buf_free(&b);
  if (!best) {
    res->used = prefix_ok;
    if (strcmp(root, "integration") == 0) res->hint = "declare it: integration DRIVER \"NAME\" { ... }";
    return IDP_EVAL_NOT_FOUND;
  }
  res->value = best;
  res->used = best_used;
  return IDP_EVAL_OK;
}

static void add_ref(const char *path, idp_value *v) {
  assert_true(nrefs < MAX_REFS);
  refs[nrefs].path = path;
  refs[nrefs].value = v;
  nrefs++;
}

static idp_value *with_dep(idp_value *v, const char *addr) {
  return idp_value_taint(&F->arena, v, idp_deps_one(&F->arena, addr), false);
}

static idp_value *str(const char *s) { return idp_value_cstring(&F->arena, s); }

static const char *ZONE = "powerdns.zone.dev-zone";
static const char *PW = "env.dev/app.shop/need.db/random.password.pw";
static const char *ROLE = "env.dev/app.shop/need.db/postgres.role.owner";

static void setup_refs(void) {
  idp_arena *a = &F->arena;
  nrefs = 0;
  add_ref("env.name", str("dev"));
  add_ref("env.type", str("development"));
  add_ref("app.name", str("shop"));
  add_ref("app.port", idp_value_number(a, 8080));
  {
    idp_map_builder mb;
    idp_map_builder_init(&mb, a);
    idp_map_builder_add(&mb, "url", 3, str("http://127.0.0.1:5000"));
    add_ref("integration.main", idp_map_builder_build(&mb, NULL));
  }
  add_ref("powerdns.zone.dev-zone.name", with_dep(str("dev.example.test."), ZONE));
  add_ref("powerdns.zone.dev-zone.id", with_dep(idp_value_unknown(a, IDP_V_STRING), ZONE));
  idp_value *pw = idp_value_taint(a, str("hunter2"), idp_deps_one(a, PW), true);
  add_ref("need.db.password", pw);
  add_ref("need.db.user", with_dep(str("shop_dev"), ROLE));
  add_ref("need.db.port", idp_value_number(a, 5432));
  add_ref("resource.pw.value", idp_value_taint(a, idp_value_unknown(a, IDP_V_STRING), idp_deps_one(a, PW), true));
  add_ref("resource.any.thing", with_dep(idp_value_unknown(a, IDP_V_UNKNOWN), "random.id.thing"));
  {
    idp_value *items[3] = {idp_value_number(a, 10), idp_value_number(a, 20), idp_value_number(a, 30)};
    add_ref("nums", idp_value_list(a, items, 3));
  }
  {
    /* Per-key taint: only B is secret. */
    idp_map_builder mb;
    idp_map_builder_init(&mb, a);
    idp_map_builder_add(&mb, "A", 1, str("one"));
    idp_map_builder_add(&mb, "B", 1, pw);
    idp_map_builder_add(&mb, "C", 1, with_dep(str("three"), ROLE));
    add_ref("app.variables", idp_map_builder_build(&mb, NULL));
  }
}

static int val_setup(void **state) {
  int rc = fx_setup(state);
  if (rc) return rc;
  setup_refs();
  return 0;
}

#define VT(f) cmocka_unit_test_setup_teardown(f, val_setup, fx_teardown)

static const char *expr_src(const char *expr) { return idp_arena_sprintf(&F->arena, "x = %s\n", expr); }

/* Evaluates expr; returns the result code and the value in *out. */
static int eval_in(const char *expr, bool in_app, idp_value **out) {
  idp_file *f = parse_str("test.idp", expr_src(expr), NULL);
  if (F->diags.errors) FAIL("parse errors in %s:\n%s", expr, diags_text());
  idp_eval_ctx_init(&CTX, &F->arena, &F->diags, f->src);
  CTX.resolve = table_resolve;
  CTX.getenv = test_getenv;
  CTX.in_app = in_app;
  CTX.spec_dir = "/nonexistent-spec-dir";
  return idp_eval(&CTX, top_attr(f, "x"), out);
}

static idp_value *ev(const char *expr) {
  idp_value *v = NULL;
  int rc = eval_in(expr, false, &v);
  if (rc != IDP_EVAL_OK) FAIL("evaluating %s failed:\n%s", expr, diags_text());
  assert_non_null(v);
  return v;
}

/* The diagnostics of an expression that must fail. */
static const char *ev_err(const char *expr) {
  idp_value *v = (idp_value *)1;
  int rc = eval_in(expr, false, &v);
  if (rc != IDP_EVAL_ERROR) FAIL("%s: expected an error", expr);
  assert_null(v);
  if (F->diags.errors == 0) FAIL("%s: failed without a diagnostic", expr);
  return diags_text();
}

/* The first line of the diagnostics of an expression that must fail. */
static const char *err_line(const char *expr) {
  const char *t = ev_err(expr);
  const char *nl = strchr(t, '\n');
  return idp_arena_strndup(&F->arena, t, nl ? (size_t)(nl - t) : strlen(t));
}

static const char *json_of(const idp_value *v) {
  char *s = idp_value_json_text(v);
  if (!s) return "<unknown>";
  const char *copy = idp_arena_strndup(&F->arena, s, strlen(s));
  free(s);
  return copy;
}

#define EXPECT_JSON(expr, want) assert_string_equal(json_of(ev(expr)), (want))
#define EXPECT_ERR(expr, want) assert_string_equal(err_line(expr), (want))
/* A fresh diagnostics set, since an error on the line of the last one is dropped. */
#define RESET() (idp_diags_free(&F->diags))

static void assert_unknown(const idp_value *v, idp_value_kind hint) {
  assert_int_equal(v->kind, IDP_V_UNKNOWN);
  assert_string_equal(idp_value_kind_name(v->u.unknown.hint), idp_value_kind_name(hint));
}

static const char *deps_str(const idp_value *v) {
  const idp_deps *d = idp_value_deps_deep(&F->arena, v);
  idp_buf b = {0};
  for (size_t i = 0; i < idp_deps_count(d); i++) idp_buf_printf(&b, "%s%s", i ? " " : "", d->addr[i]);
  const char *s = idp_arena_strndup(&F->arena, b.data ? b.data : "", b.len);
  idp_buf_free(&b);
  return s;
}

static const char *printed(const idp_value *v) {
  idp_buf b = {0};
  idp_value_print(&b, v, 0);
  const char *s = idp_arena_strndup(&F->arena, idp_buf_cstr(&b), b.len);
  idp_buf_free(&b);
  return s;
}

/* === values ================================================================================= */

static void value_constructors_and_types(void **state) {
  (void)state;
  idp_arena *a = &F->arena;
  assert_string_equal(idp_value_type_name(idp_value_null(a)), "null");
  assert_string_equal(idp_value_type_name(idp_value_bool(a, true)), "bool");
  assert_string_equal(idp_value_type_name(idp_value_number(a, 1)), "number");
  assert_string_equal(idp_value_type_name(str("s")), "string");
  assert_string_equal(idp_value_type_name(idp_value_list(a, NULL, 0)), "list");
  assert_string_equal(idp_value_type_name(idp_value_unknown(a, IDP_V_UNKNOWN)), "unknown");
  assert_string_equal(idp_value_type_name(idp_value_unknown(a, IDP_V_STRING)), "string");
  /* -0 is 0; strings keep embedded length. */
  assert_string_equal(json_of(idp_value_number(a, -0.0)), "0");
  idp_value *s = idp_value_string(a, "ab\0c", 4);
  assert_int_equal(s->u.string.len, 4);
  assert_int_equal(s->u.string.s[4], '\0');
}

static void value_map_sorted_and_dups(void **state) {
  (void)state;
  idp_map_builder mb;
  idp_map_builder_init(&mb, &F->arena);
  const char *names[] = {"zeta", "alpha", "mid", "alpha", "b"};
  for (int i = 0; i < 5; i++) idp_map_builder_add(&mb, names[i], strlen(names[i]), idp_value_number(&F->arena, i));
  const char *dup;
  idp_value *m = idp_map_builder_build(&mb, &dup);
  assert_string_equal(dup, "alpha");
  assert_int_equal(m->u.map.n, 4);
  /* Sorted bytewise; the last "alpha" wins. */
  assert_string_equal(json_of(m), "{\"alpha\":3,\"b\":4,\"mid\":2,\"zeta\":0}");
  assert_non_null(idp_map_get(m, "mid", 3));
  assert_null(idp_map_get(m, "mi", 2));
}

static void value_equality(void **state) {
  (void)state;
  assert_true(idp_value_equal(ev("[1, \"a\", { k = [true, null] }]"), ev("[1, \"a\", { k = [true, null] }]")));
  assert_false(idp_value_equal(ev("[1, 2]"), ev("[1, 2, 3]")));
  assert_false(idp_value_equal(ev("{ a = 1 }"), ev("{ b = 1 }")));
  assert_false(idp_value_equal(ev("1"), ev("\"1\"")));
  /* Unknown equals nothing, itself included. */
  idp_value *u = ev("powerdns.zone.dev-zone.id");
  assert_false(idp_value_equal(u, u));
  assert_false(idp_value_equal(ev("[powerdns.zone.dev-zone.id]"), ev("[powerdns.zone.dev-zone.id]")));
  /* Marks do not take part. */
  assert_true(idp_value_equal(ev("need.db.password"), ev("\"hunter2\"")));
}

static void value_deps_union(void **state) {
  (void)state;
  idp_arena *a = &F->arena;
  const idp_deps *x = idp_deps_union(a, idp_deps_one(a, "b"), idp_deps_one(a, "a"));
  const idp_deps *y = idp_deps_union(a, idp_deps_one(a, "c"), idp_deps_one(a, "b"));
  const idp_deps *u = idp_deps_union(a, x, y);
  assert_int_equal(u->n, 3);
  assert_string_equal(u->addr[0], "a");
  assert_string_equal(u->addr[2], "c");
  assert_true(idp_deps_has(u, "b"));
  assert_false(idp_deps_has(u, "d"));
  /* A subset adds nothing: the set is shared, not copied. */
  assert_ptr_equal(idp_deps_union(a, u, x), u);
  assert_ptr_equal(idp_deps_union(a, NULL, x), x);
  assert_int_equal(idp_deps_count(NULL), 0);
}

static void value_json_canonical(void **state) {
  (void)state;
  EXPECT_JSON("{ b = 1, a = [0.5, 1e21, 8080, -3], \"c\" = { z = null, y = false } }",
              "{\"a\":[0.5,1e21,8080,-3],\"b\":1,\"c\":{\"y\":false,\"z\":null}}");
  EXPECT_JSON("0.1", "0.1");
  EXPECT_JSON("1 / 3", "0.3333333333333333");
  EXPECT_JSON("\"tab\\t \\\"q\\\" \\u00e9\"", "\"tab\\t \\\"q\\\" \xc3\xa9\"");
  /* Unknown has no JSON form. */
  assert_null(idp_value_json_text(ev("[1, powerdns.zone.dev-zone.id]")));
  assert_null(idp_value_to_json(ev("powerdns.zone.dev-zone.id"), NULL));
}

static void value_json_round_trip(void **state) {
  (void)state;
  const char *text = "{\"a\":[1,2.5,\"x\",true,null],\"b\":{\"c\":{}},\"d\":[]}";
  json_error_t err;
  json_t *j = json_loads(text, JSON_DECODE_ANY, &err);
  assert_non_null(j);
  idp_value *v = idp_value_from_json(&F->arena, j);
  json_decref(j);
  assert_non_null(v);
  assert_string_equal(json_of(v), text);
  assert_true(idp_value_equal(v, ev("{ a = [1, 2.5, \"x\", true, null], b = { c = {} }, d = [] }")));
}

static void value_json_marks(void **state) {
  (void)state;
  idp_value *v = ev("{ a = need.db.password, b = [1, powerdns.zone.dev-zone.id], c = \"plain\" }");
  idp_json_marks m = {0};
  json_t *j = idp_value_to_json(v, &m);
  assert_non_null(j);
  char *s = json_dumps(j, JSON_COMPACT);
  char *su = json_dumps(m.unknown, JSON_COMPACT);
  char *ss = json_dumps(m.secret, JSON_COMPACT);
  /* The secret is not in the JSON: it is null there and marked. */
  assert_string_equal(s, "{\"a\":null,\"b\":[1,null],\"c\":\"plain\"}");
  assert_string_equal(su, "{\"b\":[false,true]}");
  assert_string_equal(ss, "{\"a\":true}");
  free(s);
  free(su);
  free(ss);
  json_decref(j);
  json_decref(m.unknown);
  json_decref(m.secret);
  /* Nothing marked: NULL trees. */
  idp_json_marks m2 = {0};
  j = idp_value_to_json(ev("[1]"), &m2);
  assert_null(m2.unknown);
  assert_null(m2.secret);
  json_decref(j);
}

static void value_printer(void **state) {
  (void)state;
  idp_value *v = ev("{ e = powerdns.zone.dev-zone.id, a = 1.5, \"c d\" = need.db.password, b = [true, null, \"s\"], f = {}, g = [] }");
  assert_string_equal(printed(v),
                      "{\n"
                      "  a = 1.5\n"
                      "  b = [\n"
                      "    true,\n"
                      "    null,\n"
                      "    \"s\",\n"
                      "  ]\n"
                      "  \"c d\" = (secret)\n"
                      "  e = (known after apply)\n"
                      "  f = {}\n"
                      "  g = []\n"
                      "}");
  /* A wholly secret map shows nothing of itself. */
  assert_string_equal(printed(ev("secret({ a = 1 })")), "(secret)");
  idp_buf b = {0};
  idp_value_print_inline(&b, ev("{ a = [1, 2], b = \"x\\ny${\"$\"}{z}\" }"));
  assert_string_equal(idp_buf_cstr(&b), "{ a = [1, 2], b = \"x\\ny$${z}\" }");
  idp_buf_free(&b);
}

/* === operators ============================================================================== */

static void eval_literals(void **state) {
  (void)state;
  EXPECT_JSON("null", "null");
  EXPECT_JSON("true", "true");
  EXPECT_JSON("8080", "8080");
  EXPECT_JSON("\"hi\"", "\"hi\"");
  EXPECT_JSON("[1, [2], {}]", "[1,[2],{}]");
  EXPECT_JSON("{ a = 1, \"b-c\": 2, (\"d\") = 3, (1) = \"num key\", (true) = 4 }",
              "{\"1\":\"num key\",\"a\":1,\"b-c\":2,\"d\":3,\"true\":4}");
  EXPECT_JSON("(((7)))", "7");
}

static void eval_arithmetic(void **state) {
  (void)state;
  EXPECT_JSON("1 + 2 * 3", "7");
  EXPECT_JSON("(1 + 2) * 3", "9");
  EXPECT_JSON("10 - 4 - 3", "3");
  EXPECT_JSON("7 / 2", "3.5");
  EXPECT_JSON("7 % 3", "1");
  EXPECT_JSON("-7 % 3", "-1");
  EXPECT_JSON("-(2 + 3)", "-5");
  EXPECT_JSON("app.port + 1", "8081");
}

static void eval_arithmetic_errors(void **state) {
  (void)state;
  EXPECT_ERR("1 / 0", "test.idp:1:9: error: division by zero");
  RESET();
  EXPECT_ERR("5 % (1 - 1)", "test.idp:1:9: error: modulo by zero");
  RESET();
  EXPECT_ERR("1e308 * 10", "test.idp:1:5: error: the result of '*' is out of range");
  RESET();
  EXPECT_ERR("-\"a\"", "test.idp:1:6: error: unary '-' needs a number, found string");
  RESET();
  EXPECT_ERR("2 * true", "test.idp:1:9: error: '*' needs numbers, found bool");
}

static void eval_plus_is_not_concat(void **state) {
  (void)state;
  const char *t = ev_err("\"a\" + \"b\"");
  assert_non_null(strstr(t, "test.idp:1:5: error: '+' needs numbers, found string\n"));
  assert_non_null(strstr(t, "hint: '+' does not join strings: use interpolation (\"${a}${b}\"), format() or join()"));
  RESET();
  t = ev_err("1 + app.name");
  assert_non_null(strstr(t, "test.idp:1:9: error: '+' needs numbers, found string\n"));
  assert_non_null(strstr(t, "hint: '+' does not join strings"));
}

static void eval_comparison(void **state) {
  (void)state;
  EXPECT_JSON("[1 < 2, 2 < 1, 2 <= 2, 3 >= 4, 3 > 2]", "[true,false,true,false,true]");
  EXPECT_ERR("\"a\" < \"b\"", "test.idp:1:5: error: '<' needs numbers, found string");
}

static void eval_equality_all_kinds(void **state) {
  (void)state;
  EXPECT_JSON("[1 == 1, 1 == 2, \"a\" == \"a\", \"a\" != \"b\", null == null, true == true]",
              "[true,false,true,true,true,true]");
  EXPECT_JSON("[[1, [2]] == [1, [2]], { a = 1 } == { a = 1 }, { a = 1 } != { a = 2 }, 1 == \"1\", null == false]",
              "[true,true,true,false,false]");
  EXPECT_JSON("env.name == \"dev\"", "true");
}

static void eval_logic_short_circuit(void **state) {
  (void)state;
  EXPECT_JSON("[true && false, true || false, !true, !(1 == 2)]", "[false,true,false,true]");
  /* The right side is not evaluated when the left decides: no error from it. */
  EXPECT_JSON("false && nosuch.ref", "false");
  EXPECT_JSON("true || 1 / 0 == 1", "true");
  EXPECT_ERR("1 && true", "test.idp:1:5: error: '&&' needs bools, found number");
  RESET();
  EXPECT_ERR("false || \"x\"", "test.idp:1:14: error: '||' needs bools, found string");
  RESET();
  EXPECT_ERR("!null", "test.idp:1:6: error: '!' needs a bool, found null");
}

static void eval_conditional(void **state) {
  (void)state;
  EXPECT_JSON("env.type == \"production\" ? \"info\" : \"debug\"", "\"debug\"");
  EXPECT_JSON("true ? 1 : nosuch.ref", "1");
  EXPECT_JSON("false ? 1 : true ? 2 : 3", "2");
  EXPECT_ERR("\"yes\" ? 1 : 2", "test.idp:1:5: error: the condition must be a bool, found string");
}

static void eval_conditional_unknown(void **state) {
  (void)state;
  /* An unknown condition: unknown result, both branches' dependencies (and the condition's). */
  idp_value *v = ev("powerdns.zone.dev-zone.id == \"x\" ? need.db.user : \"fixed\"");
  assert_unknown(v, IDP_V_STRING);
  assert_string_equal(deps_str(v), "env.dev/app.shop/need.db/postgres.role.owner powerdns.zone.dev-zone");
  assert_false(v->secret);
  v = ev("powerdns.zone.dev-zone.id == \"x\" ? 1 : need.db.password");
  assert_unknown(v, IDP_V_UNKNOWN);
  assert_true(v->secret);
  /* A known condition: the chosen branch, carrying the condition's marks. */
  v = ev("need.db.password == \"hunter2\" ? \"a\" : \"b\"");
  assert_string_equal(v->u.string.s, "a");
  assert_true(v->secret);
  assert_string_equal(deps_str(v), PW);
}

static void eval_index_and_attr(void **state) {
  (void)state;
  EXPECT_JSON("nums[1]", "20");
  EXPECT_JSON("[\"a\", \"b\"][1]", "\"b\"");
  EXPECT_JSON("{ a = { b = [5, 6] } }.a.b[0]", "5");
  EXPECT_JSON("{ \"x.y\" = 1 }[\"x.y\"]", "1");
  EXPECT_JSON("app.variables.A", "\"one\"");
  EXPECT_JSON("app.variables[\"C\"]", "\"three\"");
  EXPECT_JSON("integration.main.url", "\"http://127.0.0.1:5000\"");
  EXPECT_JSON("nums[2 - 1]", "20");
}

static void eval_index_errors(void **state) {
  (void)state;
  EXPECT_ERR("nums[3]", "test.idp:1:5: error: index 3 out of range for a list of 3 elements");
  RESET();
  EXPECT_ERR("nums[0.5]", "test.idp:1:5: error: a list index must be a whole number, found 0.5");
  RESET();
  EXPECT_ERR("nums[\"a\"]", "test.idp:1:5: error: a list index must be a number, found string");
  RESET();
  EXPECT_ERR("{ a = 1 }[0]", "test.idp:1:5: error: a map key must be a string, found number");
  RESET();
  EXPECT_ERR("\"abc\"[0]", "test.idp:1:5: error: cannot index a string");
  RESET();
  const char *t = ev_err("{ name = 1 }.nmae");
  assert_non_null(strstr(t, "test.idp:1:18: error: the map has no key 'nmae'\n"));
  assert_non_null(strstr(t, "hint: did you mean 'name'?"));
  RESET();
  t = ev_err("[1].x");
  assert_non_null(strstr(t, "test.idp:1:9: error: cannot read attribute 'x' of a list\n"));
  assert_non_null(strstr(t, "hint: a list is indexed by number: list[0]"));
  RESET();
  EXPECT_ERR("{ a = 1 }[\"b\"]", "test.idp:1:5: error: the map has no key \"b\"");
}

static void eval_index_per_key_taint(void **state) {
  (void)state;
  /* Reading one key of a map keeps that entry's own marks only. */
  idp_value *a = ev("app.variables.A");
  assert_false(a->secret);
  assert_string_equal(deps_str(a), "");
  idp_value *b = ev("app.variables.B");
  assert_true(b->secret);
  assert_string_equal(deps_str(b), PW);
  idp_value *m = ev("app.variables");
  assert_false(m->secret); /* not wholesale */
  assert_true(idp_value_has_secret(m));
  /* A secret index taints what it picks. */
  idp_value *s = ev("{ hunter2 = \"x\", y = \"z\" }[need.db.password]");
  assert_string_equal(s->u.string.s, "x");
  assert_true(s->secret);
  RESET();
  const char *t = ev_err("{ a = 1 }[need.db.password]");
  assert_non_null(strstr(t, "error: the map has no such key (the key is secret)"));
  assert_null(strstr(t, "hunter2"));
}

static void eval_map_literal_errors(void **state) {
  (void)state;
  EXPECT_ERR("{ a = 1, b = 2, a = 3 }", "test.idp:1:21: error: duplicate key 'a' in map");
  RESET();
  EXPECT_ERR("{ ([1]) = 1 }", "test.idp:1:7: error: a map key must be a string, found list");
  RESET();
  /* A computed key from a secret makes the map wholesale secret. */
  idp_value *m = ev("{ (need.db.password) = 1, b = 2 }");
  assert_true(m->secret);
}

static void eval_references(void **state) {
  (void)state;
  idp_value *v = ev("powerdns.zone.dev-zone.name");
  assert_string_equal(v->u.string.s, "dev.example.test.");
  assert_string_equal(deps_str(v), ZONE);
  /* The resolver consumed a prefix; the evaluator applies the rest. */
  EXPECT_JSON("integration.main[\"url\"]", "\"http://127.0.0.1:5000\"");
}

static void eval_reference_errors(void **state) {
  (void)state;
  const char *t = ev_err("integration.mian.url");
  assert_non_null(strstr(t, "test.idp:1:5: error: unknown reference 'integration.mian'\n"));
  assert_non_null(strstr(t, "hint: declare it: integration DRIVER \"NAME\" { ... }"));
  RESET();
  EXPECT_ERR("powerdns.zone.prod-zone.name", "test.idp:1:5: error: unknown reference 'powerdns.zone.prod-zone'");
  RESET();
  EXPECT_ERR("nosuch", "test.idp:1:5: error: unknown reference 'nosuch'");
  RESET();
  /* Without a resolver every reference is unknown to the evaluator. */
  idp_file *f = parse_str("test.idp", "x = app.name\n", NULL);
  idp_eval_ctx c;
  idp_eval_ctx_init(&c, &F->arena, &F->diags, f->src);
  idp_value *v;
  assert_int_equal(idp_eval(&c, top_attr(f, "x"), &v), IDP_EVAL_ERROR);
  assert_non_null(strstr(diags_text(), "unknown reference 'app.name'"));
}

static void eval_all_errors_reported(void **state) {
  (void)state;
  /* Siblings are evaluated after an error: every mistake is reported. */
  idp_file *f = parse_str("test.idp", "x = [\n  1 / 0,\n  uper(\"a\"),\n  nosuch,\n]\n", NULL);
  expect_errors(0);
  idp_eval_ctx c;
  idp_eval_ctx_init(&c, &F->arena, &F->diags, f->src);
  c.resolve = table_resolve;
  idp_value *v;
  assert_int_equal(idp_eval(&c, top_attr(f, "x"), &v), IDP_EVAL_ERROR);
  expect_errors(3);
  const char *t = diags_text();
  assert_non_null(strstr(t, "test.idp:2:7: error: division by zero"));
  assert_non_null(strstr(t, "test.idp:3:3: error: unknown function 'uper'"));
  assert_non_null(strstr(t, "test.idp:4:3: error: unknown reference 'nosuch'"));
}

/* === unknown, secret, dependencies ============================================================ */

static void unknown_through_operators(void **state) {
  (void)state;
  assert_unknown(ev("powerdns.zone.dev-zone.id == \"a\""), IDP_V_BOOL);
  assert_unknown(ev("resource.any.thing + 1"), IDP_V_NUMBER);
  assert_unknown(ev("resource.any.thing < 1"), IDP_V_BOOL);
  assert_unknown(ev("-resource.any.thing"), IDP_V_NUMBER);
  assert_unknown(ev("!resource.any.thing"), IDP_V_BOOL);
  assert_unknown(ev("resource.any.thing.field[0]"), IDP_V_UNKNOWN);
  assert_unknown(ev("nums[resource.any.thing]"), IDP_V_UNKNOWN);
  assert_unknown(ev("[1, 2] == [1, powerdns.zone.dev-zone.id]"), IDP_V_BOOL);
  /* A typed unknown of the wrong type is an error now, not after apply. */
  EXPECT_ERR("powerdns.zone.dev-zone.id * 2", "test.idp:1:5: error: '*' needs numbers, found string");
}

static void unknown_logic(void **state) {
  (void)state;
  /* unknown && false is false whatever the unknown is; unknown && true is unknown. */
  EXPECT_JSON("resource.any.thing && false", "false");
  EXPECT_JSON("resource.any.thing || true", "true");
  idp_value *v = ev("resource.any.thing && true");
  assert_unknown(v, IDP_V_BOOL);
  assert_string_equal(deps_str(v), "random.id.thing");
}

static void unknown_containers(void **state) {
  (void)state;
  /* A list may be known with unknown elements. */
  idp_value *v = ev("[1, powerdns.zone.dev-zone.id]");
  assert_int_equal(v->kind, IDP_V_LIST);
  assert_true(idp_value_has_unknown(v));
  assert_string_equal(deps_str(v), ZONE);
  /* A map with an unknown key is itself unknown. */
  v = ev("{ (powerdns.zone.dev-zone.id) = 1, b = need.db.user }");
  assert_unknown(v, IDP_V_MAP);
  assert_string_equal(deps_str(v), "env.dev/app.shop/need.db/postgres.role.owner powerdns.zone.dev-zone");
}

static void unknown_through_interpolation(void **state) {
  (void)state;
  idp_value *v = ev("\"id-${powerdns.zone.dev-zone.id}-${need.db.user}\"");
  assert_unknown(v, IDP_V_STRING);
  assert_string_equal(deps_str(v), "env.dev/app.shop/need.db/postgres.role.owner powerdns.zone.dev-zone");
  assert_string_equal(printed(v), "(known after apply)");
}

static void unknown_through_functions(void **state) {
  (void)state;
  idp_value *v = ev("upper(powerdns.zone.dev-zone.id)");
  assert_unknown(v, IDP_V_STRING);
  assert_string_equal(deps_str(v), ZONE);
  assert_unknown(ev("join(\",\", [\"a\", powerdns.zone.dev-zone.id])"), IDP_V_STRING);
  assert_unknown(ev("jsonencode({ a = powerdns.zone.dev-zone.id })"), IDP_V_STRING);
  assert_unknown(ev("contains([\"a\", powerdns.zone.dev-zone.id], \"a\")"), IDP_V_BOOL);
  /* Shallow functions keep what is known. */
  EXPECT_JSON("length([1, powerdns.zone.dev-zone.id])", "2");
  EXPECT_JSON("lookup({ a = 1, b = powerdns.zone.dev-zone.id }, \"a\")", "1");
  v = ev("lookup({ a = 1, b = powerdns.zone.dev-zone.id }, \"b\")");
  assert_unknown(v, IDP_V_STRING);
  assert_string_equal(deps_str(v), ZONE);
  assert_unknown(ev("length(resource.any.thing)"), IDP_V_NUMBER);
}

static void secret_through_interpolation(void **state) {
  (void)state;
  idp_value *v = ev("\"postgres://${need.db.user}:${need.db.password}@h:${need.db.port}\"");
  assert_int_equal(v->kind, IDP_V_STRING);
  assert_true(v->secret);
  assert_string_equal(deps_str(v), "env.dev/app.shop/need.db/postgres.role.owner " "env.dev/app.shop/need.db/random.password.pw");
  assert_string_equal(printed(v), "(secret)");
  /* Unknown and secret at once. */
  v = ev("\"pw=${resource.pw.value}\"");
  assert_unknown(v, IDP_V_STRING);
  assert_true(v->secret);
}

static void secret_through_operators_and_functions(void **state) {
  (void)state;
  assert_true(ev("need.db.password == \"x\"")->secret);
  assert_true(ev("upper(need.db.password)")->secret);
  assert_true(ev("sha256(need.db.password)")->secret);
  assert_true(ev("base64encode(need.db.password)")->secret);
  assert_true(ev("jsonencode({ a = need.db.password })")->secret);
  assert_true(ev("length(need.db.password)")->secret);
  assert_true(ev("format(\"%s\", need.db.password)")->secret);
  assert_false(ev("upper(need.db.user)")->secret);
  /* A list of secrets has a public length; a secret list does not. */
  assert_false(ev("length([need.db.password])")->secret);
  assert_true(ev("length(jsondecode(need.db.password == \"\" ? \"[]\" : \"[1]\"))")->secret);
}

static void secret_per_key_through_functions(void **state) {
  (void)state;
  idp_value *m = ev("merge(app.variables, { D = \"four\" })");
  assert_false(m->secret);
  assert_true(idp_map_get(m, "B", 1)->secret);
  assert_false(idp_map_get(m, "A", 1)->secret);
  assert_false(idp_map_get(m, "D", 1)->secret);
  /* Entries of a wholly secret map become secret one by one in the merge. */
  m = ev("merge(secret({ s = 1 }), { p = 2 })");
  assert_false(m->secret);
  assert_true(idp_map_get(m, "s", 1)->secret);
  assert_false(idp_map_get(m, "p", 1)->secret);
  assert_false(ev("lookup(app.variables, \"A\")")->secret);
  assert_true(ev("lookup(app.variables, \"B\")")->secret);
  idp_value *l = ev("concat([need.db.password], [\"x\"])");
  assert_false(l->secret);
  assert_true(l->u.list.items[0]->secret);
  assert_false(l->u.list.items[1]->secret);
}

static void deps_through_everything(void **state) {
  (void)state;
  const char *both = "env.dev/app.shop/need.db/postgres.role.owner powerdns.zone.dev-zone";
  assert_string_equal(deps_str(ev("\"${need.db.user}.${powerdns.zone.dev-zone.name}\"")), both);
  assert_string_equal(deps_str(ev("format(\"%s.%s\", need.db.user, powerdns.zone.dev-zone.name)")), both);
  assert_string_equal(deps_str(ev("need.db.user == powerdns.zone.dev-zone.name")), both);
  assert_string_equal(deps_str(ev("[need.db.user, powerdns.zone.dev-zone.name]")), both);
  assert_string_equal(deps_str(ev("trimsuffix(powerdns.zone.dev-zone.name, \".\")")), ZONE);
  assert_string_equal(deps_str(ev("length(\"x\")")), "");
  /* A literal depends on nothing. */
  assert_string_equal(deps_str(ev("{ a = [1, \"b\"] }")), "");
}

/* === templates and heredocs ================================================================= */

static void template_interpolation(void **state) {
  (void)state;
  EXPECT_JSON("\"${app.name}_${env.name}\"", "\"shop_dev\"");
  EXPECT_JSON("\"n=${1 + 1} f=${0.5} b=${true} big=${1e21}\"", "\"n=2 f=0.5 b=true big=1e21\"");
  EXPECT_JSON("\"say ${upper(\"hi ${app.name}\")}\"", "\"say HI SHOP\"");
  EXPECT_JSON("\"$${literal}\"", "\"${literal}\"");
}

static void template_interpolation_errors(void **state) {
  (void)state;
  const char *t = ev_err("\"a ${nums} b\"");
  assert_non_null(strstr(t, "test.idp:1:10: error: cannot interpolate a list\n"));
  assert_non_null(strstr(t, "hint: make one string of it with join(\", \", list) or jsonencode()"));
  RESET();
  EXPECT_ERR("\"${app.variables}\"", "test.idp:1:8: error: cannot interpolate a map");
  RESET();
  EXPECT_ERR("\"${null}\"", "test.idp:1:8: error: cannot interpolate null");
}

static void heredoc_plain_and_strip(void **state) {
  (void)state;
  idp_value *v;
  /* `<<` keeps the text as written. */
  idp_file *f = parse_ok("x = <<EOT\n  a\n    b\nEOT\ny = <<-EOT\n    a\n      b ${app.name}\n\n    c\n    EOT\n");
  idp_eval_ctx c;
  idp_eval_ctx_init(&c, &F->arena, &F->diags, f->src);
  c.resolve = table_resolve;
  assert_int_equal(idp_eval(&c, top_attr(f, "x"), &v), IDP_EVAL_OK);
  assert_string_equal(v->u.string.s, "  a\n    b\n");
  /* `<<-` strips the common indentation; a blank line does not count. */
  assert_int_equal(idp_eval(&c, top_attr(f, "y"), &v), IDP_EVAL_OK);
  assert_string_equal(v->u.string.s, "a\n  b shop\n\nc\n");
}

static void heredoc_strip_edge_cases(void **state) {
  (void)state;
  idp_value *v;
  /* A line that starts with an interpolation has no indentation: nothing is stripped. Tabs count
   * as one blank each. Indentation is computed on the literal text: an interpolated value's
   * leading blanks are not stripped. */
  idp_file *f = parse_ok(
      "x = <<-EOT\n  a\n${app.name}\n  EOT\n"
      "y = <<-EOT\n\t\tone\n\t\t  two\n\tEOT\n"
      "z = <<-EOT\n    ${\"  v\"}\n      w\n    EOT\n");
  idp_eval_ctx c;
  idp_eval_ctx_init(&c, &F->arena, &F->diags, f->src);
  c.resolve = table_resolve;
  assert_int_equal(idp_eval(&c, top_attr(f, "x"), &v), IDP_EVAL_OK);
  assert_string_equal(v->u.string.s, "  a\nshop\n");
  assert_int_equal(idp_eval(&c, top_attr(f, "y"), &v), IDP_EVAL_OK);
  assert_string_equal(v->u.string.s, "one\n  two\n");
  assert_int_equal(idp_eval(&c, top_attr(f, "z"), &v), IDP_EVAL_OK);
  assert_string_equal(v->u.string.s, "  v\n  w\n");
}

/* === calls ================================================================================== */

static void call_unknown_function(void **state) {
  (void)state;
  const char *t = ev_err("uper(\"a\")");
  assert_non_null(strstr(t, "test.idp:1:5: error: unknown function 'uper'\n"));
  assert_non_null(strstr(t, "hint: did you mean 'upper'?"));
  RESET();
  t = ev_err("frobnicate(1)");
  assert_non_null(strstr(t, "unknown function 'frobnicate'"));
  assert_null(strstr(t, "did you mean"));
}

static void call_arity(void **state) {
  (void)state;
  const char *t = ev_err("upper(\"a\", \"b\")");
  assert_non_null(strstr(t, "test.idp:1:5: error: upper() takes 1 argument, got 2\n"));
  assert_non_null(strstr(t, "hint: upper(string)"));
  RESET();
  EXPECT_ERR("lookup({})", "test.idp:1:5: error: lookup() takes 2 to 3 arguments, got 1");
  RESET();
  EXPECT_ERR("merge()", "test.idp:1:5: error: merge() takes at least 1 argument, got 0");
  RESET();
  EXPECT_ERR("replace(\"a\")", "test.idp:1:5: error: replace() takes 3 arguments, got 1");
}

static void call_argument_types(void **state) {
  (void)state;
  EXPECT_ERR("upper(1)", "test.idp:1:11: error: upper(): argument 1 must be a string, found number");
  RESET();
  EXPECT_ERR("join(\",\", \"a\")", "test.idp:1:15: error: join(): argument 2 must be a list, found string");
  RESET();
  EXPECT_ERR("length(true)", "test.idp:1:12: error: length(): argument 1 must be a list, map or string, found bool");
}

static void trust_app_blocks(void **state) {
  (void)state;
  /* Decision 12: no env(), file() or secret() inside an app block. */
  idp_value *v;
  assert_int_equal(eval_in("env(\"HOME\")", true, &v), IDP_EVAL_ERROR);
  const char *t = diags_text();
  assert_non_null(strstr(t, "test.idp:1:5: error: env() is not available in an app block\n"));
  assert_non_null(strstr(t, "hint: app specs come from app teams"));
  RESET();
  assert_int_equal(eval_in("\"${file(\"x\")}\"", true, &v), IDP_EVAL_ERROR);
  assert_non_null(strstr(diags_text(), "test.idp:1:8: error: file() is not available in an app block"));
  RESET();
  assert_int_equal(eval_in("secret(\"x\")", true, &v), IDP_EVAL_ERROR);
  assert_non_null(strstr(diags_text(), "secret() is not available in an app block"));
  /* Other functions are fine there, and so is all of it outside apps. */
  RESET();
  assert_int_equal(eval_in("upper(app.name)", true, &v), IDP_EVAL_OK);
  assert_int_equal(eval_in("env(\"HOME\")", false, &v), IDP_EVAL_OK);
}

static void fn_env(void **state) {
  (void)state;
  EXPECT_JSON("env(\"PDNS_API\")", "\"http://pdns:8081\"");
  EXPECT_JSON("env(\"PDNS_API\", \"default\")", "\"http://pdns:8081\"");
  EXPECT_JSON("env(\"MISSING\", \"http://127.0.0.1:8081\")", "\"http://127.0.0.1:8081\"");
  EXPECT_JSON("env(\"EMPTY\", \"x\")", "\"\"");
  const char *t = ev_err("env(\"PG_ADMIN_DSN\")");
  assert_non_null(strstr(t, "test.idp:1:5: error: environment variable 'PG_ADMIN_DSN' is not set\n"));
  assert_non_null(strstr(t, "hint: set it, or give a default: env(\"PG_ADMIN_DSN\", \"...\")"));
  RESET();
  EXPECT_ERR("env(\"\")", "test.idp:1:9: error: env(): \"\" is not a valid environment variable name");
}

static void fn_file(void **state) {
  (void)state;
  char dir[] = "/tmp/idp-val-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char *path = idp_arena_sprintf(&F->arena, "%s/motd.txt", dir);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs("hello\n", fp);
  fclose(fp);
  char *bin = idp_arena_sprintf(&F->arena, "%s/bin", dir);
  fp = fopen(bin, "w");
  assert_non_null(fp);
  fputs("\xff\xfe", fp);
  fclose(fp);

  idp_file *f = parse_ok("a = file(\"motd.txt\")\nb = file(\"nope.txt\")\nc = file(\"bin\")\nd = file(\"~/x\")\n");
  idp_eval_ctx c;
  idp_eval_ctx_init(&c, &F->arena, &F->diags, f->src);
  c.spec_dir = dir;
  c.getenv = test_getenv;
  idp_value *v;
  int rc_a = idp_eval(&c, top_attr(f, "a"), &v);
  if (rc_a == IDP_EVAL_OK) assert_string_equal(v->u.string.s, "hello\n");
  int rc_b = idp_eval(&c, top_attr(f, "b"), &v);
  int rc_c = idp_eval(&c, top_attr(f, "c"), &v);
  int rc_d = idp_eval(&c, top_attr(f, "d"), &v);
  const char *t = diags_text();
  unlink(path);
  unlink(bin);
  rmdir(dir);
  assert_int_equal(rc_a, IDP_EVAL_OK);
  assert_int_equal(rc_b, IDP_EVAL_ERROR);
  assert_int_equal(rc_c, IDP_EVAL_ERROR);
  assert_int_equal(rc_d, IDP_EVAL_ERROR);
  assert_non_null(strstr(t, idp_arena_sprintf(&F->arena, "test.idp:2:10: error: file(): cannot read '%s/nope.txt': No such file or directory", dir)));
  assert_non_null(strstr(t, idp_arena_sprintf(&F->arena, "test.idp:3:10: error: file(): '%s/bin' is not UTF-8 text", dir)));
  /* `~` is expanded with HOME from the context's environment. */
  assert_non_null(strstr(t, "test.idp:4:10: error: file(): cannot read '/home/tester/x': No such file or directory"));
}

static void fn_secret(void **state) {
  (void)state;
  idp_value *v = ev("secret(\"s3cr3t\")");
  assert_true(v->secret);
  assert_string_equal(v->u.string.s, "s3cr3t"); /* kept, but never printed */
  assert_string_equal(printed(v), "(secret)");
  v = ev("secret(env(\"PDNS_API\"))");
  assert_true(v->secret);
  v = ev("secret(resource.any.thing)");
  assert_unknown(v, IDP_V_UNKNOWN);
  assert_true(v->secret);
  v = ev("secret({ a = 1 })");
  assert_true(v->secret);
  /* What is read out of a wholly secret map is secret. */
  assert_true(ev("secret({ a = 1 }).a")->secret);
}

static void fn_format(void **state) {
  (void)state;
  EXPECT_JSON("format(\"%s-%d %v %q 100%%\", \"a\", 42, [1, \"x\"], \"q\\\"t\")",
              "\"a-42 [1,\\\"x\\\"] \\\"q\\\\\\\"t\\\" 100%\"");
  EXPECT_JSON("format(\"%s %s %v %v\", 1.5, true, null, { b = 1 })", "\"1.5 true null {\\\"b\\\":1}\"");
  EXPECT_JSON("format(\"plain\")", "\"plain\"");
}

static void fn_format_errors(void **state) {
  (void)state;
  EXPECT_ERR("format(\"%s %s\", \"a\")", "test.idp:1:12: error: format(): the format has more verbs than the 1 argument given");
  RESET();
  EXPECT_ERR("format(\"%s\", \"a\", \"b\")", "test.idp:1:23: error: format(): 2 arguments given but the format uses 1");
  RESET();
  const char *t = ev_err("format(\"%x\", 1)");
  assert_non_null(strstr(t, "test.idp:1:12: error: format(): unknown verb '%x'\n"));
  assert_non_null(strstr(t, "hint: the verbs are %s, %d, %v, %q, and %% for a '%'"));
  RESET();
  EXPECT_ERR("format(\"%d\", 1.5)", "test.idp:1:18: error: format(): %d needs a whole number, found 1.5");
  RESET();
  EXPECT_ERR("format(\"%s\", [1])", "test.idp:1:18: error: format(): %s needs a string, number or bool, found list");
  RESET();
  EXPECT_ERR("format(\"100%\")", "test.idp:1:12: error: format(): the format ends with a lone '%'");
  RESET();
  /* A secret never reaches a message. */
  t = ev_err("format(\"%d\", 0.5 + length(need.db.password))");
  assert_non_null(strstr(t, "%d needs a whole number, found (secret)"));
}

static void fn_join_split(void **state) {
  (void)state;
  EXPECT_JSON("join(\", \", [\"a\", 1, true])", "\"a, 1, true\"");
  EXPECT_JSON("join(\"-\", [])", "\"\"");
  EXPECT_JSON("split(\",\", \"a,b,,c\")", "[\"a\",\"b\",\"\",\"c\"]");
  EXPECT_JSON("split(\"::\", \"x\")", "[\"x\"]");
  EXPECT_JSON("split(\",\", \"\")", "[\"\"]");
  EXPECT_ERR("join(\",\", [[1]])", "test.idp:1:15: error: join(): element 0 of the list is a list; only strings, numbers and bools can be joined");
  RESET();
  EXPECT_ERR("split(\"\", \"abc\")", "test.idp:1:11: error: split(): the separator is empty");
}

static void fn_case_replace_trim(void **state) {
  (void)state;
  EXPECT_JSON("[lower(\"MiXeD-1\"), upper(\"shop_dev\"), upper(\"caf\\u00e9\")]", "[\"mixed-1\",\"SHOP_DEV\",\"CAF\xc3\xa9\"]");
  EXPECT_JSON("replace(\"a.b.c\", \".\", \"::\")", "\"a::b::c\"");
  EXPECT_JSON("replace(\"aaa\", \"aa\", \"b\")", "\"ba\"");
  EXPECT_JSON("trimsuffix(\"shop.dev.example.test.\", \".\")", "\"shop.dev.example.test\"");
  EXPECT_JSON("trimsuffix(\"abc\", \"x\")", "\"abc\"");
  EXPECT_JSON("trimprefix(\"v1.2.3\", \"v\")", "\"1.2.3\"");
  EXPECT_JSON("trimprefix(\"v\", \"vv\")", "\"v\"");
  EXPECT_ERR("replace(\"abc\", \"\", \"x\")", "test.idp:1:20: error: replace(): the string to replace is empty");
}

static void fn_lookup(void **state) {
  (void)state;
  EXPECT_JSON("lookup({ a = 1 }, \"a\")", "1");
  EXPECT_JSON("lookup({ a = 1 }, \"b\", \"dflt\")", "\"dflt\"");
  const char *t = ev_err("lookup({ name = 1 }, \"nam\")");
  assert_non_null(strstr(t, "test.idp:1:26: error: lookup(): the map has no key \"nam\"\n"));
  assert_non_null(strstr(t, "hint: did you mean 'name'?"));
  RESET();
  t = ev_err("lookup({ a = 1 }, need.db.password)");
  assert_non_null(strstr(t, "lookup(): the map has no such key (the key is secret)"));
  assert_null(strstr(t, "hunter2"));
}

static void fn_merge_concat(void **state) {
  (void)state;
  EXPECT_JSON("merge({ a = 1, b = 2 }, { b = 3, c = 4 }, {})", "{\"a\":1,\"b\":3,\"c\":4}");
  EXPECT_JSON("concat([1], [], [2, [3]])", "[1,2,[3]]");
  EXPECT_ERR("merge({}, [1])", "test.idp:1:15: error: merge(): argument 2 must be a map, found list");
  RESET();
  EXPECT_ERR("concat([1], { a = 1 })", "test.idp:1:17: error: concat(): argument 2 must be a list, found map");
}

static void fn_length_contains(void **state) {
  (void)state;
  EXPECT_JSON("[length([1, 2, 3]), length({ a = 1 }), length(\"\"), length(\"caf\\u00e9\"), length(\"\\U0001F600x\")]",
              "[3,1,0,4,2]");
  EXPECT_JSON("[contains([\"a\", \"b\"], \"b\"), contains([1, 2], \"1\"), contains([[1]], [1]), contains([], null)]",
              "[true,false,true,false]");
  EXPECT_ERR("contains({ a = 1 }, 1)", "test.idp:1:14: error: contains(): argument 1 must be a list, found map");
}

static void fn_sha256(void **state) {
  (void)state;
  EXPECT_JSON("sha256(\"\")", "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"");
  EXPECT_JSON("sha256(\"abc\")", "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"");
  EXPECT_ERR("sha256([])", "test.idp:1:12: error: sha256(): argument 1 must be a string, found list");
}

static void fn_base64(void **state) {
  (void)state;
  EXPECT_JSON("[base64encode(\"\"), base64encode(\"f\"), base64encode(\"fo\"), base64encode(\"foo\"), base64encode(\"caf\\u00e9\")]",
              "[\"\",\"Zg==\",\"Zm8=\",\"Zm9v\",\"Y2Fmw6k=\"]");
  EXPECT_JSON("[base64decode(\"\"), base64decode(\"Zg==\"), base64decode(\"Zm8=\"), base64decode(\"Zm9v\")]",
              "[\"\",\"f\",\"fo\",\"foo\"]");
  EXPECT_JSON("base64decode(base64encode(\"round trip \\u00e9\"))", "\"round trip \xc3\xa9\"");
  const char *t = ev_err("base64decode(\"Zm9\")");
  assert_non_null(strstr(t, "test.idp:1:18: error: base64decode(): the argument is not valid base64\n"));
  assert_non_null(strstr(t, "hint: base64 text is groups of 4"));
  RESET();
  EXPECT_ERR("base64decode(\"Zm9v!A==\")", "test.idp:1:18: error: base64decode(): the argument is not valid base64");
  RESET();
  EXPECT_ERR("base64decode(\"Z=9v\")", "test.idp:1:18: error: base64decode(): the argument is not valid base64");
  RESET();
  EXPECT_ERR("base64decode(\" Zm9v\")", "test.idp:1:18: error: base64decode(): the argument is not valid base64");
  RESET();
  /* 0xFF 0xFE: bytes, not text. */
  EXPECT_ERR("base64decode(\"//4=\")", "test.idp:1:18: error: base64decode(): the decoded bytes are not UTF-8 text");
}

static void fn_json(void **state) {
  (void)state;
  EXPECT_JSON("jsonencode({ z = 1, a = [true, null, \"s\"], m = 0.5 })", "\"{\\\"a\\\":[true,null,\\\"s\\\"],\\\"m\\\":0.5,\\\"z\\\":1}\"");
  EXPECT_JSON("jsondecode(\"{\\\"b\\\": [1, 2.5], \\\"a\\\": {\\\"c\\\": null}}\")", "{\"a\":{\"c\":null},\"b\":[1,2.5]}");
  EXPECT_JSON("jsondecode(\"\\\"just a string\\\"\")", "\"just a string\"");
  EXPECT_JSON("jsondecode(jsonencode({ k = [1, { j = false }] })) == { k = [1, { j = false }] }", "true");
  const char *line = err_line("jsondecode(\"{nope\")");
  assert_non_null(strstr(line, "test.idp:1:16: error: jsondecode(): the argument is not valid JSON: "));
  RESET();
  EXPECT_ERR("jsondecode(\"{\\\"a\\\": 1, \\\"a\\\": 2}\")",
             "test.idp:1:16: error: jsondecode(): the argument is not valid JSON: duplicate object key near '\"a\"' (line 1, column 12)");
  RESET();
  /* A secret's text never reaches the message. */
  const char *t = ev_err("jsondecode(need.db.password)");
  assert_non_null(strstr(t, "jsondecode(): the argument is not valid JSON (line 1, column "));
  assert_null(strstr(t, "hunter2"));
}

static void fn_yamlencode(void **state) {
  (void)state;
  idp_value *v = ev("yamlencode({ name = app.name, replicas = 3, ports = [80, 443], labels = { \"app.kubernetes.io/name\" = \"shop\" }, "
                    "flags = [\"yes\", \"true\", \"123\", \"\", \"1.5\", true, null], script = \"line1\\nline2\\n\", empty = {} })");
  assert_string_equal(v->u.string.s,
                      "empty: {}\n"
                      "flags:\n"
                      "- \"yes\"\n"
                      "- \"true\"\n"
                      "- \"123\"\n"
                      "- \"\"\n"
                      "- \"1.5\"\n"
                      "- true\n"
                      "- null\n"
                      "labels:\n"
                      "  app.kubernetes.io/name: shop\n"
                      "name: shop\n"
                      "ports:\n"
                      "- 80\n"
                      "- 443\n"
                      "replicas: 3\n"
                      "script: |\n"
                      "  line1\n"
                      "  line2\n");
  /* Deterministic: the same value gives the same text. */
  assert_string_equal(ev("yamlencode({ b = 1, a = 2 })")->u.string.s, "a: 2\nb: 1\n");
  assert_unknown(ev("yamlencode([powerdns.zone.dev-zone.id])"), IDP_V_STRING);
}

static int fake_images(idp_value **out, const char **err, const idp_value *integration, const char *repository,
                       const char *pattern, void *payload) {
  (void)integration;
  int *calls = payload;
  (*calls)++;
  if (strcmp(repository, "acme/none") == 0) {
    *err = "no tag of 'acme/none' matches 'v*'";
    return -1;
  }
  *out = idp_value_string(&F->arena, "sha256:abc", 10);
  assert_string_equal(pattern, "v*");
  return 0;
}

static void fn_registry_image(void **state) {
  (void)state;
  /* No hook: known after apply (the runtime resolves it). */
  assert_unknown(ev("registry_image(integration.main, \"acme/shop\", \"v*\")"), IDP_V_STRING);
  /* With a hook: its answer, or its error at the call. */
  idp_file *f = parse_ok("a = registry_image(integration.main, \"acme/shop\", \"v*\")\n"
                         "b = registry_image(integration.main, \"acme/none\", \"v*\")\n"
                         "c = registry_image(integration.main, powerdns.zone.dev-zone.id, \"v*\")\n");
  int calls = 0;
  idp_eval_ctx c;
  idp_eval_ctx_init(&c, &F->arena, &F->diags, f->src);
  c.resolve = table_resolve;
  c.image_resolver = fake_images;
  c.image_payload = &calls;
  idp_value *v;
  assert_int_equal(idp_eval(&c, top_attr(f, "a"), &v), IDP_EVAL_OK);
  assert_string_equal(v->u.string.s, "sha256:abc");
  assert_int_equal(idp_eval(&c, top_attr(f, "b"), &v), IDP_EVAL_ERROR);
  assert_non_null(strstr(diags_text(), "test.idp:2:5: error: registry_image(): no tag of 'acme/none' matches 'v*'"));
  /* Unknown arguments: the hook is not called. */
  assert_int_equal(idp_eval(&c, top_attr(f, "c"), &v), IDP_EVAL_OK);
  assert_unknown(v, IDP_V_STRING);
  assert_string_equal(deps_str(v), ZONE);
  assert_int_equal(calls, 2);
}


static void value_number_format(void **state) {
  (void)state;
  const double ns[] = {0, -0.0, 8080, -3, 0.25, 1e15, 9007199254740992.0, 1e21, 1e-7, 0.1 + 0.2, 1.0 / 3};
  const char *want[] = {"0", "0", "8080", "-3", "0.25", "1000000000000000", "9007199254740992", "1e21",
                        "1e-7", "0.30000000000000004", "0.3333333333333333"};
  for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
    idp_buf b = {0};
    idp_number_format(&b, ns[i]);
    assert_string_equal(idp_buf_cstr(&b), want[i]);
    idp_buf_free(&b);
  }
}

static void eval_modulo_exact(void **state) {
  (void)state;
  EXPECT_JSON("[1e17 % 3, 5.5 % 2, -5.5 % 2, 2 % 5, 1e300 % 7]", "[1,1.5,-1.5,2,1]");
}

typedef struct seen_steps {
  size_t n;
  idp_ref_step steps[8];
  const char *root;
} seen_steps;

static int recording_resolve(idp_ref_result *res, const char *root, const idp_ref_step *steps, size_t n,
                             void *payload) {
  seen_steps *s = payload;
  s->root = root;
  s->n = n;
  for (size_t i = 0; i < n && i < 8; i++) s->steps[i] = steps[i];
  /* Resolve the root alone to a nested map; the evaluator applies every step. */
  idp_value *v = ev("{ b = [0, { k = [{ c = \"deep\" }] }] }");
  res->value = with_dep(v, "x.y.z");
  res->used = 0;
  return IDP_EVAL_OK;
}

static void eval_resolver_steps(void **state) {
  (void)state;
  idp_file *f = parse_ok("x = a.b[1][\"k\"][0].c\n");
  seen_steps seen = {0};
  idp_eval_ctx c;
  idp_eval_ctx_init(&c, &F->arena, &F->diags, f->src);
  c.resolve = recording_resolve;
  c.resolve_payload = &seen;
  idp_value *v;
  assert_int_equal(idp_eval(&c, top_attr(f, "x"), &v), IDP_EVAL_OK);
  assert_string_equal(v->u.string.s, "deep");
  assert_string_equal(deps_str(v), "x.y.z");
  assert_string_equal(seen.root, "a");
  assert_int_equal(seen.n, 5);
  assert_string_equal(seen.steps[0].name, "b");
  assert_null(seen.steps[1].name);
  assert_true(seen.steps[1].index->kind == IDP_V_NUMBER && seen.steps[1].index->u.number == 1);
  assert_string_equal(seen.steps[2].index->u.string.s, "k");
  assert_string_equal(seen.steps[4].name, "c");
  assert_string_equal(loc_text(f->src, seen.steps[4].loc), "c");
}

static int table_or_record(idp_ref_result *res, const char *root, const idp_ref_step *steps, size_t n,
                           void *payload) {
  if (strcmp(root, "a") == 0) return recording_resolve(res, root, steps, n, payload);
  return table_resolve(res, root, steps, n, NULL);
}

static void eval_resolver_unknown_index(void **state) {
  (void)state;
  idp_file *f = parse_ok("y = a.b[1][\"k\"][resource.any.thing].c\n");
  seen_steps seen = {0};
  idp_eval_ctx c;
  idp_eval_ctx_init(&c, &F->arena, &F->diags, f->src);
  c.resolve = table_or_record;
  c.resolve_payload = &seen;
  idp_value *v;
  assert_int_equal(idp_eval(&c, top_attr(f, "y"), &v), IDP_EVAL_OK);
  assert_int_equal(seen.n, 3); /* b, [1], ["k"]: the unknown index ends the chain handed over */
  assert_unknown(v, IDP_V_UNKNOWN);
  assert_string_equal(deps_str(v), "random.id.thing x.y.z");
}

static void fn_registry_image_handle(void **state) {
  (void)state;
  /* The integration argument names the registry: its secret or unknown attributes do not make
   * the image secret or unknown. */
  setup_refs();
  idp_map_builder mb;
  idp_map_builder_init(&mb, &F->arena);
  idp_map_builder_add(&mb, "password", 8, idp_value_taint(&F->arena, str("pw"), NULL, true));
  idp_map_builder_add(&mb, "id", 2, idp_value_unknown(&F->arena, IDP_V_STRING));
  add_ref("integration.private", idp_map_builder_build(&mb, NULL));
  idp_file *f = parse_ok("a = registry_image(integration.private, \"acme/shop\", \"v*\")\n");
  int calls = 0;
  idp_eval_ctx c;
  idp_eval_ctx_init(&c, &F->arena, &F->diags, f->src);
  c.resolve = table_resolve;
  c.image_resolver = fake_images;
  c.image_payload = &calls;
  c.in_app = true; /* allowed in apps */
  idp_value *v;
  assert_int_equal(idp_eval(&c, top_attr(f, "a"), &v), IDP_EVAL_OK);
  assert_string_equal(v->u.string.s, "sha256:abc");
  assert_false(v->secret);
  assert_int_equal(calls, 1);
}

static void no_secret_in_messages(void **state) {
  (void)state;
  /* Messages about secret values name their type or say (secret), never the text. */
  const char *exprs[] = {
      "nums[need.db.password == \"hunter2\" ? 7 : 8]",
      "env(secret(\"NOPE_hunter2\"))",
      "file(secret(\"hunter2.txt\"))",
      "base64decode(need.db.password)",
      "format(secret(\"%hunter2\"))",
      "lookup({ a = 1 }, need.db.password)",
  };
  for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
    RESET();
    const char *t = ev_err(exprs[i]);
    /* The source line is shown (it is the spec, not a value): look at the messages only. */
    for (const char *p = t; (p = strstr(p, "error: ")) != NULL; p++) {
      const char *nl = strchr(p, '\n');
      const char *msg = idp_arena_strndup(&F->arena, p, nl ? (size_t)(nl - p) : strlen(p));
      if (strstr(msg, "hunter2")) FAIL("secret in message of %s: %s", exprs[i], msg);
    }
  }
}

static void eval_baseline_expressions(void **state) {
  (void)state;
  /* Expressions as the baseline specs write them. */
  EXPECT_JSON("env.name == \"prod\" ? \"${app.name}.${powerdns.zone.dev-zone.name}\" : \"${app.name}.${env.name}.${powerdns.zone.dev-zone.name}\"",
              "\"shop.dev.dev.example.test.\"");
  EXPECT_JSON("trimsuffix(\"${app.name}.${env.name}.${powerdns.zone.dev-zone.name}\", \".\")", "\"shop.dev.dev.example.test\"");
  EXPECT_JSON("env(\"REGISTRY_URL\", \"http://127.0.0.1:5000\")", "\"http://127.0.0.1:5000\"");
  idp_value *v = ev("secret(env(\"PDNS_API\"))");
  assert_true(v->secret);
}

int test_value(void) {
  const struct CMUnitTest tests[] = {
      VT(value_constructors_and_types),
      VT(value_map_sorted_and_dups),
      VT(value_equality),
      VT(value_deps_union),
      VT(value_json_canonical),
      VT(value_json_round_trip),
      VT(value_json_marks),
      VT(value_printer),
      VT(eval_literals),
      VT(eval_arithmetic),
      VT(eval_arithmetic_errors),
      VT(eval_plus_is_not_concat),
      VT(eval_comparison),
      VT(eval_equality_all_kinds),
      VT(eval_logic_short_circuit),
      VT(eval_conditional),
      VT(eval_conditional_unknown),
      VT(eval_index_and_attr),
      VT(eval_index_errors),
      VT(eval_index_per_key_taint),
      VT(eval_map_literal_errors),
      VT(eval_references),
      VT(eval_reference_errors),
      VT(eval_all_errors_reported),
      VT(unknown_through_operators),
      VT(unknown_logic),
      VT(unknown_containers),
      VT(unknown_through_interpolation),
      VT(unknown_through_functions),
      VT(secret_through_interpolation),
      VT(secret_through_operators_and_functions),
      VT(secret_per_key_through_functions),
      VT(deps_through_everything),
      VT(template_interpolation),
      VT(template_interpolation_errors),
      VT(heredoc_plain_and_strip),
      VT(heredoc_strip_edge_cases),
      VT(call_unknown_function),
      VT(call_arity),
      VT(call_argument_types),
      VT(trust_app_blocks),
      VT(fn_env),
      VT(fn_file),
      VT(fn_secret),
      VT(fn_format),
      VT(fn_format_errors),
      VT(fn_join_split),
      VT(fn_case_replace_trim),
      VT(fn_lookup),
      VT(fn_merge_concat),
      VT(fn_length_contains),
      VT(fn_sha256),
      VT(fn_base64),
      VT(fn_json),
      VT(fn_yamlencode),
      VT(fn_registry_image),
      VT(fn_registry_image_handle),
      VT(value_number_format),
      VT(eval_modulo_exact),
      VT(eval_resolver_steps),
      VT(eval_resolver_unknown_index),
      VT(no_secret_in_messages),
      VT(eval_baseline_expressions),
  };
  return cmocka_run_group_tests_name("value", tests, NULL, NULL);
}
