/* tsnix-helper --serve: a small process that starts sandbox helpers for the driver. */
#ifndef TSNIX_SERVE_H
#define TSNIX_SERVE_H

#include <stddef.h>
#include <sys/types.h>

/* Runs the server. `title` and `title_len`: the memory of our argv strings, which each build's
   PID 1 overwrites so that no host path shows in the sandbox's /proc/1/cmdline. */
int serve(char *title, size_t title_len);

/* The process that must stay alive for a build to go on: set (to the server) before the fork
   that starts a build, so that a server dying in between is noticed. */
extern pid_t helper_parent;

/* A loopback-only network namespace the server handed this helper (serve.c), or -1. */
extern int pooled_net_fd;

/* One build, described on stdin, as `tsnix-helper < description` does (sandbox.c). */
int run_build_from_stdin(char *title, size_t title_len);

#endif
