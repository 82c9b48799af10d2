/*
 * The libfuse low-level callbacks. They run on the loop thread, copy what they were given (libfuse reuses its
 * buffers once a callback returns) and queue it for JavaScript. None of them waits for anything.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ll_binding.h"

void ll_request_free(ll_request *request) {
  free(request->name);
  free(request->name2);
  free(request->data);
  free(request->forgets);
  free(request);
}

static ll_request *new_request(enum ll_op op, fuse_req_t req, fuse_ino_t ino) {
  ll_request *request = calloc(1, sizeof(ll_request));
  if (request == NULL) {
    return NULL;
  }
  request->op = op;
  request->req = req;
  request->ino = ino;
  if (req != NULL) {
    request->ctx = *fuse_req_ctx(req);
  }
  return request;
}

static void take_file_info(ll_request *request, const struct fuse_file_info *fi) {
  if (fi != NULL) {
    request->has_fh = 1;
    request->fh = fi->fh;
    request->flags = (uint32_t)fi->flags;
    request->lock_owner = fi->lock_owner;
    request->flock_release = fi->flock_release;
  }
}

/* Queues the request; if that is impossible (the session is closing) the request is answered here. */
static void queue(ll_session *session, ll_request *request, fuse_req_t req) {
  if (request == NULL) {
    if (req != NULL) {
      fuse_reply_err(req, ENOMEM);
    }
    return;
  }
  if (napi_call_threadsafe_function(session->tsfn, request, napi_tsfn_blocking) != napi_ok) {
    if (request->req != NULL) {
      fuse_reply_err(request->req, EIO);
    }
    ll_request_free(request);
  }
}

static ll_session *session_of(fuse_req_t req) { return (ll_session *)fuse_req_userdata(req); }

static char *copy_string(const char *text) { return text == NULL ? NULL : strdup(text); }

/* A request whose only arguments are an inode and maybe a name; the common shape. */
static void simple(enum ll_op op, fuse_req_t req, fuse_ino_t ino, const char *name, const struct fuse_file_info *fi) {
  ll_request *request = new_request(op, req, ino);
  if (request != NULL) {
    request->name = copy_string(name);
    take_file_info(request, fi);
  }
  queue(session_of(req), request, req);
}

static void ll_init(void *userdata, struct fuse_conn_info *conn) {
  ll_session *session = userdata;
  if (session->max_write > 0) {
    conn->max_write = session->max_write;
  }
  if (session->max_readahead > 0) {
    conn->max_readahead = session->max_readahead;
  }
  if (session->writeback_cache && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) {
    conn->want |= FUSE_CAP_WRITEBACK_CACHE;
  } else {
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  }
  if (!session->readdirplus) {
    conn->want &= ~(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
  } else {
    /* Always with attributes: the kernel's adaptive mode falls back to plain readdir after the first reply, and
     * each entry it then lists costs a LOOKUP when `ls -l` or `find` stat it. Our attributes are cheap. */
    conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  }
  if (!session->posix_locks) {
    conn->want &= ~FUSE_CAP_POSIX_LOCKS;
  }
  if (!session->flock_locks) {
    conn->want &= ~FUSE_CAP_FLOCK_LOCKS;
  }
  /* Timestamps carry nanoseconds (DESIGN.md §5). */
  conn->time_gran = 1;
  queue(session, new_request(LL_OP_init, NULL, 0), NULL);
}

static void ll_destroy(void *userdata) {
  /* Runs inside fuse_session_destroy on the JavaScript thread; JavaScript hears of it as `destroy` from there. */
  (void)userdata;
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) { simple(LL_OP_lookup, req, parent, name, NULL); }

static void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  ll_session *session = session_of(req);
  fuse_reply_none(req);
  ll_request *request = new_request(LL_OP_forget, NULL, ino);
  if (request != NULL) {
    request->size = nlookup;
  }
  queue(session, request, NULL);
}

static void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
  ll_session *session = session_of(req);
  ll_request *request = new_request(LL_OP_forgetMulti, NULL, 0);
  if (request != NULL) {
    request->forgets = malloc(sizeof(double) * 2 * (count == 0 ? 1 : count));
    if (request->forgets == NULL) {
      ll_request_free(request);
      request = NULL;
    } else {
      for (size_t i = 0; i < count; i++) {
        request->forgets[2 * i] = (double)forgets[i].ino;
        request->forgets[2 * i + 1] = (double)forgets[i].nlookup;
      }
      request->forget_count = count;
    }
  }
  fuse_reply_none(req);
  queue(session, request, NULL);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  simple(LL_OP_getattr, req, ino, NULL, fi);
}

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi) {
  ll_request *request = new_request(LL_OP_setattr, req, ino);
  if (request != NULL) {
    request->attr = *attr;
    request->to_set = to_set;
    take_file_info(request, fi);
  }
  queue(session_of(req), request, req);
}

static void ll_readlink(fuse_req_t req, fuse_ino_t ino) { simple(LL_OP_readlink, req, ino, NULL, NULL); }

static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) {
  ll_request *request = new_request(LL_OP_mknod, req, parent);
  if (request != NULL) {
    request->name = copy_string(name);
    request->mode = mode;
    request->rdev = (uint32_t)rdev;
  }
  queue(session_of(req), request, req);
}

static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  ll_request *request = new_request(LL_OP_mkdir, req, parent);
  if (request != NULL) {
    request->name = copy_string(name);
    request->mode = mode;
  }
  queue(session_of(req), request, req);
}

static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) { simple(LL_OP_unlink, req, parent, name, NULL); }

static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) { simple(LL_OP_rmdir, req, parent, name, NULL); }

static void ll_symlink(fuse_req_t req, const char *target, fuse_ino_t parent, const char *name) {
  ll_request *request = new_request(LL_OP_symlink, req, parent);
  if (request != NULL) {
    request->name = copy_string(name);
    request->name2 = copy_string(target);
  }
  queue(session_of(req), request, req);
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname,
                      unsigned int flags) {
  ll_request *request = new_request(LL_OP_rename, req, parent);
  if (request != NULL) {
    request->name = copy_string(name);
    request->ino2 = newparent;
    request->name2 = copy_string(newname);
    request->flags = flags;
  }
  queue(session_of(req), request, req);
}

static void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  ll_request *request = new_request(LL_OP_link, req, ino);
  if (request != NULL) {
    request->ino2 = newparent;
    request->name = copy_string(newname);
  }
  queue(session_of(req), request, req);
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { simple(LL_OP_open, req, ino, NULL, fi); }

static void with_range(enum ll_op op, fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  ll_request *request = new_request(op, req, ino);
  if (request != NULL) {
    request->size = size;
    request->off = (uint64_t)off;
    take_file_info(request, fi);
  }
  queue(session_of(req), request, req);
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  with_range(LL_OP_read, req, ino, size, off, fi);
}

static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi) {
  ll_request *request = new_request(LL_OP_write, req, ino);
  if (request != NULL) {
    /* The one copy of written data: libfuse reuses `buf` for the next request as soon as we return. */
    request->data = malloc(size == 0 ? 1 : size);
    if (request->data == NULL) {
      ll_request_free(request);
      request = NULL;
    } else {
      memcpy(request->data, buf, size);
      request->data_len = size;
      request->off = (uint64_t)off;
      take_file_info(request, fi);
      request->mask = fi->writepage;
    }
  }
  queue(session_of(req), request, req);
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { simple(LL_OP_flush, req, ino, NULL, fi); }

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  simple(LL_OP_release, req, ino, NULL, fi);
}

static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  ll_request *request = new_request(LL_OP_fsync, req, ino);
  if (request != NULL) {
    request->datasync = datasync;
    take_file_info(request, fi);
  }
  queue(session_of(req), request, req);
}

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  simple(LL_OP_opendir, req, ino, NULL, fi);
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  with_range(LL_OP_readdir, req, ino, size, off, fi);
}

static void ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  with_range(LL_OP_readdirplus, req, ino, size, off, fi);
}

static void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  simple(LL_OP_releasedir, req, ino, NULL, fi);
}

static void ll_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  ll_request *request = new_request(LL_OP_fsyncdir, req, ino);
  if (request != NULL) {
    request->datasync = datasync;
    take_file_info(request, fi);
  }
  queue(session_of(req), request, req);
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino) { simple(LL_OP_statfs, req, ino, NULL, NULL); }

static void ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags) {
  ll_request *request = new_request(LL_OP_setxattr, req, ino);
  if (request != NULL) {
    request->name = copy_string(name);
    request->data = malloc(size == 0 ? 1 : size);
    if (request->data == NULL) {
      ll_request_free(request);
      request = NULL;
    } else {
      memcpy(request->data, value, size);
      request->data_len = size;
      request->flags = (uint32_t)flags;
    }
  }
  queue(session_of(req), request, req);
}

/*
 * The kernel asks for a `security.*` xattr on every write(2) (security.capability, to clear file capabilities) and for
 * every entry `ls -l` shows (security.selinux); on a filesystem that has none, each was a round trip through the
 * JavaScript thread for an ENODATA. Answered here while JavaScript says there are none.
 */
static int security_xattr_known_absent(ll_session *session, const char *name) {
  return __atomic_load_n(&session->security_xattrs_absent, __ATOMIC_ACQUIRE) && strncmp(name, "security.", 9) == 0;
}

static void ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) {
  if (security_xattr_known_absent(session_of(req), name)) {
    fuse_reply_err(req, ENODATA);
    return;
  }
  ll_request *request = new_request(LL_OP_getxattr, req, ino);
  if (request != NULL) {
    request->name = copy_string(name);
    request->size = size;
  }
  queue(session_of(req), request, req);
}

static void ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  ll_request *request = new_request(LL_OP_listxattr, req, ino);
  if (request != NULL) {
    request->size = size;
  }
  queue(session_of(req), request, req);
}

static void ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name) {
  simple(LL_OP_removexattr, req, ino, name, NULL);
}

static void ll_access(fuse_req_t req, fuse_ino_t ino, int mask) {
  ll_request *request = new_request(LL_OP_access, req, ino);
  if (request != NULL) {
    request->mask = (uint32_t)mask;
  }
  queue(session_of(req), request, req);
}

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi) {
  ll_request *request = new_request(LL_OP_create, req, parent);
  if (request != NULL) {
    request->name = copy_string(name);
    request->mode = mode;
    take_file_info(request, fi);
  }
  queue(session_of(req), request, req);
}

static void ll_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock) {
  ll_request *request = new_request(LL_OP_getlk, req, ino);
  if (request != NULL) {
    take_file_info(request, fi);
    request->lock = *lock;
  }
  queue(session_of(req), request, req);
}

/*
 * The kernel interrupts a request whose caller got a signal (Ctrl-C in a blocked F_SETLKW or flock). JavaScript hears
 * of it by the request's serial, not by its fuse_req_t: the interrupt may arrive after the reply, when that pointer
 * may already name another request. Runs on the loop thread.
 */
static void ll_interrupted(fuse_req_t req, void *data) {
  ll_request *interrupt = new_request(LL_OP_interrupt, NULL, 0);
  if (interrupt != NULL) {
    interrupt->serial = (uint64_t)(uintptr_t)data;
  }
  queue(session_of(req), interrupt, NULL);
}

/*
 * Gives a request that may wait a serial and asks libfuse to report its interrupt. Called before the request is
 * queued (after, JavaScript may have answered it and libfuse freed it); an interrupt already pending is reported at
 * once, so JavaScript may hear of it just before the request itself.
 */
static void make_interruptible(ll_request *request, fuse_req_t req) {
  if (request == NULL) {
    return;
  }
  ll_session *session = session_of(req);
  request->serial = ++session->last_serial;
  fuse_req_interrupt_func(req, ll_interrupted, (void *)(uintptr_t)request->serial);
}

static void ll_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock, int sleep) {
  ll_request *request = new_request(LL_OP_setlk, req, ino);
  if (request != NULL) {
    take_file_info(request, fi);
    request->lock = *lock;
    request->sleep = sleep;
  }
  make_interruptible(request, req);
  queue(session_of(req), request, req);
}

static void ll_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op) {
  ll_request *request = new_request(LL_OP_flock, req, ino);
  if (request != NULL) {
    take_file_info(request, fi);
    request->mask = (uint32_t)op;
  }
  make_interruptible(request, req);
  queue(session_of(req), request, req);
}

static void ll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                         struct fuse_file_info *fi) {
  ll_request *request = new_request(LL_OP_fallocate, req, ino);
  if (request != NULL) {
    take_file_info(request, fi);
    request->mode = (uint32_t)mode;
    request->off = (uint64_t)offset;
    request->size = (uint64_t)length;
  }
  queue(session_of(req), request, req);
}

static void ll_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in, struct fuse_file_info *fi_in,
                               fuse_ino_t ino_out, off_t off_out, struct fuse_file_info *fi_out, size_t len,
                               int flags) {
  ll_request *request = new_request(LL_OP_copyFileRange, req, ino_in);
  if (request != NULL) {
    request->fh = fi_in->fh;
    request->off = (uint64_t)off_in;
    request->ino2 = ino_out;
    request->fh2 = fi_out->fh;
    request->off2 = (uint64_t)off_out;
    request->size = len;
    request->flags = (uint32_t)flags;
  }
  queue(session_of(req), request, req);
}

const struct fuse_lowlevel_ops ll_operations = {
    .init = ll_init,
    .destroy = ll_destroy,
    .lookup = ll_lookup,
    .forget = ll_forget,
    .forget_multi = ll_forget_multi,
    .getattr = ll_getattr,
    .setattr = ll_setattr,
    .readlink = ll_readlink,
    .mknod = ll_mknod,
    .mkdir = ll_mkdir,
    .unlink = ll_unlink,
    .rmdir = ll_rmdir,
    .symlink = ll_symlink,
    .rename = ll_rename,
    .link = ll_link,
    .open = ll_open,
    .read = ll_read,
    .write = ll_write,
    .flush = ll_flush,
    .release = ll_release,
    .fsync = ll_fsync,
    .opendir = ll_opendir,
    .readdir = ll_readdir,
    .readdirplus = ll_readdirplus,
    .releasedir = ll_releasedir,
    .fsyncdir = ll_fsyncdir,
    .statfs = ll_statfs,
    .setxattr = ll_setxattr,
    .getxattr = ll_getxattr,
    .listxattr = ll_listxattr,
    .removexattr = ll_removexattr,
    .access = ll_access,
    .create = ll_create,
    .getlk = ll_getlk,
    .setlk = ll_setlk,
    .flock = ll_flock,
    .fallocate = ll_fallocate,
    .copy_file_range = ll_copy_file_range,
};
