/*
 * Shared declarations of the FUSE low-level binding (see ../README.md for why it exists and how it is built).
 *
 * Threads: libfuse's session loop runs on one thread of ours ("the loop thread"). Each FUSE callback copies its
 * arguments into an ll_request and queues it on a N-API threadsafe function, then returns at once: no FUSE thread
 * ever waits for JavaScript, and JavaScript never waits for FUSE. Replies are sent by the reply functions on the
 * JavaScript thread (libfuse allows a reply from any thread). Kernel notifications (invalidations) run on the libuv
 * thread pool, because the kernel may wait inside them for a request that only the JavaScript thread can answer.
 */
#ifndef LL_BINDING_H
#define LL_BINDING_H

#define FUSE_USE_VERSION 314
#define NAPI_VERSION 8
#include <fuse_lowlevel.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>

/* Request kinds handed to JavaScript; the names are exported as `ops` so that TypeScript never restates them. */
#define LL_OPS(X)                                                                                                      \
  X(init) X(destroy) X(lookup) X(forget) X(forgetMulti) X(getattr) X(setattr) X(readlink) X(mknod) X(mkdir)           \
  X(unlink) X(rmdir) X(symlink) X(rename) X(link) X(open) X(read) X(write) X(flush) X(release) X(fsync) X(opendir)    \
  X(readdir) X(readdirplus) X(releasedir) X(fsyncdir) X(statfs) X(setxattr) X(getxattr) X(listxattr) X(removexattr) \
  X(access) X(create) X(getlk) X(setlk) X(flock) X(fallocate) X(copyFileRange) X(interrupt)

#define LL_OP_ENUM(name) LL_OP_##name,
enum ll_op { LL_OP_none = 0, LL_OPS(LL_OP_ENUM) LL_OP_count };
#undef LL_OP_ENUM

/*
 * Layout of the Float64Array an entry or attribute reply is packed into (TypeScript: ENTRY_LAYOUT in
 * src/fuse-lowlevel/native.ts, checked against `entryLayout` exported here at load time).
 */
#define LL_ENTRY_FIELDS(X)                                                                                             \
  X(ino) X(generation) X(attrTimeout) X(entryTimeout) X(mode) X(nlink) X(uid) X(gid) X(rdev) X(size) X(blocks)       \
  X(blksize) X(atimeSec) X(atimeNsec) X(mtimeSec) X(mtimeNsec) X(ctimeSec) X(ctimeNsec)
#define LL_FIELD_ENUM(name) LL_E_##name,
enum ll_entry_field { LL_ENTRY_FIELDS(LL_FIELD_ENUM) LL_E_count };
#undef LL_FIELD_ENUM

/* Caller context, written into the session's context Float64Array before each request is dispatched. */
enum ll_context_field { LL_CTX_uid, LL_CTX_gid, LL_CTX_pid, LL_CTX_umask, LL_CTX_count };

/* Bits of the open-reply flags argument. */
#define LL_OPEN_DIRECT_IO 1
#define LL_OPEN_KEEP_CACHE 2
#define LL_OPEN_NONSEEKABLE 4
#define LL_OPEN_CACHE_READDIR 8
#define LL_OPEN_NOFLUSH 16

typedef struct ll_session ll_session;

/* One FUSE request on its way to JavaScript: everything copied, nothing pointing into libfuse's buffers. */
typedef struct ll_request {
  enum ll_op op;
  fuse_req_t req; /* NULL for requests that need no reply (forget, init, destroy) */
  uint64_t ino, ino2;
  uint64_t fh, fh2;
  int has_fh;
  uint64_t off, off2, size;
  uint64_t lock_owner;
  uint32_t mode, rdev, flags, mask;
  int to_set, datasync, sleep, flock_release;
  struct stat attr;
  struct flock lock;
  char *name, *name2;
  char *data;
  size_t data_len;
  double *forgets; /* forgetMulti: ino, nlookup pairs */
  size_t forget_count;
  /* setlk and flock, which may wait: the number an interrupt of this request names (0: not interruptible) */
  uint64_t serial;
  struct fuse_ctx ctx;
} ll_request;

struct ll_session {
  struct fuse_session *se;
  napi_threadsafe_function tsfn;
  napi_ref context_array; /* Float64Array(LL_CTX_count) */
  double *context;
  pthread_t loop_thread;
  int loop_started;
  int loop_ended;     /* JS thread: the ended marker was dispatched */
  int finished;       /* JS thread: libfuse session destroyed */
  int notifies_in_flight;
  int loop_result;
  /* connection settings applied in init */
  unsigned max_write, max_readahead;
  int writeback_cache;
  int readdirplus, posix_locks, flock_locks; /* off: the kernel lists without attributes / locks locally */
  int byte_names; /* names reach JavaScript as latin1 strings, one char per byte, so no byte is lost */
  /* Set by JavaScript (setSecurityXattrsAbsent) while the filesystem holds no `security.*` xattr: the loop thread then
   * answers getxattr of such a name ENODATA itself. Read and written with __atomic builtins (two threads). */
  int security_xattrs_absent;
  uint64_t last_serial; /* loop thread only: serials of interruptible requests */
  char *mountpoint;
};

/* ll_requests.c: the table of requests waiting for a reply from JavaScript (JS thread only). */
double ll_table_add(napi_env env, fuse_req_t req, ll_session *session);
fuse_req_t ll_table_take(napi_env env, double id, ll_session **session_out);
void ll_table_fail_session(napi_env env, ll_session *session, int err);

/* ll_ops.c: the libfuse callbacks (loop thread). */
extern const struct fuse_lowlevel_ops ll_operations;
void ll_request_free(ll_request *request);

/* ll_dispatch.c: handing requests to JavaScript (JS thread). */
void ll_call_js(napi_env env, napi_value dispatch, void *context, void *data);

/* ll_reply.c and ll_session.c: exported functions. */
napi_status ll_register_replies(napi_env env, napi_value exports);
napi_status ll_register_session(napi_env env, napi_value exports);
void ll_session_maybe_finish(napi_env env, ll_session *session);

#define LL_CHECK(env, call)                                                                                            \
  do {                                                                                                                 \
    if ((call) != napi_ok) {                                                                                           \
      ll_throw_last(env, #call);                                                                                       \
      return NULL;                                                                                                     \
    }                                                                                                                  \
  } while (0)
void ll_throw_last(napi_env env, const char *what);

/*
 * A name JavaScript hands back (directory entry, link target, notification): a Buffer is taken byte for byte, a string
 * as UTF-8. Into `out` (NUL-terminated) when it holds it; `*length` is the name's length either way. With out == NULL
 * only the length is measured.
 */
bool ll_get_name(napi_env env, napi_value value, char *out, size_t capacity, size_t *length);

#endif
