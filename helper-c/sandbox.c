/* tsnix-helper: runs one build in a sandbox described on stdin, or (--writable-store) runs a
   command in a private mount namespace where the store is writable.

   The order of the setup, top to bottom:
     read the description -> prepare the root on the host -> clone into new namespaces ->
     (parent) map the build user, start pasta, release the child ->
     (child, PID 1) private mounts, hostname, loopback, mounts, pivot_root ->
     fork the builder (ids, seccomp, exec) -> reap until the builder ends.
   When PID 1 returns, the kernel kills whatever the build left in its PID namespace. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addpath.h"
#include "builder.h"
#include "host.h"
#include "ids.h"
#include "mounts.h"
#include "net.h"
#include "serve.h"
#include "spec.h"
#include "util.h"

/* The helper's own argv; PID 1 overwrites it so that the builder cannot read host paths in
   /proc/1/cmdline (which, unlike environ, stays world-readable). */
pid_t helper_parent;
int pooled_net_fd = -1;
/* The sandbox entered a pooled network namespace, whose loopback is up already. */
static int net_from_pool;

static char *own_argv0;
static size_t own_argv0_len;

static void hide_command_line(void)
{
  static const char title[] = "sandbox-init";
  if (!own_argv0)
    return;
  memset(own_argv0, 0, own_argv0_len);
  memcpy(own_argv0, title, own_argv0_len > sizeof title ? sizeof title : own_argv0_len - 1);
}

static void sandbox_child(const struct sandbox_spec *spec, int release_fd, int status_fd)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  char go;
  /* EOF means the parent died or failed before releasing us. */
  if (read_exact(release_fd, &go, 1) < 0)
    _exit(EXIT_SETUP_FAILED);
  close(release_fd);

  make_mounts_private();
  if (sethostname(spec->hostname, strlen(spec->hostname)) < 0)
    die_with_errno("cannot set the hostname");
  if (setdomainname(spec->domainname, strlen(spec->domainname)) < 0)
    die_with_errno("cannot set the domain name");
  if (spec->network != NETWORK_HOST && !net_from_pool) {
    enum net_result up = loopback_up();
    if (up != NET_OK)
      die_with_errno("%s", net_result_message(up));
  }
  if (spec->network == NETWORK_PASTA)
    wait_for_pasta_route();
  mount_root(spec);
  enter_root(spec);

  pid_t builder = fork();
  if (builder < 0)
    die_with_errno("cannot fork the builder");
  if (builder == 0)
    exec_builder(spec, 1);

  /* PID 1 stays privileged inside the namespace; no builder process may trace or read it. */
  prctl(PR_SET_DUMPABLE, 0);
  hide_command_line();
  int keep[] = {status_fd, -1};
  close_fds_except(0, keep);
  int status = reap_until(builder);
  if (write_all(status_fd, &status, sizeof status) < 0)
    _exit(EXIT_SETUP_FAILED);
  _exit(0);
}

static int run_sandboxed(struct sandbox_spec *spec)
{
  int caller_is_root = geteuid() == 0;
  /* Cleared before the clone so no process of the build carries root's groups. */
  if (caller_is_root && setgroups(0, NULL) < 0)
    die_with_errno("cannot clear the supplementary groups");
  prepare_root(spec);

  int release[2], status[2];
  if (pipe2(release, O_CLOEXEC) < 0 || pipe2(status, O_CLOEXEC) < 0)
    die_with_errno("cannot create pipes");
  /* The same namespaces Nix uses, plus a user namespace even for root, so that the builder is
     uid 1000 inside and host root's files show as nobody. A fixed-output build gets a network
     namespace too, connected by pasta, unless the driver asked for the host's network. */
  unsigned long flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
  if (spec->network == NETWORK_PRIVATE && pooled_net_fd >= 0) {
    if (setns(pooled_net_fd, CLONE_NEWNET) < 0)
      die_with_errno("cannot enter the sandbox's network namespace");
    net_from_pool = 1;
  } else if (spec->network != NETWORK_HOST) {
    flags |= CLONE_NEWNET;
  }
  if (pooled_net_fd >= 0)
    close(pooled_net_fd);
  pooled_net_fd = -1;
  pid_t child = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
  if (child < 0)
    die_with_errno("cannot create the sandbox's namespaces");
  if (child == 0) {
    close(release[1]);
    close(status[0]);
    sandbox_child(spec, release[0], status[1]);
  }
  close(release[0]);
  close(status[1]);

  enum ids_result mapped = write_id_maps(child, spec, caller_is_root);
  if (mapped != IDS_OK) {
    kill(child, SIGKILL);
    die_with_errno("%s", ids_result_message(mapped));
  }
  pid_t pasta = spec->network == NETWORK_PASTA ? start_pasta(spec->pasta, child) : 0;
  /* A recursive build's mounter holds the namespaces before the sandbox runs. */
  pid_t mounter = spec->mounter ? start_mounter(child, spec->mounter) : 0;
  if (write_all(release[1], "g", 1) < 0)
    die_with_errno("cannot release the sandbox");
  close(release[1]);

  int child_status;
  while (waitpid(child, &child_status, 0) < 0)
    if (errno != EINTR)
      die_with_errno("cannot wait for the sandbox");
  if (pasta > 0) {
    kill(pasta, SIGKILL);
    waitpid(pasta, NULL, 0);
  }
  if (mounter > 0) {
    kill(mounter, SIGKILL);
    waitpid(mounter, NULL, 0);
    unlink(spec->mounter);
  }
  int builder_status;
  if (read_exact(status[0], &builder_status, sizeof builder_status) < 0)
    die("the sandbox failed before the builder ran (see the messages above)");
  int code = report_status(builder_status);
  /* Everything the driver waits for is said: the pipes end now, not after this process's own
     teardown (its mount namespace), which the driver need not wait for. */
  close(STDOUT_FILENO);
  close(STDERR_FILENO);
  close(STATUS_FD);
  return code;
}

static unsigned char *read_description(size_t *len)
{
  return read_all(STDIN_FILENO, SPEC_MAX_BYTES, len);
}

int main(int argc, char **argv)
{
  if (argc >= 4 && strcmp(argv[1], "--writable-store") == 0 && strcmp(argv[3], "--") == 0 && argc > 4)
    exec_with_writable_store(argv[2], argv + 4);
  if (argc == 2 && strcmp(argv[1], "--serve") == 0)
    return serve(argv[0], (size_t)(argv[1] + strlen(argv[1]) + 1 - argv[0]));
  if (argc != 1)
    die("usage: tsnix-helper < description, tsnix-helper --serve, or tsnix-helper --writable-store DIR -- COMMAND...");
  return run_build_from_stdin(argv[0], strlen(argv[0]) + 1);
}

int run_build_from_stdin(char *title, size_t title_len)
{
  own_argv0 = title;
  own_argv0_len = title_len;
  /* SIGTERM, not SIGKILL: a helper running a build on the host (no sandbox) catches it and
     kills what the build started, which a PID namespace would otherwise do. */
  pid_t parent = helper_parent ? helper_parent : getppid();
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent)
    die("the driver exited before the sandbox started");

  size_t len;
  unsigned char *data = read_description(&len);
  struct sandbox_spec spec;
  const char *what;
  enum spec_result parsed = spec_parse(data, len, &spec, &what);
  if (parsed != SPEC_OK)
    die("bad sandbox description (%s): %s", what, spec_result_message(parsed));
  free(data);
  int stdin_null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (stdin_null < 0 || dup2(stdin_null, STDIN_FILENO) < 0)
    die_with_errno("cannot open /dev/null");
  close(stdin_null);

  if (!spec.namespaces) {
    if (pooled_net_fd >= 0)
      close(pooled_net_fd);
    pooled_net_fd = -1;
    return run_on_host(&spec);
  }
  return run_sandboxed(&spec);
}
