/* gitops.c - renders Kubernetes manifests into a directory that Argo CD or Flux syncs, instead of
 * applying them. Secret values never go to that directory: they are rendered as Secret manifests
 * into secrets_dir (files mode 0600) and the Deployment reads them through secretKeyRef
 * (decision 8). Schemas only; the calls come with the runtime issue. */
#include "driver.h"

static const idp_drv_input integration_inputs[] = {
    {.name = "dir", .type = IDP_DRV_TYPE(STRING), .required = true,
     .doc = "the directory the GitOps controller syncs (relative to the spec's directory)"},
    {.name = "secrets_dir", .type = IDP_DRV_TYPE(STRING),
     .doc = "where Secret manifests go (mode 0600); needed once a deployment's env holds a secret"},
    IDP_DRV_INPUT_MAX_PARALLEL,
};

static const idp_drv_input deployment_inputs[] = {
    {.name = "target", .type = IDP_DRV_TYPE_INTEGRATION("gitops"), .required = true, .force_new = true,
     .doc = "the gitops integration whose dir receives the file"},
    {.name = "path", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,
     .doc = "the file, relative to the integration's dir (and secrets_dir)"},
    {.name = "namespace", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,
     .doc = "Kubernetes namespace of the rendered objects"},
    {.name = "name", .type = IDP_DRV_TYPE(STRING), .required = true, .force_new = true,
     .doc = "name of the Deployment and its Service"},
    {.name = "image", .type = IDP_DRV_TYPE(STRING), .required = true,
     .doc = "container image, pinned by digest (REGISTRY/REPO@sha256:...)"},
    {.name = "replicas", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(1), .doc = "number of pods"},
    {.name = "port", .type = IDP_DRV_TYPE(NUMBER), .doc = "container port; when set, a Service is rendered too"},
    {.name = "env", .type = IDP_DRV_TYPE(MAP_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE, .secret_ok = true,
     .doc = "container environment; secret keys go to a Secret in secrets_dir"},
    {.name = "labels", .type = IDP_DRV_TYPE(MAP_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE,
     .doc = "labels added to the rendered objects"},
};

static const idp_drv_output deployment_outputs[] = {
    {.name = "file", .type = IDP_DRV_TYPE(STRING), .doc = "the rendered file: dir/path"},
    {.name = "secret_file", .type = IDP_DRV_TYPE(STRING), .computed = true,
     .doc = "the Secret manifest in secrets_dir, or \"\" when env holds no secret"},
    {.name = "sha256", .type = IDP_DRV_TYPE(STRING), .computed = true, .doc = "digest of the rendered file"},
};

static const idp_drv_kind kinds[] = {
    {.name = "deployment", .full = "gitops.deployment",
     .doc = "a Deployment (and a Service when port is set) rendered as YAML into a file",
     .io = {deployment_inputs, IDP_DRV_N(deployment_inputs), deployment_outputs, IDP_DRV_N(deployment_outputs)}},
};

const idp_driver idp_driver_gitops = {
    .name = "gitops",
    .doc = "manifests rendered into a directory that Argo CD or Flux syncs",
    .integration = true,
    .io = {integration_inputs, IDP_DRV_N(integration_inputs), NULL, 0},
    .kinds = kinds,
    .nkinds = IDP_DRV_N(kinds),
};
