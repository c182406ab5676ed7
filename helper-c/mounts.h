/* Assembling the sandbox's root: files on the host first, then mounts inside the namespace. */
#ifndef TSNIX_MOUNTS_H
#define TSNIX_MOUNTS_H

#include <sys/stat.h>

#include "spec.h"

enum bind_result {
  BIND_OK,
  BIND_SKIPPED_OPTIONAL,
  BIND_ERR_SOURCE_MISSING,
  BIND_ERR_TARGET,
  BIND_ERR_MOUNT,
  BIND_ERR_REMOUNT,
};

/* Creates the root directory, the driver's directories and files, and empty mount points.
   Runs before the sandbox's namespaces exist, with the caller's own ids; as root, in a private
   mount namespace of the helper's own where all but the on-disk directories are on a tmpfs. */
void prepare_root(struct sandbox_spec *spec);

/* Whether a regular store file may be hard-linked into the root rather than bind-mounted. */
int may_hard_link(const struct sandbox_spec *spec, const struct stat *st);

/* Inside the new mount namespace: stop propagation to the host in both directions. */
void make_mounts_private(void);

/* Bind mounts, /dev, /proc; then pivot_root into the root and detach the host's tree. */
void mount_root(const struct sandbox_spec *spec);
void enter_root(const struct sandbox_spec *spec);

/* The helper's second mode: a private mount namespace where dir is writable, then exec argv. */
void exec_with_writable_store(const char *dir, char **argv) __attribute__((noreturn));

#endif
