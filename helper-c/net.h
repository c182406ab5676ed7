/* The sandbox's network: loopback only, or a user-mode stack (pasta) for fixed-output builds. */
#ifndef TSNIX_NET_H
#define TSNIX_NET_H

#include <sys/types.h>

enum net_result { NET_OK, NET_ERR_SOCKET, NET_ERR_GET_FLAGS, NET_ERR_SET_FLAGS };

enum net_result loopback_up(void);
const char *net_result_message(enum net_result result);

/* Starts pasta in the host's namespaces, attached to the sandbox of child_pid; returns its pid. */
pid_t start_pasta(const char *pasta, pid_t child_pid);
/* Inside the sandbox: wait until pasta has given the namespace a default route. */
void wait_for_pasta_route(void);

#endif
