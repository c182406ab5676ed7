/* Small fatal-error and I/O helpers shared by every part of the helper. */
#ifndef TSNIX_UTIL_H
#define TSNIX_UTIL_H

#include <stddef.h>
#include <sys/types.h>

#define NORETURN __attribute__((noreturn))
#define PRINTF(f, a) __attribute__((format(printf, f, a)))

/* The one exit code of a helper that failed before the builder ran. */
#define EXIT_SETUP_FAILED 125

void die(const char *fmt, ...) NORETURN PRINTF(1, 2);
void die_with_errno(const char *fmt, ...) NORETURN PRINTF(1, 2);
void warn(const char *fmt, ...) PRINTF(1, 2);

void *xcalloc(size_t count, size_t size);
char *xasprintf(const char *fmt, ...) PRINTF(1, 2);

/* Write everything or fail; returns 0 or -1 with errno set. */
int write_all(int fd, const void *buf, size_t len);
/* Read until EOF into a fresh buffer of at most max bytes; dies on error or overflow. */
unsigned char *read_all(int fd, size_t max, size_t *len_out);
/* Read exactly len bytes; returns 0, or -1 on EOF or error. */
int read_exact(int fd, void *buf, size_t len);

/* Write a small text file that must not exist yet (O_EXCL, O_NOFOLLOW). */
void write_new_file(const char *path, const char *content, size_t len, mode_t mode);
/* mkdir each missing component of path with mode 0755, below its first `existing` bytes
   (a directory known to exist); the path must be absolute. */
void mkdir_parents(const char *path, size_t existing);

/* Close every descriptor >= lowest except the ones listed (a -1 terminated list). */
void close_fds_except(int lowest, const int *keep);

#endif
