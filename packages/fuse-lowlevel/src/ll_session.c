/*
 * Module entry, mounting, the loop thread, the end of a session and kernel notifications.
 *
 * A session's memory is shared by two owners, the JavaScript handle (an External) and the threadsafe function;
 * it is freed when both have been finalized. libfuse's own session is destroyed once the loop has stopped and no
 * notification is in flight, on the JavaScript thread, after every request still waiting has been answered.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ll_binding.h"

/* ---- session memory ---- */

typedef struct {
  ll_session session; /* first: a pointer to the holder is a pointer to the session */
  int refs;
} ll_holder;

static void holder_release(ll_session *session) {
  ll_holder *holder = (ll_holder *)session;
  if (--holder->refs == 0) {
    free(session->mountpoint);
    free(holder);
  }
}

static void finalize_handle(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  holder_release(data);
}

static void finalize_tsfn(napi_env env, void *data, void *context) {
  (void)data;
  ll_session *session = context;
  if (session->context_array != NULL) {
    napi_delete_reference(env, session->context_array);
    session->context_array = NULL;
  }
  holder_release(session);
}

static ll_session *session_from(napi_env env, napi_value handle) {
  void *data = NULL;
  if (napi_get_value_external(env, handle, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "fuse-lowlevel: expected a session handle");
    return NULL;
  }
  return data;
}

/* ---- the loop thread ---- */

static void *run_loop(void *data) {
  ll_session *session = data;
  session->loop_result = fuse_session_loop(session->se);
  ll_request *ended = calloc(1, sizeof(ll_request));
  if (ended != NULL) {
    ended->op = LL_OP_none; /* dispatched to JavaScript as `destroy` */
    napi_call_threadsafe_function(session->tsfn, ended, napi_tsfn_blocking);
  }
  return NULL;
}

void ll_session_maybe_finish(napi_env env, ll_session *session) {
  if (!session->loop_ended || session->notifies_in_flight > 0 || session->finished) {
    return;
  }
  session->finished = 1;
  ll_table_fail_session(env, session, ENODEV);
  if (session->loop_started) {
    /* The loop thread has posted its marker and is returning; this waits for nothing else. */
    pthread_join(session->loop_thread, NULL);
  }
  /* The connection is gone, so this only closes the device (no second unmount). */
  fuse_session_unmount(session->se);
  fuse_session_destroy(session->se);
  session->se = NULL;
  napi_release_threadsafe_function(session->tsfn, napi_tsfn_release);
}

/* ---- mount ---- */

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref handle;
  ll_session *session;
  int result;
} mount_job;

static void mount_execute(napi_env env, void *data) {
  (void)env;
  mount_job *job = data;
  job->result = fuse_session_mount(job->session->se, job->session->mountpoint);
}

static void mount_complete(napi_env env, napi_status status, void *data) {
  mount_job *job = data;
  ll_session *session = job->session;
  napi_value handle;
  napi_get_reference_value(env, job->handle, &handle);
  napi_delete_reference(env, job->handle);
  napi_delete_async_work(env, job->work);
  if (status == napi_ok && job->result == 0 &&
      pthread_create(&session->loop_thread, NULL, run_loop, session) == 0) {
    session->loop_started = 1;
    napi_resolve_deferred(env, job->deferred, handle);
  } else {
    napi_value message, error;
    napi_create_string_utf8(env, "fuse-lowlevel: mount failed (see the message above from libfuse)",
                            NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &error);
    if (job->result == 0) {
      fuse_session_unmount(session->se);
    }
    session->loop_ended = 1;
    ll_session_maybe_finish(env, session);
    napi_reject_deferred(env, job->deferred, error);
  }
  free(job);
}

static bool get_option(napi_env env, napi_value options, const char *name, double fallback, double *out) {
  bool has = false;
  napi_value value;
  *out = fallback;
  if (napi_has_named_property(env, options, name, &has) != napi_ok) {
    return false;
  }
  if (!has) {
    return true;
  }
  if (napi_get_named_property(env, options, name, &value) != napi_ok) {
    return false;
  }
  napi_valuetype type;
  napi_typeof(env, value, &type);
  if (type == napi_boolean) {
    bool flag;
    napi_get_value_bool(env, value, &flag);
    *out = flag ? 1 : 0;
    return true;
  }
  if (type == napi_undefined) {
    return true;
  }
  return napi_get_value_double(env, value, out) == napi_ok;
}

static void free_args(struct fuse_args *args) {
  for (int i = 0; i < args->argc; i++) {
    free(args->argv[i]);
  }
  free(args->argv);
}

/*
 * mount(mountpoint, fuseArguments, options, dispatch, context) → Promise<session handle>.
 * fuseArguments: the command-line style arguments libfuse parses ("-o", "allow_other,fsname=…").
 * options: { maxWrite, maxReadahead, writebackCache, readdirplus, posixLocks, flockLocks, byteNames, opendir,
 * releasedir } (opendir/releasedir false: libfuse answers them).
 */
static napi_value mount(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  LL_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) {
    napi_throw_type_error(env, NULL, "fuse-lowlevel: mount(mountpoint, fuseArguments, options, dispatch, context)");
    return NULL;
  }
  size_t length;
  LL_CHECK(env, napi_get_value_string_utf8(env, argv[0], NULL, 0, &length));
  char *mountpoint = malloc(length + 1);
  if (mountpoint == NULL) {
    napi_throw_error(env, NULL, "fuse-lowlevel: out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[0], mountpoint, length + 1, &length);

  uint32_t count = 0;
  if (napi_get_array_length(env, argv[1], &count) != napi_ok) {
    free(mountpoint);
    napi_throw_type_error(env, NULL, "fuse-lowlevel: fuseArguments is an array of strings");
    return NULL;
  }
  struct fuse_args args = {.argc = (int)count + 1, .argv = calloc(count + 2, sizeof(char *)), .allocated = 0};
  args.argv[0] = strdup("riverfs");
  for (uint32_t i = 0; i < count; i++) {
    napi_value item;
    size_t item_length;
    napi_get_element(env, argv[1], i, &item);
    if (napi_get_value_string_utf8(env, item, NULL, 0, &item_length) != napi_ok) {
      free(mountpoint);
      free_args(&args);
      napi_throw_type_error(env, NULL, "fuse-lowlevel: fuseArguments is an array of strings");
      return NULL;
    }
    args.argv[i + 1] = malloc(item_length + 1);
    napi_get_value_string_utf8(env, item, args.argv[i + 1], item_length + 1, &item_length);
  }

  ll_holder *holder = calloc(1, sizeof(ll_holder));
  ll_session *session = &holder->session;
  holder->refs = 1; /* the handle; the threadsafe function takes the second below */
  session->mountpoint = mountpoint;
  double value;
  bool options_ok = get_option(env, argv[2], "maxWrite", 0, &value);
  session->max_write = (unsigned)value;
  options_ok = options_ok && get_option(env, argv[2], "maxReadahead", 0, &value);
  session->max_readahead = (unsigned)value;
  options_ok = options_ok && get_option(env, argv[2], "writebackCache", 0, &value);
  session->writeback_cache = value != 0;
  options_ok = options_ok && get_option(env, argv[2], "readdirplus", 1, &value);
  session->readdirplus = value != 0;
  options_ok = options_ok && get_option(env, argv[2], "posixLocks", 1, &value);
  session->posix_locks = value != 0;
  options_ok = options_ok && get_option(env, argv[2], "flockLocks", 1, &value);
  session->flock_locks = value != 0;
  options_ok = options_ok && get_option(env, argv[2], "byteNames", 0, &value);
  session->byte_names = value != 0;
  /* Operations the filesystem does not implement are left to libfuse, which answers them itself (opendir: handle 0;
   * releasedir: done): a JavaScript round trip each for nothing cost `find` two per directory. */
  struct fuse_lowlevel_ops operations = ll_operations;
  options_ok = options_ok && get_option(env, argv[2], "opendir", 1, &value);
  if (value == 0) {
    operations.opendir = NULL;
  }
  options_ok = options_ok && get_option(env, argv[2], "releasedir", 1, &value);
  if (value == 0) {
    operations.releasedir = NULL;
  }

  napi_typedarray_type type;
  size_t context_length;
  void *context_data;
  if (!options_ok ||
      napi_get_typedarray_info(env, argv[4], &type, &context_length, &context_data, NULL, NULL) != napi_ok ||
      type != napi_float64_array || context_length < LL_CTX_count) {
    free_args(&args);
    free(mountpoint);
    free(holder);
    napi_throw_type_error(env, NULL, "fuse-lowlevel: bad mount options or context array");
    return NULL;
  }
  session->context = context_data;
  napi_create_reference(env, argv[4], 1, &session->context_array);

  session->se = fuse_session_new(&args, &operations, sizeof operations, session);
  free_args(&args);
  if (session->se == NULL) {
    napi_delete_reference(env, session->context_array);
    free(mountpoint);
    free(holder);
    napi_throw_error(env, NULL, "fuse-lowlevel: libfuse refused the mount arguments (see its message above)");
    return NULL;
  }

  napi_value name, handle, promise;
  napi_create_string_utf8(env, "fuse-lowlevel dispatch", NAPI_AUTO_LENGTH, &name);
  holder->refs++;
  if (napi_create_threadsafe_function(env, argv[3], NULL, name, 0, 1, NULL, finalize_tsfn, session, ll_call_js,
                                      &session->tsfn) != napi_ok) {
    fuse_session_destroy(session->se);
    napi_delete_reference(env, session->context_array);
    free(mountpoint);
    free(holder);
    napi_throw_error(env, NULL, "fuse-lowlevel: could not create the dispatch function");
    return NULL;
  }
  napi_create_external(env, session, finalize_handle, NULL, &handle);

  mount_job *job = calloc(1, sizeof(mount_job));
  job->session = session;
  napi_create_reference(env, handle, 1, &job->handle);
  napi_create_promise(env, &job->deferred, &promise);
  napi_value work_name;
  napi_create_string_utf8(env, "fuse-lowlevel mount", NAPI_AUTO_LENGTH, &work_name);
  napi_create_async_work(env, NULL, work_name, mount_execute, mount_complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

/* ---- kernel notifications ---- */

enum notify_kind { NOTIFY_INVAL_INODE, NOTIFY_INVAL_ENTRY, NOTIFY_DELETE };

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref handle; /* keeps the session handle alive while the work runs */
  ll_session *session;
  enum notify_kind kind;
  fuse_ino_t ino, child;
  off_t offset, length;
  char *name;
  int result;
} notify_job;

static void notify_execute(napi_env env, void *data) {
  (void)env;
  notify_job *job = data;
  struct fuse_session *se = job->session->se;
  switch (job->kind) {
  case NOTIFY_INVAL_INODE:
    job->result = fuse_lowlevel_notify_inval_inode(se, job->ino, job->offset, job->length);
    break;
  case NOTIFY_INVAL_ENTRY:
    job->result = fuse_lowlevel_notify_inval_entry(se, job->ino, job->name, strlen(job->name));
    break;
  case NOTIFY_DELETE:
    job->result = fuse_lowlevel_notify_delete(se, job->ino, job->child, job->name, strlen(job->name));
    break;
  }
}

static void notify_complete(napi_env env, napi_status status, void *data) {
  notify_job *job = data;
  napi_value result;
  napi_create_int32(env, status == napi_ok ? job->result : -EIO, &result);
  napi_resolve_deferred(env, job->deferred, result);
  napi_delete_async_work(env, job->work);
  napi_delete_reference(env, job->handle);
  job->session->notifies_in_flight--;
  ll_session_maybe_finish(env, job->session);
  free(job->name);
  free(job);
}

/* Resolves to 0, or to a negative errno (-ENOENT: the kernel does not know that inode or name; nothing to do). */
static napi_value notify(napi_env env, napi_callback_info info, enum notify_kind kind) {
  size_t argc = 4;
  napi_value argv[4];
  LL_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  size_t wanted = kind == NOTIFY_INVAL_INODE ? 4 : kind == NOTIFY_INVAL_ENTRY ? 3 : 4;
  if (argc < wanted) {
    napi_throw_type_error(env, NULL, "fuse-lowlevel: too few arguments for a notification");
    return NULL;
  }
  ll_session *session = session_from(env, argv[0]);
  if (session == NULL) {
    return NULL;
  }
  notify_job *job = calloc(1, sizeof(notify_job));
  job->session = session;
  job->kind = kind;
  double ino = 0, second = 0, third = 0;
  bool ok = napi_get_value_double(env, argv[1], &ino) == napi_ok;
  if (kind == NOTIFY_INVAL_INODE) {
    ok = ok && napi_get_value_double(env, argv[2], &second) == napi_ok &&
         napi_get_value_double(env, argv[3], &third) == napi_ok;
    job->offset = (off_t)second;
    job->length = (off_t)third;
  } else {
    napi_value name_value = kind == NOTIFY_INVAL_ENTRY ? argv[2] : argv[3];
    if (kind == NOTIFY_DELETE) {
      ok = ok && napi_get_value_double(env, argv[2], &second) == napi_ok;
      job->child = (fuse_ino_t)second;
    }
    size_t length = 0;
    ok = ok && ll_get_name(env, name_value, NULL, 0, &length);
    if (ok) {
      job->name = malloc(length + 1);
      ok = ll_get_name(env, name_value, job->name, length + 1, &length);
    }
  }
  job->ino = (fuse_ino_t)ino;
  if (!ok) {
    free(job->name);
    free(job);
    napi_throw_type_error(env, NULL, "fuse-lowlevel: bad notification arguments");
    return NULL;
  }
  napi_value promise;
  napi_create_promise(env, &job->deferred, &promise);
  if (session->loop_ended || session->finished) {
    napi_value result;
    napi_create_int32(env, -ENOTCONN, &result);
    napi_resolve_deferred(env, job->deferred, result);
    free(job->name);
    free(job);
    return promise;
  }
  session->notifies_in_flight++;
  napi_create_reference(env, argv[0], 1, &job->handle);
  napi_value work_name;
  napi_create_string_utf8(env, "fuse-lowlevel notify", NAPI_AUTO_LENGTH, &work_name);
  napi_create_async_work(env, NULL, work_name, notify_execute, notify_complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

/* notifyInvalInode(session, ino, offset, length): drop cached attributes, and pages in the range (length 0: all;
 * offset -1: attributes only). */
static napi_value notify_inval_inode(napi_env env, napi_callback_info info) {
  return notify(env, info, NOTIFY_INVAL_INODE);
}
/* notifyInvalEntry(session, parent, name): drop the cached name. */
static napi_value notify_inval_entry(napi_env env, napi_callback_info info) {
  return notify(env, info, NOTIFY_INVAL_ENTRY);
}
/* notifyDelete(session, parent, child, name): the name is gone (also tells inotify watchers). */
static napi_value notify_delete(napi_env env, napi_callback_info info) { return notify(env, info, NOTIFY_DELETE); }

/* setSecurityXattrsAbsent(session, absent): while true, getxattr of a `security.*` name is answered ENODATA without
 * asking JavaScript. Set it false before a `security.*` xattr can exist (before committing its setxattr). */
static napi_value set_security_xattrs_absent(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  LL_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "fuse-lowlevel: setSecurityXattrsAbsent(session, boolean)");
    return NULL;
  }
  ll_session *session = session_from(env, argv[0]);
  if (session == NULL) {
    return NULL;
  }
  bool absent = false;
  if (napi_get_value_bool(env, argv[1], &absent) != napi_ok) {
    napi_throw_type_error(env, NULL, "fuse-lowlevel: setSecurityXattrsAbsent(session, boolean)");
    return NULL;
  }
  __atomic_store_n(&session->security_xattrs_absent, absent ? 1 : 0, __ATOMIC_RELEASE);
  return NULL;
}

/* ---- module ---- */

static napi_status export_names(napi_env env, napi_value exports, const char *property, const char *const *names,
                                size_t count, int first) {
  napi_value object, value;
  napi_status status = napi_create_object(env, &object);
  for (size_t i = 0; status == napi_ok && i < count; i++) {
    status = napi_create_int32(env, (int32_t)i + first, &value);
    if (status == napi_ok) {
      status = napi_set_named_property(env, object, names[i], value);
    }
  }
  return status == napi_ok ? napi_set_named_property(env, exports, property, object) : status;
}

#define LL_NAME_STRING(name) #name,
static const char *const op_names[] = {LL_OPS(LL_NAME_STRING)};
static const char *const entry_names[] = {LL_ENTRY_FIELDS(LL_NAME_STRING)};
static const char *const context_names[] = {"uid", "gid", "pid", "umask"};
#undef LL_NAME_STRING

static napi_value init_module(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"mount", NULL, mount, NULL, NULL, NULL, napi_default, NULL},
      {"notifyInvalInode", NULL, notify_inval_inode, NULL, NULL, NULL, napi_default, NULL},
      {"notifyInvalEntry", NULL, notify_inval_entry, NULL, NULL, NULL, napi_default, NULL},
      {"notifyDelete", NULL, notify_delete, NULL, NULL, NULL, napi_default, NULL},
      {"setSecurityXattrsAbsent", NULL, set_security_xattrs_absent, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value version;
  if (napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties) != napi_ok ||
      ll_register_replies(env, exports) != napi_ok ||
      export_names(env, exports, "ops", op_names, sizeof op_names / sizeof op_names[0], 1) != napi_ok ||
      export_names(env, exports, "entryLayout", entry_names, LL_E_count, 0) != napi_ok ||
      export_names(env, exports, "contextLayout", context_names, LL_CTX_count, 0) != napi_ok ||
      napi_create_int32(env, fuse_version(), &version) != napi_ok ||
      napi_set_named_property(env, exports, "libfuseVersion", version) != napi_ok) {
    ll_throw_last(env, "module initialisation");
    return NULL;
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init_module)
