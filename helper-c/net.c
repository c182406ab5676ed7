#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

enum net_result loopback_up(void)
{
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0)
    return NET_ERR_SOCKET;
  struct ifreq req;
  memset(&req, 0, sizeof req);
  strcpy(req.ifr_name, "lo");
  enum net_result res = NET_OK;
  if (ioctl(sock, SIOCGIFFLAGS, &req) < 0)
    res = NET_ERR_GET_FLAGS;
  else {
    req.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(sock, SIOCSIFFLAGS, &req) < 0)
      res = NET_ERR_SET_FLAGS;
  }
  close(sock);
  return res;
}

const char *net_result_message(enum net_result result)
{
  switch (result) {
  case NET_OK: return "ok";
  case NET_ERR_SOCKET: return "cannot open a socket to configure the loopback interface";
  case NET_ERR_GET_FLAGS: return "cannot read the flags of the loopback interface";
  case NET_ERR_SET_FLAGS: return "cannot bring the loopback interface up";
  }
  return "unknown error";
}

pid_t start_pasta(const char *pasta, pid_t child_pid)
{
  char target[32];
  snprintf(target, sizeof target, "%d", (int)child_pid);
  pid_t pid = fork();
  if (pid < 0)
    die_with_errno("cannot fork to start pasta");
  if (pid > 0)
    return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    dup2(null_fd, STDIN_FILENO);
    /* Its stdout must not hold the build log open; its errors go to the helper's stderr. */
    dup2(STDERR_FILENO, STDOUT_FILENO);
  }
  int keep[] = {-1};
  close_fds_except(3, keep);
  /* Running as root, pasta would switch to nobody and then fail to join the namespaces the
     helper created; --runas keeps the caller's ids. No gateway mapping: the host's loopback
     services must stay out of reach, and no ports are forwarded in either direction. */
  char runas[64];
  snprintf(runas, sizeof runas, "%u:%u", (unsigned)geteuid(), (unsigned)getegid());
  char *argv[] = {(char *)pasta, "--quiet", "--foreground", "--runas", runas, "--config-net",
                  "--no-map-gw", "-t", "none", "-u", "none", "-T", "none", "-U", "none", target, NULL};
  execv(pasta, argv);
  die_with_errno("cannot run pasta '%s'", pasta);
}

static int has_default_route(void)
{
  FILE *routes = fopen("/proc/net/route", "re");
  if (!routes)
    return 0;
  char line[512];
  int found = 0;
  if (!fgets(line, sizeof line, routes)) { /* header */
    fclose(routes);
    return 0;
  }
  while (!found && fgets(line, sizeof line, routes)) {
    char iface[64];
    unsigned long dest;
    if (sscanf(line, "%63s %lx", iface, &dest) == 2 && dest == 0)
      found = 1;
  }
  fclose(routes);
  return found;
}

void wait_for_pasta_route(void)
{
  struct timespec step = {0, 2 * 1000 * 1000};
  for (int i = 0; i < 2500; i++) {
    if (has_default_route())
      return;
    nanosleep(&step, NULL);
  }
  die("pasta did not configure the network of the sandbox within 5 seconds");
}
