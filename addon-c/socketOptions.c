/*
 * socket-options.node: the socket options Node.js does not expose, for tsnix's own
 * connections. Loaded by src/substituters/quickAck.ts; built by the Makefile against the
 * Node-API headers of the node that runs tsnix.
 *
 *   quickAck(fd) -> boolean
 *     TCP_QUICKACK on a connected TCP socket: what has arrived is acknowledged now, not
 *     after the delayed-ACK timer (40 ms on Linux). Linux clears the mode again as it sees
 *     fit, so the caller sets it after every read.
 *
 *   peerCredentials(fd) -> { pid, uid, gid } | null
 *     SO_PEERCRED of a connected Unix socket: who is at the other end, as the kernel saw it
 *     connect (tsnix-daemon's allowed-users and trusted-users). Loaded by
 *     src/daemon/peerCredentials.ts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <node_api.h>
#include <sys/socket.h>

/* The file descriptor a function was called with; -1 (and a TypeError thrown) when there is none. */
static int32_t fd_argument(napi_env env, napi_callback_info info, const char *message)
{
    size_t argc = 1;
    napi_value argv[1];
    int32_t fd = -1;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
        napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
        napi_throw_type_error(env, NULL, message);
        return -1;
    }
    return fd;
}

static napi_value quick_ack(napi_env env, napi_callback_info info)
{
    int32_t fd = fd_argument(env, info, "quickAck: a file descriptor is expected");
    if (fd < 0)
        return NULL;
    int on = 1;
    int ok = setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on) == 0;
    napi_value result;
    napi_get_boolean(env, ok, &result);
    return result;
}

static napi_value peer_credentials(napi_env env, napi_callback_info info)
{
    int32_t fd = fd_argument(env, info, "peerCredentials: a file descriptor is expected");
    if (fd < 0)
        return NULL;
    struct ucred cred;
    socklen_t len = sizeof cred;
    napi_value result;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) {
        napi_get_null(env, &result);
        return result;
    }
    napi_value pid, uid, gid;
    napi_create_object(env, &result);
    napi_create_int64(env, cred.pid, &pid);
    napi_create_int64(env, cred.uid, &uid);
    napi_create_int64(env, cred.gid, &gid);
    napi_set_named_property(env, result, "pid", pid);
    napi_set_named_property(env, result, "uid", uid);
    napi_set_named_property(env, result, "gid", gid);
    return result;
}

static napi_value init(napi_env env, napi_value exports)
{
    napi_value fn, creds;
    if (napi_create_function(env, "quickAck", NAPI_AUTO_LENGTH, quick_ack, NULL, &fn) != napi_ok ||
        napi_set_named_property(env, exports, "quickAck", fn) != napi_ok ||
        napi_create_function(env, "peerCredentials", NAPI_AUTO_LENGTH, peer_credentials, NULL, &creds) != napi_ok ||
        napi_set_named_property(env, exports, "peerCredentials", creds) != napi_ok)
        return NULL;
    return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
