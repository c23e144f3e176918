/* mkstate.c - writes a state for the plan tests through the state API, so secrets are sealed as
 * idp seals them and no plaintext is ever written to a test file.
 *
 *   mkstate DIR ENV|_shared < DESCRIPTION.json
 *
 * DESCRIPTION: {"env_type" (an on-demand environment's), "resources": [{"address", "driver", "status" (default "created"),
 * "dependencies": [...], "inputs": {...}, "outputs": {...}}]}. An attribute written as
 * {"$seal_env": "NAME"} is set to the value of environment variable NAME (a string), sealed with
 * IDP_STATE_KEY; {"$seal_env_json": "NAME"} likewise with NAME's value read as JSON. Built by tests/plan/run.sh against the build's libidp.a. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "backend.h"
#include "state.h"

static int die(const char *what, const idp_state_error *err) {
  fprintf(stderr, "mkstate: %s: %s\n", what, err ? err->msg : "");
  return 1;
}

static int set_map(idp_state *st, idp_state_res *r, idp_state_part part, json_t *m, idp_state_error *err) {
  const char *k;
  json_t *v;
  json_object_foreach(m, k, v) {
    json_t *env = json_is_object(v) ? json_object_get(v, "$seal_env") : NULL;
    json_t *envj = json_is_object(v) ? json_object_get(v, "$seal_env_json") : NULL;
    if (env || envj) {
      const char *plain = getenv(json_string_value(env ? env : envj));
      json_t *s = env ? json_string(plain ? plain : "") : json_loads(plain ? plain : "null", JSON_DECODE_ANY, NULL);
      if (!s) return idp_state_fail(err, IDP_STATE_ERROR, "bad JSON in $%s", json_string_value(envj));
      int rc = idp_state_res_set(st, r, part, k, s, true, err);
      json_decref(s);
      if (rc < 0) return rc;
    } else if (idp_state_res_set(st, r, part, k, v, false, err) < 0) {
      return -1;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fputs("usage: mkstate DIR ENV|_shared < DESCRIPTION.json\n", stderr);
    return 2;
  }
  const char *env = strcmp(argv[2], "_shared") == 0 ? NULL : argv[2];
  json_error_t jerr;
  json_t *desc = json_loadf(stdin, 0, &jerr);
  if (!desc) {
    fprintf(stderr, "mkstate: %d:%d: %s\n", jerr.line, jerr.column, jerr.text);
    return 1;
  }
  idp_state_error err = {0};
  idp_state_key key;
  bool have_key = idp_state_key_from_env(&key, NULL) == 0;
  idp_backend *b = idp_backend_local(argv[1]);
  idp_state *st = NULL;
  int rc = 1;
  if (idp_backend_lock(b, env, 0, "mkstate", &err) < 0) {
    die("lock", &err);
    goto out;
  }
  if (idp_backend_read(b, env, have_key ? &key : NULL, &st, &err) < 0) {
    die("read", &err);
    goto out;
  }
  const json_t *et = json_object_get(desc, "env_type");
  if (json_is_string(et)) idp_state_set_env_type(st, json_string_value(et));
  size_t i;
  json_t *rj;
  json_array_foreach(json_object_get(desc, "resources"), i, rj) {
    idp_state_res *r;
    const char *addr = json_string_value(json_object_get(rj, "address"));
    if (idp_state_add(st, addr, json_string_value(json_object_get(rj, "driver")), &r, &err) < 0) {
      die(addr, &err);
      goto out;
    }
    const char *status = json_string_value(json_object_get(rj, "status"));
    idp_state_status s = IDP_STATE_CREATED;
    if (status && idp_state_status_parse(status, &s) < 0) {
      fprintf(stderr, "mkstate: bad status %s\n", status);
      goto out;
    }
    idp_state_res_set_status(st, r, s);
    json_t *deps = json_object_get(rj, "dependencies");
    size_t nd = json_array_size(deps);
    const char **dv = calloc(nd + 1, sizeof *dv);
    for (size_t j = 0; j < nd; j++) dv[j] = json_string_value(json_array_get(deps, j));
    idp_state_res_set_deps(st, r, dv, nd);
    free(dv);
    json_t *in = json_object_get(rj, "inputs"), *outp = json_object_get(rj, "outputs");
    if ((in && set_map(st, r, IDP_STATE_INPUTS, in, &err) < 0) ||
        (outp && set_map(st, r, IDP_STATE_OUTPUTS, outp, &err) < 0)) {
      die(addr, &err);
      goto out;
    }
  }
  if (idp_backend_write(b, st, NULL, &err) < 0) {
    die("write", &err);
    goto out;
  }
  rc = 0;
out:
  idp_state_free(st);
  idp_backend_free(b);
  json_decref(desc);
  if (have_key) idp_state_key_wipe(&key);
  return rc;
}
