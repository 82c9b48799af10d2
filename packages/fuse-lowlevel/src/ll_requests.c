/*
 * Requests waiting for JavaScript's reply, by id. Only the JavaScript thread touches the table, so it needs no
 * lock. An id is slot + generation * 2^24: a reply for a request already answered (a bug in JavaScript) is
 * refused instead of answering whichever request reused the slot.
 */
#include <errno.h>
#include <stdlib.h>

#include "ll_binding.h"

#define SLOT_BITS 24
#define SLOT_COUNT (1u << SLOT_BITS)
#define SLOT_MASK (SLOT_COUNT - 1)

typedef struct {
  fuse_req_t req;
  ll_session *session;
  uint32_t generation;
  uint32_t next_free;
} ll_slot;

typedef struct {
  ll_slot *slots;
  uint32_t capacity;
  uint32_t used;
  uint32_t first_free; /* capacity when none */
} ll_table;

static void free_table(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  ll_table *table = data;
  free(table->slots);
  free(table);
}

static ll_table *table_of(napi_env env) {
  ll_table *table = NULL;
  if (napi_get_instance_data(env, (void **)&table) == napi_ok && table != NULL) {
    return table;
  }
  table = calloc(1, sizeof(ll_table));
  if (table != NULL && napi_set_instance_data(env, table, free_table, NULL) != napi_ok) {
    free(table);
    return NULL;
  }
  return table;
}

double ll_table_add(napi_env env, fuse_req_t req, ll_session *session) {
  ll_table *table = table_of(env);
  if (table == NULL) {
    return -1;
  }
  if (table->first_free >= table->capacity) {
    if (table->capacity >= SLOT_COUNT) {
      return -1;
    }
    uint32_t old = table->capacity;
    uint32_t capacity = old == 0 ? 256 : old * 2;
    ll_slot *slots = realloc(table->slots, sizeof(ll_slot) * capacity);
    if (slots == NULL) {
      return -1;
    }
    for (uint32_t i = old; i < capacity; i++) {
      slots[i].req = NULL;
      slots[i].session = NULL;
      slots[i].generation = 0;
      slots[i].next_free = i + 1;
    }
    table->slots = slots;
    table->capacity = capacity;
    table->first_free = old;
  }
  uint32_t index = table->first_free;
  ll_slot *slot = &table->slots[index];
  table->first_free = slot->next_free;
  slot->req = req;
  slot->session = session;
  slot->generation = (slot->generation + 1) & 0x1fffffff;
  table->used++;
  return (double)index + (double)slot->generation * (double)SLOT_COUNT;
}

fuse_req_t ll_table_take(napi_env env, double id, ll_session **session_out) {
  ll_table *table = table_of(env);
  if (table == NULL || id < 0 || id != id) {
    return NULL;
  }
  uint64_t whole = (uint64_t)id;
  uint32_t index = (uint32_t)(whole & SLOT_MASK);
  uint32_t generation = (uint32_t)(whole >> SLOT_BITS);
  if (index >= table->capacity) {
    return NULL;
  }
  ll_slot *slot = &table->slots[index];
  if (slot->req == NULL || slot->generation != generation) {
    return NULL;
  }
  fuse_req_t req = slot->req;
  if (session_out != NULL) {
    *session_out = slot->session;
  }
  slot->req = NULL;
  slot->session = NULL;
  slot->next_free = table->first_free;
  table->first_free = index;
  table->used--;
  return req;
}

/* The session stops: every request still waiting is answered now, while libfuse can still free it. */
void ll_table_fail_session(napi_env env, ll_session *session, int err) {
  ll_table *table = table_of(env);
  if (table == NULL) {
    return;
  }
  for (uint32_t index = 0; index < table->capacity; index++) {
    ll_slot *slot = &table->slots[index];
    if (slot->req != NULL && slot->session == session) {
      fuse_reply_err(slot->req, err);
      slot->req = NULL;
      slot->session = NULL;
      slot->next_free = table->first_free;
      table->first_free = index;
      table->used--;
    }
  }
}
