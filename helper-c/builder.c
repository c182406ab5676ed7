#include "builder.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ids.h"
#include "seccomp.h"
#include "util.h"

void exec_builder(const struct sandbox_spec *spec, int in_namespaces)
{
  /* A session leader without a controlling terminal, as Nix runs builders. */
  if (setsid() < 0)
    die_with_errno("cannot start a new session for the builder");
  if (spec->uname26) {
    int current = personality(0xffffffff);
    if (current < 0 || personality((unsigned long)current | UNAME26) < 0)
      die_with_errno("cannot set the UNAME26 personality");
  }
  uid_t uid = in_namespaces ? spec->sandbox_uid : spec->build_uid;
  gid_t gid = in_namespaces ? spec->sandbox_gid : spec->build_gid;
  /* Outside namespaces a non-root caller can only run builds as itself. */
  if (in_namespaces || geteuid() == 0)
    become_build_user(uid, gid, !in_namespaces);
  /* Set after the id change, which would clear it; the builder dies with the helper. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  umask(022);
  if (chdir(spec->cwd) < 0)
    die_with_errno("cannot change to the build directory '%s'", spec->cwd);
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(STDOUT_FILENO, STDERR_FILENO) < 0)
    die_with_errno("cannot set up the builder's standard descriptors");
  int keep[] = {-1};
  close_fds_except(3, keep);
  enum seccomp_result filtered = install_seccomp_filter();
  if (filtered != SECCOMP_OK)
    die_with_errno("%s", seccomp_result_message(filtered));
  execve(spec->program, spec->argv, spec->envp);
  /* stderr is the build log now, which is where Nix reports this too. */
  die_with_errno("while setting up the build environment: executing '%s'", spec->program);
}

int report_status(int wait_status)
{
  char line[32];
  int code;
  if (WIFEXITED(wait_status)) {
    code = WEXITSTATUS(wait_status);
    snprintf(line, sizeof line, "exit %d\n", code);
  } else {
    int sig = WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0;
    code = 128 + sig;
    snprintf(line, sizeof line, "signal %d\n", sig);
  }
  if (fcntl(STATUS_FD, F_GETFD) >= 0)
    (void)write_all(STATUS_FD, line, strlen(line));
  return code;
}

int reap_until(pid_t builder)
{
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0 && errno == EINTR)
      continue;
    if (pid < 0)
      die_with_errno("lost track of the builder");
    if (pid == builder)
      return status;
  }
}
