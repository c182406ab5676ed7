/* The mounter of a recursive build (recursive-nix): makes a store path added or built
   through the build's store appear in its running sandbox at once, read-only.

   It holds the sandbox's user and mount namespaces, opened while the sandbox's PID 1 is
   still waiting to be released (afterwards it is undumpable and a non-root helper could not
   open them), and serves one request at a time on a unix socket that only the driver can
   reach (mode 0600, in the build's top directory, which the sandbox does not show). Each
   request is done in a fork, since entering namespaces cannot be undone:
     root:     open_tree(CLONE) of SOURCE in the host's namespace, then setns into the
               sandbox's mount namespace;
     non-root: setns into the sandbox's user namespace (ours: we created it), unshare a mount
               namespace there (a copy of the host's view, owned by that user namespace, so
               its mounts may be copied), open_tree(CLONE) in it, then setns into the
               sandbox's mount namespace.
   The copy is made read-only, nosuid, nodev and private, and moved onto TARGET, created
   inside the sandbox (mkdir, or O_EXCL | O_NOFOLLOW | O_NONBLOCK): resolved in the sandbox's
   root, and refused if anything is there already, a name the builder planted (a symlink, a
   FIFO) can neither send the mount elsewhere nor hang the mounter. A store path that is a
   symlink is never followed on the host: the same symlink is made in the sandbox. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addpath.h"
#include "util.h"

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#define ATTR_RDONLY 0x00000001
#define ATTR_NOSUID 0x00000002
#define ATTR_NODEV 0x00000004

struct tsnix_mount_attr {
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
};

/* The longest request: two paths and their separators. */
#define REQUEST_MAX 8192

static int open_ns(pid_t pid, const char *kind)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)pid, kind);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    die_with_errno("cannot open %s", path);
  return fd;
}

/* A copy of the mount of `source` itself: its last component is never followed (a store path
   that is a symlink is recreated, not mounted, below). */
static int clone_tree(const char *source)
{
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | O_CLOEXEC | AT_SYMLINK_NOFOLLOW);
  if (tree < 0)
    die_with_errno("cannot take a copy of the mount of '%s'", source);
  return tree;
}

/* In a fork: makes source appear at target in the sandbox; exits 0, or dies with a message.
   A target that exists already is refused, as Nix refuses it: whatever the builder put
   there (a FIFO to hang us, a file) is not written to nor mounted over. */
static void NORETURN add_path(int user_ns, int mount_ns, const char *source, const char *target)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  alarm(60);
  if (target[0] != '/' || strstr(target, "/..") != NULL || strchr(target + 1, '/') == NULL)
    die("'%s' is not an absolute path inside the sandbox", target);
  struct stat st;
  if (lstat(source, &st) < 0)
    die_with_errno("cannot stat '%s'", source);
  char link[4096];
  int tree = -1;
  if (S_ISLNK(st.st_mode)) {
    ssize_t n = readlink(source, link, sizeof link - 1);
    if (n < 0)
      die_with_errno("cannot read the symlink '%s'", source);
    link[n] = '\0';
  } else if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
    die("'%s' is neither a directory, a regular file nor a symlink", source);
  } else if (geteuid() == 0) {
    tree = clone_tree(source);
  } else {
    if (setns(user_ns, CLONE_NEWUSER) < 0)
      die_with_errno("cannot enter the sandbox's user namespace");
    if (unshare(CLONE_NEWNS) < 0)
      die_with_errno("cannot create a mount namespace");
    tree = clone_tree(source);
  }
  if (tree >= 0) {
    struct tsnix_mount_attr attr = {.attr_set = ATTR_RDONLY | ATTR_NOSUID | ATTR_NODEV, .propagation = MS_PRIVATE};
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
      die_with_errno("cannot make the copy of '%s' read-only", source);
  }
  if (setns(mount_ns, CLONE_NEWNS) < 0)
    die_with_errno("cannot enter the sandbox's mount namespace");
  if (chdir("/") < 0)
    die_with_errno("cannot enter the sandbox's root");
  if (S_ISLNK(st.st_mode)) {
    if (symlink(link, target) < 0)
      die_with_errno("cannot create '%s' in the sandbox", target);
    _exit(0);
  }
  if (S_ISDIR(st.st_mode)) {
    if (mkdir(target, 0555) < 0)
      die_with_errno("cannot create '%s' in the sandbox", target);
  } else {
    int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0444);
    if (fd < 0)
      die_with_errno("cannot create '%s' in the sandbox", target);
    close(fd);
  }
  if (syscall(SYS_move_mount, tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    die_with_errno("cannot mount '%s' at '%s' in the sandbox", source, target);
  _exit(0);
}

/* Does one request in a fork whose messages are caught; writes the answer to `client`. */
static void serve_request(int client, int user_ns, int mount_ns, char *request)
{
  char *tab = strchr(request, '\t');
  if (!tab) {
    (void)write_all(client, "error malformed request\n", 24);
    return;
  }
  *tab = '\0';
  int messages[2];
  if (pipe2(messages, O_CLOEXEC) < 0) {
    (void)write_all(client, "error cannot create a pipe\n", 27);
    return;
  }
  pid_t worker = fork();
  if (worker == 0) {
    dup2(messages[1], STDERR_FILENO);
    add_path(user_ns, mount_ns, request, tab + 1);
  }
  close(messages[1]);
  char text[1024];
  size_t got = 0;
  ssize_t n;
  while (got < sizeof text - 1 && (n = read(messages[0], text + got, sizeof text - 1 - got)) != 0) {
    if (n < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    got += (size_t)n;
  }
  close(messages[0]);
  text[got] = '\0';
  int status = -1;
  if (worker > 0)
    while (waitpid(worker, &status, 0) < 0 && errno == EINTR)
      ;
  if (worker > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    (void)write_all(client, "ok\n", 3);
    return;
  }
  for (char *c = text; *c; c++)
    if (*c == '\n')
      *c = ' ';
  char *answer = xasprintf("error %s\n", got > 0 ? text : "the mount failed");
  (void)write_all(client, answer, strlen(answer));
  free(answer);
}

static void NORETURN mounter_loop(int listener, int user_ns, int mount_ns)
{
  for (;;) {
    int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      _exit(1);
    }
    /* Requests on one connection, a line each, until the driver closes it. */
    char request[REQUEST_MAX];
    size_t have = 0;
    for (;;) {
      char *newline = memchr(request, '\n', have);
      if (newline) {
        *newline = '\0';
        size_t used = (size_t)(newline - request) + 1;
        serve_request(client, user_ns, mount_ns, request);
        memmove(request, request + used, have - used);
        have -= used;
        continue;
      }
      if (have == sizeof request)
        break;
      ssize_t n = read(client, request + have, sizeof request - have);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      have += (size_t)n;
    }
    close(client);
  }
}

pid_t start_mounter(pid_t sandbox, const char *socket_path)
{
  int user_ns = open_ns(sandbox, "user");
  int mount_ns = open_ns(sandbox, "mnt");
  /* Bound through /proc/self/fd/N/NAME, N its directory: a build directory's path may be
     longer than a socket address holds. */
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  const char *slash = strrchr(socket_path, '/');
  if (!slash || slash == socket_path)
    die("the mounter's socket path '%s' is not in a directory", socket_path);
  char *dir_path = xasprintf("%.*s", (int)(slash - socket_path), socket_path);
  int dir = open(dir_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0)
    die_with_errno("cannot open '%s'", dir_path);
  free(dir_path);
  if ((size_t)snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/%s", dir, slash + 1) >= sizeof addr.sun_path)
    die("the mounter's socket name '%s' is too long", slash + 1);
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0)
    die_with_errno("cannot create the mounter's socket");
  mode_t old = umask(0177);
  int bound = bind(listener, (struct sockaddr *)&addr, sizeof addr);
  umask(old);
  if (bound < 0 || listen(listener, 4) < 0)
    die_with_errno("cannot listen on '%s'", socket_path);
  close(dir);
  pid_t helper = getpid();
  pid_t pid = fork();
  if (pid < 0)
    die_with_errno("cannot fork the mounter");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != helper)
      _exit(1);
    signal(SIGPIPE, SIG_IGN);
    /* Nothing of the build's pipes: the driver must see them end with the helper. */
    int keep[] = {listener, user_ns, mount_ns, -1};
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
      dup2(devnull, STDIN_FILENO);
      dup2(devnull, STDOUT_FILENO);
      dup2(devnull, STDERR_FILENO);
    }
    close_fds_except(3, keep);
    mounter_loop(listener, user_ns, mount_ns);
  }
  close(listener);
  close(user_ns);
  close(mount_ns);
  return pid;
}
