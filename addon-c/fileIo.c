/*
 * file-io.node: the file system calls Node.js does not expose, for reading and writing
 * trees of many small files (NAR dumps, --add). Loaded by src/store/nar/fileIo.ts; built
 * by the Makefile against the Node-API headers of the node that runs tsnix.
 *
 * Why: a small file costs Node four calls (open, fstat, read, close), each through its
 * binding and each open walking the whole path again. Here one call does all four, with
 * openat(2) relative to the directory's descriptor. Formats stay in TypeScript: these
 * functions only move bytes and report sizes, modes and errors.
 *
 *   readFileAt(dirFd, name, buffer, offset, limit, result) -> status
 *     Opens `name` (a latin1 string: one char per byte) in the directory `dirFd` without
 *     following a final symlink and without blocking on a FIFO. A regular file of at most
 *     `limit` bytes is read whole into `buffer` at `offset`. result[0] = size, result[1] =
 *     st_mode. Status: 0 read; 1 not read (not a regular file, or larger than `limit`);
 *     2 the file was shorter than its size (it changed meanwhile); -errno on a failed call,
 *     with result[2] = 0 for openat, 1 for fstat, 2 for read.
 *
 *   writeFileAt(dirFd, name, buffer, start, end, mode, mtime) -> status
 *     Creates `name` in `dirFd` (O_EXCL|O_NOFOLLOW: never an existing entry, never through
 *     a symlink) with `mode`, writes buffer[start, end), sets the mode again (the umask may
 *     have taken bits, and another thread may change it at any time), sets its modification
 *     time to `mtime` seconds (the access time to now), and closes it. Status: 0 done; -errno when the openat failed;
 *     -errno - WRITE_FAILED (4096) when a later call did, the partly written file then left
 *     for the caller's cleanup of the whole tree.
 *
 *   removeTree(parentPath, name, maxDepth, result) -> 0 | -errno
 *     (Both strings as UTF-8, not latin1: they come from paths.) Removes the entry `name` of
 *     the directory `parentPath` and everything under it, every
 *     entry reached relative to its parent's descriptor (openat with O_NOFOLLOW, fstatat and
 *     unlinkat without following), so no symlink in the tree, or swapped in meanwhile, leads
 *     outside it. A read-only directory is made writable (0700) when a removal from it is
 *     refused. The bytes freed are counted as nix 2.8 counts them: files and symlinks with at
 *     most one other hard link. A missing entry frees 0. Deeper than `maxDepth` it stops with
 *     -ELOOP, what it removed so far gone; the caller finishes another way.
 *
 *   renameEntries(fromDir, toDir, names, result) -> 0 | -errno
 *     Renames each of `names` (UTF-8) from the directory `fromDir` to the same name in `toDir`,
 *     with renameat between the two directories' descriptors: one lookup of a single name
 *     for each side. A directory that refuses to move for want of write permission on
 *     itself (its `..` changes; a read-only store path as a user who is not root) is made
 *     0700 through a descriptor that does not follow a symlink, and moved again. A missing
 *     name is skipped. On failure result[0] is the index of the name that failed.
 *
 *   sendFile(outFd, inFd, offset, count) -> bytes sent | -errno
 *     sendfile(2) from `inFd` at `offset`: a file's bytes to a pipe, socket or file without
 *     passing through this process. At most `count`; fewer when the file ends first or the
 *     output is non-blocking and full (then -EAGAIN when nothing was sent).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* Added to a negative errno by writeFileAt when the file was created but not written (errno < 4096). */
#define WRITE_FAILED 4096

/* Names are at most 255 bytes on Linux: up to this buffer, a longer one fails in the kernel (ENAMETOOLONG); past it, a TypeError. */
#define NAME_MAX_BYTES 4096

static int get_int32(napi_env env, napi_value value, int32_t *out)
{
    return napi_get_value_int32(env, value, out) == napi_ok;
}

static int get_int64(napi_env env, napi_value value, int64_t *out)
{
    return napi_get_value_int64(env, value, out) == napi_ok;
}

/*
 * A name into `name`: latin1 (one char per byte, as the dumper reads names) or UTF-8 (a JS
 * string of text, a path's last component). 0 when it is not a string, is empty or too long
 * (a copy stops at the buffer), or has a NUL inside, which would shorten it to another name.
 */
static int get_name_as(napi_env env, napi_value value, char *name, bool utf8)
{
    size_t length = 0;
    napi_status got = utf8 ? napi_get_value_string_utf8(env, value, name, NAME_MAX_BYTES, &length)
                           : napi_get_value_string_latin1(env, value, name, NAME_MAX_BYTES, &length);
    return got == napi_ok && length > 0 && length < NAME_MAX_BYTES - 1 && memchr(name, 0, length) == NULL;
}

static int get_name(napi_env env, napi_value value, char *name)
{
    return get_name_as(env, value, name, false);
}

static int get_name_utf8(napi_env env, napi_value value, char *name)
{
    return get_name_as(env, value, name, true);
}

/* A whole path (UTF-8) of less than 4096 bytes, measured before it is copied (a copy stops at a character boundary) and without a NUL. */
static int get_path(napi_env env, napi_value value, char path[4096])
{
    size_t length = 0;
    if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok || length == 0 || length >= 4096)
        return 0;
    napi_get_value_string_utf8(env, value, path, 4096, &length);
    return memchr(path, 0, length) == NULL;
}

/* The doubles of a Float64Array of at least `min_length` elements; NULL when it is not one. */
static double *get_doubles(napi_env env, napi_value value, size_t min_length)
{
    napi_typedarray_type type;
    size_t length;
    void *raw;
    napi_value array_buffer;
    size_t byte_offset;
    if (napi_get_typedarray_info(env, value, &type, &length, &raw, &array_buffer, &byte_offset) != napi_ok ||
        type != napi_float64_array || length < min_length)
        return NULL;
    return raw;
}

/* One entry of a directory: not empty, not `.` or `..`, no `/`. */
static int is_entry_name(const char *name)
{
    return name[0] != '\0' && strchr(name, '/') == NULL && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static napi_value number(napi_env env, double value)
{
    napi_value result;
    napi_create_double(env, value, &result);
    return result;
}

static napi_value type_error(napi_env env, const char *message)
{
    napi_throw_type_error(env, NULL, message);
    return NULL;
}

/* The bytes of a Buffer (any Uint8Array). */
static int get_bytes(napi_env env, napi_value value, uint8_t **data, size_t *length)
{
    napi_typedarray_type type;
    napi_value array_buffer;
    size_t byte_offset;
    void *raw;
    if (napi_get_typedarray_info(env, value, &type, length, &raw, &array_buffer, &byte_offset) != napi_ok ||
        type != napi_uint8_array)
        return 0;
    *data = raw;
    return 1;
}

static napi_value read_file_at(napi_env env, napi_callback_info info)
{
    size_t argc = 6;
    napi_value argv[6];
    int32_t dir_fd;
    char name[NAME_MAX_BYTES];
    uint8_t *buffer;
    size_t buffer_length;
    int64_t offset, limit;
    double *result = NULL;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6 || !get_int32(env, argv[0], &dir_fd) ||
        !get_name(env, argv[1], name) || !get_bytes(env, argv[2], &buffer, &buffer_length) ||
        !get_int64(env, argv[3], &offset) || !get_int64(env, argv[4], &limit) || (result = get_doubles(env, argv[5], 3)) == NULL)
        return type_error(env, "readFileAt(dirFd, name, buffer, offset, limit, result: Float64Array(3))");
    if (offset < 0 || limit < 0 || (uint64_t)offset > buffer_length || (uint64_t)limit > buffer_length - (uint64_t)offset)
        return type_error(env, "readFileAt: offset and limit must lie within the buffer");

    int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        result[2] = 0;
        return number(env, -errno);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int error = errno;
        close(fd);
        result[2] = 1;
        return number(env, -error);
    }
    result[0] = (double)st.st_size;
    result[1] = (double)st.st_mode;
    if (!S_ISREG(st.st_mode) || st.st_size > limit) {
        close(fd);
        return number(env, 1);
    }
    size_t size = (size_t)st.st_size, done = 0;
    int status = 0;
    while (done < size) {
        ssize_t n = read(fd, buffer + offset + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            status = -errno;
            result[2] = 2;
            break;
        }
        if (n == 0) {
            status = 2;
            break;
        }
        done += (size_t)n;
    }
    close(fd);
    return number(env, status);
}

static napi_value write_file_at(napi_env env, napi_callback_info info)
{
    size_t argc = 7;
    napi_value argv[7];
    int32_t dir_fd, mode;
    char name[NAME_MAX_BYTES];
    uint8_t *buffer;
    size_t buffer_length;
    int64_t start, end;
    double mtime;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 7 || !get_int32(env, argv[0], &dir_fd) ||
        !get_name(env, argv[1], name) || !get_bytes(env, argv[2], &buffer, &buffer_length) ||
        !get_int64(env, argv[3], &start) || !get_int64(env, argv[4], &end) || !get_int32(env, argv[5], &mode) ||
        napi_get_value_double(env, argv[6], &mtime) != napi_ok)
        return type_error(env, "writeFileAt(dirFd, name, buffer, start, end, mode, mtime)");
    if (start < 0 || end < start || (uint64_t)end > buffer_length)
        return type_error(env, "writeFileAt: start and end must lie within the buffer");

    int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        return number(env, -errno);
    int status = 0;
    for (int64_t at = start; at < end;) {
        ssize_t n = write(fd, buffer + at, (size_t)(end - at));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            status = -errno;
            break;
        }
        at += n;
    }
    if (status == 0 && fchmod(fd, (mode_t)mode) != 0)
        status = -errno;
    if (status == 0) {
        struct timespec times[2];
        times[0].tv_sec = 0;
        times[0].tv_nsec = UTIME_NOW;
        times[1].tv_sec = (time_t)mtime;
        times[1].tv_nsec = 0;
        if (futimens(fd, times) != 0)
            status = -errno;
    }
    if (close(fd) != 0 && status == 0 && errno != EINTR)
        status = -errno;
    return number(env, status == 0 ? 0 : status - WRITE_FAILED);
}

/* unlinkat, with one retry after making `dir_fd` writable when the directory refuses it. */
static int unlink_in(int dir_fd, const char *name, int flags, bool *made_writable)
{
    if (unlinkat(dir_fd, name, flags) == 0)
        return 0;
    if ((errno != EACCES && errno != EPERM) || *made_writable)
        return -errno;
    /* The directory is going anyway: its mode need not be kept. */
    if (fchmod(dir_fd, 0700) != 0)
        return -errno;
    *made_writable = true;
    return unlinkat(dir_fd, name, flags) == 0 ? 0 : -errno;
}

/* Removes `name` in `parent_fd` (see removeTree); adds what it frees to *freed. 0 or -errno. */
static int remove_at(int parent_fd, const char *name, bool *parent_writable, int depth_left, double *freed)
{
    struct stat st;
    if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode)) {
        int status = unlink_in(parent_fd, name, 0, parent_writable);
        if (status == -ENOENT)
            return 0;
        if (status == -EISDIR)
            goto directory; /* replaced by a directory meanwhile */
        if (status == 0 && st.st_nlink <= 2)
            *freed += (double)st.st_size;
        return status;
    }
directory:
    if (depth_left <= 0)
        return -ELOOP;
    int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno == ENOTDIR || errno == ELOOP) {
            /* Replaced by a file or a symlink meanwhile: removed as it is now. */
            int status = unlink_in(parent_fd, name, 0, parent_writable);
            return status == -ENOENT ? 0 : status;
        }
        return -errno;
    }
    DIR *dir = fdopendir(fd);
    if (dir == NULL) {
        int error = errno;
        close(fd);
        return -error;
    }
    bool writable = false;
    int status = 0;
    struct dirent *entry;
    errno = 0;
    while (status == 0 && (entry = readdir(dir)) != NULL) {
        if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, ".."))
            continue;
        status = remove_at(fd, entry->d_name, &writable, depth_left - 1, freed);
        errno = 0;
    }
    /* ENOENT: the directory was removed while it was read (by someone else): nothing more in it. */
    if (status == 0 && errno != 0 && errno != ENOENT)
        status = -errno;
    closedir(dir);
    if (status != 0)
        return status;
    status = unlink_in(parent_fd, name, AT_REMOVEDIR, parent_writable);
    return status == -ENOENT ? 0 : status;
}

static napi_value remove_tree(napi_env env, napi_callback_info info)
{
    size_t argc = 4;
    napi_value argv[4];
    char name[NAME_MAX_BYTES];
    int32_t max_depth;
    char parent[4096];
    double *freed = NULL;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 || !get_path(env, argv[0], parent) ||
        !get_name_utf8(env, argv[1], name) || !get_int32(env, argv[2], &max_depth) || max_depth < 0 ||
        (freed = get_doubles(env, argv[3], 1)) == NULL)
        return type_error(env, "removeTree(parentPath, name, maxDepth, result: Float64Array(1))");
    if (!is_entry_name(name))
        return type_error(env, "removeTree: the name must be one entry of the parent");
    *freed = 0;
    int parent_fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parent_fd < 0)
        return number(env, errno == ENOENT ? 0 : -errno); /* no parent, no tree */
    /* "Already writable": the directory holding the tree is not the tree's to change. */
    bool parent_writable = true;
    int status = remove_at(parent_fd, name, &parent_writable, max_depth, freed);
    close(parent_fd);
    return number(env, status);
}

static int rename_one(int from_fd, int to_fd, const char *name)
{
    if (renameat(from_fd, name, to_fd, name) == 0)
        return 0;
    if (errno == ENOENT)
        return 0;
    if (errno != EACCES)
        return -errno;
    int fd = openat(from_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0; /* gone meanwhile */
        /* Not a directory: nothing to make writable, the refusal stands. */
        return errno == ENOTDIR || errno == ELOOP ? -EACCES : -errno;
    }
    int status = fchmod(fd, 0700) == 0 ? 0 : -errno;
    close(fd);
    if (status != 0)
        return status;
    return renameat(from_fd, name, to_fd, name) == 0 || errno == ENOENT ? 0 : -errno;
}

static napi_value rename_entries(napi_env env, napi_callback_info info)
{
    size_t argc = 4;
    napi_value argv[4];
    char from[4096], to[4096], name[NAME_MAX_BYTES];
    bool is_array = false;
    uint32_t count = 0;
    double *result = NULL;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 ||
        !get_path(env, argv[0], from) || !get_path(env, argv[1], to) ||
        napi_is_array(env, argv[2], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[2], &count) != napi_ok ||
        (result = get_doubles(env, argv[3], 1)) == NULL)
        return type_error(env, "renameEntries(fromDir, toDir, names: string[], result: Float64Array(1))");
    result[0] = -1; /* until a name is tried: a failure is then the directories' */
    int from_fd = open(from, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (from_fd < 0)
        return number(env, -errno);
    int to_fd = open(to, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (to_fd < 0) {
        int error = errno;
        close(from_fd);
        return number(env, -error);
    }
    int status = 0;
    for (uint32_t i = 0; i < count && status == 0; i++) {
        napi_value element;
        if (napi_get_element(env, argv[2], i, &element) != napi_ok || !get_name_utf8(env, element, name) || !is_entry_name(name)) {
            close(from_fd);
            close(to_fd);
            return type_error(env, "renameEntries: each name must be one entry of the directory");
        }
        status = rename_one(from_fd, to_fd, name);
        result[0] = i;
    }
    close(from_fd);
    close(to_fd);
    return number(env, status);
}

static napi_value send_file(napi_env env, napi_callback_info info)
{
    size_t argc = 4;
    napi_value argv[4];
    int32_t out_fd, in_fd;
    int64_t offset, count;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 || !get_int32(env, argv[0], &out_fd) ||
        !get_int32(env, argv[1], &in_fd) || !get_int64(env, argv[2], &offset) || !get_int64(env, argv[3], &count) ||
        offset < 0 || count < 0)
        return type_error(env, "sendFile(outFd, inFd, offset, count)");
    off_t position = (off_t)offset;
    for (;;) {
        ssize_t n = sendfile(out_fd, in_fd, &position, (size_t)count);
        if (n < 0 && errno == EINTR)
            continue;
        return number(env, n < 0 ? -errno : (double)n);
    }
}

static int export_function(napi_env env, napi_value exports, const char *name, napi_callback callback)
{
    napi_value fn;
    return napi_create_function(env, name, NAPI_AUTO_LENGTH, callback, NULL, &fn) == napi_ok &&
           napi_set_named_property(env, exports, name, fn) == napi_ok;
}

static napi_value init(napi_env env, napi_value exports)
{
    if (!export_function(env, exports, "readFileAt", read_file_at) ||
        !export_function(env, exports, "writeFileAt", write_file_at) ||
        !export_function(env, exports, "sendFile", send_file) ||
        !export_function(env, exports, "removeTree", remove_tree) ||
        !export_function(env, exports, "renameEntries", rename_entries))
        return NULL;
    return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
