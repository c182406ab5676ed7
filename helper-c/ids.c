#include "ids.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static int write_proc_file(pid_t pid, const char *name, const char *content)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  int res = write_all(fd, content, strlen(content));
  int saved = errno;
  close(fd);
  errno = saved;
  return res;
}

enum ids_result write_id_maps(pid_t child, const struct sandbox_spec *spec, int caller_is_root)
{
  char line[64];
  /* An unprivileged caller may map its own gid only after giving up setgroups; root keeps
     setgroups allowed, having already cleared its supplementary groups before the clone. */
  if (!caller_is_root && write_proc_file(child, "setgroups", "deny") < 0)
    return IDS_ERR_SETGROUPS_FILE;
  snprintf(line, sizeof line, "%u %u 1\n", (unsigned)spec->sandbox_uid, (unsigned)spec->build_uid);
  if (write_proc_file(child, "uid_map", line) < 0)
    return IDS_ERR_UID_MAP;
  snprintf(line, sizeof line, "%u %u 1\n", (unsigned)spec->sandbox_gid, (unsigned)spec->build_gid);
  if (write_proc_file(child, "gid_map", line) < 0)
    return IDS_ERR_GID_MAP;
  return IDS_OK;
}

const char *ids_result_message(enum ids_result result)
{
  switch (result) {
  case IDS_OK: return "ok";
  case IDS_ERR_SETGROUPS_FILE: return "cannot deny setgroups in the sandbox's user namespace";
  case IDS_ERR_UID_MAP: return "cannot write the uid map of the sandbox's user namespace";
  case IDS_ERR_GID_MAP: return "cannot write the gid map of the sandbox's user namespace";
  }
  return "unknown error";
}

void become_build_user(uid_t uid, gid_t gid, int drop_groups)
{
  if (drop_groups && setgroups(0, NULL) < 0)
    die_with_errno("cannot clear the supplementary groups");
  if (setresgid(gid, gid, gid) < 0)
    die_with_errno("cannot change to group %u", (unsigned)gid);
  if (setresuid(uid, uid, uid) < 0)
    die_with_errno("cannot change to user %u", (unsigned)uid);
  /* In a user namespace the process may be unmapped rather than root, so setuid does not
     clear its capabilities; clear them here rather than count on execve doing it. */
  struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct none[2];
  memset(none, 0, sizeof none);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    die_with_errno("cannot clear the ambient capabilities");
  if (syscall(SYS_capset, &header, none) < 0)
    die_with_errno("cannot drop capabilities");
  if (uid != 0 && setuid(0) == 0)
    die("the build user could regain root; refusing to run the builder");
}
