#!/usr/bin/env bash
# tests/k8s/fakeapi.sh BUILD_DIR - the fake Kubernetes API server itself, with curl over HTTPS:
# auth (token, expired and missing token, client certificate, a certificate of another CA),
# discovery, server-side apply (create, update with resourceVersion and generation bumps, no-op,
# conflicts with another manager and force, removal of omitted fields), merge patches as another
# manager, the deployment rollout and its failing marker, LIST, DELETE and the 404/409/422 Status
# bodies. About a second.
set -u
. "$(dirname "$0")/lib.sh" k8s-fake "$@" || exit 0

tmp=$(mktemp -d)
trap 'k8s_fake_stop; rm -rf "$tmp"' EXIT
k8s_fake_start "$tmp" || exit 0

# k METHOD PATH [CONTENT_TYPE BODY] [CURL ARGS...]: the body in $tmp/out, the status in $code
k() {
  local m=$1 p=$2
  shift 2
  local args=(-sS --cacert "$K8S_CA" -o "$tmp/out" -w '%{http_code}' -X "$m" -H "Authorization: Bearer $K8S_TOKEN")
  if [ $# -ge 2 ] && [[ $1 == application/* ]]; then
    args+=(-H "Content-Type: $1" --data-binary "$2")
    shift 2
  fi
  code=$(curl "${args[@]}" "$@" "$K8S_SERVER$p")
}
# expect NAME CODE JQ_FILTER: the last answer had CODE and the filter holds on its body
expect() {
  if [ "$code" = "$2" ] && jq -e "$3" "$tmp/out" >/dev/null 2>&1; then
    ok "$1"
  else
    bad "$1" "status $code (wanted $2), filter $3 on:" "$(head -c 2000 "$tmp/out")"
  fi
}
apply() { # apply PATH MANAGER BODY [force]
  local q="fieldManager=$2"
  [ "${4:-}" = force ] && q="$q&force=true"
  k PATCH "$1?$q" application/apply-patch+yaml "$3"
}
NS=/api/v1/namespaces
DEP=/apis/apps/v1/namespaces/shop/deployments

# --- auth
k GET /api
expect "auth: a valid token" 200 '.kind == "APIVersions" and .versions == ["v1"]'
code=$(curl -sS --cacert "$K8S_CA" -o "$tmp/out" -w '%{http_code}' -H "Authorization: Bearer $K8S_EXPIRED_TOKEN" "$K8S_SERVER/api/v1")
expect "auth: an expired token is 401 with the Status body" 401 \
  '. == {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}'
code=$(curl -sS --cacert "$K8S_CA" -o "$tmp/out" -w '%{http_code}' -H "Authorization: Bearer nope" "$K8S_SERVER/api/v1")
expect "auth: an unknown token is 401" 401 '.reason == "Unauthorized"'
code=$(curl -sS --cacert "$K8S_CA" -o "$tmp/out" -w '%{http_code}' "$K8S_SERVER/api/v1")
expect "auth: no credentials is 401" 401 '.code == 401'
code=$(curl -sS --cacert "$K8S_CA" --cert "$K8S_CLIENT_CERT" --key "$K8S_CLIENT_KEY" -o "$tmp/out" -w '%{http_code}' "$K8S_SERVER/api/v1")
expect "auth: a client certificate of the test CA" 200 '.kind == "APIResourceList"'
(cd "$tmp" && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout other.key \
  -out other.crt -days 1 -subj /CN=intruder) >/dev/null 2>&1
code=$(curl -sS --cacert "$K8S_CA" --cert "$tmp/other.crt" --key "$tmp/other.key" -o "$tmp/out" -w '%{http_code}' "$K8S_SERVER/api/v1" 2>/dev/null)
expect "auth: a self-signed client certificate is 401" 401 '.reason == "Unauthorized"'
if curl -sS -o /dev/null "$K8S_SERVER/api" 2>/dev/null; then
  bad "tls: the server certificate is not trusted without the CA"
else
  ok "tls: the server certificate is not trusted without the CA"
fi

# --- discovery
k GET /api/v1
expect "discovery: /api/v1 lists namespaces (cluster), configmaps, secrets, services (namespaced)" 200 \
  '.groupVersion == "v1" and ([.resources[] | select(.name | contains("/") | not) | {name, kind, namespaced}] ==
   [{"name":"namespaces","kind":"Namespace","namespaced":false},{"name":"configmaps","kind":"ConfigMap","namespaced":true},
    {"name":"secrets","kind":"Secret","namespaced":true},{"name":"services","kind":"Service","namespaced":true}])'
k GET /apis
expect "discovery: /apis lists apps and networking.k8s.io" 200 \
  '.kind == "APIGroupList" and ([.groups[].preferredVersion.groupVersion] == ["apps/v1","networking.k8s.io/v1"])'
k GET /apis/apps/v1
expect "discovery: /apis/apps/v1 has deployments" 200 \
  '.groupVersion == "apps/v1" and (.resources[] | select(.name == "deployments") | .kind == "Deployment" and .namespaced and (.verbs | index("patch")))'
k GET /apis/networking.k8s.io/v1
expect "discovery: /apis/networking.k8s.io/v1 has ingresses" 200 \
  '.resources[0] | .name == "ingresses" and .kind == "Ingress" and .namespaced'
k GET /apis/batch/v1
expect "discovery: an unknown group is 404" 404 '.kind == "Status" and .reason == "NotFound"'
k GET /api/v1/namespaces/shop/widgets
expect "an unknown resource path is 404" 404 '.reason == "NotFound" and .code == 404'

# --- namespaces and create by apply
k GET $NS/shop
expect "get: an absent namespace is 404 NotFound" 404 '.message == "namespaces \"shop\" not found" and .details.kind == "namespaces"'
cm='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"a":"1"}}'
apply /api/v1/namespaces/shop/configmaps/cfg idp "$cm"
expect "apply: into an absent namespace is 404" 404 '.message == "namespaces \"shop\" not found"'
apply $NS/shop idp '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop","labels":{"team":"a"}}}'
expect "apply: creates a namespace (201, uid, resourceVersion, managedFields)" 201 \
  '.metadata.uid and (.metadata.uid | test("^[0-9a-f-]{36}$")) and (.metadata.resourceVersion | tonumber > 0) and
   .metadata.creationTimestamp and .status.phase == "Active" and .metadata.labels.team == "a" and
   .metadata.managedFields[0].manager == "idp" and .metadata.managedFields[0].operation == "Apply" and
   .metadata.managedFields[0].fieldsV1 == {"f:metadata":{"f:labels":{"f:team":{}}}}'
k PATCH /api/v1/namespaces/shop/configmaps/cfg application/apply-patch+yaml "$cm"
expect "apply: without fieldManager is 400" 400 '.reason == "BadRequest" and (.message | contains("fieldManager is required"))'
k PATCH /api/v1/namespaces/shop/configmaps/cfg?fieldManager=idp application/json-patch+json '[]'
expect "patch: json-patch is 415" 415 '.reason == "UnsupportedMediaType"'
apply /api/v1/namespaces/shop/configmaps/other idp "$cm"
expect "apply: a name that differs from the URL is 400" 400 '.message | contains("does not match the name on the URL")'
apply /api/v1/namespaces/shop/configmaps/Bad_Name idp '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}'
expect "apply: an invalid name is 422 Invalid" 422 '.reason == "Invalid" and (.message | startswith("ConfigMap \"Bad_Name\" is invalid: metadata.name"))'
apply /api/v1/namespaces/shop/secrets/db idp '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"stringData":{"password":"hunter2"}}'
expect "apply: a secret's stringData is stored base64 in data" 201 '.data.password == "aHVudGVyMg==" and .type == "Opaque" and (has("stringData") | not)'

dep() { # dep REPLICAS IMAGE [EXTRA_SPEC_JSON]
  jq -cn --argjson r "$1" --arg img "$2" --argjson extra "${3:-{\}}" '{apiVersion:"apps/v1",kind:"Deployment",
    metadata:{name:"web",namespace:"shop",labels:{app:"web"}},
    spec:({replicas:$r,selector:{matchLabels:{app:"web"}},
      template:{metadata:{labels:{app:"web"}},spec:{containers:[{name:"app",image:$img}]}}} + $extra)}'
}
apply $DEP/web idp "$(dep 2 registry.local/web@sha256:1111)"
expect "apply: creates a deployment with generation 1" 201 \
  '.metadata.generation == 1 and .spec.replicas == 2 and .metadata.managedFields[0].apiVersion == "apps/v1" and
   .metadata.managedFields[0].fieldsV1["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]["f:image"] == {}'
rv1=$(jq -r .metadata.resourceVersion "$tmp/out")
k GET $DEP/web
expect "rollout: not observed before the delay" 200 '(.status.observedGeneration // 0) < .metadata.generation'
apply $DEP/web idp "$(dep 2 registry.local/web@sha256:1111)"
expect "apply: the same config again changes nothing (same resourceVersion, generation)" 200 \
  ".metadata.resourceVersion == \"$rv1\" and .metadata.generation == 1"
apply $DEP/web idp "$(dep 3 registry.local/web@sha256:2222)"
expect "apply: a spec change bumps resourceVersion and generation" 200 \
  "(.metadata.resourceVersion | tonumber) > $rv1 and .metadata.generation == 2 and .spec.replicas == 3 and
   .spec.template.spec.containers[0].image == \"registry.local/web@sha256:2222\""
rv2=$(jq -r .metadata.resourceVersion "$tmp/out")
apply $DEP/web idp "$(dep 3 registry.local/web@sha256:2222 | jq -c '.metadata.labels.tier = "front"')"
expect "apply: a label change bumps resourceVersion, not generation" 200 \
  "(.metadata.resourceVersion | tonumber) > $rv2 and .metadata.generation == 2 and .metadata.labels.tier == \"front\""

# --- rollout
sleep 0.3
k GET $DEP/web
expect "rollout: after the delay, status says complete" 200 \
  '.status.observedGeneration == 2 and .status.replicas == 3 and .status.updatedReplicas == 3 and
   .status.readyReplicas == 3 and .status.availableReplicas == 3 and
   (.status.conditions[] | select(.type == "Available") | .status == "True") and
   (.status.conditions[] | select(.type == "Progressing") | .status == "True" and .reason == "NewReplicaSetAvailable")'
k GET $DEP/web/status
expect "rollout: the status subresource reads the same" 200 '.status.observedGeneration == 2'

# --- another manager, conflicts, force
k PATCH "$DEP/web?fieldManager=kubectl" application/merge-patch+json '{"spec":{"replicas":5}}'
expect "merge patch: another manager (kubectl) takes .spec.replicas" 200 \
  '.spec.replicas == 5 and .metadata.generation == 3 and
   (.metadata.managedFields[] | select(.manager == "kubectl") | .operation == "Update" and .fieldsV1 == {"f:spec":{"f:replicas":{}}})'
apply $DEP/web idp "$(dep 3 registry.local/web@sha256:2222 | jq -c '.metadata.labels.tier = "front"')"
expect "apply: a field another manager changed is 409 Conflict naming it" 409 \
  '.reason == "Conflict" and .message == "Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: .spec.replicas" and
   .details.causes == [{"type":"FieldManagerConflict","message":"conflict with \"kubectl\" using apps/v1","field":".spec.replicas"}]'
k GET $DEP/web
expect "apply: a conflict changes nothing" 200 '.spec.replicas == 5 and .metadata.generation == 3'
apply $DEP/web idp "$(dep 5 registry.local/web@sha256:2222 | jq -c '.metadata.labels.tier = "front"')"
expect "apply: the same value as the other manager is no conflict (shared)" 200 \
  '.spec.replicas == 5 and ([.metadata.managedFields[] | select(.fieldsV1["f:spec"]["f:replicas"])] | length) == 2'
apply $DEP/web idp "$(dep 3 registry.local/web@sha256:2222 | jq -c '.metadata.labels.tier = "front"')" force
expect "apply: force=true takes the field over" 200 \
  '.spec.replicas == 3 and .metadata.generation == 4 and
   ([.metadata.managedFields[] | select(.manager == "kubectl")] | length) == 0'

# --- removal of omitted fields
apply $DEP/web idp "$(dep 3 registry.local/web@sha256:2222 '{"minReadySeconds":5}' | jq -c '.metadata.labels.tier = "front"')"
k PATCH "$DEP/web?fieldManager=kubectl" application/merge-patch+json '{"metadata":{"annotations":{"note":"by hand"}},"spec":{"minReadySeconds":5}}'
apply $DEP/web idp "$(dep 3 registry.local/web@sha256:2222)"
expect "apply: an omitted field goes, unless another manager owns it" 200 \
  '(.metadata.labels | has("tier") | not) and .metadata.labels.app == "web" and .spec.minReadySeconds == 5 and
   .metadata.annotations.note == "by hand"'
k PATCH "$DEP/web?fieldManager=kubectl" application/merge-patch+json '{"metadata":{"annotations":{"note":null}},"spec":{"minReadySeconds":null}}'
apply /api/v1/namespaces/shop/configmaps/cfg idp '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"a":"1","b":"2"}}'
apply /api/v1/namespaces/shop/configmaps/cfg idp '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"b":"3"}}'
expect "apply: a config map key omitted is removed" 200 '.data == {"b":"3"}'
apply /api/v1/namespaces/shop/configmaps/cfg idp '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"b":"3"}}' 
k PATCH /api/v1/namespaces/shop/configmaps/cfg?fieldManager=idp application/apply-patch+yaml \
  '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg","resourceVersion":"1"},"data":{"b":"3"}}'
expect "apply: a stale metadata.resourceVersion is 409" 409 '.reason == "Conflict" and (.message | contains("the object has been modified"))'

# --- failing rollout
apply $DEP/web idp "$(dep 2 registry.local/web:fail-rollout)"
gen=$(jq .metadata.generation "$tmp/out")
sleep 0.3
k GET $DEP/web
expect "rollout: an image with fail-rollout ends ProgressDeadlineExceeded" 200 \
  ".status.observedGeneration == $gen and .status.availableReplicas == 0 and
   (.status.conditions[] | select(.type == \"Progressing\") | .status == \"False\" and .reason == \"ProgressDeadlineExceeded\" and (.message | contains(\"timed out progressing\")))"
apply $DEP/web idp "$(dep 2 registry.local/web@sha256:2222 | jq -c '.spec.selector.matchLabels.app = "other"')"
expect "apply: a selector that does not match the template is 422" 422 '.reason == "Invalid" and (.message | contains("selector"))'

# --- services, ingresses, list, delete
apply /api/v1/namespaces/shop/services/web idp '{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":{"selector":{"app":"web"},"ports":[{"port":80,"targetPort":8080}]}}'
expect "apply: a service gets a clusterIP and defaults" 201 '(.spec.clusterIP | startswith("10.96.")) and .spec.type == "ClusterIP" and .spec.ports[0].protocol == "TCP"'
apply /apis/networking.k8s.io/v1/namespaces/shop/ingresses/web idp '{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"web"},"spec":{"rules":[{"host":"web.example.test","http":{"paths":[{"path":"/","pathType":"Prefix","backend":{"service":{"name":"web","port":{"number":80}}}}]}}]}}'
expect "apply: an ingress" 201 '.metadata.generation == 1 and .spec.rules[0].host == "web.example.test"'
k GET /api/v1/namespaces/shop/configmaps
expect "list: a namespace's config maps" 200 '.kind == "ConfigMapList" and .metadata.resourceVersion and [.items[].metadata.name] == ["cfg"]'
k GET "/apis/apps/v1/deployments?labelSelector=app%3Dweb"
expect "list: across namespaces with a label selector" 200 '[.items[].metadata.name] == ["web"]'
k DELETE "$DEP/web?propagationPolicy=Foreground"
expect "delete: 200 with a Success Status" 200 '.kind == "Status" and .status == "Success" and .details.name == "web" and .details.group == "apps"'
k GET $DEP/web
expect "delete: then 404 NotFound" 404 '.message == "deployments.apps \"web\" not found" and .details.group == "apps"'
k DELETE $DEP/web
expect "delete: again is 404" 404 '.reason == "NotFound"'
k POST /api/v1/namespaces/shop/configmaps application/json '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"}}'
expect "create: POST of an existing name is 409 AlreadyExists" 409 '.reason == "AlreadyExists"'
k DELETE $NS/shop
expect "delete: a namespace answers the object, Terminating" 200 '.kind == "Namespace" and .status.phase == "Terminating"'
k GET /api/v1/namespaces/shop/configmaps/cfg
expect "delete: a namespace's objects go with it" 404 '.reason == "NotFound"'
if grep -q "PATCH /apis/apps/v1/namespaces/shop/deployments/web fieldManager=idp force=true ctype=application/apply-patch+yaml auth=token -> 200" "$K8S_LOG"; then
  ok "the request log names the method, path, manager, force, type, auth and status"
else
  bad "the request log names the method, path, manager, force, type, auth and status" "$(tail -5 "$K8S_LOG")"
fi
