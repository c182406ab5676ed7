#include "seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#define SECCOMP_DATA_ARG_LOW(n) (offsetof(struct seccomp_data, args) + (n) * sizeof(__u64))
#define LOAD(offset) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (offset))
#define JUMP_EQ(value, yes, no) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (value), (yes), (no))
#define RETURN(value) BPF_STMT(BPF_RET | BPF_K, (value))
#define ALLOW RETURN(SECCOMP_RET_ALLOW)
#define FAIL(err) RETURN(SECCOMP_RET_ERRNO | (err))

/* A chmod-like call with mode in argument n: refuse the setuid and setgid bits. Five
   instructions: a different number skips to the next check, a mode without the bits reaches
   the ALLOW, and the accumulator still holds the number on the skip path. */
#define CHECK_MODE(nr, n)                                                                          \
  JUMP_EQ((nr), 0, 4), LOAD(SECCOMP_DATA_ARG_LOW(n)),                                              \
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, S_ISUID | S_ISGID, 0, 1), FAIL(EPERM), ALLOW
/* Extended attributes could carry ACLs or capabilities; Nix reports them as unsupported. */
#define NO_XATTR(nr) JUMP_EQ((nr), 0, 1), FAIL(ENOTSUP)
/* Each per-architecture filter starts so: calls of another architecture pass through it. */
#define ONLY_ARCH(want) LOAD(offsetof(struct seccomp_data, arch)), JUMP_EQ((want), 1, 0), ALLOW, \
      LOAD(offsetof(struct seccomp_data, nr))

/* Calls added since the numbers were unified have the same number on every architecture:
   fchmodat2, and setxattrat and file_setattr (which set what setxattr and the inode flags do). */
#define NR_FCHMODAT2 452
#define NR_SETXATTRAT 463
#define NR_FILE_SETATTR 469
#define NO_NEW_XATTR NO_XATTR(NR_SETXATTRAT), NO_XATTR(NR_FILE_SETATTR)

static int install(struct sock_filter *filter, size_t count)
{
  struct sock_fprog program = {.len = (unsigned short)count, .filter = filter};
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program);
}

/* Several small filters rather than one with long jumps: the kernel applies the strictest
   answer of all of them, and no jump offset spans more than one check. */
enum seccomp_result install_seccomp_filter(void)
{
#if defined(__x86_64__)
  struct sock_filter arch_filter[] = {
      LOAD(offsetof(struct seccomp_data, arch)),
      JUMP_EQ(AUDIT_ARCH_I386, 0, 1),
      ALLOW,
      JUMP_EQ(AUDIT_ARCH_X86_64, 1, 0),
      RETURN(SECCOMP_RET_KILL_PROCESS),
      LOAD(offsetof(struct seccomp_data, nr)),
      /* x32 numbers would bypass the checks below. */
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
      FAIL(ENOSYS),
      ALLOW,
  };
  struct sock_filter native_filter[] = {
      ONLY_ARCH(AUDIT_ARCH_X86_64),
      CHECK_MODE(90 /* chmod */, 1),
      CHECK_MODE(91 /* fchmod */, 1),
      CHECK_MODE(268 /* fchmodat */, 2),
      CHECK_MODE(NR_FCHMODAT2, 2),
      NO_XATTR(188 /* setxattr */), NO_XATTR(189 /* lsetxattr */), NO_XATTR(190 /* fsetxattr */),
      NO_NEW_XATTR,
      ALLOW,
  };
  struct sock_filter compat_filter[] = {
      ONLY_ARCH(AUDIT_ARCH_I386),
      CHECK_MODE(15 /* chmod */, 1),
      CHECK_MODE(94 /* fchmod */, 1),
      CHECK_MODE(306 /* fchmodat */, 2),
      CHECK_MODE(NR_FCHMODAT2, 2),
      NO_XATTR(226 /* setxattr */), NO_XATTR(227 /* lsetxattr */), NO_XATTR(228 /* fsetxattr */),
      NO_NEW_XATTR,
      ALLOW,
  };
#elif defined(__aarch64__)
  struct sock_filter arch_filter[] = {
      LOAD(offsetof(struct seccomp_data, arch)),
      JUMP_EQ(AUDIT_ARCH_AARCH64, 1, 0),
      RETURN(SECCOMP_RET_KILL_PROCESS),
      ALLOW,
  };
  struct sock_filter native_filter[] = {
      ONLY_ARCH(AUDIT_ARCH_AARCH64),
      CHECK_MODE(52 /* fchmod */, 1),
      CHECK_MODE(53 /* fchmodat */, 2),
      CHECK_MODE(NR_FCHMODAT2, 2),
      NO_XATTR(5 /* setxattr */), NO_XATTR(6 /* lsetxattr */), NO_XATTR(7 /* fsetxattr */),
      NO_NEW_XATTR,
      ALLOW,
  };
#else
#error "tsnix-helper: no seccomp filter for this architecture yet"
#endif
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return SECCOMP_ERR_NO_NEW_PRIVS;
  if (install(arch_filter, sizeof arch_filter / sizeof arch_filter[0]) < 0 ||
      install(native_filter, sizeof native_filter / sizeof native_filter[0]) < 0)
    return SECCOMP_ERR_INSTALL;
#if defined(__x86_64__)
  if (install(compat_filter, sizeof compat_filter / sizeof compat_filter[0]) < 0)
    return SECCOMP_ERR_INSTALL;
#endif
  return SECCOMP_OK;
}

const char *seccomp_result_message(enum seccomp_result result)
{
  switch (result) {
  case SECCOMP_OK: return "ok";
  case SECCOMP_ERR_NO_NEW_PRIVS: return "cannot set no_new_privs";
  case SECCOMP_ERR_INSTALL: return "cannot install the seccomp filter";
  }
  return "unknown error";
}
