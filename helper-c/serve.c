/* tsnix-helper --serve: starts sandbox helpers on behalf of a driver whose own fork is slow.

   Forking a Node.js process costs milliseconds (its page tables are large); forking this small
   program costs microseconds. So the driver starts one server and asks it to start each build's
   helper: a fork of this server that runs exactly what `tsnix-helper < description` runs, with
   its description on stdin as always (no exec: loading the program again would cost more than
   the fork). The server passes on everything the helper writes.

   Frames, both ways: one kind byte, a little-endian u32 build id, a little-endian u32 length,
   then that many bytes.
     driver -> server   'B' description     start a build
                        'K' u32 signal      send a signal to that build's helper
     server -> driver   'O' bytes           the helper's stdout (the builder's log)
                        'E' bytes           the helper's stderr (its own messages)
                        'S' bytes           the helper's status pipe (fd 3)
                        'X' u32 status      the helper exited (a wait status), after the above ended
   An empty 'O', 'E' or 'S' frame: that stream ended.
   When the driver closes stdin (or dies: PR_SET_PDEATHSIG), every helper is killed, and each
   helper's death takes its sandbox with it.
   Each build's helper is forked one request ahead (see struct spare), and run as root it
   is handed a loopback-only network namespace from a pool (see take_net). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "serve.h"
#include "spec.h"
#include "util.h"

#define STREAMS 3
#define HEADER 9
#define READ_CHUNK 65536

struct build {
  uint32_t id;
  pid_t pid;
  int fds[STREAMS]; /* stdout, stderr, status; -1 once at EOF */
  int exited;
  int wstatus;
  long long exited_at; /* ms, CLOCK_MONOTONIC */
  int net_fd;   /* the pooled network namespace it was given, or -1 */
  int reported; /* it wrote a status: its sandbox's PID 1 was reaped */
};

/* After its helper exited, how long a build's pipes may stay open (held by a process the
   build left behind on the host) before the server stops reading them and reports the exit. */
#define PIPE_GRACE_MS 2000
/* How long helpers get to clean up after SIGTERM when the driver goes away. */
#define SHUTDOWN_GRACE_MS 2000

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct build *builds;
static size_t build_count, build_capacity;
static const char stream_kinds[STREAMS] = {'O', 'E', 'S'};

static void put_u32(unsigned char *p, uint32_t v)
{
  p[0] = v & 0xff;
  p[1] = (v >> 8) & 0xff;
  p[2] = (v >> 16) & 0xff;
  p[3] = (v >> 24) & 0xff;
}

static uint32_t get_u32(const unsigned char *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void send_frame(char kind, uint32_t id, const void *data, uint32_t len)
{
  unsigned char header[HEADER];
  header[0] = (unsigned char)kind;
  put_u32(header + 1, id);
  put_u32(header + 5, len);
  /* The driver reads everything we write; a failed write means it is gone. */
  if (write_all(STDOUT_FILENO, header, HEADER) < 0 || (len && write_all(STDOUT_FILENO, data, len) < 0))
    _exit(0);
}

static void send_exit(uint32_t id, int wstatus)
{
  unsigned char status[4];
  put_u32(status, (uint32_t)wstatus);
  send_frame('X', id, status, sizeof status);
}

static struct build *find_build(uint32_t id)
{
  for (size_t i = 0; i < build_count; i++)
    if (builds[i].id == id)
      return &builds[i];
  return NULL;
}

static char *own_title;
static size_t own_title_len;

/* The next build's helper, forked ahead of its request: it waits for its description on a pipe.
   A fork and a fresh process's setup cost milliseconds on a virtual machine, and the driver
   waits for them between every two builds of a chain; forked while the previous build runs,
   they cost it nothing. */
struct spare {
  pid_t pid; /* 0: none */
  int description_fd;
  int fds[STREAMS];
  int net_fd;
};

static struct spare spare;

/* A network namespace with only loopback, up, costs ~0.5 ms to create with the sandbox's
   clone and more to tear down, on the critical path of every build of a chain. So the server
   keeps a few: each spare is given one (as fd 4), a build without network uses it instead of a
   new one, and it comes back to the pool once its helper has reported the builder's end, which
   it does only after the sandbox's PID 1 was reaped, so no process of that build is left in
   it. Its owner is the host's user namespace, so no builder can change its interfaces, routes
   or settings.
   Builds running at once never share one, and one that carried any traffic (its loopback
   counters, a socket in time-wait) is not used again (net_untouched). Fixed-output builds
   (pasta) get a namespace of their own as before. Only root can make them; otherwise every
   build makes its own. */
#define NET_POOL_MAX 16
static int net_pool[NET_POOL_MAX];
static size_t net_pool_count;
static int net_pool_disabled;

static int take_net(void)
{
  if (net_pool_count > 0)
    return net_pool[--net_pool_count];
  if (net_pool_disabled || geteuid() != 0)
    return -1;
  int host = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (host < 0 || unshare(CLONE_NEWNET) < 0) {
    if (host >= 0)
      close(host);
    net_pool_disabled = 1;
    return -1;
  }
  int fd = loopback_up() == NET_OK ? open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC) : -1;
  /* The server itself must stay in the host's namespace (pasta and helpers start from it). */
  if (setns(host, CLONE_NEWNET) < 0)
    die_with_errno("cannot return to the host's network namespace");
  close(host);
  if (fd < 0)
    net_pool_disabled = 1;
  return fd;
}

/* The whole of a small /proc file (a few KiB), NUL-terminated; NULL if it cannot be read. */
static char *read_proc_text(const char *path, char *buf, size_t size)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  size_t len = 0;
  for (ssize_t n; len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) != 0;) {
    if (n < 0) {
      close(fd);
      return NULL;
    }
    len += (size_t)n;
  }
  close(fd);
  buf[len] = '\0';
  return len < size - 1 ? buf : NULL;
}

/* In the current network namespace: no packet ever went through loopback (its only
   interface), no socket of any kind is left (TCP, UDP, raw, in time-wait or orphaned, over
   IPv4 or IPv6; unix sockets), so the namespace is as new: nothing a later build could see. */
static int net_as_new(void)
{
  static char buf[16384];
  const char *text = read_proc_text("/proc/thread-self/net/dev", buf, sizeof buf);
  const char *lo = text ? strstr(text, " lo:") : NULL;
  unsigned long long value[10];
  if (!lo || sscanf(lo + 4, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &value[0], &value[1], &value[2], &value[3],
                    &value[4], &value[5], &value[6], &value[7], &value[8], &value[9]) != 10 || value[1] != 0 || value[9] != 0)
    return 0;
  static const char *const files[] = {"/proc/thread-self/net/sockstat", "/proc/thread-self/net/sockstat6"};
  for (size_t f = 0; f < 2; f++) {
    if (!(text = read_proc_text(files[f], buf, sizeof buf)))
      return 0;
    /* Every count after "inuse", "orphan" and "tw" must be 0 ("sockets: used" is the host's). */
    for (const char *p = text; (p = strpbrk(p, "iot")); p++) {
      unsigned long long n;
      if ((!strncmp(p, "inuse ", 6) && sscanf(p + 6, "%llu", &n) == 1) || (!strncmp(p, "orphan ", 7) && sscanf(p + 7, "%llu", &n) == 1) ||
          (!strncmp(p, "tw ", 3) && sscanf(p + 3, "%llu", &n) == 1)) {
        if (n != 0)
          return 0;
      }
    }
  }
  /* The header line only. */
  if (!(text = read_proc_text("/proc/thread-self/net/unix", buf, sizeof buf)))
    return 0;
  const char *newline = strchr(text, '\n');
  return newline && newline[1] == '\0';
}

/* Whether the namespace fd carried nothing at all; checked from inside it. */
static int net_untouched(int fd)
{
  int host = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (host < 0)
    return 0;
  int untouched = 0;
  if (setns(fd, CLONE_NEWNET) == 0) {
    untouched = net_as_new();
    if (setns(host, CLONE_NEWNET) < 0)
      die_with_errno("cannot return to the host's network namespace");
  }
  close(host);
  return untouched;
}

static void give_back_net(int fd, int reusable)
{
  if (fd < 0)
    return;
  /* A namespace a build used (loopback traffic, a socket left in time-wait) is not handed to
     another: its counters and sockets would show the next build something of this one. */
  if (reusable && net_pool_count < NET_POOL_MAX && net_untouched(fd))
    net_pool[net_pool_count++] = fd;
  else
    close(fd);
}

static void close_pipes(int pipes[][2], int count)
{
  for (int i = 0; i < count; i++) {
    close(pipes[i][0]);
    close(pipes[i][1]);
  }
}

static void make_spare(void)
{
  int pipes[STREAMS + 1][2]; /* stdin, stdout, stderr, status */
  int made = 0;
  for (; made < STREAMS + 1; made++)
    if (pipe2(pipes[made], O_CLOEXEC) < 0) {
      close_pipes(pipes, made);
      return;
    }
  pid_t server = getpid();
  int net_fd = take_net();
  pid_t pid = fork();
  if (pid < 0) {
    close_pipes(pipes, made);
    give_back_net(net_fd, 1);
    return;
  }
  if (pid == 0) {
    helper_parent = server;
    /* As a fresh process: default dispositions (SIGPIPE is ignored here), nothing blocked. */
    for (int sig = 1; sig < NSIG; sig++)
      signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Exactly fds 0-3 reach the build: no other build's pipes, not the server's own. */
    for (int fd = 0; fd <= 3; fd++)
      if (dup2(pipes[fd][fd == 0 ? 0 : 1], fd) < 0)
        _exit(EXIT_SETUP_FAILED);
    /* The pooled network namespace as fd 4, for the helper alone (sandbox.c closes it). */
    if (net_fd >= 0 && dup2(net_fd, 4) == 4)
      pooled_net_fd = 4;
    int keep[] = {-1};
    close_fds_except(pooled_net_fd >= 0 ? 5 : 4, keep);
    free(builds);
    exit(run_build_from_stdin(own_title, own_title_len));
  }
  close(pipes[0][0]);
  spare.pid = pid;
  spare.net_fd = net_fd;
  spare.description_fd = pipes[0][1];
  for (int i = 0; i < STREAMS; i++) {
    close(pipes[i + 1][1]);
    spare.fds[i] = pipes[i + 1][0];
  }
}

/* Forgets the spare, killing it unless it was already reaped (pid -1). */
static void drop_spare(void)
{
  if (!spare.pid)
    return;
  if (spare.pid > 0)
    kill(spare.pid, SIGKILL);
  close(spare.description_fd);
  for (int i = 0; i < STREAMS; i++)
    close(spare.fds[i]);
  /* It may have entered it: not for another build. */
  give_back_net(spare.net_fd, 0);
  spare.pid = 0;
}

static void start_build(uint32_t id, const unsigned char *description, uint32_t len)
{
  static const char failed[] = "tsnix-helper --serve: cannot start the sandbox helper\n";
  if (!spare.pid)
    make_spare();
  /* The spare reads while we write, so a description larger than a pipe cannot block us; a
     spare that died meanwhile fails the write (SIGPIPE is ignored) and is replaced once. */
  if (spare.pid && write_all(spare.description_fd, description, len) < 0) {
    drop_spare();
    make_spare();
    if (spare.pid && write_all(spare.description_fd, description, len) < 0)
      drop_spare();
  }
  if (!spare.pid) {
    send_frame('E', id, failed, sizeof failed - 1);
    send_exit(id, EXIT_SETUP_FAILED << 8);
    return;
  }
  close(spare.description_fd);
  if (build_count == build_capacity) {
    build_capacity = build_capacity ? build_capacity * 2 : 16;
    builds = realloc(builds, build_capacity * sizeof *builds);
    if (!builds)
      die("out of memory");
  }
  struct build *b = &builds[build_count++];
  b->id = id;
  b->pid = spare.pid;
  b->exited = 0;
  b->wstatus = 0;
  b->exited_at = 0;
  b->net_fd = spare.net_fd;
  b->reported = 0;
  for (int i = 0; i < STREAMS; i++)
    b->fds[i] = spare.fds[i];
  spare.pid = 0;
  make_spare();
}

/* Handles every complete frame at the start of buf; returns how many bytes were used. */
static size_t handle_requests(const unsigned char *buf, size_t len)
{
  size_t used = 0;
  while (len - used >= HEADER) {
    const unsigned char *frame = buf + used;
    uint32_t id = get_u32(frame + 1), size = get_u32(frame + 5);
    if (size > SPEC_MAX_BYTES)
      die("tsnix-helper --serve: request of %u bytes is too large", size);
    if (len - used - HEADER < size)
      break;
    if (frame[0] == 'B') {
      start_build(id, frame + HEADER, size);
    } else if (frame[0] == 'K' && size == 4) {
      struct build *b = find_build(id);
      if (b && !b->exited)
        kill(b->pid, (int)get_u32(frame + HEADER));
    } else {
      die("tsnix-helper --serve: unknown request '%c'", frame[0]);
    }
    used += HEADER + size;
  }
  return used;
}

static void reap(void)
{
  int wstatus;
  pid_t pid;
  while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
    if (pid == spare.pid) {
      /* It died before it got a build; reaped, so it must not be killed by its old pid. */
      spare.pid = -1;
      drop_spare();
    }
    for (size_t i = 0; i < build_count; i++)
      if (builds[i].pid == pid) {
        builds[i].exited = 1;
        builds[i].wstatus = wstatus;
        builds[i].exited_at = now_ms();
      }
  }
}

/* Reports and forgets builds whose helper exited and whose pipes all reached EOF (or whose
   grace ran out: a leftover holding a pipe must not keep the build, and its timeout, hanging). */
static void finish_builds(void)
{
  size_t kept = 0;
  long long now = now_ms();
  for (size_t i = 0; i < build_count; i++) {
    struct build *b = &builds[i];
    if (b->exited && now - b->exited_at >= PIPE_GRACE_MS)
      for (int s = 0; s < STREAMS; s++)
        if (b->fds[s] >= 0) {
          close(b->fds[s]);
          b->fds[s] = -1;
        }
    if (b->exited && b->fds[0] < 0 && b->fds[1] < 0 && b->fds[2] < 0) {
      give_back_net(b->net_fd, b->reported && WIFEXITED(b->wstatus));
      send_exit(b->id, b->wstatus);
    } else
      builds[kept++] = *b;
  }
  build_count = kept;
}

/* The driver is gone: helpers get SIGTERM (a helper without a sandbox then kills what its
   build started), and SIGKILL after a grace period. */
static NORETURN void shut_down(void)
{
  drop_spare();
  size_t running = 0;
  for (size_t i = 0; i < build_count; i++)
    if (!builds[i].exited && kill(builds[i].pid, SIGTERM) == 0)
      running++;
  long long deadline = now_ms() + SHUTDOWN_GRACE_MS;
  while (running > 0 && now_ms() < deadline) {
    pid_t pid = waitpid(-1, NULL, WNOHANG);
    if (pid > 0)
      running--;
    else if (pid < 0 && errno != EINTR)
      break;
    else
      usleep(10000);
  }
  for (size_t i = 0; i < build_count; i++)
    if (!builds[i].exited)
      kill(builds[i].pid, SIGKILL);
  while (wait(NULL) > 0 || errno == EINTR)
    ;
  _exit(0);
}

/* Milliseconds until the earliest pipe grace runs out, or -1 (wait for events only). */
static int poll_timeout(void)
{
  long long soonest = -1, now = now_ms();
  for (size_t i = 0; i < build_count; i++)
    if (builds[i].exited) {
      long long left = builds[i].exited_at + PIPE_GRACE_MS - now;
      if (left < 0)
        left = 0;
      if (soonest < 0 || left < soonest)
        soonest = left;
    }
  return (int)soonest;
}

int serve(char *title, size_t title_len)
{
  own_title = title;
  own_title_len = title_len;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &chld, NULL) < 0)
    die_with_errno("cannot block SIGCHLD");
  int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0)
    die_with_errno("cannot create a signalfd");
  /* A pipe to a driver that exited must end us quietly, not with SIGPIPE. */
  signal(SIGPIPE, SIG_IGN);
  make_spare();

  size_t in_cap = 1 << 16, in_len = 0;
  unsigned char *in = malloc(in_cap);
  unsigned char *chunk = malloc(READ_CHUNK);
  struct pollfd *fds = NULL;
  size_t fds_cap = 0;
  if (!in || !chunk)
    die("out of memory");
  for (;;) {
    size_t want = 2 + build_count * STREAMS;
    if (want > fds_cap) {
      fds_cap = want * 2;
      fds = realloc(fds, fds_cap * sizeof *fds);
      if (!fds)
        die("out of memory");
    }
    size_t n = 0;
    fds[n++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
    fds[n++] = (struct pollfd){.fd = sigfd, .events = POLLIN};
    for (size_t i = 0; i < build_count; i++)
      for (int s = 0; s < STREAMS; s++)
        fds[n++] = (struct pollfd){.fd = builds[i].fds[s], .events = POLLIN}; /* -1 is ignored by poll */
    if (poll(fds, n, poll_timeout()) < 0) {
      if (errno == EINTR)
        continue;
      die_with_errno("poll");
    }
    if (fds[1].revents) {
      struct signalfd_siginfo info;
      while (read(sigfd, &info, sizeof info) > 0)
        ;
      reap();
    }
    for (size_t i = 0, k = 2; i < build_count; i++)
      for (int s = 0; s < STREAMS; s++, k++) {
        if (!fds[k].revents || builds[i].fds[s] < 0)
          continue;
        ssize_t got = read(builds[i].fds[s], chunk, READ_CHUNK);
        if (got > 0) {
          builds[i].reported |= s == 2;
          send_frame(stream_kinds[s], builds[i].id, chunk, (uint32_t)got);
        } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
          close(builds[i].fds[s]);
          builds[i].fds[s] = -1;
          /* An empty frame: the stream ended (the driver need not wait for the exit). */
          send_frame(stream_kinds[s], builds[i].id, NULL, 0);
        }
      }
    if (fds[0].revents) {
      if (in_cap - in_len < READ_CHUNK) {
        in_cap *= 2;
        in = realloc(in, in_cap);
        if (!in)
          die("out of memory");
      }
      ssize_t got = read(STDIN_FILENO, in + in_len, in_cap - in_len);
      if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
        shut_down();
      if (got > 0) {
        in_len += (size_t)got;
        size_t used = handle_requests(in, in_len);
        memmove(in, in + used, in_len - used);
        in_len -= used;
      }
    }
    finish_builds();
  }
}
