/* A store view: the sandbox's store directory kept on the host between builds. */
#ifndef TSNIX_STOREVIEW_H
#define TSNIX_STOREVIEW_H

#include <sys/types.h>

#include "spec.h"

/* Opens (creating it if missing) the view of the directory entry `view`, which must belong to
   the helper's user, and sets its mode and owner as the entry says. */
void open_view(struct root_entry *view, uid_t self_uid, gid_t build_gid, uid_t build_uid);

/* The view whose target is the parent of `target`, or NULL; dies when target lies deeper
   inside a view (only direct children are kept there). */
struct root_entry *view_holding(const struct sandbox_spec *spec, const char *target);

/* Removes from the view everything that is not the target of an entry of this build. What
   cannot simply be unlinked (a tree a builder left) is moved beside the root, where it goes
   with the build's directory. */
void sweep_view(const struct sandbox_spec *spec, const struct root_entry *view);

/* True when the view already holds what `e` needs there (a hard link to its source's inode,
   or an empty mount point made by the helper, of the source's kind); then e is prepared.
   Otherwise clears the entry's name for it to be made again. */
int view_entry_current(const struct sandbox_spec *spec, const struct root_entry *view, struct root_entry *e, uid_t self_uid);

/* Closes what the checks above keep open (the store directory): nothing of the host's may
   reach the sandbox's processes. */
void view_checks_done(void);

#endif
