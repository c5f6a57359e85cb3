/* New TCP connections per second with nothing else on them, for bench/proxy.ts: CONCURRENCY
 * non-blocking connects in flight; each one that completes its handshake is timed (connect() to
 * writable: the SYN's trip through the nat hook and back) and closed with a reset (SO_LINGER 0,
 * so no TIME_WAIT uses up the source ports), and the next starts. Prints one line of JSON.
 * Usage: connrate IP PORT SECONDS CONCURRENCY */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONC 1024
#define MAX_SAMPLES (1 << 23)

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

static struct sockaddr_in dst;
static int ep;
static double started[65536];
static long errors;

/* Starts one connect; returns 0, or -1 when the socket could not even be made. */
static int start(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0 || fd >= 65536) {
    if (fd >= 0) close(fd);
    return -1;
  }
  struct linger l = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  started[fd] = now();
  if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
    errors++;
    close(fd);
    return 0;
  }
  struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: connrate IP PORT SECONDS CONCURRENCY\n");
    return 2;
  }
  memset(&dst, 0, sizeof dst);
  dst.sin_family = AF_INET;
  dst.sin_port = htons(atoi(argv[2]));
  if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) {
    fprintf(stderr, "connrate: not an IPv4 address: %s\n", argv[1]);
    return 2;
  }
  double seconds = atof(argv[3]);
  int conc = atoi(argv[4]);
  if (seconds <= 0 || conc < 1 || conc > MAX_CONC) {
    fprintf(stderr, "connrate: SECONDS > 0 and 1 <= CONCURRENCY <= %d\n", MAX_CONC);
    return 2;
  }
  float *lat = malloc(sizeof(float) * MAX_SAMPLES);
  ep = epoll_create1(0);
  if (!lat || ep < 0) return 1;
  long done = 0;
  double t0 = now(), end = t0 + seconds;
  for (int i = 0; i < conc; i++)
    if (start() < 0) return 1;
  struct epoll_event evs[MAX_CONC];
  double t = t0;
  while (t < end) {
    int n = epoll_wait(ep, evs, MAX_CONC, 100);
    t = now();
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd, err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err) errors++;
      else if (done < MAX_SAMPLES) lat[done++] = (float)((t - started[fd]) * 1000);
      else done++;
      epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
      close(fd);
      if (t < end && start() < 0) return 1;
    }
  }
  double elapsed = now() - t0;
  long kept = done < MAX_SAMPLES ? done : MAX_SAMPLES;
  qsort(lat, kept, sizeof(float), cmp);
  printf("{\"connections\":%ld,\"errors\":%ld,\"perSec\":%.1f,\"p50\":%.4f,\"p99\":%.4f}\n", done, errors,
         done / elapsed, kept ? lat[kept / 2] : 0.0, kept ? lat[(long)(kept * 0.99)] : 0.0);
  return 0;
}
