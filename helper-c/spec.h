/* The sandbox description the driver writes on the helper's stdin. */
#ifndef TSNIX_SPEC_H
#define TSNIX_SPEC_H

#include <stddef.h>
#include <sys/types.h>

#define SPEC_MAGIC "tsnix-sandbox-1"
#define SPEC_MAX_BYTES (256u << 20)
#define SPEC_MAX_ITEMS 65536u

enum network_mode { NETWORK_PRIVATE, NETWORK_PASTA, NETWORK_HOST };

enum entry_kind { ENTRY_DIR, ENTRY_FILE, ENTRY_BIND };

/* "group": owned by the caller, group of the build user (Nix's chroot store directory). */
enum dir_owner { OWNER_ROOT, OWNER_BUILD, OWNER_GROUP };

/* One step of assembling the root, applied in the driver's order. */
struct root_entry {
  enum entry_kind kind;
  char *target;       /* absolute path inside the sandbox, no "." or ".." components */
  char *source;       /* ENTRY_BIND: host path; ENTRY_DIR: a store view (see mounts.c), or NULL */
  char *content;      /* ENTRY_FILE */
  size_t content_len;
  mode_t mode;        /* ENTRY_DIR, ENTRY_FILE */
  enum dir_owner owner; /* ENTRY_DIR */
  int on_disk;        /* ENTRY_DIR: kept on the host's disk (it receives outputs or large files) */
  int writable;       /* ENTRY_BIND */
  int optional;       /* ENTRY_BIND: skip when the source is missing */
  int nofollow;       /* ENTRY_BIND: a symlink source is copied as a symlink, not followed */
  /* Filled in by prepare_root: */
  int skip_mount;     /* ENTRY_BIND: missing optional source, or a symlink recreated as such */
  int is_device;      /* ENTRY_BIND: the source is a device node */
  int stage;          /* ENTRY_BIND: index of the staging mount to bind from, or -1 */
  int view_fd;        /* ENTRY_DIR with a view: the open view directory */
  dev_t view_dev;     /* and its device */
};

struct sandbox_spec {
  int namespaces; /* 0: sandbox = false, run on the host as the build user */
  char *root;     /* host directory (created here) that becomes "/" */
  struct root_entry *entries;
  size_t entry_count;
  uid_t build_uid, sandbox_uid;
  gid_t build_gid, sandbox_gid;
  enum network_mode network;
  char *pasta;
  char *hostname, *domainname;
  int uname26;
  char *cwd;
  char *program;
  char *mounter; /* a recursive build's: the socket where new store paths are asked for */
  char *store_dir, *real_store_dir; /* for "store-bind" entries */
  char **argv; /* NULL-terminated, argv[0] first */
  char **envp; /* NULL-terminated */
};

enum spec_result {
  SPEC_OK,
  SPEC_ERR_TRUNCATED,
  SPEC_ERR_BAD_MAGIC,
  SPEC_ERR_STRING_TOO_LONG,
  SPEC_ERR_NUL_IN_STRING,
  SPEC_ERR_TOO_MANY_ITEMS,
  SPEC_ERR_UNKNOWN_KEY,
  SPEC_ERR_BAD_NUMBER,
  SPEC_ERR_BAD_VALUE,
  SPEC_ERR_BAD_TARGET,
  SPEC_ERR_MISSING_FIELD,
};

/* Parses the whole description; on failure *what names the offending key. */
enum spec_result spec_parse(const unsigned char *data, size_t len, struct sandbox_spec *spec,
                            const char **what);
const char *spec_result_message(enum spec_result result);

#endif
