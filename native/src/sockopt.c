/*
 * Socket options Node cannot set: TCP-MD5 signatures (RFC 2385) and the
 * Generalized TTL Security Mechanism (RFC 5082), for BGP sessions.
 *
 * Both must be in place before the first segment leaves (a SYN without the
 * MD5 option is refused by a peer that expects one), so outgoing sessions are
 * connected here and handed to Node as a connected fd. Each connect runs on
 * a thread of its own, not libuv's pool: a peer that does not answer holds
 * its thread for the whole timeout, and four such peers would otherwise
 * stall every fs and dns call in the process.
 * For listening sockets the kernel copies a peer's key to the accepted socket.
 *
 * Linux only. Only node_api.h is used, so one build serves every Node with
 * N-API version 8.
 */
#define _GNU_SOURCE
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_MINTTL
#define IP_MINTTL 21
#endif
#ifndef IPV6_MINHOPCOUNT
#define IPV6_MINHOPCOUNT 73
#endif

#define ADDR_MAX 64
#define KEY_MAX TCP_MD5SIG_MAXKEYLEN

/* ---------------------------------------------------------------- errors */

static const char *errno_code(int e) {
  switch (e) {
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EADDRINUSE: return "EADDRINUSE";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EINVAL: return "EINVAL";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EBADF: return "EBADF";
    case ENOTSOCK: return "ENOTSOCK";
    case ENOENT: return "ENOENT";
    case EMFILE: return "EMFILE";
    default: return "EUNKNOWN";
  }
}

/* An Error whose message is "<what>: <strerror>", with .code and .errno. */
static napi_value make_error(napi_env env, const char *what, int err) {
  char text[256];
  snprintf(text, sizeof text, "%s: %s", what, strerror(err));
  napi_value msg, code, num, error;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, errno_code(err), NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &error);
  napi_create_int32(env, -err, &num);
  napi_set_named_property(env, error, "errno", num);
  return error;
}

static napi_value throw_errno(napi_env env, const char *what, int err) {
  napi_throw(env, make_error(env, what, err));
  return NULL;
}

/* ------------------------------------------------------------- addresses */

/* Parses an IPv4 or IPv6 literal into `ss`; returns the family or 0. */
static int parse_addr(const char *text, int port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof *v4;
    return AF_INET;
  }
  if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof *v6;
    return AF_INET6;
  }
  return 0;
}

/* An IPv4 peer on an AF_INET6 (dual-stack) socket is keyed as ::ffff:a.b.c.d. */
static void map_v4(struct sockaddr_storage *ss, socklen_t *len) {
  struct sockaddr_in v4 = *(struct sockaddr_in *)ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
  memset(ss, 0, sizeof *ss);
  v6->sin6_family = AF_INET6;
  v6->sin6_port = v4.sin_port;
  v6->sin6_addr.s6_addr[10] = 0xff;
  v6->sin6_addr.s6_addr[11] = 0xff;
  memcpy(&v6->sin6_addr.s6_addr[12], &v4.sin_addr, 4);
  *len = sizeof *v6;
}

static int socket_family(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -1;
  return ss.ss_family;
}

/* --------------------------------------------------------------- options */

/* Installs (keylen > 0) or removes (keylen 0) the MD5 key for `peer`. */
static int set_md5(int fd, const struct sockaddr_storage *peer, const char *key, size_t keylen, const char **what) {
  struct tcp_md5sig sig;
  memset(&sig, 0, sizeof sig);
  memcpy(&sig.tcpm_addr, peer, sizeof sig.tcpm_addr);
  sig.tcpm_keylen = (unsigned short)keylen;
  if (keylen > 0) memcpy(sig.tcpm_key, key, keylen);
  *what = "setsockopt(TCP_MD5SIG)";
  if (setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &sig, sizeof sig) != 0) {
    /* Removing a key that was never set is done already. */
    if (keylen == 0 && errno == ENOENT) return 0;
    return errno;
  }
  return 0;
}

/*
 * GTSM: send with TTL 255 and drop anything that arrives with less than
 * 256 - hops (RFC 5082 section 3). hops 0 restores the defaults. On an
 * AF_INET6 socket the IPv4 options also apply, to IPv4-mapped peers, so they
 * are set best-effort.
 */
static int set_ttl_security(int fd, int family, int hops, const char **what) {
  int ttl = hops > 0 ? 255 : -1;
  int min = hops > 0 ? 256 - hops : 0;
  if (family == AF_INET6) {
    *what = "setsockopt(IPV6_UNICAST_HOPS)";
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof ttl) != 0) return errno;
    *what = "setsockopt(IPV6_MINHOPCOUNT)";
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_MINHOPCOUNT, &min, sizeof min) != 0) return errno;
    (void)setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
    (void)setsockopt(fd, IPPROTO_IP, IP_MINTTL, &min, sizeof min);
    return 0;
  }
  *what = "setsockopt(IP_TTL)";
  if (setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl) != 0) return errno;
  *what = "setsockopt(IP_MINTTL)";
  if (setsockopt(fd, IPPROTO_IP, IP_MINTTL, &min, sizeof min) != 0) return errno;
  return 0;
}

/* ------------------------------------------------------------ JS helpers */

static int get_string(napi_env env, napi_value v, char *buf, size_t size, size_t *len) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_null || t == napi_undefined) {
    buf[0] = 0;
    *len = 0;
    return 0;
  }
  if (t != napi_string) return -1;
  size_t need;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &need) != napi_ok || need >= size) return -2;
  napi_get_value_string_utf8(env, v, buf, size, len);
  return 1;
}

static int get_int(napi_env env, napi_value v, int *out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_number) return -1;
  return napi_get_value_int32(env, v, out) == napi_ok ? 0 : -1;
}

/* --------------------------------------------------------------- connect */

typedef struct {
  char host[ADDR_MAX];
  char local[ADDR_MAX];
  char key[KEY_MAX + 1];
  size_t keylen;
  int port;
  int hops;
  int timeout_ms;
  /* Results. */
  int fd;
  int err;
  const char *what;
  napi_deferred deferred;
  napi_threadsafe_function done;
} connect_req;

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void connect_execute(connect_req *r) {
  struct sockaddr_storage peer, local;
  socklen_t peer_len, local_len;
  r->fd = -1;
  int family = parse_addr(r->host, r->port, &peer, &peer_len);
  if (family == 0) {
    r->err = EINVAL;
    r->what = "peer address is not an IP address";
    return;
  }
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    r->err = errno;
    r->what = "socket";
    return;
  }
  int err = 0;
  if (r->local[0] != 0) {
    if (parse_addr(r->local, 0, &local, &local_len) != family) {
      err = EINVAL;
      r->what = "local address is not of the peer's address family";
      goto fail;
    }
    if (bind(fd, (struct sockaddr *)&local, local_len) != 0) {
      err = errno;
      r->what = "bind";
      goto fail;
    }
  }
  if (r->keylen > 0 && (err = set_md5(fd, &peer, r->key, r->keylen, &r->what)) != 0) goto fail;
  if (r->hops > 0 && (err = set_ttl_security(fd, family, r->hops, &r->what)) != 0) goto fail;

  r->what = "connect";
  if (connect(fd, (struct sockaddr *)&peer, peer_len) != 0) {
    if (errno != EINPROGRESS) {
      err = errno;
      goto fail;
    }
    long deadline = now_ms() + r->timeout_ms;
    for (;;) {
      long left = deadline - now_ms();
      if (left <= 0) {
        err = ETIMEDOUT;
        goto fail;
      }
      struct pollfd p = {.fd = fd, .events = POLLOUT};
      int n = poll(&p, 1, (int)left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        err = errno;
        goto fail;
      }
      if (n == 0) continue;
      socklen_t len = sizeof err;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err != 0) goto fail;
      break;
    }
  }
  r->fd = fd;
  r->err = 0;
  return;
fail:
  close(fd);
  r->err = err;
}

/* On the JS thread: settle the promise. env is NULL when Node is shutting down. */
static void connect_complete(napi_env env, napi_value js_cb, void *context, void *data) {
  connect_req *r = data;
  if (env == NULL) {
    if (r->fd >= 0) close(r->fd);
  } else if (r->err == 0) {
    napi_value fd;
    napi_create_int32(env, r->fd, &fd);
    napi_resolve_deferred(env, r->deferred, fd);
  } else {
    char what[160];
    snprintf(what, sizeof what, "%s %s:%d", r->what != NULL ? r->what : "connect", r->host, r->port);
    napi_reject_deferred(env, r->deferred, make_error(env, what, r->err));
  }
  memset(r->key, 0, sizeof r->key);
  free(r);
}

static void *connect_thread(void *data) {
  connect_req *r = data;
  napi_threadsafe_function done = r->done;
  connect_execute(r);
  napi_call_threadsafe_function(done, r, napi_tsfn_blocking);
  napi_release_threadsafe_function(done, napi_tsfn_release);
  return NULL;
}

/* connect(host, port, localAddress|null, password|null, ttlHops, timeoutMs) -> Promise<fd> */
static napi_value js_connect(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 6) {
    napi_throw_type_error(env, NULL, "connect(host, port, localAddress, password, ttlHops, timeoutMs)");
    return NULL;
  }
  connect_req *r = calloc(1, sizeof *r);
  if (r == NULL) return throw_errno(env, "connect", ENOMEM);
  r->fd = -1;
  size_t n;
  if (get_string(env, argv[0], r->host, sizeof r->host, &n) != 1 || get_int(env, argv[1], &r->port) != 0 ||
      get_string(env, argv[2], r->local, sizeof r->local, &n) < 0 || get_string(env, argv[3], r->key, sizeof r->key, &r->keylen) < 0 ||
      get_int(env, argv[4], &r->hops) != 0 || get_int(env, argv[5], &r->timeout_ms) != 0 || r->port < 0 || r->port > 65535 ||
      r->hops < 0 || r->hops > 255) {
    free(r);
    napi_throw_type_error(env, NULL, "connect: bad arguments (password at most 80 bytes, hops 0-255)");
    return NULL;
  }
  napi_value promise, name;
  napi_create_promise(env, &r->deferred, &promise);
  napi_create_string_utf8(env, "bgpConnect", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, connect_complete, &r->done) != napi_ok) {
    r->err = EAGAIN;
    r->what = "napi_create_threadsafe_function";
    connect_complete(env, NULL, NULL, r);
    return promise;
  }
  pthread_attr_t attr;
  pthread_t thread;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  int err = pthread_create(&thread, &attr, connect_thread, r);
  pthread_attr_destroy(&attr);
  if (err != 0) {
    napi_release_threadsafe_function(r->done, napi_tsfn_abort);
    r->fd = -1;
    r->err = err;
    r->what = "pthread_create";
    connect_complete(env, NULL, NULL, r);
  }
  return promise;
}

/* ------------------------------------------------------ existing sockets */

/* setMd5(fd, peerAddress, password|null): install or remove a peer's key. */
static napi_value js_set_md5(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int fd;
  char addr[ADDR_MAX], key[KEY_MAX + 1];
  size_t n, keylen;
  if (argc < 3 || get_int(env, argv[0], &fd) != 0 || get_string(env, argv[1], addr, sizeof addr, &n) != 1 ||
      get_string(env, argv[2], key, sizeof key, &keylen) < 0) {
    napi_throw_type_error(env, NULL, "setMd5(fd, peerAddress, password|null): bad arguments (password at most 80 bytes)");
    return NULL;
  }
  struct sockaddr_storage peer;
  socklen_t len;
  int family = parse_addr(addr, 0, &peer, &len);
  if (family == 0) return throw_errno(env, "TCP-MD5: peer address is not an IP address", EINVAL);
  int sfam = socket_family(fd);
  if (sfam < 0) return throw_errno(env, "TCP-MD5: getsockname", errno);
  if (sfam == AF_INET6 && family == AF_INET) map_v4(&peer, &len);
  else if (sfam != family) return throw_errno(env, "TCP-MD5: peer address family differs from the socket's", EAFNOSUPPORT);
  const char *what = "";
  int err = set_md5(fd, &peer, key, keylen, &what);
  memset(key, 0, sizeof key);
  if (err != 0) return throw_errno(env, what, err);
  return NULL;
}

/* setTtlSecurity(fd, hops): GTSM on (hops 1-254) or off (0). */
static napi_value js_set_ttl_security(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int fd, hops;
  if (argc < 2 || get_int(env, argv[0], &fd) != 0 || get_int(env, argv[1], &hops) != 0 || hops < 0 || hops > 255) {
    napi_throw_type_error(env, NULL, "setTtlSecurity(fd, hops): bad arguments (hops 0-255)");
    return NULL;
  }
  int family = socket_family(fd);
  if (family < 0) return throw_errno(env, "GTSM: getsockname", errno);
  const char *what = "";
  int err = set_ttl_security(fd, family, hops, &what);
  if (err != 0) return throw_errno(env, what, err);
  return NULL;
}

/* getMinTtl(fd) -> [ttl, minTtl] of the socket's own family (for tests and status). */
static napi_value js_get_ttl(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int fd;
  if (argc < 1 || get_int(env, argv[0], &fd) != 0) {
    napi_throw_type_error(env, NULL, "getTtl(fd): bad arguments");
    return NULL;
  }
  int family = socket_family(fd);
  if (family < 0) return throw_errno(env, "getsockname", errno);
  int ttl = 0, min = 0;
  socklen_t len = sizeof ttl;
  int lvl = family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
  if (getsockopt(fd, lvl, family == AF_INET6 ? IPV6_UNICAST_HOPS : IP_TTL, &ttl, &len) != 0) return throw_errno(env, "getsockopt(TTL)", errno);
  len = sizeof min;
  if (getsockopt(fd, lvl, family == AF_INET6 ? IPV6_MINHOPCOUNT : IP_MINTTL, &min, &len) != 0) return throw_errno(env, "getsockopt(MINTTL)", errno);
  napi_value out, a, b;
  napi_create_array_with_length(env, 2, &out);
  napi_create_int32(env, ttl, &a);
  napi_create_int32(env, min, &b);
  napi_set_element(env, out, 0, a);
  napi_set_element(env, out, 1, b);
  return out;
}

/* ------------------------------------------------------------------ init */

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"connect", NULL, js_connect, NULL, NULL, NULL, napi_default, NULL},
      {"setMd5", NULL, js_set_md5, NULL, NULL, NULL, napi_default, NULL},
      {"setTtlSecurity", NULL, js_set_ttl_security, NULL, NULL, NULL, napi_default, NULL},
      {"getTtl", NULL, js_get_ttl, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
