#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "storeview.h"
#include "util.h"

static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty", NULL};

/* The root directory exists once prepare_root made it; parents are only made below it. */
static size_t root_length;

static char *in_root(const struct sandbox_spec *spec, const char *target)
{
  return xasprintf("%s%s", spec->root, target);
}

static void chown_or_die(const char *path, uid_t uid, gid_t gid)
{
  if (lchown(path, uid, gid) < 0)
    die_with_errno("cannot change the owner of '%s'", path);
}

/* Creates the missing parents of path. Entries usually share a parent (the store directory),
   so the last parent made is remembered and not walked again. */
static char *last_parent;
/* While the entries of a store view are prepared: its host directory. */
static const char *current_view;

/* The remembered parent is stale once another filesystem is mounted over the root. */
static void forget_last_parent(void)
{
  free(last_parent);
  last_parent = NULL;
}

static void make_parents(const char *path)
{
  const char *slash = strrchr(path, '/');
  size_t len = slash ? (size_t)(slash - path) : 0;
  /* The parent of an entry in a store view is the view, made already. */
  if (current_view && strlen(current_view) == len && strncmp(current_view, path, len) == 0)
    return;
  if (last_parent && strlen(last_parent) == len && strncmp(last_parent, path, len) == 0)
    return;
  mkdir_parents(path, root_length);
  free(last_parent);
  last_parent = strndup(path, len);
}

static void make_dir(const char *path, mode_t mode)
{
  make_parents(path);
  if (mkdir(path, mode) < 0 && errno != EEXIST)
    die_with_errno("cannot create directory '%s'", path);
  struct stat st;
  if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
    die("'%s' exists and is not a directory", path);
  if (chmod(path, mode) < 0)
    die_with_errno("cannot set the mode of '%s'", path);
}

static void make_symlink(const char *link_target, const char *path)
{
  if (symlink(link_target, path) < 0)
    die_with_errno("cannot create symlink '%s'", path);
}

/* An empty file or directory for a bind mount to cover, of the same kind as its source. */
/* A regular store file may be hard-linked into the root instead of bind-mounted, as Nix does:
   one link() instead of an inode for the mount point plus a mount. Only when the builder can
   neither write nor chmod it: owned by root, not group- or other-writable, builder not root. */
int may_hard_link(const struct sandbox_spec *spec, const struct stat *st)
{
  return S_ISREG(st->st_mode) && geteuid() == 0 && spec->build_uid != 0 && st->st_uid == 0 &&
         !(st->st_mode & (S_IWGRP | S_IWOTH | S_ISUID | S_ISGID));
}

static enum bind_result make_mount_point(const struct sandbox_spec *spec, struct root_entry *e, const char *path)
{
  struct stat st;
  if (e->nofollow && lstat(e->source, &st) == 0 && may_hard_link(spec, &st) && !e->writable) {
    make_parents(path);
    if (link(e->source, path) == 0) {
      e->skip_mount = 1;
      return BIND_OK;
    }
    /* Another filesystem, or too many links: bind-mount it instead. */
    if (errno != EXDEV && errno != EMLINK && errno != EPERM)
      return BIND_ERR_TARGET;
  }
  if (e->nofollow && lstat(e->source, &st) == 0 && S_ISLNK(st.st_mode)) {
    /* A store path that is a symlink (say, to /etc/shadow) must not pull its target into the
       sandbox: it appears as the same symlink, as Nix shows it. */
    char target[4096];
    ssize_t len = readlink(e->source, target, sizeof target - 1);
    if (len < 0)
      return BIND_ERR_SOURCE_MISSING;
    target[len] = '\0';
    make_parents(path);
    if (symlink(target, path) < 0)
      return BIND_ERR_TARGET;
    e->skip_mount = 1;
    return BIND_OK;
  }
  if (stat(e->source, &st) < 0)
    return e->optional && errno == ENOENT ? BIND_SKIPPED_OPTIONAL : BIND_ERR_SOURCE_MISSING;
  make_parents(path);
  e->is_device = S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode);
  if (S_ISDIR(st.st_mode)) {
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
      return BIND_ERR_TARGET;
  } else {
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0444);
    if (fd < 0)
      return BIND_ERR_TARGET;
    close(fd);
  }
  return BIND_OK;
}

/* Many read-only binds from one directory (the store) cost two syscalls each: the bind and
   the read-only remount. Instead the directory is bound read-only once, at a staging point
   outside the new root, and each path is bound from there: a bind copies the flags of the
   mount it comes from. The staging points vanish with the old root at pivot_root. */
#define MAX_STAGES 4
#define STAGE_MIN_ENTRIES 8

static char *stage_sources[MAX_STAGES];
static size_t stage_count;

static char *parent_of(const char *path)
{
  const char *slash = strrchr(path, '/');
  return strndup(path, slash && slash != path ? (size_t)(slash - path) : 1);
}

static void plan_stages(struct sandbox_spec *spec)
{
  for (size_t i = 0; i < spec->entry_count; i++)
    spec->entries[i].stage = -1;
  for (size_t i = 0; i < spec->entry_count && stage_count < MAX_STAGES; i++) {
    struct root_entry *e = &spec->entries[i];
    if (e->kind != ENTRY_BIND || e->writable || e->is_device || e->skip_mount || e->stage >= 0)
      continue;
    char *parent = parent_of(e->source);
    size_t same = 0;
    for (size_t j = i; j < spec->entry_count; j++) {
      struct root_entry *o = &spec->entries[j];
      if (o->kind == ENTRY_BIND && !o->writable && !o->is_device && !o->skip_mount && o->stage < 0) {
        char *other = parent_of(o->source);
        same += strcmp(other, parent) == 0;
        free(other);
      }
    }
    if (same < STAGE_MIN_ENTRIES || strcmp(parent, "/") == 0) {
      free(parent);
      continue;
    }
    int index = (int)stage_count++;
    stage_sources[index] = parent;
    for (size_t j = i; j < spec->entry_count; j++) {
      struct root_entry *o = &spec->entries[j];
      if (o->kind == ENTRY_BIND && !o->writable && !o->is_device && !o->skip_mount && o->stage < 0) {
        char *other = parent_of(o->source);
        if (strcmp(other, parent) == 0)
          o->stage = index;
        free(other);
      }
    }
    char *point = xasprintf("%s.stage%d", spec->root, index);
    if (mkdir(point, 0700) < 0)
      die_with_errno("cannot create the staging directory '%s'", point);
    free(point);
  }
}

static void make_dir_entry(const struct root_entry *e, const char *path, uid_t self_uid, gid_t build_gid, uid_t build_uid)
{
  make_dir(path, e->mode);
  if (e->owner == OWNER_BUILD)
    chown_or_die(path, build_uid, build_gid);
  else if (e->owner == OWNER_GROUP)
    chown_or_die(path, self_uid, build_gid);
}

/* Everything but the directories that must stay on disk goes on a tmpfs that exists only in
   this helper's private mount namespace (and the sandbox's copy of it): the skeleton of a root
   costs some twenty inodes, which on a journalled disk cost more than the rest of the setup,
   and would have to be deleted again on the host after the build. Needs CAP_SYS_ADMIN on the
   host, so only a helper run as root does it; otherwise the whole root is on disk. */
static void mount_skeleton_tmpfs(struct sandbox_spec *spec, uid_t self_uid, int has_view)
{
  if (self_uid != 0 || unshare(CLONE_NEWNS) < 0) {
    if (has_view)
      die_with_errno("cannot create the helper's mount namespace for the store view");
    return;
  }
  make_mounts_private();
  int *fds = xcalloc(spec->entry_count, sizeof(int));
  for (size_t i = 0; i < spec->entry_count; i++) {
    struct root_entry *e = &spec->entries[i];
    fds[i] = -1;
    if (e->kind != ENTRY_DIR || !e->on_disk)
      continue;
    /* Opened again: a descriptor from before the unshare is of the host's mounts, which
       cannot be bound here. The same directory as the one swept, checked. */
    char *path = e->source ? xasprintf("%s", e->source) : in_root(spec, e->target);
    fds[i] = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fds[i] < 0)
      die_with_errno("cannot open '%s'", path);
    struct stat now, swept;
    if (e->source && (fstat(fds[i], &now) < 0 || fstat(e->view_fd, &swept) < 0 || now.st_dev != swept.st_dev || now.st_ino != swept.st_ino))
      die("the store view '%s' changed while the sandbox was prepared", path);
    /* Done with: no descriptor of the host's tree goes into the sandbox's processes. */
    if (e->source) {
      close(e->view_fd);
      e->view_fd = -1;
    }
    free(path);
  }
  /* Only root can write here; "/" keeps Nix's 0750 and the build group. */
  char *options = xasprintf("mode=0750,uid=%u,gid=%u,size=8m", (unsigned)self_uid, (unsigned)spec->build_gid);
  if (mount("tmpfs", spec->root, "tmpfs", MS_NOSUID | MS_NODEV, options) < 0)
    die_with_errno("cannot mount a tmpfs on the sandbox root '%s'", spec->root);
  free(options);
  forget_last_parent();
  for (size_t i = 0; i < spec->entry_count; i++) {
    if (fds[i] < 0)
      continue;
    const struct root_entry *e = &spec->entries[i];
    char *path = in_root(spec, e->target), *source = xasprintf("/proc/self/fd/%d", fds[i]);
    make_dir_entry(e, path, self_uid, spec->build_gid, spec->build_uid);
    if (mount(source, path, NULL, MS_BIND, NULL) < 0)
      die_with_errno("cannot bind the on-disk '%s' into the sandbox root", e->target);
    close(fds[i]);
    free(source);
    free(path);
  }
  free(fds);
}

/* Whether target lies below one of the directories kept on disk (a NULL-ended list). */
static int inside_disk_dir(char *const *disk_dirs, const char *target)
{
  for (; *disk_dirs; disk_dirs++) {
    size_t len = strlen(*disk_dirs);
    if (strncmp(target, *disk_dirs, len) == 0 && target[len] == '/')
      return 1;
  }
  return 0;
}

static void prepare_entry(struct sandbox_spec *spec, struct root_entry *e, uid_t self_uid)
{
  struct root_entry *view = view_holding(spec, e->target);
  if (view && view_entry_current(spec, view, e, self_uid))
    return;
  char *path = view ? xasprintf("%s%s", view->source, e->target + strlen(view->target)) : in_root(spec, e->target);
  current_view = view ? view->source : NULL;
  if (e->kind == ENTRY_DIR) {
    make_dir_entry(e, path, self_uid, spec->build_gid, spec->build_uid);
  } else if (e->kind == ENTRY_FILE) {
    make_parents(path);
    write_new_file(path, e->content, e->content_len, e->mode);
  } else {
    enum bind_result res = make_mount_point(spec, e, path);
    if (res == BIND_SKIPPED_OPTIONAL)
      e->skip_mount = 1;
    else if (res == BIND_ERR_SOURCE_MISSING)
      die_with_errno("cannot bind '%s' into the sandbox: the source is missing", e->source);
    else if (res != BIND_OK)
      die_with_errno("cannot create the mount point '%s'", path);
  }
  current_view = NULL;
  free(path);
}

void prepare_root(struct sandbox_spec *spec)
{
  uid_t self_uid = geteuid();
  /* Nix's chroot root: 0750, group of the build user, so other host users cannot look in. */
  if (mkdir(spec->root, 0750) < 0)
    die_with_errno("cannot create the sandbox root '%s'", spec->root);
  chown_or_die(spec->root, self_uid, spec->build_gid);
  if (chmod(spec->root, 0750) < 0)
    die_with_errno("cannot set the mode of '%s'", spec->root);
  root_length = strlen(spec->root);

  /* The directories that hold outputs (the store directory) or may grow large (/tmp) are made
     on disk, under the root at their sandbox paths, so the driver finds outputs there. */
  char **disk_dirs = xcalloc(spec->entry_count + 1, sizeof(char *));
  size_t disk_count = 0;
  int has_view = 0;
  for (size_t i = 0; i < spec->entry_count; i++) {
    struct root_entry *e = &spec->entries[i];
    if (e->kind != ENTRY_DIR || !e->on_disk)
      continue;
    if (e->source) {
      open_view(e, self_uid, spec->build_gid, spec->build_uid);
      sweep_view(spec, e);
      has_view = 1;
    } else {
      char *path = in_root(spec, e->target);
      make_dir_entry(e, path, self_uid, spec->build_gid, spec->build_uid);
      free(path);
    }
    disk_dirs[disk_count++] = e->target;
  }
  /* Entries inside those directories first: a hard link needs its source and target on the
     same mount, which they no longer are once the directory is bound into the tmpfs. */
  for (int on_disk = 1; on_disk >= 0; on_disk--) {
    if (!on_disk) {
      view_checks_done();
      mount_skeleton_tmpfs(spec, self_uid, has_view);
    }
    for (size_t i = 0; i < spec->entry_count; i++) {
      struct root_entry *e = &spec->entries[i];
      if ((e->kind == ENTRY_DIR && e->on_disk) || inside_disk_dir(disk_dirs, e->target) != on_disk)
        continue;
      prepare_entry(spec, e, self_uid);
    }
  }
  free(disk_dirs);

  plan_stages(spec);

  char *dev = in_root(spec, "/dev");
  make_dir(dev, 0755);
  for (const char *const *node = dev_nodes; *node; node++) {
    char *path = xasprintf("%s/%s", dev, *node);
    write_new_file(path, "", 0, 0444);
    free(path);
  }
  static const char *const links[][2] = {
      {"/proc/self/fd", "fd"},        {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
      {"/proc/self/fd/2", "stderr"}, {"/dev/pts/ptmx", "ptmx"},
  };
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
    char *path = xasprintf("%s/%s", dev, links[i][1]);
    make_symlink(links[i][0], path);
    free(path);
  }
  char *pts = xasprintf("%s/pts", dev), *shm = xasprintf("%s/shm", dev), *proc = in_root(spec, "/proc");
  make_dir(pts, 0755);
  make_dir(shm, 01777);
  make_dir(proc, 0555);
  free(pts);
  free(shm);
  free(proc);
  free(dev);
}

void make_mounts_private(void)
{
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    die_with_errno("cannot make the mounts private");
}

/* A remount inside a user namespace must keep the flags the kernel locked on the source. */
static unsigned long locked_flags(const char *path)
{
  struct statvfs vfs;
  if (statvfs(path, &vfs) < 0)
    return 0;
  unsigned long flags = 0;
  if (vfs.f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (vfs.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (vfs.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (vfs.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (vfs.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (vfs.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  if (vfs.f_flag & ST_RDONLY) flags |= MS_RDONLY;
  return flags;
}

static enum bind_result bind_mount(const char *source, const char *target, unsigned long extra)
{
  if (mount(source, target, NULL, MS_BIND | MS_REC, NULL) < 0)
    return BIND_ERR_MOUNT;
  unsigned long flags = MS_REMOUNT | MS_BIND | extra | locked_flags(target);
  if (mount(NULL, target, NULL, flags, NULL) < 0)
    return BIND_ERR_REMOUNT;
  return BIND_OK;
}

static void bind_or_die(const char *source, const char *target, unsigned long extra)
{
  switch (bind_mount(source, target, extra)) {
  case BIND_ERR_MOUNT: die_with_errno("cannot bind '%s' to '%s'", source, target);
  case BIND_ERR_REMOUNT: die_with_errno("cannot remount '%s' with restricted flags", target);
  default: return;
  }
}

void mount_root(const struct sandbox_spec *spec)
{
  /* The root must be a mount point of its own for pivot_root. */
  bind_or_die(spec->root, spec->root, MS_NOSUID | MS_NODEV);
  for (size_t k = 0; k < stage_count; k++) {
    char *point = xasprintf("%s.stage%zu", spec->root, k);
    bind_or_die(stage_sources[k], point, MS_NOSUID | MS_NODEV | MS_RDONLY);
    free(point);
  }
  for (size_t i = 0; i < spec->entry_count; i++) {
    const struct root_entry *e = &spec->entries[i];
    if (e->kind != ENTRY_BIND || e->skip_mount)
      continue;
    char *target = in_root(spec, e->target);
    if (e->stage >= 0) {
      const char *base = strrchr(e->source, '/') + 1;
      char *staged = xasprintf("%s.stage%d/%s", spec->root, e->stage, base);
      if (mount(staged, target, NULL, MS_BIND | MS_REC, NULL) < 0)
        die_with_errno("cannot bind '%s' to '%s'", e->source, target);
      free(staged);
    } else {
      bind_or_die(e->source, target, MS_NOSUID | (e->is_device ? 0 : MS_NODEV) | (e->writable ? 0 : MS_RDONLY));
    }
    free(target);
  }
  for (const char *const *node = dev_nodes; *node; node++) {
    char *source = xasprintf("/dev/%s", *node), *target = in_root(spec, source);
    bind_or_die(source, target, MS_NOSUID | MS_NOEXEC);
    free(source);
    free(target);
  }
  char *pts = in_root(spec, "/dev/pts"), *shm = in_root(spec, "/dev/shm"), *proc = in_root(spec, "/proc");
  if (mount("devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620") < 0)
    die_with_errno("cannot mount devpts on '%s'", pts);
  if (mount("tmpfs", shm, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=50%") < 0)
    die_with_errno("cannot mount tmpfs on '%s'", shm);
  /* Mounted by the namespace's PID 1, so it shows only the sandbox's processes. */
  if (mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    die_with_errno("cannot mount proc on '%s'", proc);
  free(pts);
  free(shm);
  free(proc);
}

void enter_root(const struct sandbox_spec *spec)
{
  if (chdir(spec->root) < 0)
    die_with_errno("cannot enter '%s'", spec->root);
  /* Stacking the old root under the new one and detaching it leaves no host path reachable. */
  if (syscall(SYS_pivot_root, ".", ".") < 0)
    die_with_errno("pivot_root into '%s' failed", spec->root);
  if (umount2(".", MNT_DETACH) < 0)
    die_with_errno("cannot detach the host's root");
  if (chdir("/") < 0)
    die_with_errno("cannot enter the new root");
}

void exec_with_writable_store(const char *dir, char **argv)
{
  if (unshare(CLONE_NEWNS) < 0)
    die_with_errno("cannot create a private mount namespace");
  make_mounts_private();
  unsigned long flags = locked_flags(dir) & ~(unsigned long)MS_RDONLY;
  if (mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND | flags, NULL) < 0)
    die_with_errno("cannot remount '%s' writable", dir);
  execvp(argv[0], argv);
  die_with_errno("cannot run '%s'", argv[0]);
}
