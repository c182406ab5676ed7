/* The last steps in the builder's own process, then exec; and the reports of its end. */
#ifndef TSNIX_BUILDER_H
#define TSNIX_BUILDER_H

#include "spec.h"

/* Where the driver reads how the builder ended. */
#define STATUS_FD 3

/* Runs in the forked builder process: session, personality, ids, fds, seccomp, exec. */
void exec_builder(const struct sandbox_spec *spec, int in_namespaces) __attribute__((noreturn));

/* Writes "exit N" or "signal N" to the status fd (3) when the driver gave one; returns the
   helper's own exit code for that wait status. */
int report_status(int wait_status);

/* PID 1 of the sandbox: reap everything, return when the builder itself ends. */
int reap_until(pid_t builder);

#endif
