/* The builder's seccomp filter: no setuid/setgid bits, no extended attributes (as Nix). */
#ifndef TSNIX_SECCOMP_H
#define TSNIX_SECCOMP_H

enum seccomp_result { SECCOMP_OK, SECCOMP_ERR_NO_NEW_PRIVS, SECCOMP_ERR_INSTALL };

enum seccomp_result install_seccomp_filter(void);
const char *seccomp_result_message(enum seccomp_result result);

#endif
