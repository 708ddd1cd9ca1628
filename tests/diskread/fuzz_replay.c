/*
 * fuzz_replay.c - runs a libFuzzer target's inputs without libFuzzer, so that
 * a normal build (gcc, no -fsanitize=fuzzer) replays the committed seed
 * corpus of each target in CTest: every file named, or every file in every
 * directory named, is passed to LLVMFuzzerTestOneInput once. A crash or an
 * abort() of the target's own checks fails the test; under the ASan build
 * the sanitizers watch too.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Seeds are small by design (text, partition sectors); a cap keeps a stray
 * large file from turning the smoke test into a load test. */
#define REPLAY_MAX (1u << 20)

static int replay_file(const char *path)
{
	static uint8_t buf[REPLAY_MAX];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		fprintf(stderr, "%s: cannot open\n", path);
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	return 0;
}

int main(int argc, char **argv)
{
	int i, count = 0;

	for (i = 1; i < argc; i++) {
		struct stat st;
		struct dirent **names;
		int n, k;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: cannot stat\n", argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (replay_file(argv[i]) < 0)
				return 1;
			count++;
			continue;
		}
		/* Sorted, so a failure names the same input every run. */
		n = scandir(argv[i], &names, NULL, alphasort);
		if (n < 0) {
			fprintf(stderr, "%s: cannot list\n", argv[i]);
			return 1;
		}
		for (k = 0; k < n; k++) {
			char path[4096];

			if (names[k]->d_name[0] != '.') {
				snprintf(path, sizeof(path), "%s/%s", argv[i], names[k]->d_name);
				if (replay_file(path) < 0)
					return 1;
				count++;
			}
			free(names[k]);
		}
		free(names);
	}
	printf("replayed %d inputs\n", count);
	/* No input at all means the corpus went missing: that is a failure. */
	return count ? 0 : 1;
}
