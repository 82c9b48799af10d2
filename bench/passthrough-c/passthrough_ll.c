/*
 * The `passthrough-c` bench target: the pass-through of bench/passthrough-lowlevel.ts written in C on the same
 * system libfuse 3 low-level API, so the table shows what Node and the binding (packages/fuse-lowlevel) cost on top
 * of the limit of any FUSE filesystem on this machine. Built by the bench (bench/targets.ts) at run time.
 *
 * It answers what the Node pass-through answers, as the binding sets it up for it, so that the kernel sends both
 * the same requests:
 * - entry and attribute timeouts in every reply: --timeout (the bench passes DEFAULT_LOWLEVEL_TIMEOUT_SECONDS);
 *   errors (ENOENT included) are answered as errors, with no negative entry;
 * - open and create answer neither keep_cache nor direct_io: the page cache is dropped at each open;
 * - readdirplus always (not the kernel's adaptive mode), no writeback cache, no lock operations (the kernel keeps
 *   POSIX and flock locks itself), nanosecond timestamps, libfuse's own request size (max_pages, 1 MiB writes) and
 *   the kernel's read-ahead;
 * - no flush: the Node pass-through has none, so after libfuse's first ENOSYS the kernel sends no FLUSH at close;
 *   with one here every close would cost this target a round trip the other does not make;
 * - the mount options are given by the bench with -o (lowLevelMountOptions, fsname/subtype renamed).
 * Each inode the kernel knows is a node (struct node), found by (st_dev, st_ino) and counting the kernel's lookups
 * as libfuse's example/passthrough_ll.c does, its address the kernel's node id; a directory holds an O_PATH
 * descriptor, any other file is reached by its latest name in its directory (as the Node one reaches everything by
 * path). It passes xattr calls on to the backing files: the Node one answers ENODATA and an empty list, which is
 * what a local directory with no xattrs set answers too, so the kernel asks both the same.
 *
 * Requests are served by libfuse's multi-threaded loop (fuse_session_loop_mt, its default of at most 10 threads):
 * the limit of a C filesystem. The Node pass-through is serial (one libfuse loop thread, one JavaScript thread
 * making synchronous calls); --single-thread serves requests one at a time here too, for that comparison.
 *
 * Run: passthrough-c [--single-thread] [--timeout=SECONDS] [-o OPTIONS] BACKING MOUNTPOINT; prints "mounted" once
 * mounted, unmounts and exits on SIGTERM, SIGINT or SIGHUP.
 */
#define _GNU_SOURCE
#define FUSE_USE_VERSION 314

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

_Static_assert(sizeof(fuse_ino_t) >= sizeof(uintptr_t), "node ids are pointers");

/*
 * A node is an inode the kernel knows (its lookup count is above 0), or a directory a known node still names.
 * Directories hold an O_PATH descriptor, which follows them through renames; other files are reached by name in
 * their directory, as the Node pass-through reaches everything by path: one descriptor per known file would not
 * fit the growth workload's 100,000 files under this machine's limit of 20,000 (no CAP_SYS_RESOURCE to raise it).
 */
struct node {
  struct node *next; /* hash chain */
  dev_t dev;
  ino_t ino;
  mode_t type; /* S_IFMT: a number freed and reused for another kind of file is another node */
  int fd;      /* directories: O_PATH; others: -1 */
  struct node *parent; /* others: the directory holding `name`, the latest name the kernel used */
  char *name;
  int open_fd; /* others: one descriptor the kernel has open on it, for an unlinked file's fstat (-1: none) */
  uint64_t lookups; /* the kernel's */
  uint64_t refs;    /* nodes naming this one as parent, and calls using its descriptor for one of them */
};

static struct {
  pthread_mutex_t lock; /* the table, and every node's parent, name and counts */
  struct node **buckets;
  size_t bucket_count; /* a power of two */
  size_t count;
  struct node root;
  double timeout;
} fs = {.lock = PTHREAD_MUTEX_INITIALIZER};

static size_t bucket_of(dev_t dev, ino_t ino, size_t bucket_count) {
  uint64_t h = ((uint64_t)ino ^ ((uint64_t)dev << 32)) * UINT64_C(0x9E3779B97F4A7C15);
  return (size_t)(h >> 32) & (bucket_count - 1);
}

static struct node *find(const struct stat *st) {
  for (struct node *n = fs.buckets[bucket_of(st->st_dev, st->st_ino, fs.bucket_count)]; n != NULL; n = n->next) {
    if (n->ino == st->st_ino && n->dev == st->st_dev && n->type == (st->st_mode & S_IFMT)) {
      return n;
    }
  }
  return NULL;
}

static void insert(struct node *n) {
  if (fs.count >= fs.bucket_count) {
    /* Chains stay short at 100,000 files in a directory; if the bigger table cannot be had, they only grow longer. */
    size_t bigger = fs.bucket_count * 2;
    struct node **buckets = calloc(bigger, sizeof *buckets);
    if (buckets != NULL) {
      for (size_t i = 0; i < fs.bucket_count; i++) {
        for (struct node *m = fs.buckets[i], *next; m != NULL; m = next) {
          next = m->next;
          size_t b = bucket_of(m->dev, m->ino, bigger);
          m->next = buckets[b];
          buckets[b] = m;
        }
      }
      free(fs.buckets);
      fs.buckets = buckets;
      fs.bucket_count = bigger;
    }
  }
  size_t b = bucket_of(n->dev, n->ino, fs.bucket_count);
  n->next = fs.buckets[b];
  fs.buckets[b] = n;
  fs.count++;
}

/* Under the lock: frees a node nothing refers to any more, then its directory if that was its last reference. */
static void drop_if_unused(struct node *n) {
  while (n != NULL && n != &fs.root && n->lookups == 0 && n->refs == 0) {
    struct node **at = &fs.buckets[bucket_of(n->dev, n->ino, fs.bucket_count)];
    while (*at != n) {
      at = &(*at)->next;
    }
    *at = n->next;
    fs.count--;
    struct node *parent = n->parent;
    if (parent != NULL) {
      parent->refs--;
    }
    if (n->fd >= 0) {
      close(n->fd);
    }
    free(n->name);
    free(n);
    n = parent;
  }
}

/* Under the lock: `n` is now known as `name` in `dir` (files only; a directory's descriptor needs no name). */
static int rename_node(struct node *n, struct node *dir, const char *name) {
  if (n->fd >= 0 || (n->parent == dir && strcmp(n->name, name) == 0)) {
    return 0;
  }
  char *copy = strdup(name);
  if (copy == NULL) {
    return ENOMEM;
  }
  dir->refs++;
  if (n->parent != NULL) {
    n->parent->refs--;
    drop_if_unused(n->parent);
  }
  free(n->name);
  n->parent = dir;
  n->name = copy;
  return 0;
}

static struct node *node_of(fuse_ino_t ino) {
  return ino == FUSE_ROOT_ID ? &fs.root : (struct node *)(uintptr_t)ino;
}

static fuse_ino_t id_of(struct node *n) { return n == &fs.root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n; }

static void forget_node(struct node *n, uint64_t count) {
  pthread_mutex_lock(&fs.lock);
  n->lookups = n->lookups > count ? n->lookups - count : 0;
  drop_if_unused(n);
  pthread_mutex_unlock(&fs.lock);
}

/* Where the calls on a node go: its own descriptor with the empty name (a directory), or its directory and name. */
struct place {
  int dirfd;
  const char *name;
  int empty; /* AT_EMPTY_PATH for a directory, for the *at calls that take it */
  struct node *held; /* the directory, kept for the call: a rename may move the file meanwhile */
  char buffer[NAME_MAX + 1];
};

static void locate(struct node *n, struct place *p) {
  p->held = NULL;
  if (n->fd >= 0) {
    p->dirfd = n->fd;
    p->name = "";
    p->empty = AT_EMPTY_PATH;
    return;
  }
  pthread_mutex_lock(&fs.lock);
  p->held = n->parent;
  p->held->refs++;
  snprintf(p->buffer, sizeof p->buffer, "%s", n->name);
  pthread_mutex_unlock(&fs.lock);
  p->dirfd = p->held->fd;
  p->name = p->buffer;
  p->empty = 0;
}

static void unlocate(struct place *p) {
  if (p->held != NULL) {
    pthread_mutex_lock(&fs.lock);
    p->held->refs--;
    drop_if_unused(p->held);
    pthread_mutex_unlock(&fs.lock);
  }
}

/* For the calls that take only a path: /proc/self/fd/N (followed to the directory itself) or .../N/name. */
static void proc_path(const struct place *p, char *out, size_t size) {
  if (p->name[0] == '\0') {
    snprintf(out, size, "/proc/self/fd/%d", p->dirfd);
  } else {
    snprintf(out, size, "/proc/self/fd/%d/%s", p->dirfd, p->name);
  }
}

#define PROC_PATH_MAX (sizeof "/proc/self/fd/" + 12 + NAME_MAX + 1)

/* The node of `st`, just found as `name` in `dir`, with one more kernel lookup; 0 or an errno. */
static int take_entry(struct node *dir, const char *name, struct stat *st, struct fuse_entry_param *e) {
  int fd = -1;
  for (;;) {
    pthread_mutex_lock(&fs.lock);
    struct node *n = find(st);
    int error = 0;
    if (n != NULL) {
      /* The latest name wins (another link, or a rename made outside the mount). */
      error = rename_node(n, dir, name);
    } else if (!S_ISDIR(st->st_mode) || fd >= 0) {
      n = calloc(1, sizeof *n);
      if (n == NULL) {
        error = ENOMEM;
      } else {
        *n = (struct node){.dev = st->st_dev, .ino = st->st_ino, .type = st->st_mode & S_IFMT, .fd = fd, .open_fd = -1};
        if (fd < 0 && (error = rename_node(n, dir, name)) != 0) {
          free(n);
        } else {
          insert(n);
          fd = -1;
        }
      }
    } else {
      /* A new directory: its descriptor is opened outside the lock, then the table is looked at again. */
      pthread_mutex_unlock(&fs.lock);
      fd = openat(dir->fd, name, O_PATH | O_NOFOLLOW);
      /* The name may have changed hands since it was looked at: the descriptor's inode is the one answered. */
      if (fd == -1 || fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == -1) {
        error = errno;
        if (fd != -1) {
          close(fd);
        }
        return error;
      }
      if (!S_ISDIR(st->st_mode)) {
        close(fd);
        fd = -1;
      }
      continue;
    }
    if (error == 0) {
      n->lookups++;
      e->ino = id_of(n);
    }
    pthread_mutex_unlock(&fs.lock);
    if (fd >= 0) {
      close(fd);
    }
    if (error == 0) {
      e->attr = *st;
      e->attr_timeout = fs.timeout;
      e->entry_timeout = fs.timeout;
    }
    return error;
  }
}

static int lookup_entry(struct node *dir, const char *name, struct fuse_entry_param *e) {
  struct stat st;
  memset(e, 0, sizeof *e);
  if (fstatat(dir->fd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
    return errno;
  }
  return take_entry(dir, name, &st, e);
}

static void reply_entry_or_error(fuse_req_t req, struct node *dir, const char *name) {
  struct fuse_entry_param e;
  int error = lookup_entry(dir, name, &e);
  if (error != 0) {
    fuse_reply_err(req, error);
  } else if (fuse_reply_entry(req, &e) != 0) {
    /* The request was interrupted: the kernel did not take the reference. */
    forget_node(node_of(e.ino), 1);
  }
}

static void reply_result(fuse_req_t req, int result) { fuse_reply_err(req, result == -1 ? errno : 0); }

/* ---- inodes ---- */

static void pt_init(void *userdata, struct fuse_conn_info *conn) {
  (void)userdata;
  /* What the binding's ll_init asks for the Node pass-through (readdirplus given, no lock operations). */
  conn->want &= ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
  conn->time_gran = 1;
}

static void pt_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  reply_entry_or_error(req, node_of(parent), name);
}

static void pt_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  forget_node(node_of(ino), nlookup);
  fuse_reply_none(req);
}

static void pt_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
  for (size_t i = 0; i < count; i++) {
    forget_node(node_of(forgets[i].ino), forgets[i].nlookup);
  }
  fuse_reply_none(req);
}

/* The node's attributes through its name; ESTALE when the name now holds another file. */
static int stat_by_name(struct node *n, struct stat *st) {
  struct place p;
  locate(n, &p);
  int error = fstatat(p.dirfd, p.name, st, p.empty | AT_SYMLINK_NOFOLLOW) == -1 ? errno : 0;
  unlocate(&p);
  return error == 0 && (st->st_ino != n->ino || st->st_dev != n->dev) ? ESTALE : error;
}

/* A file unlinked (or replaced) while open has no name to reach it by: the kernel's fstat and fchmod come without a
 * handle, and are answered through one it has open. A copy, as a release may close that one meanwhile; or -1. */
static int open_copy(struct node *n) {
  pthread_mutex_lock(&fs.lock);
  int fd = n->open_fd >= 0 ? dup(n->open_fd) : -1;
  pthread_mutex_unlock(&fs.lock);
  return fd;
}

static void pt_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct node *n = node_of(ino);
  struct stat st;
  int error = 0;
  if (fi != NULL) {
    error = fstat((int)fi->fh, &st) == -1 ? errno : 0;
  } else if ((error = stat_by_name(n, &st)) != 0 && n->fd < 0) {
    int fd = open_copy(n);
    if (fd >= 0) {
      error = fstat(fd, &st) == -1 ? errno : 0;
      close(fd);
    }
  }
  if (error != 0) {
    fuse_reply_err(req, error);
  } else {
    fuse_reply_attr(req, &st, fs.timeout);
  }
}

static int set_attributes(struct place *p, const struct stat *attr, int valid, int fd) {
  char path[PROC_PATH_MAX];
  /* chmod, truncate and utimensat have no empty-name form for an O_PATH descriptor; its /proc name reaches it. */
  proc_path(p, path, sizeof path);
  if ((valid & FUSE_SET_ATTR_MODE) && (fd >= 0 ? fchmod(fd, attr->st_mode) : chmod(path, attr->st_mode)) == -1) {
    return errno;
  }
  if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    uid_t uid = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
    gid_t gid = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;
    if ((fd >= 0 ? fchown(fd, uid, gid) : fchownat(p->dirfd, p->name, uid, gid, p->empty | AT_SYMLINK_NOFOLLOW)) ==
        -1) {
      return errno;
    }
  }
  if ((valid & FUSE_SET_ATTR_SIZE) &&
      (fd >= 0 ? ftruncate(fd, attr->st_size) : truncate(path, attr->st_size)) == -1) {
    return errno;
  }
  if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
    struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};
    if (valid & FUSE_SET_ATTR_ATIME_NOW) {
      times[0].tv_nsec = UTIME_NOW;
    } else if (valid & FUSE_SET_ATTR_ATIME) {
      times[0] = attr->st_atim;
    }
    if (valid & FUSE_SET_ATTR_MTIME_NOW) {
      times[1].tv_nsec = UTIME_NOW;
    } else if (valid & FUSE_SET_ATTR_MTIME) {
      times[1] = attr->st_mtim;
    }
    int result = fd >= 0               ? futimens(fd, times)
                 : p->name[0] == '\0' ? utimensat(AT_FDCWD, path, times, 0)
                                      : utimensat(p->dirfd, p->name, times, AT_SYMLINK_NOFOLLOW);
    if (result == -1) {
      return errno;
    }
  }
  return 0;
}

static void pt_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid, struct fuse_file_info *fi) {
  struct node *n = node_of(ino);
  int fd = fi != NULL ? (int)fi->fh : -1, copy = -1, error = 0;
  struct stat st;
  if (fd < 0 && n->fd < 0 && (error = stat_by_name(n, &st)) != 0) {
    fd = copy = open_copy(n);
    if (fd < 0) {
      fuse_reply_err(req, error);
      return;
    }
  }
  struct place p;
  locate(n, &p);
  error = set_attributes(&p, attr, valid, fd);
  unlocate(&p);
  if (copy >= 0) {
    close(copy);
  }
  if (error != 0) {
    fuse_reply_err(req, error);
  } else {
    pt_getattr(req, ino, fi);
  }
}

static void pt_readlink(fuse_req_t req, fuse_ino_t ino) {
  char target[PATH_MAX + 1];
  struct place p;
  locate(node_of(ino), &p);
  ssize_t length = readlinkat(p.dirfd, p.name, target, sizeof target);
  int error = errno;
  unlocate(&p);
  if (length == -1) {
    fuse_reply_err(req, error);
  } else if (length == (ssize_t)sizeof target) {
    fuse_reply_err(req, ENAMETOOLONG);
  } else {
    target[length] = '\0';
    fuse_reply_readlink(req, target);
  }
}

static void pt_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) {
  struct node *dir = node_of(parent);
  if (mknodat(dir->fd, name, mode, rdev) == -1) {
    fuse_reply_err(req, errno);
  } else {
    reply_entry_or_error(req, dir, name);
  }
}

static void pt_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  struct node *dir = node_of(parent);
  if (mkdirat(dir->fd, name, mode) == -1) {
    fuse_reply_err(req, errno);
  } else {
    reply_entry_or_error(req, dir, name);
  }
}

static void pt_symlink(fuse_req_t req, const char *target, fuse_ino_t parent, const char *name) {
  struct node *dir = node_of(parent);
  if (symlinkat(target, dir->fd, name) == -1) {
    fuse_reply_err(req, errno);
  } else {
    reply_entry_or_error(req, dir, name);
  }
}

static void pt_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name) {
  struct node *dir = node_of(parent);
  struct place p;
  locate(node_of(ino), &p);
  int result = linkat(p.dirfd, p.name, dir->fd, name, 0);
  int error = errno;
  unlocate(&p);
  if (result == -1) {
    fuse_reply_err(req, error);
  } else {
    reply_entry_or_error(req, dir, name);
  }
}

static void pt_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) {
  reply_result(req, unlinkat(node_of(parent)->fd, name, 0));
}

static void pt_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) {
  reply_result(req, unlinkat(node_of(parent)->fd, name, AT_REMOVEDIR));
}

/* Under the lock: the file known as `name` in `from` (stat `st`) is now `new_name` in `to`. */
static void moved(const struct stat *st, struct node *from, const char *name, struct node *to, const char *new_name) {
  struct node *n = find(st);
  if (n != NULL && n->parent == from && strcmp(n->name, name) == 0) {
    /* Out of memory: the node keeps its old name, and its calls fail until the kernel looks it up again. */
    rename_node(n, to, new_name);
  }
}

static void pt_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname,
                      unsigned int flags) {
  struct node *from = node_of(parent), *to = node_of(newparent);
  /* The kernel holds both directories locked for the request: these names do not change under it. */
  struct stat source, target;
  bool has_source = fstatat(from->fd, name, &source, AT_SYMLINK_NOFOLLOW) == 0;
  bool has_target = (flags & RENAME_EXCHANGE) && fstatat(to->fd, newname, &target, AT_SYMLINK_NOFOLLOW) == 0;
  if (renameat2(from->fd, name, to->fd, newname, flags) == -1) {
    fuse_reply_err(req, errno);
    return;
  }
  pthread_mutex_lock(&fs.lock);
  if (has_source) {
    moved(&source, from, name, to, newname);
  }
  if (has_target) {
    moved(&target, to, newname, from, name);
  }
  pthread_mutex_unlock(&fs.lock);
  fuse_reply_err(req, 0);
}

static void pt_statfs(fuse_req_t req, fuse_ino_t ino) {
  struct statvfs st;
  struct place p;
  locate(node_of(ino), &p);
  int result = fstatvfs(p.dirfd, &st);
  int error = errno;
  unlocate(&p);
  if (result == -1) {
    fuse_reply_err(req, error);
  } else {
    fuse_reply_statfs(req, &st);
  }
}

/* ---- files ---- */

static void remember_open(struct node *n, int fd) {
  pthread_mutex_lock(&fs.lock);
  if (n->open_fd < 0) {
    n->open_fd = fd;
  }
  pthread_mutex_unlock(&fs.lock);
}

/* Closes a handle's descriptor, after open_copy can no longer take it. */
static void forget_open(struct node *n, int fd) {
  pthread_mutex_lock(&fs.lock);
  if (n->open_fd == fd) {
    n->open_fd = -1;
  }
  pthread_mutex_unlock(&fs.lock);
  close(fd);
}

static void pt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct place p;
  locate(node_of(ino), &p);
  /* Only files that are not directories are opened here, so the name is never empty; the kernel follows symlinks. */
  int fd = openat(p.dirfd, p.name, fi->flags | O_NOFOLLOW);
  int error = errno;
  unlocate(&p);
  if (fd == -1) {
    fuse_reply_err(req, error);
    return;
  }
  remember_open(node_of(ino), fd);
  fi->fh = (uint64_t)fd;
  if (fuse_reply_open(req, fi) != 0) {
    forget_open(node_of(ino), fd);
  }
}

static void pt_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi) {
  struct node *dir = node_of(parent);
  int fd = openat(dir->fd, name, (fi->flags | O_CREAT) & ~O_NOFOLLOW, mode);
  if (fd == -1) {
    fuse_reply_err(req, errno);
    return;
  }
  struct fuse_entry_param e = {0};
  struct stat st;
  int error = fstat(fd, &st) == -1 ? errno : take_entry(dir, name, &st, &e);
  if (error != 0) {
    close(fd);
    fuse_reply_err(req, error);
    return;
  }
  remember_open(node_of(e.ino), fd);
  fi->fh = (uint64_t)fd;
  if (fuse_reply_create(req, &e, fi) != 0) {
    forget_open(node_of(e.ino), fd);
    forget_node(node_of(e.ino), 1);
  }
}

static void pt_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info *fi) {
  (void)ino;
  char *buffer = malloc(size > 0 ? size : 1);
  if (buffer == NULL) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  ssize_t got = pread((int)fi->fh, buffer, size, offset);
  if (got == -1) {
    fuse_reply_err(req, errno);
  } else {
    fuse_reply_buf(req, buffer, (size_t)got);
  }
  free(buffer);
}

static void pt_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t offset,
                     struct fuse_file_info *fi) {
  (void)ino;
  ssize_t written = pwrite((int)fi->fh, data, size, offset);
  if (written == -1) {
    fuse_reply_err(req, errno);
  } else {
    fuse_reply_write(req, (size_t)written);
  }
}

static void pt_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  forget_open(node_of(ino), (int)fi->fh);
  fuse_reply_err(req, 0);
}

static void pt_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  (void)ino;
  reply_result(req, datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh));
}

static void pt_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                         struct fuse_file_info *fi) {
  (void)ino;
  reply_result(req, fallocate((int)fi->fh, mode, offset, length));
}

/* ---- directories ---- */

struct dir_handle {
  DIR *stream;
  struct dirent *pending; /* read but not yet sent: it did not fit in the last reply */
  off_t offset;
};

static void pt_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct dir_handle *d = calloc(1, sizeof *d);
  if (d == NULL) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  int fd = openat(node_of(ino)->fd, ".", O_RDONLY | O_DIRECTORY);
  if (fd == -1 || (d->stream = fdopendir(fd)) == NULL) {
    int error = errno;
    if (fd != -1) {
      close(fd);
    }
    free(d);
    fuse_reply_err(req, error);
    return;
  }
  fi->fh = (uint64_t)(uintptr_t)d;
  if (fuse_reply_open(req, fi) != 0) {
    closedir(d->stream);
    free(d);
  }
}

static bool is_dot_or_dotdot(const char *name) {
  return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

static void read_directory(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info *fi,
                           bool plus) {
  struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
  struct node *dir = node_of(ino);
  char *buffer = malloc(size);
  if (buffer == NULL) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  if (offset != d->offset) {
    seekdir(d->stream, offset);
    d->pending = NULL;
    d->offset = offset;
  }
  size_t used = 0;
  int error = 0;
  for (;;) {
    if (d->pending == NULL) {
      errno = 0;
      d->pending = readdir(d->stream);
      if (d->pending == NULL) {
        error = errno;
        break;
      }
    }
    const char *name = d->pending->d_name;
    off_t next = d->pending->d_off;
    size_t added;
    if (plus) {
      struct fuse_entry_param e = {.attr.st_ino = d->pending->d_ino, .attr.st_mode = d->pending->d_type << 12};
      /* "." and ".." go without a node id: the kernel links neither. */
      if (!is_dot_or_dotdot(name)) {
        int failed = lookup_entry(dir, name, &e);
        if (failed == ENOENT) {
          /* Removed since it was read: not listed. */
          d->pending = NULL;
          d->offset = next;
          continue;
        }
        if (failed != 0) {
          error = failed;
          break;
        }
      }
      added = fuse_add_direntry_plus(req, buffer + used, size - used, name, &e, next);
      if (added > size - used) {
        if (e.ino != 0) {
          forget_node(node_of(e.ino), 1);
        }
        break;
      }
    } else {
      struct stat st = {.st_ino = d->pending->d_ino, .st_mode = d->pending->d_type << 12};
      added = fuse_add_direntry(req, buffer + used, size - used, name, &st, next);
      if (added > size - used) {
        break;
      }
    }
    used += added;
    d->pending = NULL;
    d->offset = next;
  }
  /* An error after some entries would lose their lookups if answered as an error: the entries go, the error waits
   * for the next call. */
  if (error != 0 && used == 0) {
    fuse_reply_err(req, error);
  } else {
    fuse_reply_buf(req, buffer, used);
  }
  free(buffer);
}

static void pt_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info *fi) {
  read_directory(req, ino, size, offset, fi, false);
}

static void pt_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, struct fuse_file_info *fi) {
  read_directory(req, ino, size, offset, fi, true);
}

static void pt_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)ino;
  struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
  closedir(d->stream);
  free(d);
  fuse_reply_err(req, 0);
}

static void pt_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  (void)ino;
  int fd = dirfd(((struct dir_handle *)(uintptr_t)fi->fh)->stream);
  reply_result(req, datasync ? fdatasync(fd) : fsync(fd));
}

/* ---- extended attributes ---- */

/* A directory's /proc name is followed to it; a file's last component is not, so a symlink answers for itself. */
static ssize_t xattr_call(fuse_ino_t ino, int (*on_path)(const char *path, bool follow, void *arg), void *arg) {
  struct place p;
  char path[PROC_PATH_MAX];
  locate(node_of(ino), &p);
  proc_path(&p, path, sizeof path);
  int result = on_path(path, p.name[0] == '\0', arg);
  int error = errno;
  unlocate(&p);
  errno = error;
  return result;
}

struct xattr_args {
  const char *name;
  char *value;
  const char *new_value;
  size_t size;
  int flags;
  ssize_t length;
};

static int get_xattr(const char *path, bool follow, void *arg) {
  struct xattr_args *a = arg;
  a->length = (follow ? getxattr : lgetxattr)(path, a->name, a->value, a->size);
  return a->length == -1 ? -1 : 0;
}

static int list_xattr(const char *path, bool follow, void *arg) {
  struct xattr_args *a = arg;
  a->length = (follow ? listxattr : llistxattr)(path, a->value, a->size);
  return a->length == -1 ? -1 : 0;
}

static int set_xattr(const char *path, bool follow, void *arg) {
  struct xattr_args *a = arg;
  return (follow ? setxattr : lsetxattr)(path, a->name, a->new_value, a->size, a->flags);
}

static int remove_xattr(const char *path, bool follow, void *arg) {
  struct xattr_args *a = arg;
  return (follow ? removexattr : lremovexattr)(path, a->name);
}

/* A size of 0 asks for the length only; a value that does not fit is ERANGE, as from the syscall. */
static void read_xattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size,
                       int (*call)(const char *path, bool follow, void *arg)) {
  struct xattr_args a = {.name = name, .size = size, .value = size > 0 ? malloc(size) : NULL};
  if (size > 0 && a.value == NULL) {
    fuse_reply_err(req, ENOMEM);
  } else if (xattr_call(ino, call, &a) == -1) {
    fuse_reply_err(req, errno);
  } else if (size == 0) {
    fuse_reply_xattr(req, (size_t)a.length);
  } else {
    fuse_reply_buf(req, a.value, (size_t)a.length);
  }
  free(a.value);
}

static void pt_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) {
  read_xattr(req, ino, name, size, get_xattr);
}

static void pt_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) { read_xattr(req, ino, NULL, size, list_xattr); }

static void pt_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
                        int flags) {
  struct xattr_args a = {.name = name, .new_value = value, .size = size, .flags = flags};
  reply_result(req, (int)xattr_call(ino, set_xattr, &a));
}

static void pt_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name) {
  struct xattr_args a = {.name = name};
  reply_result(req, (int)xattr_call(ino, remove_xattr, &a));
}

static const struct fuse_lowlevel_ops operations = {
    .init = pt_init,
    .lookup = pt_lookup,
    .forget = pt_forget,
    .forget_multi = pt_forget_multi,
    .getattr = pt_getattr,
    .setattr = pt_setattr,
    .readlink = pt_readlink,
    .mknod = pt_mknod,
    .mkdir = pt_mkdir,
    .symlink = pt_symlink,
    .link = pt_link,
    .unlink = pt_unlink,
    .rmdir = pt_rmdir,
    .rename = pt_rename,
    .statfs = pt_statfs,
    .open = pt_open,
    .create = pt_create,
    .read = pt_read,
    .write = pt_write,
    .release = pt_release,
    .fsync = pt_fsync,
    .fallocate = pt_fallocate,
    .opendir = pt_opendir,
    .readdir = pt_readdir,
    .readdirplus = pt_readdirplus,
    .releasedir = pt_releasedir,
    .fsyncdir = pt_fsyncdir,
    .getxattr = pt_getxattr,
    .listxattr = pt_listxattr,
    .setxattr = pt_setxattr,
    .removexattr = pt_removexattr,
};

/* Every inode the kernel holds keeps a descriptor open here: 100,000 files in one directory need as many. Root may
 * go up to fs.nr_open; anyone else to the hard limit. */
static void raise_descriptor_limit(void) {
  rlim_t most = 1 << 20;
  FILE *file = fopen("/proc/sys/fs/nr_open", "r");
  if (file != NULL) {
    unsigned long long value;
    if (fscanf(file, "%llu", &value) == 1) {
      most = (rlim_t)value;
    }
    fclose(file);
  }
  struct rlimit limit = {.rlim_cur = most, .rlim_max = most};
  if (setrlimit(RLIMIT_NOFILE, &limit) == 0 || getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return;
  }
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

static int usage(void) {
  fprintf(stderr, "usage: passthrough-c [--single-thread] [--timeout=SECONDS] [-o OPTIONS] BACKING MOUNTPOINT\n");
  return 2;
}

int main(int argc, char *argv[]) {
  bool single_thread = false;
  const char *options = NULL, *backing = NULL, *mountpoint = NULL;
  fs.timeout = 1.0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--single-thread") == 0) {
      single_thread = true;
    } else if (strncmp(argv[i], "--timeout=", 10) == 0) {
      char *end;
      fs.timeout = strtod(argv[i] + 10, &end);
      if (*end != '\0' || fs.timeout < 0) {
        return usage();
      }
    } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
      options = argv[++i];
    } else if (backing == NULL) {
      backing = argv[i];
    } else if (mountpoint == NULL) {
      mountpoint = argv[i];
    } else {
      return usage();
    }
  }
  if (mountpoint == NULL) {
    return usage();
  }
  /* Modes arrive with the caller's umask already applied by the kernel. */
  umask(0);
  raise_descriptor_limit();

  struct stat st;
  fs.root.fd = open(backing, O_PATH | O_DIRECTORY);
  if (fs.root.fd == -1 || fstat(fs.root.fd, &st) == -1) {
    fprintf(stderr, "passthrough-c: %s: %s\n", backing, strerror(errno));
    return 1;
  }
  fs.bucket_count = 1024;
  fs.buckets = calloc(fs.bucket_count, sizeof *fs.buckets);
  if (fs.buckets == NULL) {
    return 1;
  }
  fs.root.dev = st.st_dev;
  fs.root.ino = st.st_ino;
  fs.root.type = S_IFDIR;
  fs.root.open_fd = -1;
  fs.root.lookups = 1;
  /* In the table, so that a lookup reaching the backing directory itself answers the root's id. */
  insert(&fs.root);

  struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
  if (fuse_opt_add_arg(&args, "passthrough-c") != 0 ||
      (options != NULL && (fuse_opt_add_arg(&args, "-o") != 0 || fuse_opt_add_arg(&args, options) != 0))) {
    return 1;
  }
  int status = 1;
  struct fuse_session *se = fuse_session_new(&args, &operations, sizeof operations, NULL);
  if (se == NULL) {
    goto out_args;
  }
  /* SIGTERM (the bench's stop), SIGINT and SIGHUP end the loop; the mount is then removed below. */
  if (fuse_set_signal_handlers(se) != 0) {
    goto out_session;
  }
  if (fuse_session_mount(se, mountpoint) != 0) {
    goto out_signals;
  }
  printf("mounted\n");
  fflush(stdout);
  /* No configuration: libfuse's defaults (at most 10 threads, 10 of them kept when idle, one /dev/fuse). */
  status = single_thread ? fuse_session_loop(se) : fuse_session_loop_mt(se, NULL);
  fuse_session_unmount(se);
out_signals:
  fuse_remove_signal_handlers(se);
out_session:
  fuse_session_destroy(se);
out_args:
  fuse_opt_free_args(&args);
  /* The loop answers the end of the mount (fusermount -u) and a signal with 0 or the signal's number. */
  return status == 0 || status == SIGTERM || status == SIGINT || status == SIGHUP ? 0 : 1;
}
