/*
 * signals.c - SIGINT/SIGTERM remove this run's temporary output and exit
 * 130/143 (128 + the signal), as shells report a process killed by it.
 *
 * The image module announces each temporary file and folder it makes
 * (img_set_temp_hooks), the CLI its own; they sit in a fixed table the
 * handler walks. The handler uses only async-signal-safe calls: removal is
 * openat/getdents64/unlinkat over a static buffer, never malloc or stdio.
 */
#include "cli.h"
#include "image.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SLOTS 64
#define PATH_CAP 4096

static char paths[SLOTS][PATH_CAP];
static volatile sig_atomic_t in_use[SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void cli_temp_track(const char *path)
{
	size_t i, n = strlen(path);

	if (n >= PATH_CAP)
		return; /* left to the next run's cleaner */
	pthread_mutex_lock(&lock);
	for (i = 0; i < SLOTS; i++)
		if (!in_use[i]) {
			memcpy(paths[i], path, n + 1);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			in_use[i] = 1;
			break;
		}
	pthread_mutex_unlock(&lock);
}

void cli_temp_untrack(const char *path)
{
	size_t i;

	pthread_mutex_lock(&lock);
	for (i = 0; i < SLOTS; i++)
		if (in_use[i] && !strcmp(paths[i], path)) {
			in_use[i] = 0;
			break;
		}
	pthread_mutex_unlock(&lock);
}

struct linux_dirent64 {
	unsigned long long d_ino;
	long long d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* rm -rf of name under dirfd, async-signal-safe; depth-bounded (our
 * temporary trees are a layout: three levels). */
static void remove_at(int dirfd, const char *name, int depth)
{
	char buf[4096];
	int fd;
	long n;

	if (unlinkat(dirfd, name, 0) == 0 || depth > 8)
		return;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	/* Passes until one finds nothing but "." and "..": entries shift as
	 * they are removed, and one that cannot be removed must not loop. */
	for (int pass = 0; pass < 64; pass++) {
		int found = 0;

		lseek(fd, 0, SEEK_SET);
		while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
			long off = 0;

			while (off < n) {
				struct linux_dirent64 *de = (struct linux_dirent64 *)(buf + off);

				off += de->d_reclen;
				if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
					remove_at(fd, de->d_name, depth + 1);
					found = 1;
				}
			}
		}
		if (!found)
			break;
	}
	close(fd);
	unlinkat(dirfd, name, AT_REMOVEDIR);
}

static void on_signal(int sig)
{
	static const char msg[] = "vm2oci: interrupted; temporary output removed\n";
	static volatile sig_atomic_t busy;
	size_t i;

	/* One thread cleans up; a second signal, or the same one reaching
	 * another thread, waits for it to exit the process. */
	if (__atomic_exchange_n(&busy, 1, __ATOMIC_SEQ_CST))
		for (;;)
			pause();
	for (i = 0; i < SLOTS; i++)
		if (in_use[i])
			remove_at(AT_FDCWD, paths[i], 0);
	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to do */
	}
	_exit(128 + sig);
}

void cli_signals_init(void)
{
	static const struct img_temp_hooks hooks = {
		.track = cli_temp_track,
		.untrack = cli_temp_untrack,
	};
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigfillset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	img_set_temp_hooks(&hooks);
}
