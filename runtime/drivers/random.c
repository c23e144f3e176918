/* random.c - values generated once and kept in state: passwords. No integration.
 * Schemas only; the calls come with the runtime issue. */
#include "driver.h"

/* Every input forces a new value: a password is not edited, it is made again. */
static const idp_drv_input password_inputs[] = {
    {.name = "length", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(32), .force_new = true,
     .doc = "number of characters"},
    {.name = "special", .type = IDP_DRV_TYPE(BOOL), .def = IDP_DRV_DEF_BOOLEAN(false), .force_new = true,
     .doc = "add punctuation to the default [A-Za-z0-9] (decision 8)"},
    {.name = "override_special", .type = IDP_DRV_TYPE(STRING), .force_new = true,
     .doc = "the punctuation special adds (default !#%&*()-_=+[]{}<>:?)"},
    {.name = "charset", .type = IDP_DRV_TYPE(STRING), .force_new = true,
     .doc = "draw from exactly these characters instead"},
    {.name = "min_lower", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(0), .force_new = true,
     .doc = "at least this many lowercase letters"},
    {.name = "min_upper", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(0), .force_new = true,
     .doc = "at least this many uppercase letters"},
    {.name = "min_numeric", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(0), .force_new = true,
     .doc = "at least this many digits"},
    {.name = "min_special", .type = IDP_DRV_TYPE(NUMBER), .def = IDP_DRV_DEF_NUM(0), .force_new = true,
     .doc = "at least this many punctuation characters"},
    {.name = "keepers", .type = IDP_DRV_TYPE(MAP_STRING), .def = IDP_DRV_DEF_EMPTY_VALUE, .force_new = true,
     .doc = "arbitrary values; changing any of them makes a new password"},
};

static const idp_drv_output password_outputs[] = {
    {.name = "value", .type = IDP_DRV_TYPE(STRING), .computed = true, .secret = true,
     .doc = "the password (getrandom); kept encrypted in state"},
};

static const idp_drv_kind kinds[] = {
    {.name = "password", .full = "random.password", .doc = "a random password, generated once",
     .io = {password_inputs, IDP_DRV_N(password_inputs), password_outputs, IDP_DRV_N(password_outputs)}},
};

const idp_driver idp_driver_random = {
    .name = "random",
    .doc = "random values, generated once and kept in state",
    .integration = false,
    .kinds = kinds,
    .nkinds = IDP_DRV_N(kinds),
};
