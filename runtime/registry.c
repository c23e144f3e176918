/* registry.c - registry_image() over the distribution v2 API (see registry.h).
 *
 * One resolution: GET /v2/REPO/tags/list?n=100, following `Link: <...>; rel="next"`; pick a tag
 * (idp_tag_pick); HEAD /v2/REPO/manifests/TAG with every manifest media type in Accept (without it
 * the registry answers 400) for Docker-Content-Digest, or GET it and hash the body when a registry
 * leaves that header out. A 401 is answered once per resolution, as its WWW-Authenticate asks. */
#include "registry.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "arena.h"
#include "util.h"

enum {
  PAGE_SIZE = 100,          /* tags asked for per page */
  MAX_PAGES = 10000,        /* a Link loop ends here */
  MAX_BODY = 8 << 20,       /* bytes of an answer kept; more is an error */
  CONNECT_TIMEOUT_S = 10,
  TIMEOUT_S = 60,           /* per request, connection included */
};

/* The manifest media types, newest first: OCI index and manifest, Docker manifest list and v2. */
static const char accept_manifests[] = "Accept: application/vnd.oci.image.index.v1+json, "
                                       "application/vnd.oci.image.manifest.v1+json, "
                                       "application/vnd.docker.distribution.manifest.list.v2+json, "
                                       "application/vnd.docker.distribution.manifest.v2+json";

/* --- tags and versions ---------------------------------------------------------------------- */

typedef struct semver {
  const char *num[3];       /* MAJOR, MINOR, PATCH: digits in the tag */
  size_t len[3];
  const char *pre;          /* the pre-release after '-', or NULL for a release */
  size_t prelen;
} semver;

static size_t ndigits(const char *s) {
  size_t n = 0;
  while (isdigit((unsigned char)s[n])) n++;
  return n;
}

/* Dot-separated non-empty identifiers of [0-9A-Za-z-] at s: their length, 0 if there is none. */
static size_t idents(const char *s) {
  size_t i = 0;
  for (;;) {
    size_t start = i;
    while (isalnum((unsigned char)s[i]) || s[i] == '-') i++;
    if (i == start) return 0;
    if (s[i] != '.') return i;
    i++;
  }
}

static bool parse_semver(const char *tag, semver *v) {
  const char *p = tag + (tag[0] == 'v');
  for (int k = 0; k < 3; k++) {
    size_t n = ndigits(p);
    if (!n || (k < 2 && p[n] != '.')) return false;
    v->num[k] = p;
    v->len[k] = n;
    p += n + (k < 2);
  }
  v->pre = NULL;
  v->prelen = 0;
  if (*p == '-') {
    if (!(v->prelen = idents(p + 1))) return false;
    v->pre = p + 1;
    p += 1 + v->prelen;
  }
  if (*p == '+') { /* build metadata: no part of the order */
    size_t n = idents(p + 1);
    if (!n) return false;
    p += 1 + n;
  }
  return *p == '\0';
}

bool idp_tag_semver(const char *tag, bool *prerelease) {
  semver v;
  if (!parse_semver(tag, &v)) return false;
  if (prerelease) *prerelease = v.pre != NULL;
  return true;
}

static int sign(int c) { return (c > 0) - (c < 0); }

/* Digit strings as numbers of any size. */
static int cmp_num(const char *a, size_t na, const char *b, size_t nb) {
  while (na > 1 && *a == '0') a++, na--;
  while (nb > 1 && *b == '0') b++, nb--;
  if (na != nb) return na < nb ? -1 : 1;
  return sign(memcmp(a, b, na));
}

/* Pre-releases as semver 2.0.0 orders them; NULL (a release) above any. */
static int cmp_pre(const char *a, size_t na, const char *b, size_t nb) {
  if (!a || !b) return a ? -1 : b ? 1 : 0;
  size_t i = 0, j = 0;
  for (;;) {
    if (i >= na || j >= nb) return (i < na) - (j < nb); /* more fields rank higher */
    size_t ei = i, ej = j;
    while (ei < na && a[ei] != '.') ei++;
    while (ej < nb && b[ej] != '.') ej++;
    bool da = ndigits(a + i) >= ei - i, db = ndigits(b + j) >= ej - j;
    int c;
    if (da && db) c = cmp_num(a + i, ei - i, b + j, ej - j);
    else if (da != db) c = da ? -1 : 1; /* numeric fields below alphanumeric ones */
    else {
      size_t m = ei - i < ej - j ? ei - i : ej - j;
      c = sign(memcmp(a + i, b + j, m));
      if (!c) c = (ei - i > ej - j) - (ei - i < ej - j);
    }
    if (c) return c;
    i = ei + 1;
    j = ej + 1;
  }
}

int idp_tag_cmp(const char *a, const char *b) {
  semver x, y;
  bool sx = parse_semver(a, &x), sy = parse_semver(b, &y);
  if (sx != sy) return sx ? 1 : -1;
  if (sx) {
    for (int k = 0; k < 3; k++) {
      int c = cmp_num(x.num[k], x.len[k], y.num[k], y.len[k]);
      if (c) return c;
    }
    int c = cmp_pre(x.pre, x.prelen, y.pre, y.prelen);
    if (c) return c;
  }
  return sign(strcmp(a, b));
}

bool idp_tag_matches(const char *pattern, const char *tag) {
  bool pre;
  return fnmatch(pattern, tag, 0) == 0 && (strchr(pattern, '-') || !idp_tag_semver(tag, &pre) || !pre);
}

const char *idp_tag_pick(const char *const *tags, size_t n, const char *pattern, size_t *nmatch, size_t *nskipped) {
  bool pre_ok = strchr(pattern, '-') != NULL; /* asking for `v2.0.0-rc*` asks for pre-releases */
  const char *best = NULL;
  size_t m = 0, skipped = 0;
  for (size_t i = 0; i < n; i++) {
    if (fnmatch(pattern, tags[i], 0) != 0) continue;
    m++;
    bool pre;
    if (!pre_ok && idp_tag_semver(tags[i], &pre) && pre) {
      skipped++;
      continue;
    }
    if (!best || idp_tag_cmp(tags[i], best) > 0) best = tags[i];
  }
  if (nmatch) *nmatch = m;
  if (nskipped) *nskipped = skipped;
  return best;
}

/* --- header values -------------------------------------------------------------------------- */

static const char *blanks(const char *p) {
  while (*p == ' ' || *p == '\t') p++;
  return p;
}

static bool is_stop(char c) { return !c || c == ',' || c == ';' || c == '=' || c == ' ' || c == '\t'; }

/* Reads `name[=value]` at *pp, value a token or a quoted string; *value is malloc'd (NULL without
 * '='). Stops before ',' or ';'. Returns false when there is no name. */
static bool read_param(const char **pp, const char **name, size_t *nlen, char **value) {
  const char *p = blanks(*pp);
  *name = p;
  while (!is_stop(*p)) p++;
  *nlen = (size_t)(p - *name);
  p = blanks(p);
  *value = NULL;
  if (*p == '=') {
    idp_buf b = {0};
    p = blanks(p + 1);
    if (*p == '"') {
      for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1]) p++;
        idp_buf_putc(&b, *p);
      }
      if (*p == '"') p++;
    } else {
      while (!is_stop(*p)) idp_buf_putc(&b, *p++);
    }
    *value = idp_xstrdup(idp_buf_cstr(&b));
    idp_buf_free(&b);
  }
  *pp = blanks(p);
  return *nlen > 0;
}

/* word (case aside) is one of the blank-separated words of list. */
static bool has_word(const char *list, const char *word) {
  size_t n = strlen(word);
  for (const char *p = blanks(list); *p; p = blanks(p)) {
    size_t k = strcspn(p, " \t");
    if (k == n && strncasecmp(p, word, n) == 0) return true;
    p += k;
  }
  return false;
}

char *idp_link_next(const char *link) {
  const char *p = link;
  for (;;) {
    while (*(p = blanks(p)) == ',') p++;
    if (*p != '<') return NULL;
    const char *uri = p + 1, *end = strchr(uri, '>');
    if (!end) return NULL;
    bool next = false;
    for (p = blanks(end + 1); *p == ';';) {
      p++;
      const char *name;
      size_t nlen;
      char *value;
      if (read_param(&p, &name, &nlen, &value) && value && nlen == 3 && strncasecmp(name, "rel", 3) == 0)
        next = next || has_word(value, "next");
      free(value);
    }
    if (next) {
      char *s = idp_xmalloc((size_t)(end - uri) + 1);
      memcpy(s, uri, (size_t)(end - uri));
      s[end - uri] = '\0';
      return s;
    }
    p += strcspn(p, ",");
    if (!*p) return NULL;
  }
}

bool idp_bearer_challenge(const char *value, char **realm, char **service, char **scope) {
  *realm = *service = *scope = NULL;
  const char *p = blanks(value);
  if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t')) return false;
  for (p += 6; *(p = blanks(p));) {
    if (*p == ',') {
      p++;
      continue;
    }
    const char *name;
    size_t nlen;
    char *v;
    if (!read_param(&p, &name, &nlen, &v)) {
      free(v);
      p += strcspn(p, ",");
      continue;
    }
    char **slot = nlen == 5 && strncasecmp(name, "realm", 5) == 0     ? realm
                  : nlen == 7 && strncasecmp(name, "service", 7) == 0 ? service
                  : nlen == 5 && strncasecmp(name, "scope", 5) == 0   ? scope
                                                                      : NULL;
    if (slot && !*slot) *slot = v;
    else free(v);
    p += strcspn(p, ",");
  }
  if (*realm && **realm) return true;
  free(*realm);
  free(*service);
  free(*scope);
  *realm = *service = *scope = NULL;
  return false;
}

/* --- one resolution ------------------------------------------------------------------------- */

/* The integration's settings and what the registry granted so far. */
typedef struct sess {
  idp_arena *a;              /* the resolution's scratch */
  CURL *h;                   /* one handle: its connection serves every request */
  const char *base;          /* SCHEME://HOST[:PORT]: requests and messages (never credentials) */
  const char *repo;
  const char *user, *pass, *token; /* borrowed from the integration; NULL when not set */
  const char *ca, *cert, *key;     /* paths resolved against the spec's directory */
  bool insecure;
  char *bearer;              /* malloc'd: the token sent, from the integration or the token service */
  bool basic;                /* the registry asked for username + password */
  bool challenged;           /* a 401 was answered already: another one is final */
  bool missing_ok;           /* list_tags: a repository the registry does not know has no tags */
  bool not_found;            /* manifest_digest: the registry answered 404 */
  const char *err;           /* the message of the first failure (arena) */
  char errbuf[CURL_ERROR_SIZE];
  struct idp_registry *reg;  /* whose pace the requests keep (idp_registry_set_min_interval) */
} sess;

static void pace(struct idp_registry *r, const char *base);

/* One answer: its status, body and the headers read from it (malloc'd or NULL). */
typedef struct reply {
  long status;
  idp_buf body;
  char *link, *digest, *challenge;
} reply;

static void reply_free(reply *r) {
  idp_buf_free(&r->body);
  free(r->link);
  free(r->digest);
  free(r->challenge);
  *r = (reply){0};
}

static int fail(sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(sess *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (!s->err) s->err = idp_arena_sprintf(s->a, "registry %s: %s", s->base, msg);
  return -1;
}

static void wipe_free(char *secret) {
  if (secret) explicit_bzero(secret, strlen(secret));
  free(secret);
}

static size_t on_body(char *data, size_t size, size_t n, void *payload) {
  idp_buf *b = payload;
  if (b->len + size * n > MAX_BODY) return 0; /* the transfer fails with CURLE_WRITE_ERROR */
  idp_buf_append(b, data, size * n);
  return size * n;
}

static char *header(CURL *h, const char *name) {
  struct curl_header *hd;
  if (curl_easy_header(h, name, 0, CURLH_HEADER, -1, &hd) != CURLHE_OK) return NULL;
  return idp_xstrdup(hd->value);
}

enum { TO_REGISTRY, TO_TOKEN_SERVICE };

/* One exchange. To the registry it carries what the registry granted (bearer or basic); to the
 * token service, username + password when set. Returns 0 with r filled (any status), or -1. */
static int perform(sess *s, const char *url, bool head, const char *accept, int to, reply *r, const char *doing) {
  CURL *h = s->h;
  if (s->reg) pace(s->reg, s->base);
  curl_easy_reset(h); /* keeps the open connection */
  struct curl_slist *hdrs = NULL;
  if (accept) hdrs = curl_slist_append(hdrs, accept);
  if (to == TO_REGISTRY && s->bearer) {
    char *line = idp_xmalloc(strlen(s->bearer) + 32);
    sprintf(line, "Authorization: Bearer %s", s->bearer);
    hdrs = curl_slist_append(hdrs, line);
    wipe_free(line);
  } else if (s->user && s->pass && (to == TO_TOKEN_SERVICE || s->basic)) {
    curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(h, CURLOPT_USERNAME, s->user);
    curl_easy_setopt(h, CURLOPT_PASSWORD, s->pass);
  }
  curl_easy_setopt(h, CURLOPT_URL, url);
  if (head) curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "idp");
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L); /* credentials are not sent on to another host */
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)TIMEOUT_S);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->errbuf);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r->body);
  if (s->ca) curl_easy_setopt(h, CURLOPT_CAINFO, s->ca);
  if (s->cert) curl_easy_setopt(h, CURLOPT_SSLCERT, s->cert);
  if (s->key) curl_easy_setopt(h, CURLOPT_SSLKEY, s->key);
  if (s->insecure) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  s->errbuf[0] = '\0';
  CURLcode rc = curl_easy_perform(h);
  for (struct curl_slist *l = hdrs; l; l = l->next) explicit_bzero(l->data, strlen(l->data));
  curl_slist_free_all(hdrs);
  if (rc != CURLE_OK) {
    const char *why = rc == CURLE_WRITE_ERROR ? "the answer is larger than 8 MB"
                      : s->errbuf[0]          ? s->errbuf
                                              : curl_easy_strerror(rc);
    return fail(s, "cannot %s: %s", doing, why);
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
  r->link = header(h, "Link");
  r->digest = header(h, "Docker-Content-Digest");
  r->challenge = header(h, "WWW-Authenticate");
  return 0;
}

/* Asks the token service a challenge named for a token (JSON `token` or `access_token`). */
static int fetch_token(sess *s, const char *realm, const char *service, const char *scope) {
  idp_buf url = {0};
  idp_buf_puts(&url, realm);
  char sep = strchr(realm, '?') ? '&' : '?';
  const char *names[] = {"service", "scope"}, *vals[] = {service, scope};
  for (int i = 0; i < 2; i++) {
    if (!vals[i]) continue;
    char *esc = curl_easy_escape(s->h, vals[i], 0);
    idp_buf_printf(&url, "%c%s=%s", sep, names[i], esc ? esc : "");
    curl_free(esc);
    sep = '&';
  }
  reply r = {0};
  int rc = perform(s, idp_buf_cstr(&url), false, NULL, TO_TOKEN_SERVICE, &r, "get a token from its token service");
  idp_buf_free(&url);
  if (rc == 0 && r.status != 200)
    rc = fail(s, "its token service refused a token for %s (HTTP %ld)%s", s->repo, r.status,
              s->user ? "" : "; set username and password on the integration if the repository is private");
  json_t *j = rc == 0 ? json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL) : NULL;
  const char *tok = json_string_value(json_object_get(j, "token"));
  if (!tok || !*tok) tok = json_string_value(json_object_get(j, "access_token"));
  if (rc == 0 && (!tok || !*tok)) rc = fail(s, "its token service answered no token");
  if (rc == 0) {
    wipe_free(s->bearer);
    s->bearer = idp_xstrdup(tok);
  }
  json_decref(j);
  if (r.body.data) explicit_bzero(r.body.data, r.body.len);
  reply_free(&r);
  return rc;
}

/* perform to the registry, answering its first 401 as WWW-Authenticate asks: Bearer through the
 * token service, Basic with username + password. A 401 that cannot be answered is left to the
 * caller. */
static int request(sess *s, const char *url, bool head, const char *accept, reply *r, const char *doing) {
  if (perform(s, url, head, accept, TO_REGISTRY, r, doing) < 0) return -1;
  if (r->status != 401 || s->token || s->challenged) return 0;
  s->challenged = true;
  char *realm, *service, *scope;
  if (r->challenge && idp_bearer_challenge(r->challenge, &realm, &service, &scope)) {
    if (!scope) scope = idp_xstrdup(idp_arena_sprintf(s->a, "repository:%s:pull", s->repo));
    int rc = fetch_token(s, realm, service, scope);
    free(realm);
    free(service);
    free(scope);
    if (rc < 0) return -1;
  } else if (s->user && s->pass) {
    s->basic = true;
  } else {
    return 0;
  }
  reply_free(r);
  return perform(s, url, head, accept, TO_REGISTRY, r, doing);
}

/* The `code` of the first error of a distribution error body, or "". */
static const char *error_code(sess *s, const reply *r) {
  json_t *j = r->body.len ? json_loadb(r->body.data, r->body.len, 0, NULL) : NULL;
  const char *c = json_string_value(json_object_get(json_array_get(json_object_get(j, "errors"), 0), "code"));
  const char *out = c ? idp_arena_sprintf(s->a, " %s", c) : "";
  json_decref(j);
  return out;
}

/* Reports an answer other than 200 to `doing` (listing: the tag list, where 404 is the repository). */
static int status_error(sess *s, const reply *r, const char *doing, bool listing) {
  const char *code = error_code(s, r);
  if (r->status == 401)
    return fail(s, "not authorized to read %s (401%s)%s", s->repo, code,
                s->user || s->token ? "; check the integration's credentials"
                                    : "; set username and password, or token, on the integration");
  if (r->status == 403) return fail(s, "access to %s denied (403%s)", s->repo, code);
  if (r->status == 404 && listing)
    return fail(s, "repository %s not found (404%s)", s->repo, code);
  return fail(s, "cannot %s: HTTP %ld%s%s%s", doing, r->status, *code ? " (" : "", *code ? code + 1 : "", *code ? ")" : "");
}

/* The tags of s->repo, every page, into *tags (arena strings). */
static int list_tags(sess *s, const char ***tags, size_t *ntags) {
  const char *doing = idp_arena_sprintf(s->a, "list the tags of %s", s->repo);
  char *url = idp_xstrdup(idp_arena_sprintf(s->a, "%s/v2/%s/tags/list?n=%d", s->base, s->repo, PAGE_SIZE));
  size_t cap = 0;
  int rc = 0;
  for (int page = 0; rc == 0 && url; page++) {
    reply r = {0};
    if (page == MAX_PAGES) rc = fail(s, "cannot %s: more than %d pages", doing, MAX_PAGES);
    if (rc == 0) rc = request(s, url, false, NULL, &r, doing);
    if (rc == 0 && r.status == 404 && s->missing_ok && page == 0) {
      reply_free(&r);
      break;
    }
    if (rc == 0 && r.status != 200) rc = status_error(s, &r, doing, true);
    json_t *j = rc == 0 ? json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL) : NULL;
    json_t *list = json_object_get(j, "tags");
    if (rc == 0 && (!json_is_object(j) || (list && !json_is_array(list) && !json_is_null(list))))
      rc = fail(s, "cannot %s: the answer is not a tag list", doing);
    for (size_t i = 0; rc == 0 && i < json_array_size(list); i++) {
      const char *t = json_string_value(json_array_get(list, i));
      if (!t) continue;
      if (*ntags == cap) {
        cap = cap ? 2 * cap : 64;
        const char **grown = idp_arena_alloc(s->a, cap * sizeof *grown);
        if (*ntags) memcpy(grown, *tags, *ntags * sizeof *grown);
        *tags = grown;
      }
      (*tags)[(*ntags)++] = idp_arena_strndup(s->a, t, strlen(t));
    }
    json_decref(j);
    char *next = rc == 0 && r.link ? idp_link_next(r.link) : NULL;
    char *abs = NULL;
    if (next) {
      /* Resolved against the page's URL; it must stay on the registry (credentials go there). */
      CURLU *u = curl_url();
      char *joined = NULL;
      if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK && curl_url_set(u, CURLUPART_URL, next, 0) == CURLUE_OK &&
          curl_url_get(u, CURLUPART_URL, &joined, 0) == CURLUE_OK && strncmp(joined, s->base, strlen(s->base)) == 0 &&
          joined[strlen(s->base)] == '/')
        abs = idp_xstrdup(joined);
      else
        rc = fail(s, "cannot %s: the next page's link leads off the registry", doing);
      curl_free(joined);
      curl_url_cleanup(u);
      free(next);
    }
    reply_free(&r);
    free(url);
    url = abs;
  }
  free(url);
  return rc;
}

static bool good_digest(const char *d) {
  size_t n = strlen(d);
  size_t hex = strncmp(d, "sha256:", 7) == 0 ? 64 : strncmp(d, "sha512:", 7) == 0 ? 128 : 0;
  if (!hex || n != 7 + hex) return false;
  for (size_t i = 7; i < n; i++)
    if (!isxdigit((unsigned char)d[i]) || isupper((unsigned char)d[i])) return false;
  return true;
}

/* The digest of the manifest of s->repo:tag (arena). */
static int manifest_digest(sess *s, const char *tag, const char **digest) {
  const char *doing = idp_arena_sprintf(s->a, "read the manifest of %s:%s", s->repo, tag);
  const char *url = idp_arena_sprintf(s->a, "%s/v2/%s/manifests/%s", s->base, s->repo, tag);
  reply r = {0};
  int rc = request(s, url, true, accept_manifests, &r, doing);
  if (rc == 0 && r.status == 200 && r.digest && good_digest(r.digest)) {
    *digest = idp_arena_strndup(s->a, r.digest, strlen(r.digest));
  } else if (rc == 0 && r.status == 200) {
    /* No usable Docker-Content-Digest: the digest is the sha256 of the manifest's bytes. */
    reply_free(&r);
    rc = request(s, url, false, accept_manifests, &r, doing);
    unsigned char md[32];
    if (rc == 0 && r.status == 200) {
      if (EVP_Digest(r.body.data ? r.body.data : "", r.body.len, md, NULL, EVP_sha256(), NULL) != 1)
        rc = fail(s, "cannot %s: sha256 failed", doing);
      char *d = idp_arena_alloc(s->a, 7 + 64 + 1);
      memcpy(d, "sha256:", 7);
      for (int i = 0; i < 32; i++) sprintf(d + 7 + 2 * i, "%02x", md[i]);
      *digest = d;
    }
  }
  if (rc == 0 && r.status != 200) {
    s->not_found = r.status == 404;
    rc = status_error(s, &r, doing, false);
  }
  reply_free(&r);
  return rc;
}

/* --- the resolver --------------------------------------------------------------------------- */

typedef struct answer {
  const char *key;           /* url \n repository \n pattern */
  idp_value *value;          /* NULL when err */
  const char *err;
  struct answer *next;
} answer;

/* When a registry was last asked something (idp_registry_set_min_interval). */
typedef struct paced {
  char *base;                /* SCHEME://HOST[:PORT] */
  double last;               /* CLOCK_MONOTONIC seconds */
  struct paced *next;
} paced;

struct idp_registry {
  idp_arena arena;           /* answers and messages */
  char *spec_dir;            /* NULL: the current directory */
  answer *answers;           /* the cache */
  double min_interval;       /* seconds between two requests to one registry; 0: no limit */
  paced *paced;              /* malloc'd */
};

static double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits until r->min_interval has passed since the last request to base. */
static void pace(struct idp_registry *r, const char *base) {
  if (r->min_interval <= 0) return;
  paced *p = r->paced;
  while (p && strcmp(p->base, base) != 0) p = p->next;
  if (!p) {
    p = idp_xcalloc(1, sizeof *p);
    p->base = idp_xstrdup(base);
    p->last = -1e9;
    p->next = r->paced;
    r->paced = p;
  }
  double wait = p->last + r->min_interval - mono_now();
  if (wait > 0) {
    struct timespec ts = {.tv_sec = (time_t)wait, .tv_nsec = (long)((wait - (double)(time_t)wait) * 1e9)};
    while (nanosleep(&ts, &ts) < 0) {
    }
  }
  p->last = mono_now();
}

void idp_registry_set_min_interval(idp_registry *r, double seconds) { r->min_interval = seconds; }

idp_registry *idp_registry_new(const char *spec_dir) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  idp_registry *r = idp_xcalloc(1, sizeof *r);
  idp_arena_init(&r->arena);
  r->spec_dir = spec_dir ? idp_xstrdup(spec_dir) : NULL;
  return r;
}

void idp_registry_free(idp_registry *r) {
  if (!r) return;
  idp_arena_free(&r->arena);
  free(r->spec_dir);
  for (paced *p = r->paced, *next; p; p = next) {
    next = p->next;
    free(p->base);
    free(p);
  }
  free(r);
  curl_global_cleanup();
}

enum { ATTR_UNSET = 0, ATTR_SET = 1, ATTR_UNKNOWN = -1, ATTR_BAD = -2 };

/* The string attribute name of the integration: ATTR_SET with *s, or why not. */
static int attr_str(const idp_value *m, const char *name, const char **s) {
  const idp_value *v = idp_map_get(m, name, strlen(name));
  *s = NULL;
  if (!v || v->kind == IDP_V_NULL) return ATTR_UNSET;
  if (v->kind == IDP_V_UNKNOWN) return ATTR_UNKNOWN;
  if (v->kind != IDP_V_STRING) return ATTR_BAD;
  *s = v->u.string.s;
  return ATTR_SET;
}

/* A path of the integration as decision 7 reads it: against the spec's directory, `~/` at $HOME. */
static const char *spec_path(idp_registry *r, idp_arena *a, const char *p) {
  if (!p) return NULL;
  const char *home = getenv("HOME");
  if (p[0] == '~' && p[1] == '/' && home) return idp_arena_sprintf(a, "%s%s", home, p + 1);
  if (p[0] != '/' && r->spec_dir && *r->spec_dir) return idp_arena_sprintf(a, "%s/%s", r->spec_dir, p);
  return p;
}

/* Fills s from the integration and url; returns 0, 1 when something needed is unknown (the image
 * is then unknown too), or -1 with *err. */
static int read_integration(idp_registry *r, sess *s, const idp_value *m, const char **err) {
  idp_arena *a = s->a;
  if (m->kind != IDP_V_MAP || !idp_map_get(m, "url", 3)) {
    *err = "the first argument is not an oci_registry integration (it has no url)";
    return -1;
  }
  const char *url;
  const char *names[] = {"username", "password", "token", "ca_file", "cert_file", "key_file"};
  const char **slots[] = {&s->user, &s->pass, &s->token, &s->ca, &s->cert, &s->key};
  int k = attr_str(m, "url", &url);
  for (size_t i = 0; i < 6 && k != ATTR_UNKNOWN; i++) {
    int ki = attr_str(m, names[i], slots[i]);
    if (ki == ATTR_UNKNOWN || ki == ATTR_BAD) k = ki;
  }
  const idp_value *ins = idp_map_get(m, "insecure_skip_tls_verify", 24);
  if (ins && ins->kind == IDP_V_UNKNOWN) k = ATTR_UNKNOWN;
  s->insecure = ins && ins->kind == IDP_V_BOOL && ins->u.boolean;
  if (k == ATTR_UNKNOWN) return 1;
  if (k != ATTR_SET) {
    *err = "the integration's url or credentials are not strings";
    return -1;
  }
  if (idp_map_get(m, "url", 3)->secret) {
    *err = "the integration's url is secret, and would show in image references and messages";
    return -1;
  }
  s->ca = spec_path(r, a, s->ca);
  s->cert = spec_path(r, a, s->cert);
  s->key = spec_path(r, a, s->key);

  /* SCHEME://HOST[:PORT] and nothing else: credentials go in username/password, never the URL. */
  CURLU *u = curl_url();
  char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL, *path = NULL, *query = NULL;
  int rc = -1;
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK ||
      (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
    *err = "the integration's url is not an http:// or https:// URL";
  else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
    *err = "the integration's url holds credentials; set username and password instead";
  else if (strcmp(path, "/") != 0 || curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK)
    *err = "the integration's url has a path or query; the registry API is at SCHEME://HOST[:PORT]/v2/";
  else
    rc = 0;
  if (rc == 0) {
    curl_url_get(u, CURLUPART_PORT, &port, 0); /* only when the URL names one */
    const char *hp = port ? idp_arena_sprintf(a, "%s:%s", host, port) : idp_arena_strndup(a, host, strlen(host));
    s->base = idp_arena_sprintf(a, "%s://%s", scheme, hp);
  }
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_free(user);
  curl_free(path);
  curl_free(query);
  curl_url_cleanup(u);
  return rc;
}

/* Repository names as the distribution spec has them: lowercase path components. */
static bool good_repo(const char *s) {
  if (!*s || *s == '/' || s[strlen(s) - 1] == '/' || strstr(s, "//")) return false;
  for (; *s; s++)
    if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && !strchr("._-/", *s)) return false;
  return true;
}

/* Tags as the distribution spec has them ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}): only those go into a URL. */
static bool good_tag(const char *t) {
  size_t n = strlen(t);
  if (!n || n > 128 || t[0] == '.' || t[0] == '-') return false;
  for (; *t; t++)
    if (!isalnum((unsigned char)*t) && !strchr("_.-", *t)) return false;
  return true;
}

/* Resolves through the registry; *out (image reference) or *err in the registry's arena. */
static int resolve(idp_registry *r, sess *s, const char *pattern, const char **ref, const char **err) {
  const char **tags = NULL;
  size_t ntags = 0, nmatch = 0, nskipped = 0;
  s->h = curl_easy_init();
  if (!s->h) {
    *err = "cannot start libcurl";
    return -1;
  }
  if (s->token) s->bearer = idp_xstrdup(s->token);
  int rc = list_tags(s, &tags, &ntags);
  size_t w = 0;
  for (size_t i = 0; i < ntags; i++)
    if (good_tag(tags[i])) tags[w++] = tags[i];
  const char *tag = rc == 0 ? idp_tag_pick(tags, w, pattern, &nmatch, &nskipped) : NULL;
  if (rc == 0 && !tag) {
    if (nskipped)
      rc = fail(s, "no tag of %s matches \"%s\" but pre-releases (%zu tag%s seen, %zu pre-release%s left out: a pattern "
                   "with a '-' takes them)",
                s->repo, pattern, ntags, ntags == 1 ? "" : "s", nskipped, nskipped == 1 ? "" : "s");
    else
      rc = fail(s, "no tag of %s matches \"%s\" (%zu tag%s seen)", s->repo, pattern, ntags, ntags == 1 ? "" : "s");
  }
  const char *digest = NULL;
  if (rc == 0) rc = manifest_digest(s, tag, &digest);
  if (rc == 0) *ref = idp_arena_sprintf(&r->arena, "%s/%s@%s", strstr(s->base, "://") + 3, s->repo, digest);
  else *err = idp_arena_strndup(&r->arena, s->err, strlen(s->err));
  curl_easy_cleanup(s->h);
  wipe_free(s->bearer);
  return rc;
}

int idp_registry_image(idp_value **out, const char **err, const idp_value *integration, const char *repository,
                       const char *pattern, void *payload) {
  idp_registry *r = payload;
  *out = NULL;
  *err = NULL;
  idp_arena tmp;
  idp_arena_init(&tmp);
  sess s = {.a = &tmp, .repo = repository, .reg = r};
  int rc = read_integration(r, &s, integration, err);
  if (rc == 1) *out = idp_value_unknown(&r->arena, IDP_V_STRING);
  if (rc != 0) {
    idp_arena_free(&tmp);
    return *out ? 0 : -1;
  }
  const char *key = idp_arena_sprintf(&tmp, "%s\n%s\n%s", s.base, repository, pattern);
  answer *ans = r->answers;
  while (ans && strcmp(ans->key, key) != 0) ans = ans->next;
  if (!ans) {
    ans = idp_arena_alloc(&r->arena, sizeof *ans);
    ans->key = idp_arena_strndup(&r->arena, key, strlen(key));
    const char *ref = NULL;
    if (!good_repo(repository))
      ans->err = idp_arena_sprintf(&r->arena, "\"%s\" is not a repository name (lowercase letters, digits, '.', '_', '-' and '/')", repository);
    else if (resolve(r, &s, pattern, &ref, &ans->err) == 0)
      ans->value = idp_value_cstring(&r->arena, ref);
    ans->next = r->answers;
    r->answers = ans;
  }
  idp_arena_free(&tmp);
  *out = ans->value;
  *err = ans->err;
  return ans->value ? 0 : -1;
}

int idp_registry_digest(idp_registry *r, const idp_value *integration, const char *repository, const char *reference,
                        char **image, char **err) {
  *image = NULL;
  *err = NULL;
  idp_arena tmp;
  idp_arena_init(&tmp);
  sess s = {.a = &tmp, .repo = repository, .reg = r};
  const char *e = NULL;
  int rc = read_integration(r, &s, integration, &e);
  if (rc == 1) e = "an attribute of the integration is unknown";
  bool by_digest = strncmp(reference, "sha256:", 7) == 0 || strncmp(reference, "sha512:", 7) == 0;
  if (rc == 0 && !good_repo(repository)) {
    e = idp_arena_sprintf(&tmp, "\"%s\" is not a repository name (lowercase letters, digits, '.', '_', '-' and '/')", repository);
    rc = -1;
  } else if (rc == 0 && (by_digest ? !good_digest(reference) : !good_tag(reference))) {
    e = idp_arena_sprintf(&tmp, "\"%s\" is neither a tag nor a sha256: digest", reference);
    rc = -1;
  }
  if (rc != 0) {
    *err = idp_xstrdup(e);
    idp_arena_free(&tmp);
    return -1;
  }
  s.h = curl_easy_init();
  if (!s.h) {
    *err = idp_xstrdup("cannot start libcurl");
    idp_arena_free(&tmp);
    return -1;
  }
  if (s.token) s.bearer = idp_xstrdup(s.token);
  const char *digest = NULL;
  rc = manifest_digest(&s, reference, &digest);
  if (rc == 0 && by_digest && strcmp(digest, reference) != 0) {
    /* A registry answering another digest for a digest reference: trust the one asked for only if it
     * is what the registry holds. */
    rc = fail(&s, "the manifest of %s@%s has digest %s", repository, reference, digest);
  }
  if (rc == 0) *image = idp_xstrdup(idp_arena_sprintf(&tmp, "%s/%s@%s", strstr(s.base, "://") + 3, repository, digest));
  else *err = idp_xstrdup(s.err ? s.err : "registry: unknown failure");
  curl_easy_cleanup(s.h);
  wipe_free(s.bearer);
  idp_arena_free(&tmp);
  return rc == 0 ? 0 : s.not_found ? IDP_REGISTRY_ENOTFOUND : -1;
}

int idp_registry_tags(idp_registry *r, const idp_value *integration, const char *repository, char ***tags, size_t *ntags,
                      char **err) {
  *tags = NULL;
  *ntags = 0;
  *err = NULL;
  idp_arena tmp;
  idp_arena_init(&tmp);
  sess s = {.a = &tmp, .repo = repository, .reg = r, .missing_ok = true};
  const char *e = NULL;
  int rc = read_integration(r, &s, integration, &e);
  if (rc == 1) e = "an attribute of the integration is unknown";
  if (rc == 0 && !good_repo(repository)) {
    e = idp_arena_sprintf(&tmp, "\"%s\" is not a repository name (lowercase letters, digits, '.', '_', '-' and '/')", repository);
    rc = -1;
  }
  if (rc == 0 && !(s.h = curl_easy_init())) {
    e = "cannot start libcurl";
    rc = -1;
  }
  if (rc != 0) {
    *err = idp_xstrdup(e);
    idp_arena_free(&tmp);
    return -1;
  }
  if (s.token) s.bearer = idp_xstrdup(s.token);
  const char **list = NULL;
  size_t n = 0;
  rc = list_tags(&s, &list, &n);
  if (rc == 0) {
    *tags = idp_xcalloc(n + 1, sizeof **tags);
    for (size_t i = 0; i < n; i++)
      if (good_tag(list[i])) (*tags)[(*ntags)++] = idp_xstrdup(list[i]);
  } else {
    *err = idp_xstrdup(s.err ? s.err : "registry: unknown failure");
  }
  curl_easy_cleanup(s.h);
  wipe_free(s.bearer);
  idp_arena_free(&tmp);
  return rc;
}
