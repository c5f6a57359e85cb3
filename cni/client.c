/* The installed `skiff` CNI plugin when the agent runs: a tiny static client that hands the
 * CNI environment and stdin to the agent over a unix socket (the agent runs the plugin code
 * in-process, saving a Node start per call) and prints the answer. If the agent is not
 * listening, it runs the standalone plugin instead. SOCKET and FALLBACK are set at build time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char *VARS[] = {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH", NULL};

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    p += w; n -= (size_t)w;
  }
  return 0;
}

int main(int argc, char **argv) {
  (void)argc;
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr = {0};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, SOCKET, sizeof(addr.sun_path) - 1);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
    execv(FALLBACK, argv);
    fprintf(stdout, "{\"cniVersion\":\"1.1.0\",\"code\":11,\"msg\":\"skiff agent not reachable and fallback failed\"}\n");
    return 1;
  }
  char buf[65536];
  for (int i = 0; VARS[i]; i++) {
    const char *v = getenv(VARS[i]);
    int n = snprintf(buf, sizeof(buf), "%s=%s", VARS[i], v ? v : "");
    if (n < 0 || (size_t)n >= sizeof(buf) || write_all(fd, buf, (size_t)n + 1) < 0) return 1;
  }
  if (write_all(fd, "", 1) < 0) return 1;
  ssize_t r;
  while ((r = read(0, buf, sizeof(buf))) > 0) if (write_all(fd, buf, (size_t)r) < 0) return 1;
  shutdown(fd, SHUT_WR);
  char code = '1';
  int first = 1;
  while ((r = read(fd, buf, sizeof(buf))) > 0) {
    char *p = buf;
    if (first) { code = buf[0]; p++; r--; first = 0; }
    if (r > 0 && write_all(1, p, (size_t)r) < 0) return 1;
  }
  return code == '0' ? 0 : 1;
}
