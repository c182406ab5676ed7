/* The store view. A chain of builds shares most of its inputs: build N+1 sees what build N
   saw plus N's output. Made afresh for every build, the store directory costs a hard link (or
   a mount point) per input and as many unlinks afterwards, ~20 us each on a journalled disk,
   which for a few hundred inputs is most of a trivial build's setup. A view is a store
   directory the driver keeps for one build at a time: the helper only adds what is new,
   removes what is not wanted, and checks that every kept link is still its source's inode
   (a repaired or re-added path gets a new one). Builders can write in the store directory
   (that is where outputs are made); whatever they leave is not one of this build's entries, or
   is not the link or mount point the helper made, so the sweep or the check removes it before
   the next builder runs. */
#include "storeview.h"

#include <dirent.h>
#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mounts.h"
#include "util.h"

static unsigned stale_count;

void open_view(struct root_entry *view, uid_t self_uid, gid_t build_gid, uid_t build_uid)
{
  /* Only root gets the tmpfs skeleton the view is bound into. */
  if (self_uid != 0)
    die("a store view ('%s') needs the helper to run as root", view->source);
  if (mkdir(view->source, view->mode) < 0 && errno != EEXIST)
    die_with_errno("cannot create the store view '%s'", view->source);
  int fd = open(view->source, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    die_with_errno("cannot open the store view '%s'", view->source);
  struct stat st;
  if (fstat(fd, &st) < 0)
    die_with_errno("cannot stat the store view '%s'", view->source);
  if (st.st_uid != self_uid)
    die("the store view '%s' is not owned by the helper's user", view->source);
  uid_t uid = view->owner == OWNER_BUILD ? build_uid : self_uid;
  gid_t gid = view->owner == OWNER_ROOT ? st.st_gid : build_gid;
  if (fchown(fd, uid, gid) < 0 || fchmod(fd, view->mode) < 0)
    die_with_errno("cannot set the owner and mode of the store view '%s'", view->source);
  view->view_fd = fd;
  view->view_dev = st.st_dev;
}

static const char *child_name(const struct root_entry *view, const char *target)
{
  size_t len = strlen(view->target);
  if (strncmp(target, view->target, len) != 0 || target[len] != '/')
    return NULL;
  return target + len + 1;
}

struct root_entry *view_holding(const struct sandbox_spec *spec, const char *target)
{
  for (size_t i = 0; i < spec->entry_count; i++) {
    struct root_entry *v = &spec->entries[i];
    if (v->kind != ENTRY_DIR || !v->source)
      continue;
    const char *name = child_name(v, target);
    if (!name)
      continue;
    if (strchr(name, '/'))
      die("'%s' lies below a direct child of the store view of '%s'", target, v->target);
    return v;
  }
  return NULL;
}

static void clear_name(const struct sandbox_spec *spec, int fd, const char *name)
{
  if (unlinkat(fd, name, 0) == 0 || errno == ENOENT)
    return;
  if ((errno == EISDIR || errno == EPERM) && (unlinkat(fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT))
    return;
  char *to = xasprintf("%s.stale%u", spec->root, stale_count++);
  if (renameat(fd, name, AT_FDCWD, to) < 0)
    die_with_errno("cannot clear '%s' from the store view", name);
  free(to);
}

static int compare_names(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void sweep_view(const struct sandbox_spec *spec, const struct root_entry *view)
{
  const char **wanted = xcalloc(spec->entry_count + 1, sizeof *wanted);
  size_t count = 0;
  for (size_t i = 0; i < spec->entry_count; i++) {
    const char *name = child_name(view, spec->entries[i].target);
    if (name)
      wanted[count++] = name;
  }
  qsort(wanted, count, sizeof *wanted, compare_names);
  int fd = dup(view->view_fd);
  DIR *dir = fd < 0 ? NULL : fdopendir(fd);
  if (!dir)
    die_with_errno("cannot list the store view '%s'", view->source);
  /* Names are cleared after the listing: removing entries while reading may skip some. */
  char **unwanted = NULL;
  size_t unwanted_count = 0, unwanted_room = 0;
  for (struct dirent *d; (errno = 0, d = readdir(dir));) {
    if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
      continue;
    const char *name = d->d_name;
    if (bsearch(&name, wanted, count, sizeof *wanted, compare_names))
      continue;
    if (unwanted_count == unwanted_room) {
      unwanted_room = unwanted_room ? unwanted_room * 2 : 16;
      unwanted = realloc(unwanted, unwanted_room * sizeof *unwanted);
      if (!unwanted)
        die("out of memory");
    }
    unwanted[unwanted_count++] = xasprintf("%s", name);
  }
  if (errno != 0)
    die_with_errno("cannot list the store view '%s'", view->source);
  closedir(dir);
  for (size_t i = 0; i < unwanted_count; i++) {
    clear_name(spec, view->view_fd, unwanted[i]);
    free(unwanted[i]);
  }
  free(unwanted);
  free(wanted);
}

/* The source's metadata; a store path's looked up in the store directory (one name, not the
   whole path, for each of a few hundred inputs). */
static int store_fd = -2;

void view_checks_done(void)
{
  if (store_fd >= 0)
    close(store_fd);
  store_fd = -2;
}

static int source_stat(const struct sandbox_spec *spec, const struct root_entry *e, struct stat *st)
{
  if (store_fd == -2)
    store_fd = spec->real_store_dir ? open(spec->real_store_dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
  size_t len = spec->real_store_dir ? strlen(spec->real_store_dir) : 0;
  if (store_fd >= 0 && strncmp(e->source, spec->real_store_dir, len) == 0 && e->source[len] == '/' && !strchr(e->source + len + 1, '/'))
    return fstatat(store_fd, e->source + len + 1, st, e->nofollow ? AT_SYMLINK_NOFOLLOW : 0);
  return e->nofollow ? lstat(e->source, st) : stat(e->source, st);
}

int view_entry_current(const struct sandbox_spec *spec, const struct root_entry *view, struct root_entry *e, uid_t self_uid)
{
  const char *name = child_name(view, e->target);
  struct stat have, want;
  if (fstatat(view->view_fd, name, &have, AT_SYMLINK_NOFOLLOW) < 0)
    return 0;
  int current = 0;
  /* Files and directories of the description, symlinks and writable binds are made again. */
  if (e->kind == ENTRY_BIND && !e->writable && source_stat(spec, e, &want) == 0 &&
      !S_ISLNK(want.st_mode)) {
    int linkable = e->nofollow && may_hard_link(spec, &want) && want.st_dev == view->view_dev;
    if (linkable) {
      /* The hard link made for an earlier build, still of the source's inode. */
      current = have.st_dev == want.st_dev && have.st_ino == want.st_ino;
      e->skip_mount = current;
    } else if (have.st_uid == self_uid && !S_ISLNK(have.st_mode)) {
      /* An empty mount point the helper made (only the helper makes root's entries here,
         and a mount covered it while any builder ran): a directory for a directory, an
         empty file no one else links for anything else. */
      if (S_ISDIR(want.st_mode))
        current = S_ISDIR(have.st_mode);
      else
        current = S_ISREG(have.st_mode) && have.st_nlink == 1 && have.st_size == 0;
      e->is_device = S_ISCHR(want.st_mode) || S_ISBLK(want.st_mode);
    }
  }
  if (!current)
    clear_name(spec, view->view_fd, name);
  return current;
}
