/* A keepalived stand-in for vipdeck's tests and fleet benchmark (never
 * built into vipdeck): it answers `--version` as keepalived 2.2.7 does,
 * `--signum=JSON` with 36 and `--signum=DATA` with 10, and otherwise runs
 * as `keepalived DUMP SOURCE DELAY_FILE PID_FILE`: it writes its pid to
 * PID_FILE and, on signal 36 (or 10), copies SOURCE to DUMP after the
 * milliseconds DELAY_FILE holds (50 when it holds nothing; none at all
 * when it holds a negative number), as a loaded keepalived does. Built
 * with `cc -O2 -o DIR/keepalived standin.c`: the binary's name and the
 * user that runs it are what vipdeck checks before it signals anything.
 * `--version` waits the milliseconds a file beside the binary,
 * `keepalived.version-delay`, holds (none when there is no such file): a
 * keepalived that is slow to say what it is. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t asked;

static void on_signal(int sig) {
    (void)sig;
    asked = 1;
}

static long delay_ms(const char *file) {
    char buf[32] = {0};
    FILE *f = fopen(file, "r");
    if (!f) return 50;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return n ? strtol(buf, NULL, 10) : 50;
}

static void copy(const char *from, const char *to) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%d", to, (int)getpid());
    FILE *in = fopen(from, "rb");
    if (!in) return;
    FILE *out = fopen(tmp, "wb");
    if (!out) {
        fclose(in);
        return;
    }
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
    rename(tmp, to);
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 32);
        if (n > 0) {
            self[n] = 0;
            strcat(self, ".version-delay");
            if (access(self, R_OK) == 0) {
                long ms = delay_ms(self);
                if (ms > 0) usleep((useconds_t)ms * 1000);
            }
        }
        fputs("Keepalived v2.2.7 (01/16,2022)\n", stderr);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--signum=JSON") == 0) {
        puts("36");
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--signum=DATA") == 0) {
        puts("10");
        return 0;
    }
    if (argc != 5) {
        fputs("usage: keepalived DUMP SOURCE DELAY_FILE PID_FILE\n", stderr);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(36, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, 36);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &orig);
    FILE *p = fopen(argv[4], "w");
    if (!p) return 1;
    fprintf(p, "%d\n", (int)getpid());
    fclose(p);
    for (;;) {
        while (!asked) sigsuspend(&orig);
        asked = 0;
        long ms = delay_ms(argv[3]);
        if (ms < 0) continue;
        struct timespec t = {ms / 1000, (ms % 1000) * 1000000L}, rem;
        while (nanosleep(&t, &rem) == -1 && errno == EINTR) t = rem;
        copy(argv[2], argv[1]);
    }
}
