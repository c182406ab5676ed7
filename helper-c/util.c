#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void vmessage(const char *kind, int errnum, const char *fmt, va_list ap)
{
  char text[1024];
  vsnprintf(text, sizeof text, fmt, ap);
  char line[1200];
  int n;
  if (errnum)
    n = snprintf(line, sizeof line, "tsnix-helper: %s%s: %s\n", kind, text, strerror(errnum));
  else
    n = snprintf(line, sizeof line, "tsnix-helper: %s%s\n", kind, text);
  if (n > 0)
    (void)write_all(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

void die(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vmessage("", 0, fmt, ap);
  va_end(ap);
  _exit(EXIT_SETUP_FAILED);
}

void die_with_errno(const char *fmt, ...)
{
  int errnum = errno;
  va_list ap;
  va_start(ap, fmt);
  vmessage("", errnum, fmt, ap);
  va_end(ap);
  _exit(EXIT_SETUP_FAILED);
}

void warn(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vmessage("warning: ", 0, fmt, ap);
  va_end(ap);
}

void *xcalloc(size_t count, size_t size)
{
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (!p)
    die("out of memory");
  return p;
}

char *xasprintf(const char *fmt, ...)
{
  va_list ap;
  char *out;
  va_start(ap, fmt);
  int n = vasprintf(&out, fmt, ap);
  va_end(ap);
  if (n < 0)
    die("out of memory");
  return out;
}

int write_all(int fd, const void *buf, size_t len)
{
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int read_exact(int fd, void *buf, size_t len)
{
  char *p = buf;
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

unsigned char *read_all(int fd, size_t max, size_t *len_out)
{
  size_t cap = 65536, len = 0;
  unsigned char *buf = xcalloc(1, cap);
  for (;;) {
    if (len == cap) {
      if (cap >= max)
        die("the sandbox description is larger than %zu bytes", max);
      cap = cap * 2 > max ? max : cap * 2;
      unsigned char *grown = realloc(buf, cap);
      if (!grown)
        die("out of memory");
      buf = grown;
    }
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      die_with_errno("cannot read the sandbox description");
    if (n == 0)
      break;
    len += (size_t)n;
  }
  *len_out = len;
  return buf;
}

void write_new_file(const char *path, const char *content, size_t len, mode_t mode)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0)
    die_with_errno("cannot create '%s'", path);
  if (write_all(fd, content, len) < 0)
    die_with_errno("cannot write '%s'", path);
  if (fchmod(fd, mode) < 0)
    die_with_errno("cannot set the mode of '%s'", path);
  close(fd);
}

void mkdir_parents(const char *path, size_t existing)
{
  char *copy = xasprintf("%s", path);
  size_t skip = existing < strlen(copy) ? existing : 0;
  for (char *slash = strchr(copy + skip + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
    *slash = '\0';
    if (mkdir(copy, 0755) < 0 && errno != EEXIST)
      die_with_errno("cannot create directory '%s'", copy);
    *slash = '/';
  }
  free(copy);
}

static int is_kept(int fd, const int *keep)
{
  for (; *keep >= 0; keep++)
    if (*keep == fd)
      return 1;
  return 0;
}

static int compare_ints(const void *a, const void *b)
{
  return *(const int *)a - *(const int *)b;
}

/* close_range(2) (Linux 5.9) over the gaps between the kept descriptors: one call or a few,
   instead of listing /proc/self/fd. -1 where the kernel lacks it. */
static int close_ranges_except(int lowest, const int *keep)
{
  int kept[16];
  size_t count = 0;
  for (; *keep >= 0; keep++)
    if (count == sizeof kept / sizeof kept[0])
      return -1;
    else
      kept[count++] = *keep;
  qsort(kept, count, sizeof kept[0], compare_ints);
  unsigned int from = (unsigned int)lowest;
  for (size_t i = 0; i < count; i++) {
    /* Below the range, or a duplicate. */
    if (kept[i] < lowest || (unsigned int)kept[i] < from)
      continue;
    if ((unsigned int)kept[i] > from && syscall(SYS_close_range, from, (unsigned int)kept[i] - 1, 0) < 0)
      return -1;
    from = (unsigned int)kept[i] + 1;
  }
  return syscall(SYS_close_range, from, ~0U, 0) < 0 ? -1 : 0;
}

void close_fds_except(int lowest, const int *keep)
{
  if (close_ranges_except(lowest, keep) == 0)
    return;
  DIR *dir = opendir("/proc/self/fd");
  if (!dir) {
    /* Without /proc (it is not mounted yet in a fresh root), fall back to a bounded sweep. */
    for (int fd = lowest; fd < 4096; fd++)
      if (!is_kept(fd, keep))
        close(fd);
    return;
  }
  int dir_fd = dirfd(dir);
  struct dirent *entry;
  int *to_close = xcalloc(4096, sizeof(int));
  size_t count = 0;
  while ((entry = readdir(dir)) && count < 4096) {
    char *end;
    long fd = strtol(entry->d_name, &end, 10);
    if (*end || end == entry->d_name || fd < lowest || fd == dir_fd || is_kept((int)fd, keep))
      continue;
    to_close[count++] = (int)fd;
  }
  closedir(dir);
  for (size_t i = 0; i < count; i++)
    close(to_close[i]);
  free(to_close);
}
