/* kubernetes.c - Kubernetes API servers, by server-side apply (fieldManager=idp): namespaces,
 * deployments (waiting for the rollout), services, ingresses, secrets, config maps and any
 * manifest. Schemas only; the calls come with the Kubernetes issue. */
#include "driver.h"

static const idp_drv_input integration_inputs[] = {
    {.name = "kubeconfig", .type = IDP_DRV_TYPE(STRING),
     .doc = "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, unless server is set)"},
    {.name = "context", .type = IDP_DRV_TYPE(STRING), .doc = "context of the kubeconfig (default: its current-context)"},
    {.name = "server", .type = IDP_DRV_TYPE(STRING), .doc = "API server URL, instead of a kubeconfig"},
    {.name = "token", .type = IDP_DRV_TYPE(STRING), .secret_ok = true, .doc = "bearer token (a service account's)"},
    {.name = "ca_file", .type = IDP_DRV_TYPE(STRING), .doc = "PEM file of the cluster's CA"},
    {.name = "client_cert_file", .type = IDP_DRV_TYPE(STRING), .doc = "PEM client certificate"},
    {.name = "client_key_file", .type = IDP_DRV_TYPE(STRING), .doc = "PEM private key of client_cert_file"},
    {.name = "insecure_skip_tls_verify", .type = IDP_DRV_TYPE(BOOL), .def = IDP_DRV_DEF_BOOLEAN(false),
     .doc = "do not verify the API server's certificate (honoured only when set)"},
    IDP_DRV_INPUT_MAX_PARALLEL,
};

/* What every kind takes. NAMESPACE is left out of cluster-scoped kinds. */
#define CLUSTER                                                                                          \
  {.name = "cluster", .type = IDP_DRV_TYPE_INTEGRATION("kubernetes"), .required = true, .force_new = true, \
   .doc = "the kubernetes integration (cluster) it is applied to"}
#define NAMESPACE                                                                                 \
  {.name = "namespace", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,        \
   .doc = "the object's namespace"}
#define NAME                                                                                      \
  {.name = "name", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,             \
   .doc = "metadata.name"}
#define META                                                                                      \
  {.name = "labels", .type = IDP_DRV_TYPE(MAP_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE,            \
   .doc = "metadata.labels"},                                                                     \
  {.name = "annotations", .type = IDP_DRV_TYPE(MAP_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE,       \
   .doc = "metadata.annotations"},                                                                \
  {.name = "force_conflicts", .type = IDP_DRV_TYPE(BOOL), .def = IDP_DRV_DEF_BOOLEAN(false),      \
   .doc = "take over fields another field manager owns, instead of failing on the conflict"}

static const idp_drv_output object_outputs[] = {
    {.name = "uid", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "metadata.uid"},
    {.name = "resource_version", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "metadata.resourceVersion after apply"},
};

static const idp_drv_input namespace_inputs[] = {CLUSTER, NAME, META};

static const idp_drv_input deployment_inputs[] = {
    CLUSTER, NAMESPACE, NAME,
    {.name = "image", .type = IDP_DRV_TYPE(STRING), .required = true,
     .doc = "container image, pinned by digest (REGISTRY/REPO@sha256:...)"},
    {.name = "replicas", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(1), .doc = "number of pods"},
    {.name = "port", .type = IDP_DRV_TYPE(NUMBER), .doc = "container port"},
    {.name = "env", .type = IDP_DRV_TYPE(MAP_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE, .secret_ok = true,
     .doc = "container environment; secret keys go to a Secret read through secretKeyRef"},
    {.name = "command", .type = IDP_DRV_TYPE(LIST_STRING), .doc = "the container's entrypoint (default: the image's)"},
    {.name = "args", .type = IDP_DRV_TYPE(LIST_STRING), .doc = "arguments to the entrypoint"},
    {.name = "resources", .type = IDP_DRV_TYPE(ANY),
     .doc = "{ requests = { cpu, memory }, limits = { cpu, memory } }"},
    {.name = "probes", .type = IDP_DRV_TYPE(ANY),
     .doc = "{ readiness = { path, port }, liveness = { path, port } }: HTTP GET probes"},
    {.name = "wait", .type = IDP_DRV_TYPE(BOOL), .def = IDP_DRV_DEF_BOOLEAN(true), .doc = "wait until the rollout completes"},
    {.name = "timeout", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(300), .doc = "seconds to wait for the rollout"},
    META,
};

static const idp_drv_output deployment_outputs[] = {
    {.name = "uid", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "metadata.uid"},
    {.name = "resource_version", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "metadata.resourceVersion after apply"},
    {.name = "generation", .type = IDP_DRV_TYPE(NUMBER), .computed = true, .doc = "metadata.generation that rolled out"},
};

static const idp_drv_input service_inputs[] = {
    CLUSTER, NAMESPACE, NAME,
    {.name = "port", .type = IDP_DRV_TYPE(NUMBER), .required = true, .doc = "the port the service listens on"},
    {.name = "target_port", .type = IDP_DRV_TYPE(NUMBER), .doc = "the pods' port (default: port)"},
    {.name = "selector", .type = IDP_DRV_TYPE(MAP_STRING), .doc = "pod labels it routes to (default: { app = name })"},
    {.name = "type", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("ClusterIP"),
     .doc = "ClusterIP, NodePort or LoadBalancer"},
    META,
};

static const idp_drv_output service_outputs[] = {
    {.name = "uid", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "metadata.uid"},
    {.name = "resource_version", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "metadata.resourceVersion after apply"},
    {.name = "cluster_ip", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "spec.clusterIP"},
};

static const idp_drv_input ingress_inputs[] = {
    CLUSTER, NAMESPACE, NAME,
    {.name = "host", .type = IDP_DRV_TYPE(STRING), .required = true, .doc = "the host name it serves (e.g. a dns need's fqdn)"},
    {.name = "path", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("/"), .doc = "path prefix routed to the service"},
    {.name = "service", .type = IDP_DRV_TYPE(STRING), .required = true, .doc = "the backend service's name"},
    {.name = "service_port", .type = IDP_DRV_TYPE(NUMBER), .required = true, .doc = "the backend service's port"},
    {.name = "class", .type = IDP_DRV_TYPE(STRING), .doc = "spec.ingressClassName"},
    {.name = "tls_secret", .type = IDP_DRV_TYPE(STRING), .doc = "secret holding the TLS certificate for host"},
    META,
};

static const idp_drv_input secret_inputs[] = {
    CLUSTER, NAMESPACE, NAME,
    {.name = "data", .type = IDP_DRV_TYPE(MAP_STRING), .required = true, .secret_ok = true,
     .doc = "the secret's keys and values: never in plan or state in plaintext"},
    {.name = "type", .type = IDP_DRV_TYPE(STRING), .def = IDP_DRV_DEF_STR("Opaque"), .force_new = true,
     .doc = "the secret's type"},
    META,
};

static const idp_drv_input config_map_inputs[] = {
    CLUSTER, NAMESPACE, NAME,
    {.name = "data", .type = IDP_DRV_TYPE(MAP_STRING), .required = true, .doc = "the config map's keys and values"},
    META,
};

static const idp_drv_input manifest_inputs[] = {
    CLUSTER,
    {.name = "manifest", .type = IDP_DRV_TYPE(ANY), .required = true,
     .doc = "the object as a map or a YAML string; apiVersion and kind come from it"},
    {.name = "namespace", .type = IDP_DRV_TYPE(STRING), .force_new = true,
     .doc = "namespace of a namespaced object that does not name one"},
    {.name = "force_conflicts", .type = IDP_DRV_TYPE(BOOL), .def = IDP_DRV_DEF_BOOLEAN(false),
     .doc = "take over fields another field manager owns, instead of failing on the conflict"},
};

#define IO(in, out) {in, IDP_DRV_N(in), out, IDP_DRV_N(out)}

static const idp_drv_kind kinds[] = {
    {.name = "namespace", .full = "kubernetes.namespace", .doc = "a namespace", .io = IO(namespace_inputs, object_outputs)},
    {.name = "deployment", .full = "kubernetes.deployment", .doc = "a Deployment of one container; apply waits for the rollout",
     .io = IO(deployment_inputs, deployment_outputs)},
    {.name = "service", .full = "kubernetes.service", .doc = "a Service routing one port to pods", .io = IO(service_inputs, service_outputs)},
    {.name = "ingress", .full = "kubernetes.ingress", .doc = "an Ingress routing a host (and path) to a service",
     .io = IO(ingress_inputs, object_outputs)},
    {.name = "secret", .full = "kubernetes.secret", .doc = "a Secret; its data is secret", .io = IO(secret_inputs, object_outputs)},
    {.name = "config_map", .full = "kubernetes.config_map", .doc = "a ConfigMap", .io = IO(config_map_inputs, object_outputs)},
    {.name = "manifest", .full = "kubernetes.manifest", .doc = "any object, resolved through API discovery",
     .io = IO(manifest_inputs, object_outputs)},
};

const idp_driver idp_driver_kubernetes = {
    .name = "kubernetes",
    .doc = "a Kubernetes cluster, through its API (server-side apply)",
    .integration = true,
    .io = {integration_inputs, IDP_DRV_N(integration_inputs), NULL, 0},
    .kinds = kinds,
    .nkinds = IDP_DRV_N(kinds),
};
