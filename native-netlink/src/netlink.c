/*
 * A NETLINK_ROUTE socket for Node.js, nothing more: open (optionally inside
 * another network namespace), exchange (send a buffer of netlink messages,
 * collect every reply up to the one that ends a given sequence number),
 * close. Message encoding and decoding live in TypeScript
 * (src/bgp/fib/netlink-codec.ts); this file never looks inside a message
 * beyond its nlmsghdr.
 *
 * Why each choice:
 * - The socket is created on a short-lived thread that setns()es into the
 *   target namespace, so the Node main thread never changes namespace. A
 *   socket stays in the namespace it was created in.
 * - exchange() runs on the libuv thread pool (napi async work), one at a
 *   time (a lock): rtnetlink
 *   processes a whole batch inside the sendmsg() call, which can take
 *   milliseconds for thousands of routes, and must not block the event loop.
 * - Receive and send buffers are enlarged with the FORCE options when we are
 *   allowed to (CAP_NET_ADMIN): every message of a batch is acknowledged
 *   during sendmsg(), and an ACK that does not fit is dropped by the kernel.
 *   open() reports the receive buffer size so the caller can size batches.
 * - NETLINK_CAP_ACK keeps error replies short (no copy of the request);
 *   NETLINK_EXT_ACK adds the kernel's error text.
 * - Every wait is bounded by the caller's timeout (poll()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <node_api.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

#define RECV_CHUNK (256 * 1024)

/*
 * One exchange at a time per process: a send and the receive of all its
 * replies happen under this lock, so replies never go to the wrong waiter
 * and several exchanges can be queued from JavaScript at once (the next
 * one starts as soon as the previous one is done, without a round trip
 * through the event loop).
 */
static pthread_mutex_t exchange_lock = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------------------ */
/* helpers                                                                   */

static const char *errno_code(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case EMSGSIZE: return "EMSGSIZE";
    case ENOBUFS: return "ENOBUFS";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECANCELED: return "ECANCELED";
    case ESRCH: return "ESRCH";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    default: return "EIO";
  }
}

static napi_value make_error(napi_env env, int err, const char *what) {
  char text[256];
  snprintf(text, sizeof text, "%s: %s", what, strerror(err));
  napi_value msg, code, error, errno_value;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, errno_code(err), NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &error);
  napi_create_int32(env, err, &errno_value);
  napi_set_named_property(env, error, "errno", errno_value);
  return error;
}

static void throw_errno(napi_env env, int err, const char *what) {
  napi_throw(env, make_error(env, err, what));
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------ */
/* open                                                                      */

struct open_job {
  const char *netns; /* NULL: this process's namespace */
  int fd;
  int err;
  const char *what;
};

static void *open_in_thread(void *arg) {
  struct open_job *job = arg;
  job->fd = -1;
  if (job->netns != NULL) {
    int nsfd = open(job->netns, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) {
      job->err = errno;
      job->what = "open network namespace";
      return NULL;
    }
    /* This thread is ours alone and ends right after; no need to switch back. */
    if (setns(nsfd, CLONE_NEWNET) != 0) {
      job->err = errno;
      job->what = "setns";
      close(nsfd);
      return NULL;
    }
    close(nsfd);
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    job->err = errno;
    job->what = "socket(AF_NETLINK)";
    return NULL;
  }
  job->fd = fd;
  return NULL;
}

static void set_buffer(int fd, int force_opt, int opt, int bytes) {
  if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) != 0) {
    setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
  }
}

/* open(netnsPath: string | null, bufferBytes: number) -> { fd, portId, rcvbuf, sndbuf } */
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);

  char path[4096];
  int have_path = 0;
  if (argc >= 1) {
    napi_valuetype t;
    napi_typeof(env, argv[0], &t);
    if (t == napi_string) {
      size_t len = 0;
      if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len >= sizeof path - 1) {
        napi_throw_type_error(env, NULL, "netns path too long");
        return NULL;
      }
      have_path = 1;
    } else if (t != napi_null && t != napi_undefined) {
      napi_throw_type_error(env, NULL, "netns must be a path string or null");
      return NULL;
    }
  }
  int32_t bytes = 8 * 1024 * 1024;
  if (argc >= 2) {
    napi_valuetype t;
    napi_typeof(env, argv[1], &t);
    if (t == napi_number) napi_get_value_int32(env, argv[1], &bytes);
  }

  struct open_job job = { have_path ? path : NULL, -1, 0, NULL };
  pthread_t thread;
  int rc = pthread_create(&thread, NULL, open_in_thread, &job);
  if (rc != 0) {
    throw_errno(env, rc, "pthread_create");
    return NULL;
  }
  pthread_join(thread, NULL);
  if (job.fd < 0) {
    throw_errno(env, job.err, job.what);
    return NULL;
  }
  int fd = job.fd;

  set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, bytes);
  set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, bytes);
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);

  struct sockaddr_nl local;
  memset(&local, 0, sizeof local);
  local.nl_family = AF_NETLINK;
  if (bind(fd, (struct sockaddr *)&local, sizeof local) != 0) {
    int err = errno;
    close(fd);
    throw_errno(env, err, "bind(AF_NETLINK)");
    return NULL;
  }
  socklen_t alen = sizeof local;
  getsockname(fd, (struct sockaddr *)&local, &alen);
  int rcvbuf = 0, sndbuf = 0;
  socklen_t olen = sizeof rcvbuf;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &olen);
  olen = sizeof sndbuf;
  getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &olen);

  napi_value result, v;
  napi_create_object(env, &result);
  napi_create_int32(env, fd, &v);
  napi_set_named_property(env, result, "fd", v);
  napi_create_uint32(env, local.nl_pid, &v);
  napi_set_named_property(env, result, "portId", v);
  napi_create_int32(env, rcvbuf, &v);
  napi_set_named_property(env, result, "rcvbuf", v);
  napi_create_int32(env, sndbuf, &v);
  napi_set_named_property(env, result, "sndbuf", v);
  return result;
}

/* ------------------------------------------------------------------------ */
/* exchange                                                                  */

struct exchange_job {
  napi_async_work work;
  napi_deferred deferred;
  int fd;
  uint8_t *request;
  size_t request_len;
  uint32_t last_seq;
  int32_t timeout_ms;
  /* results */
  uint8_t *reply;
  size_t reply_len;
  size_t reply_cap;
  int err;
  const char *what;
};

static int append(struct exchange_job *job, const uint8_t *data, size_t len) {
  if (job->reply_len + len > job->reply_cap) {
    size_t cap = job->reply_cap == 0 ? 65536 : job->reply_cap;
    while (cap < job->reply_len + len) cap *= 2;
    uint8_t *grown = realloc(job->reply, cap);
    if (grown == NULL) return ENOMEM;
    job->reply = grown;
    job->reply_cap = cap;
  }
  memcpy(job->reply + job->reply_len, data, len);
  job->reply_len += len;
  return 0;
}

/* True when this datagram holds the reply that ends `seq`: its ACK/error, or the end of its dump. */
static int ends_sequence(const uint8_t *data, size_t len, uint32_t seq) {
  size_t off = 0;
  while (off + sizeof(struct nlmsghdr) <= len) {
    const struct nlmsghdr *h = (const struct nlmsghdr *)(data + off);
    if (h->nlmsg_len < sizeof(struct nlmsghdr) || off + h->nlmsg_len > len) return 0;
    if (h->nlmsg_seq == seq && (h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_DONE)) return 1;
    off += NLMSG_ALIGN(h->nlmsg_len);
  }
  return 0;
}

static void exchange_locked(struct exchange_job *job);

static void exchange_execute(napi_env env, void *data) {
  (void)env;
  struct exchange_job *job = data;
  pthread_mutex_lock(&exchange_lock);
  exchange_locked(job);
  pthread_mutex_unlock(&exchange_lock);
}

static void exchange_locked(struct exchange_job *job) {
  struct sockaddr_nl kernel;
  memset(&kernel, 0, sizeof kernel);
  kernel.nl_family = AF_NETLINK;

  ssize_t sent;
  do {
    sent = sendto(job->fd, job->request, job->request_len, 0, (struct sockaddr *)&kernel, sizeof kernel);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    job->err = errno;
    job->what = "sendto(netlink)";
    return;
  }

  uint8_t *chunk = malloc(RECV_CHUNK);
  if (chunk == NULL) {
    job->err = ENOMEM;
    job->what = "malloc";
    return;
  }
  int64_t deadline = now_ms() + job->timeout_ms;
  for (;;) {
    int64_t left = deadline - now_ms();
    if (left <= 0) {
      job->err = ETIMEDOUT;
      job->what = "waiting for netlink replies";
      break;
    }
    struct pollfd p = { job->fd, POLLIN, 0 };
    int ready = poll(&p, 1, (int)left);
    if (ready < 0) {
      if (errno == EINTR) continue;
      job->err = errno;
      job->what = "poll(netlink)";
      break;
    }
    if (ready == 0) continue; /* the deadline check above ends the loop */
    struct sockaddr_nl from;
    socklen_t flen = sizeof from;
    ssize_t got = recvfrom(job->fd, chunk, RECV_CHUNK, MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      /* ENOBUFS: the kernel dropped replies; the caller must re-read state. */
      job->err = errno;
      job->what = "recvfrom(netlink)";
      break;
    }
    if (from.nl_pid != 0) continue; /* not from the kernel */
    int e = append(job, chunk, (size_t)got);
    if (e != 0) {
      job->err = e;
      job->what = "collecting netlink replies";
      break;
    }
    if (ends_sequence(chunk, (size_t)got, job->last_seq)) break;
  }
  free(chunk);
}

static void exchange_complete(napi_env env, napi_status status, void *data) {
  struct exchange_job *job = data;
  if (status != napi_ok && job->err == 0) {
    job->err = ECANCELED;
    job->what = "netlink exchange cancelled";
  }
  if (job->err != 0) {
    napi_value error = make_error(env, job->err, job->what);
    /* Whatever arrived before the failure, for diagnosis and partial matching. */
    napi_value partial;
    void *copy;
    if (napi_create_buffer_copy(env, job->reply_len, job->reply_len ? job->reply : (const uint8_t *)"", &copy, &partial) == napi_ok) {
      napi_set_named_property(env, error, "partial", partial);
    }
    napi_reject_deferred(env, job->deferred, error);
  } else {
    napi_value buffer;
    void *copy;
    napi_create_buffer_copy(env, job->reply_len, job->reply_len ? job->reply : (const uint8_t *)"", &copy, &buffer);
    napi_resolve_deferred(env, job->deferred, buffer);
  }
  napi_delete_async_work(env, job->work);
  free(job->request);
  free(job->reply);
  free(job);
}

/* exchange(fd, request: Buffer, lastSeq: number, timeoutMs: number) -> Promise<Buffer> */
static napi_value Exchange(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "exchange(fd, request, lastSeq, timeoutMs)");
    return NULL;
  }
  int32_t fd;
  uint32_t last_seq;
  int32_t timeout_ms;
  void *request;
  size_t request_len;
  bool is_buffer = false;
  napi_is_buffer(env, argv[1], &is_buffer);
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, argv[1], &request, &request_len) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &last_seq) != napi_ok ||
      napi_get_value_int32(env, argv[3], &timeout_ms) != napi_ok || request_len == 0) {
    napi_throw_type_error(env, NULL, "exchange(fd: number, request: non-empty Buffer, lastSeq: number, timeoutMs: number)");
    return NULL;
  }

  struct exchange_job *job = calloc(1, sizeof *job);
  if (job == NULL) {
    throw_errno(env, ENOMEM, "calloc");
    return NULL;
  }
  job->fd = fd;
  job->last_seq = last_seq;
  job->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
  /* A private copy: the JS buffer may be reused or collected while the work runs. */
  job->request = malloc(request_len);
  if (job->request == NULL) {
    free(job);
    throw_errno(env, ENOMEM, "malloc");
    return NULL;
  }
  memcpy(job->request, request, request_len);
  job->request_len = request_len;

  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "netlink-exchange", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, exchange_execute, exchange_complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

/* ------------------------------------------------------------------------ */
/* close                                                                     */

static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "close(fd)");
    return NULL;
  }
  if (close(fd) != 0) throw_errno(env, errno, "close(netlink)");
  return NULL;
}

/* ------------------------------------------------------------------------ */

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "open", NULL, Open, NULL, NULL, NULL, napi_enumerable, NULL },
    { "exchange", NULL, Exchange, NULL, NULL, NULL, napi_enumerable, NULL },
    { "close", NULL, Close, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
