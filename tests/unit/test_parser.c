/* test_parser.c - the syntax tree idp_parse builds for every construct, with node locations. */
#include "unit.h"

#include <string.h>

#include "util.h"

/* Shorthands for the union members, checked against the kind. */
static idp_expr *kind(idp_expr *e, idp_expr_kind k) {
  assert_non_null(e);
  if (e->kind != k)
    FAIL("expected %s, got %s", idp_expr_kind_name(k), idp_expr_kind_name(e->kind));
  return e;
}
#define LHS(e) (kind((e), IDP_E_BINARY)->u.binary.lhs)
#define RHS(e) (kind((e), IDP_E_BINARY)->u.binary.rhs)
#define OPERAND(e) (kind((e), IDP_E_UNARY)->u.unary.operand)

static void assert_unary(const idp_expr *e, idp_op op) {
  assert_non_null(e);
  assert_int_equal(e->kind, IDP_E_UNARY);
  assert_int_equal(e->u.unary.op, op);
}

static void assert_getattr(const idp_expr *e, const char *name) {
  assert_non_null(e);
  assert_int_equal(e->kind, IDP_E_GETATTR);
  assert_string_equal(e->u.getattr.name, name);
}

/* --- items ----------------------------------------------------------------------------------- */

static void parser_attribute_and_block_locations(void **state) {
  (void)state;
  idp_file *f = parse_ok("app \"shop\" {\n  port = 1 + 2 * 3\n}\n");
  assert_int_equal(f->body.n, 1);
  idp_item *b = body_item(&f->body, 0);
  assert_int_equal(b->kind, IDP_ITEM_BLOCK);
  assert_string_equal(b->name, "app");
  assert_int_equal(b->loc.start, 0);
  assert_int_equal(b->loc.end, 33);
  assert_int_equal(b->name_loc.start, 0);
  assert_int_equal(b->name_loc.end, 3);
  assert_int_equal(b->nlabels, 1);
  assert_true(b->labels->quoted);
  assert_string_equal(b->labels->name, "shop");
  assert_int_equal(b->labels->loc.start, 4);
  assert_int_equal(b->labels->loc.end, 10);
  assert_int_equal(b->open.start, 11);
  assert_int_equal(b->open.end, 12);
  assert_int_equal(b->close.start, 32);
  assert_int_equal(b->close.end, 33);

  assert_int_equal(b->body.n, 1);
  idp_item *a = body_item(&b->body, 0);
  assert_int_equal(a->kind, IDP_ITEM_ATTR);
  assert_string_equal(a->name, "port");
  assert_int_equal(a->loc.start, 15);
  assert_int_equal(a->loc.end, 31);
  assert_int_equal(a->name_loc.start, 15);
  assert_int_equal(a->name_loc.end, 19);
  idp_expr *add = a->value;
  assert_binary(add, IDP_OP_ADD);
  assert_int_equal(add->loc.start, 22);
  assert_int_equal(add->loc.end, 31);
  assert_int_equal(LHS(add)->loc.start, 22);
  assert_int_equal(LHS(add)->loc.end, 23);
  assert_int_equal(RHS(add)->loc.start, 26);
  assert_int_equal(RHS(add)->loc.end, 31);
  assert_int_equal(add->depth, 3);
}

static void parser_labels_quoted_bare_and_dotted(void **state) {
  (void)state;
  idp_file *f = parse_ok("integration powerdns \"corp-dns\" {}\n"
                         "resource gitops.deployment \"app\" {}\n"
                         "env_type development {}\n"
                         "lifecycle {\n}\n"
                         "x \"a\\\"b\" \"\" {}\n");
  assert_int_equal(f->body.n, 5);

  idp_item *i = body_item(&f->body, 0);
  assert_string_equal(i->name, "integration");
  assert_int_equal(i->nlabels, 2);
  assert_string_equal(i->labels->name, "powerdns");
  assert_false(i->labels->quoted);
  assert_loc_text(f->src, i->labels->loc, "powerdns");
  assert_string_equal(i->labels->next->name, "corp-dns");
  assert_true(i->labels->next->quoted);
  assert_loc_text(f->src, i->labels->next->loc, "\"corp-dns\"");
  assert_null(i->labels->next->next);

  idp_item *r = body_item(&f->body, 1);
  assert_int_equal(r->nlabels, 2);
  assert_string_equal(r->labels->name, "gitops.deployment");
  assert_false(r->labels->quoted);
  assert_loc_text(f->src, r->labels->loc, "gitops.deployment");
  assert_string_equal(r->labels->next->name, "app");

  idp_item *e = body_item(&f->body, 2);
  assert_int_equal(e->nlabels, 1);
  assert_string_equal(e->labels->name, "development");
  assert_false(e->labels->quoted);
  assert_int_equal(e->body.n, 0);

  idp_item *l = body_item(&f->body, 3);
  assert_int_equal(l->nlabels, 0);
  assert_null(l->labels);
  assert_loc_text(f->src, l->loc, "lifecycle {\n}");

  idp_item *x = body_item(&f->body, 4);
  assert_int_equal(x->nlabels, 2);
  assert_string_equal(x->labels->name, "a\"b");
  assert_string_equal(x->labels->next->name, "");
  assert_true(x->labels->next->quoted);
}

static void parser_label_with_interpolation_is_an_error(void **state) {
  (void)state;
  unsigned errors;
  idp_file *f = parse_str("l.idp", "app \"${x}\" {\n  port = 1\n}\nenv \"ok\" {}\n", &errors);
  assert_int_equal(errors, 1);
  assert_non_null(strstr(diags_text(), "l.idp:1:5: error: a block label must be a plain string"));
  /* The blocks are still there. */
  assert_int_equal(f->body.n, 2);
}

static void parser_nested_blocks_and_one_line_blocks(void **state) {
  (void)state;
  idp_file *f = parse_ok("provide postgres \"shared\" {\n"
                         "  match { env_type = \"development\" }\n"
                         "  resource random.password \"pw\" {\n"
                         "    length = 24\n"
                         "    lifecycle {\n"
                         "      prevent_destroy = true\n"
                         "    }\n"
                         "  }\n"
                         "  outputs {\n"
                         "    password = resource.pw.value\n"
                         "  }\n"
                         "}\n");
  idp_item *p = body_item(&f->body, 0);
  assert_int_equal(p->body.n, 3);
  idp_item *m = body_item(&p->body, 0);
  assert_string_equal(m->name, "match");
  assert_int_equal(m->body.n, 1);
  assert_plain_string(body_attr(&m->body, "env_type"), "development", 11);
  idp_item *r = body_item(&p->body, 1);
  assert_string_equal(r->name, "resource");
  assert_string_equal(r->labels->name, "random.password");
  assert_int_equal(r->body.n, 2);
  assert_number(body_attr(&r->body, "length"), 24);
  idp_item *lc = body_item(&r->body, 1);
  assert_string_equal(lc->name, "lifecycle");
  assert_true(kind(body_attr(&lc->body, "prevent_destroy"), IDP_E_BOOL)->u.boolean);
  idp_item *o = body_item(&p->body, 2);
  assert_string_equal(o->name, "outputs");
  assert_getattr(body_attr(&o->body, "password"), "value");
}

/* --- literals -------------------------------------------------------------------------------- */

static void parser_numbers_int_float_exponent(void **state) {
  (void)state;
  idp_file *f = parse_ok("a = 42\nb = 3.25\nc = 1e3\nd = 2.5E-2\ne = 0\ng = 1e+2\nh = 007\n");
  assert_number(top_attr(f, "a"), 42);
  assert_number(top_attr(f, "b"), 3.25);
  assert_number(top_attr(f, "c"), 1000);
  assert_number(top_attr(f, "d"), 0.025);
  assert_number(top_attr(f, "e"), 0);
  assert_number(top_attr(f, "g"), 100);
  assert_number(top_attr(f, "h"), 7);
  assert_loc_text(f->src, top_attr(f, "d")->loc, "2.5E-2");
}

static void parser_bool_and_null(void **state) {
  (void)state;
  idp_file *f = parse_ok("t = true\nf = false\nn = null\n");
  assert_true(kind(top_attr(f, "t"), IDP_E_BOOL)->u.boolean);
  assert_false(kind(top_attr(f, "f"), IDP_E_BOOL)->u.boolean);
  kind(top_attr(f, "n"), IDP_E_NULL);
  assert_loc_text(f->src, top_attr(f, "n")->loc, "null");
}

static void parser_string_escapes_are_decoded(void **state) {
  (void)state;
  idp_file *f = parse_ok("s = \"a\\nb\\tc\\\"q\\\"\\\\ \\u00e9 \\U0001F600\\r\"\n");
  const char want[] = "a\nb\tc\"q\"\\ \xC3\xA9 \xF0\x9F\x98\x80\r";
  idp_expr *s = top_attr(f, "s");
  assert_plain_string(s, want, sizeof want - 1);
  assert_false(s->u.template.heredoc);
  /* The part's location is the escaped source text, the template's includes the quotes. */
  assert_loc_text(f->src, s->u.template.parts->loc, "a\\nb\\tc\\\"q\\\"\\\\ \\u00e9 \\U0001F600\\r");
  assert_loc_text(f->src, s->loc, "\"a\\nb\\tc\\\"q\\\"\\\\ \\u00e9 \\U0001F600\\r\"");
}

static void parser_string_dollar_escapes(void **state) {
  (void)state;
  idp_file *f = parse_ok("s = \"$${x} costs $5 $\"\ne = \"\"\n");
  assert_plain_string(top_attr(f, "s"), "${x} costs $5 $", 15);
  idp_expr *e = kind(top_attr(f, "e"), IDP_E_TEMPLATE);
  assert_null(e->u.template.parts);
  assert_loc_text(f->src, e->loc, "\"\"");
}

static void parser_interpolation_parts(void **state) {
  (void)state;
  idp_file *f = parse_ok("u = \"http://${app.name}:${port}/x\"\n");
  idp_expr *u = kind(top_attr(f, "u"), IDP_E_TEMPLATE);
  idp_tpart *p = u->u.template.parts;
  assert_non_null(p);
  assert_string_equal(p->text, "http://");
  assert_loc_text(f->src, p->loc, "http://");
  p = p->next;
  assert_non_null(p);
  assert_null(p->text);
  assert_getattr(p->expr, "name");
  assert_ref(p->expr->u.getattr.obj, "app");
  assert_loc_text(f->src, p->loc, "${app.name}");
  assert_loc_text(f->src, p->expr->loc, "app.name");
  p = p->next;
  assert_non_null(p);
  assert_string_equal(p->text, ":");
  p = p->next;
  assert_non_null(p);
  assert_ref(p->expr, "port");
  assert_loc_text(f->src, p->loc, "${port}");
  p = p->next;
  assert_non_null(p);
  assert_string_equal(p->text, "/x");
  assert_int_equal(p->len, 2);
  assert_null(p->next);
  assert_int_equal(u->depth, 3);
}

static void parser_interpolation_holding_strings_and_maps(void **state) {
  (void)state;
  idp_file *f = parse_ok("v = \"a${f(\"}\", \"b${c}\")}d\"\nw = \"${ {k = 1}.k }\"\nx = \"${a}${b}\"\n");
  idp_tpart *p = kind(top_attr(f, "v"), IDP_E_TEMPLATE)->u.template.parts;
  assert_string_equal(p->text, "a");
  idp_expr *call = kind(p->next->expr, IDP_E_CALL);
  assert_int_equal(call->u.call.nargs, 2);
  assert_plain_string(call->u.call.args, "}", 1);
  idp_tpart *inner = kind(call->u.call.args->next, IDP_E_TEMPLATE)->u.template.parts;
  assert_string_equal(inner->text, "b");
  assert_ref(inner->next->expr, "c");
  assert_string_equal(p->next->next->text, "d");
  assert_null(p->next->next->next);

  idp_expr *w = kind(top_attr(f, "w"), IDP_E_TEMPLATE);
  idp_expr *get = w->u.template.parts->expr;
  assert_getattr(get, "k");
  assert_int_equal(kind(get->u.getattr.obj, IDP_E_MAP)->u.map.n, 1);

  idp_tpart *x = kind(top_attr(f, "x"), IDP_E_TEMPLATE)->u.template.parts;
  assert_ref(x->expr, "a");
  assert_ref(x->next->expr, "b");
  assert_null(x->next->next);
}

static void parser_heredoc_with_interpolation(void **state) {
  (void)state;
  idp_file *f = parse_ok("h = <<EOT\nhello ${name}!\n  world\nEOT\nnext = 1\n");
  assert_int_equal(f->body.n, 2);
  idp_expr *h = kind(top_attr(f, "h"), IDP_E_TEMPLATE);
  assert_true(h->u.template.heredoc);
  assert_false(h->u.template.strip);
  assert_loc_text(f->src, h->loc, "<<EOT\nhello ${name}!\n  world\nEOT");
  idp_tpart *p = h->u.template.parts;
  assert_string_equal(p->text, "hello ");
  assert_ref(p->next->expr, "name");
  assert_loc_text(f->src, p->next->loc, "${name}");
  assert_string_equal(p->next->next->text, "!\n  world\n");
  assert_null(p->next->next->next);
  assert_number(top_attr(f, "next"), 1);
}

static void parser_heredoc_strip_form(void **state) {
  (void)state;
  idp_file *f = parse_ok("app \"a\" {\n  h = <<-EOT\n    indented ${x}\n      more\n    EOT\n  y = 2\n}\n");
  idp_item *b = body_item(&f->body, 0);
  assert_int_equal(b->body.n, 2);
  idp_expr *h = kind(body_attr(&b->body, "h"), IDP_E_TEMPLATE);
  assert_true(h->u.template.heredoc);
  assert_true(h->u.template.strip);
  assert_loc_text(f->src, h->loc, "<<-EOT\n    indented ${x}\n      more\n    EOT");
  assert_ref(h->u.template.parts->next->expr, "x");
  assert_number(body_attr(&b->body, "y"), 2);
}

static void parser_heredoc_keeps_backslashes_and_dollar_escape(void **state) {
  (void)state;
  idp_file *f = parse_ok("h = <<EOT\na\\nb \"q\" $${lit} $x\nEOT\n");
  assert_plain(top_attr(f, "h"), "a\\nb \"q\" ${lit} $x\n");
}

static void parser_heredoc_edge_placements(void **state) {
  (void)state;
  /* Empty, as a call argument and list item, with an interpolation whose brackets go on over two
   * lines (a bare `${ a +` ends at its line: see lexer tests), and last in the file with no
   * newline after the delimiter. */
  idp_file *f = parse_ok("e = <<EOT\nEOT\n"
                         "c = f(<<EOT\nin call\nEOT\n, 2)\n"
                         "l = [<<A\none\nA\n, <<B\ntwo\nB\n]\n"
                         "m = <<EOT\n${ (a +\n  b) }\nEOT\n"
                         "z = <<EOT\nlast\nEOT");
  assert_int_equal(f->body.n, 5);
  idp_expr *e = kind(top_attr(f, "e"), IDP_E_TEMPLATE);
  assert_true(e->u.template.heredoc);
  assert_null(e->u.template.parts);
  idp_expr *c = kind(top_attr(f, "c"), IDP_E_CALL);
  assert_int_equal(c->u.call.nargs, 2);
  assert_plain_string(c->u.call.args, "in call\n", 8);
  idp_expr *l = kind(top_attr(f, "l"), IDP_E_LIST);
  assert_int_equal(l->u.list.n, 2);
  assert_plain_string(nth_expr(l->u.list.items, 1), "two\n", 4);
  assert_binary(kind(top_attr(f, "m"), IDP_E_TEMPLATE)->u.template.parts->expr->u.paren.inner, IDP_OP_ADD);
  idp_expr *z = top_attr(f, "z");
  assert_plain_string(z, "last\n", 5);
  assert_loc_text(f->src, z->loc, "<<EOT\nlast\nEOT");
}

/* --- collections and calls ------------------------------------------------------------------- */

static void parser_lists(void **state) {
  (void)state;
  idp_file *f = parse_ok("l = [1, \"two\", [3], {a = 4}]\ne = []\nm = [\n  1,\n  2,\n]\n");
  idp_expr *l = kind(top_attr(f, "l"), IDP_E_LIST);
  assert_int_equal(l->u.list.n, 4);
  assert_false(l->u.list.multiline);
  assert_number(nth_expr(l->u.list.items, 0), 1);
  assert_plain_string(nth_expr(l->u.list.items, 1), "two", 3);
  assert_int_equal(kind(nth_expr(l->u.list.items, 2), IDP_E_LIST)->u.list.n, 1);
  assert_int_equal(kind(nth_expr(l->u.list.items, 3), IDP_E_MAP)->u.map.n, 1);
  assert_null(nth_expr(l->u.list.items, 3)->next);
  assert_loc_text(f->src, l->loc, "[1, \"two\", [3], {a = 4}]");

  idp_expr *e = kind(top_attr(f, "e"), IDP_E_LIST);
  assert_int_equal(e->u.list.n, 0);
  assert_null(e->u.list.items);

  idp_expr *m = kind(top_attr(f, "m"), IDP_E_LIST);
  assert_int_equal(m->u.list.n, 2);
  assert_true(m->u.list.multiline);
  assert_number(nth_expr(m->u.list.items, 1), 2);
}

static void parser_maps_keys_and_separators(void **state) {
  (void)state;
  idp_file *f = parse_ok("m = { a = 1, \"b c\" = 2, d: 3 }\n"
                         "n = {\n  x = 1\n  \"y\" = 2\n\n  z: 3\n}\n"
                         "o = {}\n"
                         "p = {\n}\n"
                         "q = { (k) = 1, w = 2, }\n"
                         "r = {\n  a = 1,\n  b = 2,\n}\n");
  idp_expr *m = kind(top_attr(f, "m"), IDP_E_MAP);
  assert_int_equal(m->u.map.n, 3);
  assert_false(m->u.map.multiline);
  idp_map_entry *a = m->u.map.entries;
  assert_plain_string(a->key, "a", 1);
  assert_true(a->key_bare);
  assert_false(a->colon);
  assert_number(a->value, 1);
  assert_loc_text(f->src, a->loc, "a = 1");
  idp_map_entry *bc = a->next;
  assert_plain_string(bc->key, "b c", 3);
  assert_false(bc->key_bare);
  assert_loc_text(f->src, bc->key->loc, "\"b c\"");
  idp_map_entry *d = bc->next;
  assert_plain_string(d->key, "d", 1);
  assert_true(d->key_bare);
  assert_true(d->colon);
  assert_number(d->value, 3);
  assert_null(d->next);

  idp_expr *n = kind(top_attr(f, "n"), IDP_E_MAP);
  assert_int_equal(n->u.map.n, 3);
  assert_true(n->u.map.multiline);
  assert_false(n->u.map.entries->next->key_bare);
  assert_true(n->u.map.entries->next->next->colon);

  assert_int_equal(kind(top_attr(f, "o"), IDP_E_MAP)->u.map.n, 0);
  assert_int_equal(kind(top_attr(f, "p"), IDP_E_MAP)->u.map.n, 0);

  idp_expr *q = kind(top_attr(f, "q"), IDP_E_MAP);
  assert_int_equal(q->u.map.n, 2);
  idp_expr *pk = kind(q->u.map.entries->key, IDP_E_PAREN);
  assert_ref(pk->u.paren.inner, "k");
  assert_false(q->u.map.entries->key_bare);

  assert_int_equal(kind(top_attr(f, "r"), IDP_E_MAP)->u.map.n, 2);
}

static void parser_calls_with_trailing_comma(void **state) {
  (void)state;
  idp_file *f = parse_ok("c = f(1, \"x\", g(),)\nd = now()\ne = join(\n  \",\",\n  [a, b],\n)\n");
  idp_expr *c = kind(top_attr(f, "c"), IDP_E_CALL);
  assert_string_equal(c->u.call.name, "f");
  assert_loc_text(f->src, c->u.call.name_loc, "f");
  assert_int_equal(c->u.call.nargs, 3);
  assert_false(c->u.call.multiline);
  assert_number(c->u.call.args, 1);
  idp_expr *g = kind(nth_expr(c->u.call.args, 2), IDP_E_CALL);
  assert_string_equal(g->u.call.name, "g");
  assert_int_equal(g->u.call.nargs, 0);
  assert_null(g->next);
  assert_loc_text(f->src, c->loc, "f(1, \"x\", g(),)");

  idp_expr *d = kind(top_attr(f, "d"), IDP_E_CALL);
  assert_int_equal(d->u.call.nargs, 0);
  assert_null(d->u.call.args);

  idp_expr *e = kind(top_attr(f, "e"), IDP_E_CALL);
  assert_int_equal(e->u.call.nargs, 2);
  assert_true(e->u.call.multiline);
}

/* --- operators ------------------------------------------------------------------------------- */

static void parser_conditional(void **state) {
  (void)state;
  idp_file *f = parse_ok("x = a ? b : c\ny = a ? b : c ? d : e\nz = env.name == \"prod\" ? 3 : 1\n");
  idp_expr *x = kind(top_attr(f, "x"), IDP_E_COND);
  assert_ref(x->u.cond.cond, "a");
  assert_ref(x->u.cond.then, "b");
  assert_ref(x->u.cond.otherwise, "c");
  assert_loc_text(f->src, x->loc, "a ? b : c");
  idp_expr *y = kind(top_attr(f, "y"), IDP_E_COND);
  assert_ref(y->u.cond.cond, "a");
  idp_expr *y2 = kind(y->u.cond.otherwise, IDP_E_COND);
  assert_ref(y2->u.cond.cond, "c");
  assert_ref(y2->u.cond.otherwise, "e");
  idp_expr *z = kind(top_attr(f, "z"), IDP_E_COND);
  assert_binary(z->u.cond.cond, IDP_OP_EQ);
  assert_number(z->u.cond.then, 3);
}

static void parser_precedence_mul_over_add(void **state) {
  (void)state;
  idp_file *f = parse_ok("x = 1 + 2 * 3\ny = 1 * 2 + 3\nz = 1 - 2 - 3\nw = 8 / 4 % 3\n");
  idp_expr *x = top_attr(f, "x");
  assert_binary(x, IDP_OP_ADD);
  assert_number(LHS(x), 1);
  assert_binary(RHS(x), IDP_OP_MUL);
  assert_number(LHS(RHS(x)), 2);
  assert_number(RHS(RHS(x)), 3);
  idp_expr *y = top_attr(f, "y");
  assert_binary(y, IDP_OP_ADD);
  assert_binary(LHS(y), IDP_OP_MUL);
  assert_number(RHS(y), 3);
  /* Left associative. */
  idp_expr *z = top_attr(f, "z");
  assert_binary(z, IDP_OP_SUB);
  assert_binary(LHS(z), IDP_OP_SUB);
  assert_number(RHS(z), 3);
  assert_loc_text(f->src, LHS(z)->loc, "1 - 2");
  idp_expr *w = top_attr(f, "w");
  assert_binary(w, IDP_OP_MOD);
  assert_binary(LHS(w), IDP_OP_DIV);
}

static void parser_precedence_logical_and_comparison(void **state) {
  (void)state;
  idp_file *f = parse_ok("a = x || y && z\n"
                         "b = x && y || z\n"
                         "c = x == y < z\n"
                         "d = x < y != y >= z\n"
                         "e = x + 1 > y && z\n");
  idp_expr *a = top_attr(f, "a");
  assert_binary(a, IDP_OP_OR);
  assert_ref(LHS(a), "x");
  assert_binary(RHS(a), IDP_OP_AND);
  idp_expr *b = top_attr(f, "b");
  assert_binary(b, IDP_OP_OR);
  assert_binary(LHS(b), IDP_OP_AND);
  assert_ref(RHS(b), "z");
  idp_expr *c = top_attr(f, "c");
  assert_binary(c, IDP_OP_EQ);
  assert_ref(LHS(c), "x");
  assert_binary(RHS(c), IDP_OP_LT);
  idp_expr *d = top_attr(f, "d");
  assert_binary(d, IDP_OP_NE);
  assert_binary(LHS(d), IDP_OP_LT);
  assert_binary(RHS(d), IDP_OP_GE);
  idp_expr *e = top_attr(f, "e");
  assert_binary(e, IDP_OP_AND);
  assert_binary(LHS(e), IDP_OP_GT);
  assert_binary(LHS(LHS(e)), IDP_OP_ADD);
}

static void parser_unary_minus_and_not(void **state) {
  (void)state;
  idp_file *f = parse_ok("n = -1\nm = -a * b\no = !a && b\nq = a - -b\nr = !!a\ns = -a.b\n");
  idp_expr *n = top_attr(f, "n");
  assert_unary(n, IDP_OP_NEG);
  assert_number(OPERAND(n), 1);
  assert_loc_text(f->src, n->loc, "-1");
  idp_expr *m = top_attr(f, "m");
  assert_binary(m, IDP_OP_MUL);
  assert_unary(LHS(m), IDP_OP_NEG);
  assert_ref(OPERAND(LHS(m)), "a");
  idp_expr *o = top_attr(f, "o");
  assert_binary(o, IDP_OP_AND);
  assert_unary(LHS(o), IDP_OP_NOT);
  idp_expr *q = top_attr(f, "q");
  assert_binary(q, IDP_OP_SUB);
  assert_unary(RHS(q), IDP_OP_NEG);
  idp_expr *r = top_attr(f, "r");
  assert_unary(r, IDP_OP_NOT);
  assert_unary(OPERAND(r), IDP_OP_NOT);
  /* Attribute access binds tighter than unary minus. */
  idp_expr *s = top_attr(f, "s");
  assert_unary(s, IDP_OP_NEG);
  assert_getattr(OPERAND(s), "b");
}

static void parser_parentheses_group(void **state) {
  (void)state;
  idp_file *f = parse_ok("p = (1 + 2) * 3\nq = ((x))\n");
  idp_expr *p = top_attr(f, "p");
  assert_binary(p, IDP_OP_MUL);
  idp_expr *paren = kind(LHS(p), IDP_E_PAREN);
  assert_binary(paren->u.paren.inner, IDP_OP_ADD);
  assert_loc_text(f->src, paren->loc, "(1 + 2)");
  assert_loc_text(f->src, paren->u.paren.inner->loc, "1 + 2");
  assert_loc_text(f->src, p->loc, "(1 + 2) * 3");
  idp_expr *q = kind(top_attr(f, "q"), IDP_E_PAREN);
  assert_ref(kind(q->u.paren.inner, IDP_E_PAREN)->u.paren.inner, "x");
}

static void parser_dash_names_and_subtraction(void **state) {
  (void)state;
  idp_file *f = parse_ok("a = corp-dns\nb = a - b\nc = a-1\nd = powerdns.zone.dev-zone.name\ne = x -1\n");
  assert_ref(top_attr(f, "a"), "corp-dns");
  idp_expr *b = top_attr(f, "b");
  assert_binary(b, IDP_OP_SUB);
  assert_ref(LHS(b), "a");
  assert_ref(RHS(b), "b");
  assert_ref(top_attr(f, "c"), "a-1");
  idp_expr *d = top_attr(f, "d");
  assert_getattr(d, "name");
  assert_getattr(d->u.getattr.obj, "dev-zone");
  assert_binary(top_attr(f, "e"), IDP_OP_SUB);
}

static void parser_getattr_chain(void **state) {
  (void)state;
  idp_file *f = parse_ok("r = app.shop.need.host.fqdn\n");
  idp_expr *e = top_attr(f, "r");
  const char *names[] = {"fqdn", "host", "need", "shop"};
  const char *texts[] = {"app.shop.need.host.fqdn", "app.shop.need.host", "app.shop.need", "app.shop"};
  for (int i = 0; i < 4; i++) {
    assert_getattr(e, names[i]);
    assert_loc_text(f->src, e->loc, texts[i]);
    assert_loc_text(f->src, e->u.getattr.name_loc, names[i]);
    e = e->u.getattr.obj;
  }
  assert_ref(e, "app");
  assert_loc_text(f->src, e->loc, "app");
  /* Exact offsets of the outermost node. */
  idp_expr *top = top_attr(f, "r");
  assert_int_equal(top->loc.start, 4);
  assert_int_equal(top->loc.end, 27);
  assert_int_equal(top->u.getattr.name_loc.start, 23);
  assert_int_equal(top->u.getattr.name_loc.end, 27);
  assert_int_equal(top->depth, 5);
}

static void parser_index_and_mixed_postfix(void **state) {
  (void)state;
  idp_file *f = parse_ok("i = a[0]\nj = a[\"k\"].b[1 + 1]\nk = f(x).y\nl = [1, 2][0]\n");
  idp_expr *i = kind(top_attr(f, "i"), IDP_E_INDEX);
  assert_ref(i->u.index.obj, "a");
  assert_number(i->u.index.index, 0);
  assert_loc_text(f->src, i->loc, "a[0]");
  idp_expr *j = kind(top_attr(f, "j"), IDP_E_INDEX);
  assert_binary(j->u.index.index, IDP_OP_ADD);
  idp_expr *jb = j->u.index.obj;
  assert_getattr(jb, "b");
  idp_expr *jk = kind(jb->u.getattr.obj, IDP_E_INDEX);
  assert_plain_string(jk->u.index.index, "k", 1);
  assert_ref(jk->u.index.obj, "a");
  idp_expr *k = top_attr(f, "k");
  assert_getattr(k, "y");
  kind(k->u.getattr.obj, IDP_E_CALL);
  idp_expr *l = kind(top_attr(f, "l"), IDP_E_INDEX);
  kind(l->u.index.obj, IDP_E_LIST);
}

static void parser_kind_and_operator_names(void **state) {
  (void)state;
  assert_string_equal(idp_expr_kind_name(IDP_E_CALL), "function call");
  assert_string_equal(idp_expr_kind_name(IDP_E_TEMPLATE), "string");
  assert_string_equal(idp_expr_kind_name((idp_expr_kind)999), "?");
  assert_string_equal(idp_op_spelling(IDP_OP_LE), "<=");
  assert_string_equal(idp_op_spelling(IDP_OP_NE), "!=");
  assert_string_equal(idp_op_spelling(IDP_OP_OR), "||");
  assert_string_equal(idp_op_spelling((idp_op)999), "?");
}

static void parser_crlf_source_parses_like_lf(void **state) {
  (void)state;
  idp_file *f = parse_ok("app \"a\" {\r\n  port = 1\r\n  h = <<EOT\r\nhi\r\nEOT\r\n}\r\n");
  idp_item *b = body_item(&f->body, 0);
  assert_int_equal(b->body.n, 2);
  assert_number(body_attr(&b->body, "port"), 1);
  assert_true(kind(body_attr(&b->body, "h"), IDP_E_TEMPLATE)->u.template.heredoc);
}

static void parser_many_items_in_order(void **state) {
  (void)state;
  /* Thousands of items: the body list keeps them in order and the count right. */
  idp_buf b = {0};
  for (int i = 0; i < 5000; i++) idp_buf_printf(&b, "a%d = %d\n", i, i);
  char *text = idp_arena_strndup(&F->arena, b.data, b.len);
  idp_buf_free(&b);
  idp_file *f = parse_ok(text);
  assert_int_equal(f->body.n, 5000);
  int i = 0;
  for (idp_item *it = f->body.first; it; it = it->next, i++) {
    if (strcmp(it->name, idp_arena_sprintf(&F->arena, "a%d", i)) != 0)
      FAIL("item %d is named %s", i, it->name);
  }
  assert_int_equal(i, 5000);
  assert_ptr_equal(body_item(&f->body, 4999), f->body.last);
  assert_number(f->body.last->value, 4999);
}

int test_parser(void) {
  const struct CMUnitTest tests[] = {
      FX_TEST(parser_attribute_and_block_locations),
      FX_TEST(parser_labels_quoted_bare_and_dotted),
      FX_TEST(parser_label_with_interpolation_is_an_error),
      FX_TEST(parser_nested_blocks_and_one_line_blocks),
      FX_TEST(parser_numbers_int_float_exponent),
      FX_TEST(parser_bool_and_null),
      FX_TEST(parser_string_escapes_are_decoded),
      FX_TEST(parser_string_dollar_escapes),
      FX_TEST(parser_interpolation_parts),
      FX_TEST(parser_interpolation_holding_strings_and_maps),
      FX_TEST(parser_heredoc_with_interpolation),
      FX_TEST(parser_heredoc_strip_form),
      FX_TEST(parser_heredoc_keeps_backslashes_and_dollar_escape),
      FX_TEST(parser_heredoc_edge_placements),
      FX_TEST(parser_lists),
      FX_TEST(parser_maps_keys_and_separators),
      FX_TEST(parser_calls_with_trailing_comma),
      FX_TEST(parser_conditional),
      FX_TEST(parser_precedence_mul_over_add),
      FX_TEST(parser_precedence_logical_and_comparison),
      FX_TEST(parser_unary_minus_and_not),
      FX_TEST(parser_parentheses_group),
      FX_TEST(parser_dash_names_and_subtraction),
      FX_TEST(parser_getattr_chain),
      FX_TEST(parser_index_and_mixed_postfix),
      FX_TEST(parser_kind_and_operator_names),
      FX_TEST(parser_crlf_source_parses_like_lf),
      FX_TEST(parser_many_items_in_order),
  };
  return cmocka_run_group_tests_name("parser", tests, NULL, NULL);
}
