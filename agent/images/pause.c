/* Skiff's pause process: holds a pod's namespaces, reaps orphans, exits on TERM/INT. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void finish(int sig) { (void)sig; _exit(0); }

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {}
}

int main(void) {
  struct sigaction term = {0}, chld = {0};
  term.sa_handler = finish;
  sigaction(SIGTERM, &term, NULL);
  sigaction(SIGINT, &term, NULL);
  chld.sa_handler = reap;
  chld.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  sigaction(SIGCHLD, &chld, NULL);
  for (;;) pause();
  return 0;
}
