/*
 * Hands queued requests to JavaScript, on the JavaScript thread. The dispatch function is called as
 * dispatch(op, id, ...arguments of that op); `id` names the pending request for the reply functions. The caller's
 * uid/gid/pid/umask are written into the session's context array just before the call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "ll_binding.h"

#define MAX_ARGS 16

typedef struct {
  napi_env env;
  napi_value argv[MAX_ARGS];
  size_t argc;
  int failed;
  int latin1; /* names as latin1 strings (the session's byte_names) */
} arg_list;

static void push(arg_list *args, napi_value value) {
  if (args->argc < MAX_ARGS) {
    args->argv[args->argc++] = value;
  }
}

static void push_number(arg_list *args, double value) {
  napi_value result;
  if (napi_create_double(args->env, value, &result) != napi_ok) {
    args->failed = 1;
    return;
  }
  push(args, result);
}

static void push_bigint(arg_list *args, uint64_t value) {
  napi_value result;
  if (napi_create_bigint_uint64(args->env, value, &result) != napi_ok) {
    args->failed = 1;
    return;
  }
  push(args, result);
}

static void push_string(arg_list *args, const char *text) {
  napi_value result;
  if (text == NULL) {
    napi_get_undefined(args->env, &result);
  } else if ((args->latin1 ? napi_create_string_latin1(args->env, text, NAPI_AUTO_LENGTH, &result)
                            : napi_create_string_utf8(args->env, text, NAPI_AUTO_LENGTH, &result)) != napi_ok) {
    args->failed = 1;
    return;
  }
  push(args, result);
}

static void push_fh(arg_list *args, const ll_request *request) {
  if (request->has_fh) {
    push_number(args, (double)request->fh);
  } else {
    napi_value undefined;
    napi_get_undefined(args->env, &undefined);
    push(args, undefined);
  }
}

static void free_data(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

/* The request's data (write or setxattr) becomes a Buffer without a further copy; the Buffer owns it from here. */
static void push_data(arg_list *args, ll_request *request) {
  napi_value result;
  napi_status status =
      napi_create_external_buffer(args->env, request->data_len, request->data, free_data, NULL, &result);
  if (status == napi_ok) {
    request->data = NULL;
  } else if (napi_create_buffer_copy(args->env, request->data_len, request->data, NULL, &result) != napi_ok) {
    args->failed = 1;
    return;
  }
  push(args, result);
}

static void push_forgets(arg_list *args, ll_request *request) {
  napi_value buffer, array;
  void *bytes;
  size_t length = request->forget_count * 2;
  if (napi_create_arraybuffer(args->env, length * sizeof(double), &bytes, &buffer) != napi_ok ||
      napi_create_typedarray(args->env, napi_float64_array, length, buffer, 0, &array) != napi_ok) {
    args->failed = 1;
    return;
  }
  for (size_t i = 0; i < length; i++) {
    ((double *)bytes)[i] = request->forgets[i];
  }
  push(args, array);
}

static void push_lock(arg_list *args, const ll_request *request) {
  push_bigint(args, request->lock_owner);
  push_number(args, request->lock.l_type);
  push_number(args, (double)request->lock.l_start);
  push_number(args, (double)request->lock.l_len);
  push_number(args, request->lock.l_pid);
}

static void push_op_arguments(arg_list *args, ll_request *request) {
  switch (request->op) {
  case LL_OP_none: /* the loop's end marker, dispatched as destroy */
  case LL_OP_init:
  case LL_OP_destroy:
    break;
  case LL_OP_forget:
    push_number(args, (double)request->ino);
    push_number(args, (double)request->size);
    break;
  case LL_OP_forgetMulti:
    push_forgets(args, request);
    break;
  case LL_OP_lookup:
  case LL_OP_unlink:
  case LL_OP_rmdir:
  case LL_OP_removexattr:
    push_number(args, (double)request->ino);
    push_string(args, request->name);
    break;
  case LL_OP_getattr:
  case LL_OP_readlink:
  case LL_OP_statfs:
    push_number(args, (double)request->ino);
    push_fh(args, request);
    break;
  case LL_OP_setattr: {
    const struct stat *attr = &request->attr;
    push_number(args, (double)request->ino);
    push_fh(args, request);
    push_number(args, request->to_set);
    push_number(args, attr->st_mode);
    push_number(args, attr->st_uid);
    push_number(args, attr->st_gid);
    push_number(args, (double)attr->st_size);
    push_number(args, (double)attr->st_atim.tv_sec);
    push_number(args, (double)attr->st_atim.tv_nsec);
    push_number(args, (double)attr->st_mtim.tv_sec);
    push_number(args, (double)attr->st_mtim.tv_nsec);
    push_number(args, (double)attr->st_ctim.tv_sec);
    push_number(args, (double)attr->st_ctim.tv_nsec);
    break;
  }
  case LL_OP_mknod:
    push_number(args, (double)request->ino);
    push_string(args, request->name);
    push_number(args, request->mode);
    push_number(args, request->rdev);
    break;
  case LL_OP_mkdir:
    push_number(args, (double)request->ino);
    push_string(args, request->name);
    push_number(args, request->mode);
    break;
  case LL_OP_symlink:
    push_number(args, (double)request->ino);
    push_string(args, request->name);
    push_string(args, request->name2);
    break;
  case LL_OP_rename:
    push_number(args, (double)request->ino);
    push_string(args, request->name);
    push_number(args, (double)request->ino2);
    push_string(args, request->name2);
    push_number(args, request->flags);
    break;
  case LL_OP_link:
    push_number(args, (double)request->ino);
    push_number(args, (double)request->ino2);
    push_string(args, request->name);
    break;
  case LL_OP_open:
  case LL_OP_opendir:
    push_number(args, (double)request->ino);
    push_number(args, request->flags);
    break;
  case LL_OP_read:
  case LL_OP_readdir:
  case LL_OP_readdirplus:
    push_number(args, (double)request->ino);
    push_fh(args, request);
    push_number(args, (double)request->size);
    push_number(args, (double)request->off);
    break;
  case LL_OP_write:
    push_number(args, (double)request->ino);
    push_fh(args, request);
    push_data(args, request);
    push_number(args, (double)request->off);
    push_number(args, request->mask); /* 1: a delayed write from the page cache (writeback cache) */
    break;
  case LL_OP_flush:
    push_number(args, (double)request->ino);
    push_fh(args, request);
    push_bigint(args, request->lock_owner);
    break;
  case LL_OP_release:
  case LL_OP_releasedir:
    push_number(args, (double)request->ino);
    push_fh(args, request);
    push_number(args, request->flags);
    push_bigint(args, request->lock_owner);
    push_number(args, request->flock_release);
    break;
  case LL_OP_fsync:
  case LL_OP_fsyncdir:
    push_number(args, (double)request->ino);
    push_fh(args, request);
    push_number(args, request->datasync);
    break;
  case LL_OP_setxattr:
    push_number(args, (double)request->ino);
    push_string(args, request->name);
    push_data(args, request);
    push_number(args, request->flags);
    break;
  case LL_OP_getxattr:
    push_number(args, (double)request->ino);
    push_string(args, request->name);
    push_number(args, (double)request->size);
    break;
  case LL_OP_listxattr:
    push_number(args, (double)request->ino);
    push_number(args, (double)request->size);
    break;
  case LL_OP_access:
    push_number(args, (double)request->ino);
    push_number(args, request->mask);
    break;
  case LL_OP_create:
    push_number(args, (double)request->ino);
    push_string(args, request->name);
    push_number(args, request->mode);
    push_number(args, request->flags);
    break;
  case LL_OP_getlk:
    push_number(args, (double)request->ino);
    push_fh(args, request);
    push_lock(args, request);
    break;
  case LL_OP_setlk:
    push_number(args, (double)request->ino);
    push_fh(args, request);
    push_lock(args, request);
    push_number(args, request->sleep);
    push_number(args, (double)request->serial);
    break;
  case LL_OP_flock:
    push_number(args, (double)request->ino);
    push_fh(args, request);
    push_bigint(args, request->lock_owner);
    push_number(args, request->mask);
    push_number(args, (double)request->serial);
    break;
  case LL_OP_interrupt:
    push_number(args, (double)request->serial);
    break;
  case LL_OP_fallocate:
    push_number(args, (double)request->ino);
    push_fh(args, request);
    push_number(args, request->mode);
    push_number(args, (double)request->off);
    push_number(args, (double)request->size);
    break;
  case LL_OP_copyFileRange:
    push_number(args, (double)request->ino);
    push_number(args, (double)request->fh);
    push_number(args, (double)request->off);
    push_number(args, (double)request->ino2);
    push_number(args, (double)request->fh2);
    push_number(args, (double)request->off2);
    push_number(args, (double)request->size);
    push_number(args, request->flags);
    break;
  default:
    args->failed = 1;
  }
}

/* A JavaScript exception thrown by the dispatcher is a bug there: answer EIO, then let Node report it. */
static void surface_exception(napi_env env) {
  napi_value error;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &error) == napi_ok) {
    napi_fatal_exception(env, error);
  }
}

void ll_call_js(napi_env env, napi_value dispatch, void *context, void *data) {
  ll_session *session = context;
  ll_request *request = data;
  if (env == NULL) {
    /* The threadsafe function is being torn down: nobody can answer any more. */
    if (request->req != NULL) {
      fuse_reply_err(request->req, ENODEV);
    }
    ll_request_free(request);
    return;
  }
  arg_list args = {.env = env, .argc = 0, .failed = 0, .latin1 = session->byte_names};
  push_number(&args, request->op == LL_OP_none ? LL_OP_destroy : request->op);
  double id = 0;
  if (request->req != NULL) {
    id = ll_table_add(env, request->req, session);
    if (id < 0) {
      fuse_reply_err(request->req, ENOMEM);
      ll_request_free(request);
      return;
    }
  }
  push_number(&args, id);
  push_op_arguments(&args, request);
  session->context[LL_CTX_uid] = request->ctx.uid;
  session->context[LL_CTX_gid] = request->ctx.gid;
  session->context[LL_CTX_pid] = request->ctx.pid;
  session->context[LL_CTX_umask] = request->ctx.umask;

  if (request->op == LL_OP_none) {
    /* The loop thread's "I have stopped" marker: destroy the session, then tell JavaScript. */
    session->loop_ended = 1;
    ll_session_maybe_finish(env, session);
  }
  napi_value global, result;
  napi_get_global(env, &global);
  if (args.failed) {
    if (request->req != NULL) {
      ll_session *owner;
      fuse_req_t req = ll_table_take(env, id, &owner);
      if (req != NULL) {
        fuse_reply_err(req, EIO);
      }
    }
    surface_exception(env);
  } else if (napi_call_function(env, global, dispatch, args.argc, args.argv, &result) != napi_ok) {
    ll_session *owner;
    fuse_req_t req = request->req != NULL ? ll_table_take(env, id, &owner) : NULL;
    if (req != NULL) {
      fuse_reply_err(req, EIO);
    }
    surface_exception(env);
  }
  ll_request_free(request);
}
