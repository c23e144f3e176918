/* benchrun.c - runs a command and reports its wall time, CPU time and peak RSS, whole process.
 *
 * Usage: benchrun OUT -- COMMAND [ARG...]
 *
 * Runs COMMAND with its standard output in the file OUT (its standard error stays), waits for it
 * with wait4 and prints one line on standard output:
 *   wall_ms=N user_ms=N sys_ms=N maxrss_kib=N status=N
 * status is the exit status, or 128 + the signal that ended it. ru_maxrss is the largest resident
 * set the child reached (Linux: KiB). Exits 0 when the command could be run (whatever its status),
 * 1 otherwise: the caller decides what a status means. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long ms_of(struct timeval tv) { return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000; }

int main(int argc, char **argv) {
  if (argc < 4 || strcmp(argv[2], "--") != 0) {
    fputs("usage: benchrun OUT -- COMMAND [ARG...]\n", stderr);
    return 2;
  }
  int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    fprintf(stderr, "benchrun: %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "benchrun: fork: %s\n", strerror(errno));
    return 1;
  }
  if (pid == 0) {
    if (dup2(fd, STDOUT_FILENO) < 0) _exit(127);
    execvp(argv[3], argv + 3);
    fprintf(stderr, "benchrun: %s: %s\n", argv[3], strerror(errno));
    _exit(127);
  }
  close(fd);
  int status;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "benchrun: wait4: %s\n", strerror(errno));
      return 1;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  long long wall = (long long)(t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  printf("wall_ms=%lld user_ms=%lld sys_ms=%lld maxrss_kib=%ld status=%d\n", wall, ms_of(ru.ru_utime), ms_of(ru.ru_stime),
         ru.ru_maxrss, code);
  return 0;
}
