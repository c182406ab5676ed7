/* Attacks a builder tries from inside the sandbox (and the accomplice outside it).
   Every attempt prints one line "<name>: ok" or "<name>: <errno name>", so a test can assert
   on exactly what the attacker saw. Built static, so it runs in a sandbox with no libc. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/sysmacros.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *name, long res)
{
  if (res < 0)
    printf("%s: %s\n", name, strerrorname_np(errno));
  else
    printf("%s: ok\n", name);
  fflush(stdout);
}

static socklen_t abstract_address(struct sockaddr_un *addr, const char *name)
{
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  size_t len = strlen(name);
  if (len > sizeof addr->sun_path - 1)
    len = sizeof addr->sun_path - 1;
  memcpy(addr->sun_path + 1, name, len);
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
}

static int privileged_syscalls(int host_pid)
{
  mkdir("/tmp/mnt", 0755);
  report("mount-tmpfs", mount("none", "/tmp/mnt", "tmpfs", 0, NULL));
  report("mount-proc", mount("proc", "/tmp/mnt", "proc", 0, NULL));
  report("bind-root", mount("/", "/tmp/mnt", NULL, MS_BIND, NULL));
  report("chroot", chroot("/tmp"));
  report("pivot-root", syscall(SYS_pivot_root, "/tmp", "/tmp/mnt"));
  report("ptrace-pid1", ptrace(PTRACE_ATTACH, 1, NULL, NULL));
  report("ptrace-host", ptrace(PTRACE_ATTACH, host_pid, NULL, NULL));
  report("kill-host", kill(host_pid, 0));
  report("open-pid1-environ", open("/proc/1/environ", O_RDONLY));
  report("open-pid1-root", open("/proc/1/root/", O_RDONLY | O_DIRECTORY));
  report("kill-pid1", kill(1, SIGKILL));
  report("setuid-0", setuid(0));
  report("mknod-null", mknod("/tmp/null", S_IFCHR | 0666, makedev(1, 3)));
  report("sethostname", sethostname("evil", 4));
  return 0;
}

static int make_setuid(const char *path)
{
  int fd = open(path, O_RDWR | O_CREAT, 0755);
  report("create", fd);
  report("chmod-4755", chmod(path, 04755));
  report("chmod-2755", chmod(path, 02755));
  report("fchmod-4755", fchmod(fd, 04755));
  report("fchmodat-4755", fchmodat(AT_FDCWD, path, 04755, 0));
  report("fchmodat2-4755", syscall(452, AT_FDCWD, path, 04755, 0));
  report("chmod-0755", chmod(path, 0755));
  /* Extended attributes (ACLs, capabilities, what a later build would inherit), by every call. */
  report("setxattr", setxattr(path, "user.planted", "1", 1, 0));
  report("fsetxattr", fsetxattr(fd, "user.planted", "1", 1, 0));
  struct { uint64_t value; uint32_t size, flags; } xattr_args = {(uint64_t)(uintptr_t) "1", 1, 0};
  report("setxattrat", syscall(463, AT_FDCWD, path, 0, "user.planted", &xattr_args, sizeof xattr_args));
  struct { uint64_t xflags, extsize, nextents, projid, cowextsize; } file_attr = {0, 0, 0, 0, 0};
  report("file-setattr", syscall(469, AT_FDCWD, path, &file_attr, sizeof file_attr, 0));
#if defined(__x86_64__)
  /* The 32-bit entry point has other syscall numbers (chmod = 15) and takes 32-bit pointers,
     so the path goes to static storage, below 4 GiB in this static non-PIE binary. A kernel
     without ia32 emulation kills the caller, so the attempt runs in a child. */
  static char low_path[4096];
  snprintf(low_path, sizeof low_path, "%s", path);
  pid_t child = fork();
  if (child == 0) {
    long res;
    __asm__ volatile("int $0x80"
                     : "=a"(res)
                     : "a"(15), "b"(low_path), "c"(04755)
                     : "memory", "r8", "r9", "r10", "r11");
    errno = res < 0 ? (int)-res : 0;
    report("int80-chmod-4755", res < 0 ? -1 : 0);
    _exit(0);
  }
  int status;
  waitpid(child, &status, 0);
  if (WIFSIGNALED(status))
    printf("int80-chmod-4755: unavailable\n");
#endif
  struct stat st;
  if (stat(path, &st) == 0)
    printf("mode: %o\n", st.st_mode & 07777);
  return 0;
}

static int send_fd(const char *name, const char *path)
{
  int target = open(path, O_RDONLY);
  report("open", target);
  int sock = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr;
  socklen_t len = abstract_address(&addr, name);
  int res = connect(sock, (struct sockaddr *)&addr, len);
  report("connect-abstract", res);
  if (res < 0)
    return 0;
  char byte = 'x';
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  char control[CMSG_SPACE(sizeof(int))];
  memset(control, 0, sizeof control);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &target, sizeof(int));
  report("sendmsg", sendmsg(sock, &msg, 0));
  return 0;
}

/* The accomplice on the host: receives a descriptor, then on "tamper" on stdin writes
   through it into <dir fd>/file (and, on "write"/"plant", into any path relative to it). */
static int receive_fd(const char *name)
{
  int sock = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr;
  socklen_t len = abstract_address(&addr, name);
  if (bind(sock, (struct sockaddr *)&addr, len) < 0 || listen(sock, 1) < 0) {
    report("listen", -1);
    return 1;
  }
  report("listen", 0);
  int conn = accept(sock, NULL, NULL);
  report("accept", conn);
  char byte;
  char control[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  ssize_t got = recvmsg(conn, &msg, 0);
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  int fd = -1;
  if (got > 0 && cmsg && cmsg->cmsg_type == SCM_RIGHTS)
    memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
  report("received", fd);
  char line[512];
  while (fgets(line, sizeof line, stdin)) {
    char label[64], rel[400];
    line[strcspn(line, "\n")] = 0;
    /* "write LABEL REL": truncate and write <fd>/REL; "plant LABEL REL": create it. */
    if (sscanf(line, "write %63s %399s", label, rel) == 2) {
      char name[80];
      int file = openat(fd, rel, O_WRONLY | O_TRUNC);
      snprintf(name, sizeof name, "%s-open", label);
      report(name, file);
      if (file >= 0) {
        snprintf(name, sizeof name, "%s-write", label);
        report(name, write(file, "tampered\n", 9));
        close(file);
      }
    } else if (sscanf(line, "plant %63s %399s", label, rel) == 2) {
      int file = openat(fd, rel, O_WRONLY | O_CREAT | O_EXCL, 0644);
      report(label, file);
      if (file >= 0)
        close(file);
    } else if (strncmp(line, "tamper", 6) == 0) {
      int file = openat(fd, "file", O_WRONLY | O_TRUNC);
      report("tamper-open", file);
      if (file >= 0)
        report("tamper-write", write(file, "tampered\n", 9));
      report("tamper-symlink", symlinkat("/etc/shadow", fd, "planted"));
    }
  }
  return 0;
}

static int connect_tcp(const char *host, const char *port)
{
  int sock = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(port))};
  inet_pton(AF_INET, host, &addr.sin_addr);
  report("connect-tcp", connect(sock, (struct sockaddr *)&addr, sizeof addr));
  return 0;
}

int main(int argc, char **argv)
{
  if (argc >= 3 && !strcmp(argv[1], "syscalls"))
    return privileged_syscalls(atoi(argv[2]));
  if (argc >= 3 && !strcmp(argv[1], "setuid"))
    return make_setuid(argv[2]);
  if (argc >= 4 && !strcmp(argv[1], "send"))
    return send_fd(argv[2], argv[3]);
  if (argc >= 3 && !strcmp(argv[1], "receive"))
    return receive_fd(argv[2]);
  if (argc >= 4 && !strcmp(argv[1], "connect-tcp"))
    return connect_tcp(argv[2], argv[3]);
  fprintf(stderr, "usage: attack syscalls HOST-PID | setuid FILE | send NAME PATH | receive NAME | connect-tcp HOST PORT\n");
  return 2;
}
