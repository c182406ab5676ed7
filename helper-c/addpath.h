/* The mounter of a recursive build: paths made inside it appear in its running sandbox. */
#ifndef TSNIX_ADDPATH_H
#define TSNIX_ADDPATH_H

#include <sys/types.h>

/* Started by the helper right after the clone, before the sandbox runs (and makes itself
   undumpable, after which its namespaces could no longer be opened by a non-root helper):
   keeps the sandbox's namespaces and serves requests on the unix socket `socket_path`
   (mode 0600), each a line "SOURCE\tTARGET\n", answered "ok\n" or "error MESSAGE\n". Returns
   the mounter's PID, which the helper kills when the sandbox ends. */
pid_t start_mounter(pid_t sandbox, const char *socket_path);

#endif
