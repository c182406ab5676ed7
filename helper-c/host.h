/* sandbox = false: the builder runs on the host as the build user, still reaped to the last
   process. */
#ifndef TSNIX_HOST_H
#define TSNIX_HOST_H

#include "spec.h"

int run_on_host(const struct sandbox_spec *spec);

#endif
