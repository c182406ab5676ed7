/* Who the builder is: the build user on the host, uid 1000 / gid 100 inside. */
#ifndef TSNIX_IDS_H
#define TSNIX_IDS_H

#include <sys/types.h>

#include "spec.h"

enum ids_result { IDS_OK, IDS_ERR_SETGROUPS_FILE, IDS_ERR_UID_MAP, IDS_ERR_GID_MAP };

/* From the parent: map the build user into the child's new user namespace. */
enum ids_result write_id_maps(pid_t child, const struct sandbox_spec *spec, int caller_is_root);
const char *ids_result_message(enum ids_result result);

/* In the builder's process, last step before the seccomp filter: no way back to privilege. */
void become_build_user(uid_t uid, gid_t gid, int drop_groups);

#endif
