#include "host.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "builder.h"
#include "util.h"

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
  (void)sig;
  stop_requested = 1;
}

/* Kills every process left below the helper. As a subreaper, the helper inherits any process
   the builder orphaned, so its children list is the whole rest of the build. */
static int kill_children(void)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
  FILE *list = fopen(path, "re");
  if (!list)
    return 0;
  int killed = 0, pid;
  while (fscanf(list, "%d", &pid) == 1) {
    kill(pid, SIGKILL);
    killed++;
  }
  fclose(list);
  return killed;
}

int run_on_host(const struct sandbox_spec *spec)
{
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
    die_with_errno("cannot become a subreaper");
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_stop;
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);
  sigaction(SIGHUP, &action, NULL);

  pid_t builder = fork();
  if (builder < 0)
    die_with_errno("cannot fork the builder");
  if (builder == 0) {
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    exec_builder(spec, 0);
  }
  int status = 0, have_status = 0;
  while (!have_status) {
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0 && errno == EINTR) {
      if (stop_requested)
        kill_children();
      continue;
    }
    if (pid < 0)
      die_with_errno("lost track of the builder");
    have_status = pid == builder;
  }
  /* The build is over when its builder exits: nothing it started may outlive it. */
  while (kill_children() > 0)
    while (waitpid(-1, NULL, 0) < 0 && errno == EINTR)
      ;
  return report_status(status);
}
