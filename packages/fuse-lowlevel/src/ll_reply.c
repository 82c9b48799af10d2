/*
 * Replies from JavaScript. Each takes the request id first and returns true when the reply was sent, false when
 * that request is no longer waiting (already answered, or its session has stopped). Entries and attributes arrive
 * packed in a Float64Array (layout: LL_ENTRY_FIELDS), which costs one call instead of a property read per field.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "ll_binding.h"

bool ll_get_name(napi_env env, napi_value value, char *out, size_t capacity, size_t *length) {
  bool is_buffer = false;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok) {
    return false;
  }
  if (!is_buffer) {
    return napi_get_value_string_utf8(env, value, out, out == NULL ? 0 : capacity, length) == napi_ok;
  }
  void *data;
  size_t size;
  if (napi_get_buffer_info(env, value, &data, &size) != napi_ok || memchr(data, 0, size) != NULL) {
    return false;
  }
  *length = size;
  if (out != NULL) {
    if (size >= capacity) {
      return false;
    }
    memcpy(out, data, size);
    out[size] = 0;
  }
  return true;
}

void ll_throw_last(napi_env env, const char *what) {
  const napi_extended_error_info *info = NULL;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    return;
  }
  napi_get_last_error_info(env, &info);
  char message[256];
  snprintf(message, sizeof message, "fuse-lowlevel: %s failed: %s", what,
           info != NULL && info->error_message != NULL ? info->error_message : "unknown error");
  napi_throw_error(env, NULL, message);
}

static napi_value boolean(napi_env env, bool value) {
  napi_value result;
  napi_get_boolean(env, value, &result);
  return result;
}

static napi_value number(napi_env env, double value) {
  napi_value result;
  napi_create_double(env, value, &result);
  return result;
}

typedef struct {
  napi_value argv[6];
  size_t argc;
  fuse_req_t req; /* NULL: not waiting any more */
} reply_call;

/* Reads the arguments and takes the request named by the first one out of the table. */
static bool begin(napi_env env, napi_callback_info info, reply_call *call, size_t wanted) {
  call->argc = 6;
  call->req = NULL;
  if (napi_get_cb_info(env, info, &call->argc, call->argv, NULL, NULL) != napi_ok || call->argc < wanted) {
    napi_throw_type_error(env, NULL, "fuse-lowlevel: too few arguments for a reply");
    return false;
  }
  double id;
  if (napi_get_value_double(env, call->argv[0], &id) != napi_ok) {
    napi_throw_type_error(env, NULL, "fuse-lowlevel: a reply's first argument is the request id");
    return false;
  }
  call->req = ll_table_take(env, id, NULL);
  return true;
}

static bool get_double(napi_env env, napi_value value, double *out) {
  if (napi_get_value_double(env, value, out) != napi_ok) {
    napi_throw_type_error(env, NULL, "fuse-lowlevel: expected a number");
    return false;
  }
  return true;
}

static const double *get_f64(napi_env env, napi_value value, size_t min_length) {
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, NULL, NULL) != napi_ok ||
      type != napi_float64_array || length < min_length) {
    napi_throw_type_error(env, NULL, "fuse-lowlevel: expected a packed Float64Array");
    return NULL;
  }
  return data;
}

static bool get_bytes(napi_env env, napi_value value, char **data, size_t *length) {
  if (napi_get_buffer_info(env, value, (void **)data, length) != napi_ok) {
    napi_throw_type_error(env, NULL, "fuse-lowlevel: expected a Buffer");
    return false;
  }
  return true;
}

static void fill_stat(struct stat *st, const double *e) {
  memset(st, 0, sizeof *st);
  st->st_ino = (ino_t)e[LL_E_ino];
  st->st_mode = (mode_t)e[LL_E_mode];
  st->st_nlink = (nlink_t)e[LL_E_nlink];
  st->st_uid = (uid_t)e[LL_E_uid];
  st->st_gid = (gid_t)e[LL_E_gid];
  st->st_rdev = (dev_t)e[LL_E_rdev];
  st->st_size = (off_t)e[LL_E_size];
  st->st_blocks = (blkcnt_t)e[LL_E_blocks];
  st->st_blksize = (blksize_t)e[LL_E_blksize];
  st->st_atim.tv_sec = (time_t)e[LL_E_atimeSec];
  st->st_atim.tv_nsec = (long)e[LL_E_atimeNsec];
  st->st_mtim.tv_sec = (time_t)e[LL_E_mtimeSec];
  st->st_mtim.tv_nsec = (long)e[LL_E_mtimeNsec];
  st->st_ctim.tv_sec = (time_t)e[LL_E_ctimeSec];
  st->st_ctim.tv_nsec = (long)e[LL_E_ctimeNsec];
}

static void fill_entry(struct fuse_entry_param *entry, const double *e) {
  memset(entry, 0, sizeof *entry);
  entry->ino = (fuse_ino_t)e[LL_E_ino];
  entry->generation = (uint64_t)e[LL_E_generation];
  entry->attr_timeout = e[LL_E_attrTimeout];
  entry->entry_timeout = e[LL_E_entryTimeout];
  fill_stat(&entry->attr, e);
}

static void fill_open(struct fuse_file_info *fi, double fh, double flags) {
  memset(fi, 0, sizeof *fi);
  unsigned bits = (unsigned)flags;
  fi->fh = (uint64_t)fh;
  fi->direct_io = (bits & LL_OPEN_DIRECT_IO) != 0;
  fi->keep_cache = (bits & LL_OPEN_KEEP_CACHE) != 0;
  fi->nonseekable = (bits & LL_OPEN_NONSEEKABLE) != 0;
  fi->cache_readdir = (bits & LL_OPEN_CACHE_READDIR) != 0;
  fi->noflush = (bits & LL_OPEN_NOFLUSH) != 0;
}

/* replyError(id, errno): errno positive, as in <errno.h>. */
static napi_value reply_error(napi_env env, napi_callback_info info) {
  reply_call call;
  double err;
  if (!begin(env, info, &call, 2) || !get_double(env, call.argv[1], &err)) {
    return NULL;
  }
  if (call.req == NULL) {
    return boolean(env, false);
  }
  fuse_reply_err(call.req, (int)fabs(err));
  return boolean(env, true);
}

/* replyEntry(id, entry): lookup, mknod, mkdir, symlink, link. */
static napi_value reply_entry(napi_env env, napi_callback_info info) {
  reply_call call;
  if (!begin(env, info, &call, 2)) {
    return NULL;
  }
  const double *packed = get_f64(env, call.argv[1], LL_E_count);
  if (packed == NULL || call.req == NULL) {
    if (call.req != NULL) {
      fuse_reply_err(call.req, EIO);
    }
    return packed == NULL ? NULL : boolean(env, false);
  }
  struct fuse_entry_param entry;
  fill_entry(&entry, packed);
  fuse_reply_entry(call.req, &entry);
  return boolean(env, true);
}

/* replyCreate(id, entry, fh, openFlags). */
static napi_value reply_create(napi_env env, napi_callback_info info) {
  reply_call call;
  double fh, flags;
  if (!begin(env, info, &call, 4)) {
    return NULL;
  }
  const double *packed = get_f64(env, call.argv[1], LL_E_count);
  if (packed == NULL || !get_double(env, call.argv[2], &fh) || !get_double(env, call.argv[3], &flags)) {
    if (call.req != NULL) {
      fuse_reply_err(call.req, EIO);
    }
    return NULL;
  }
  if (call.req == NULL) {
    return boolean(env, false);
  }
  struct fuse_entry_param entry;
  struct fuse_file_info fi;
  fill_entry(&entry, packed);
  fill_open(&fi, fh, flags);
  if (fuse_reply_create(call.req, &entry, &fi) == -ENOENT) {
    /* The opener was interrupted and is gone; the handle is still ours to release. */
    return boolean(env, false);
  }
  return boolean(env, true);
}

/* replyAttr(id, entry): only the attribute fields and attrTimeout are used. */
static napi_value reply_attr(napi_env env, napi_callback_info info) {
  reply_call call;
  if (!begin(env, info, &call, 2)) {
    return NULL;
  }
  const double *packed = get_f64(env, call.argv[1], LL_E_count);
  if (packed == NULL || call.req == NULL) {
    if (call.req != NULL) {
      fuse_reply_err(call.req, EIO);
    }
    return packed == NULL ? NULL : boolean(env, false);
  }
  struct stat st;
  fill_stat(&st, packed);
  fuse_reply_attr(call.req, &st, packed[LL_E_attrTimeout]);
  return boolean(env, true);
}

/* replyReadlink(id, target). */
static napi_value reply_readlink(napi_env env, napi_callback_info info) {
  reply_call call;
  if (!begin(env, info, &call, 2)) {
    return NULL;
  }
  char target[PATH_MAX + 1];
  size_t length;
  if (!ll_get_name(env, call.argv[1], target, sizeof target, &length)) {
    if (call.req != NULL) {
      fuse_reply_err(call.req, EIO);
    }
    napi_throw_type_error(env, NULL, "fuse-lowlevel: a link target is a string or a Buffer");
    return NULL;
  }
  if (call.req == NULL) {
    return boolean(env, false);
  }
  fuse_reply_readlink(call.req, target);
  return boolean(env, true);
}

/* replyOpen(id, fh, openFlags): open and opendir. */
static napi_value reply_open(napi_env env, napi_callback_info info) {
  reply_call call;
  double fh, flags;
  if (!begin(env, info, &call, 3) || !get_double(env, call.argv[1], &fh) || !get_double(env, call.argv[2], &flags)) {
    if (call.req != NULL) {
      fuse_reply_err(call.req, EIO);
    }
    return NULL;
  }
  if (call.req == NULL) {
    return boolean(env, false);
  }
  struct fuse_file_info fi;
  fill_open(&fi, fh, flags);
  if (fuse_reply_open(call.req, &fi) == -ENOENT) {
    return boolean(env, false);
  }
  return boolean(env, true);
}

/* replyCount(id, count): write and copy_file_range. */
static napi_value reply_count(napi_env env, napi_callback_info info) {
  reply_call call;
  double count;
  if (!begin(env, info, &call, 2) || !get_double(env, call.argv[1], &count)) {
    if (call.req != NULL) {
      fuse_reply_err(call.req, EIO);
    }
    return NULL;
  }
  if (call.req == NULL) {
    return boolean(env, false);
  }
  fuse_reply_write(call.req, (size_t)count);
  return boolean(env, true);
}

/*
 * replyBuffer(id, buffer, length): read, readdir, getxattr, listxattr. The bytes go from the JavaScript Buffer
 * straight to the kernel (one write to /dev/fuse), so a read handler that fills a Buffer is copied only by the
 * kernel.
 */
static napi_value reply_buffer(napi_env env, napi_callback_info info) {
  reply_call call;
  char *data;
  size_t size;
  double length;
  if (!begin(env, info, &call, 3) || !get_bytes(env, call.argv[1], &data, &size) ||
      !get_double(env, call.argv[2], &length)) {
    if (call.req != NULL) {
      fuse_reply_err(call.req, EIO);
    }
    return NULL;
  }
  if (call.req == NULL) {
    return boolean(env, false);
  }
  size_t used = length < 0 ? 0 : (size_t)length;
  fuse_reply_buf(call.req, data, used < size ? used : size);
  return boolean(env, true);
}

/* replyStatfs(id, [bsize, frsize, blocks, bfree, bavail, files, ffree, favail, namemax]). */
static napi_value reply_statfs(napi_env env, napi_callback_info info) {
  reply_call call;
  if (!begin(env, info, &call, 2)) {
    return NULL;
  }
  const double *v = get_f64(env, call.argv[1], 9);
  if (v == NULL || call.req == NULL) {
    if (call.req != NULL) {
      fuse_reply_err(call.req, EIO);
    }
    return v == NULL ? NULL : boolean(env, false);
  }
  struct statvfs st;
  memset(&st, 0, sizeof st);
  st.f_bsize = (unsigned long)v[0];
  st.f_frsize = (unsigned long)v[1];
  st.f_blocks = (fsblkcnt_t)v[2];
  st.f_bfree = (fsblkcnt_t)v[3];
  st.f_bavail = (fsblkcnt_t)v[4];
  st.f_files = (fsfilcnt_t)v[5];
  st.f_ffree = (fsfilcnt_t)v[6];
  st.f_favail = (fsfilcnt_t)v[7];
  st.f_namemax = (unsigned long)v[8];
  fuse_reply_statfs(call.req, &st);
  return boolean(env, true);
}

/* replyXattrSize(id, size): the answer to getxattr/listxattr asked with size 0. */
static napi_value reply_xattr_size(napi_env env, napi_callback_info info) {
  reply_call call;
  double size;
  if (!begin(env, info, &call, 2) || !get_double(env, call.argv[1], &size)) {
    if (call.req != NULL) {
      fuse_reply_err(call.req, EIO);
    }
    return NULL;
  }
  if (call.req == NULL) {
    return boolean(env, false);
  }
  fuse_reply_xattr(call.req, (size_t)size);
  return boolean(env, true);
}

/* replyLock(id, type, start, length, pid): getlk's answer; type F_UNLCK when nothing conflicts. */
static napi_value reply_lock(napi_env env, napi_callback_info info) {
  reply_call call;
  double type, start, length, pid;
  if (!begin(env, info, &call, 5) || !get_double(env, call.argv[1], &type) || !get_double(env, call.argv[2], &start) ||
      !get_double(env, call.argv[3], &length) || !get_double(env, call.argv[4], &pid)) {
    if (call.req != NULL) {
      fuse_reply_err(call.req, EIO);
    }
    return NULL;
  }
  if (call.req == NULL) {
    return boolean(env, false);
  }
  struct flock lock;
  memset(&lock, 0, sizeof lock);
  lock.l_type = (short)type;
  lock.l_whence = SEEK_SET;
  lock.l_start = (off_t)start;
  lock.l_len = (off_t)length;
  lock.l_pid = (pid_t)pid;
  fuse_reply_lock(call.req, &lock);
  return boolean(env, true);
}

/*
 * direntAdd(buffer, used, name, ino, mode, nextOffset) and direntPlusAdd(buffer, used, name, entry, nextOffset):
 * append one directory entry in the kernel's format to a readdir reply being built in `buffer`; return the new
 * number of bytes used, or -1 when the entry does not fit (the reply is full). libfuse owns the format.
 */
static napi_value dirent_add(napi_env env, napi_callback_info info, bool plus) {
  size_t argc = 6;
  napi_value argv[6];
  char *data;
  size_t size;
  double used, next;
  char name[1024];
  size_t name_length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < (plus ? 5u : 6u) ||
      !get_bytes(env, argv[0], &data, &size) || !get_double(env, argv[1], &used)) {
    LL_CHECK(env, napi_invalid_arg);
  }
  if (!ll_get_name(env, argv[2], name, sizeof name, &name_length) || name_length >= sizeof name - 1) {
    napi_throw_range_error(env, NULL,
                           "fuse-lowlevel: a directory entry name is a string or a Buffer of at most 1022 bytes");
    return NULL;
  }
  size_t offset = used < 0 ? 0 : (size_t)used;
  if (offset > size) {
    napi_throw_range_error(env, NULL, "fuse-lowlevel: directory reply overflow");
    return NULL;
  }
  size_t needed;
  if (plus) {
    const double *packed = get_f64(env, argv[3], LL_E_count);
    if (packed == NULL || !get_double(env, argv[4], &next)) {
      return NULL;
    }
    struct fuse_entry_param entry;
    fill_entry(&entry, packed);
    needed = fuse_add_direntry_plus(NULL, data + offset, size - offset, name, &entry, (off_t)next);
  } else {
    double ino, mode;
    if (!get_double(env, argv[3], &ino) || !get_double(env, argv[4], &mode) || !get_double(env, argv[5], &next)) {
      return NULL;
    }
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_ino = (ino_t)ino;
    st.st_mode = (mode_t)mode;
    needed = fuse_add_direntry(NULL, data + offset, size - offset, name, &st, (off_t)next);
  }
  if (needed > size - offset) {
    return number(env, -1);
  }
  return number(env, (double)(offset + needed));
}

static napi_value dirent_add_plain(napi_env env, napi_callback_info info) { return dirent_add(env, info, false); }
static napi_value dirent_add_plus(napi_env env, napi_callback_info info) { return dirent_add(env, info, true); }

napi_status ll_register_replies(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"replyError", NULL, reply_error, NULL, NULL, NULL, napi_default, NULL},
      {"replyEntry", NULL, reply_entry, NULL, NULL, NULL, napi_default, NULL},
      {"replyCreate", NULL, reply_create, NULL, NULL, NULL, napi_default, NULL},
      {"replyAttr", NULL, reply_attr, NULL, NULL, NULL, napi_default, NULL},
      {"replyReadlink", NULL, reply_readlink, NULL, NULL, NULL, napi_default, NULL},
      {"replyOpen", NULL, reply_open, NULL, NULL, NULL, napi_default, NULL},
      {"replyCount", NULL, reply_count, NULL, NULL, NULL, napi_default, NULL},
      {"replyBuffer", NULL, reply_buffer, NULL, NULL, NULL, napi_default, NULL},
      {"replyStatfs", NULL, reply_statfs, NULL, NULL, NULL, napi_default, NULL},
      {"replyXattrSize", NULL, reply_xattr_size, NULL, NULL, NULL, napi_default, NULL},
      {"replyLock", NULL, reply_lock, NULL, NULL, NULL, napi_default, NULL},
      {"direntAdd", NULL, dirent_add_plain, NULL, NULL, NULL, napi_default, NULL},
      {"direntPlusAdd", NULL, dirent_add_plus, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
}
