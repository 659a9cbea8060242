/*
 * Replays kept inputs through a fuzz target without libFuzzer, built with
 * the normal compiler, so that make check runs every fixed finding
 * (fuzz/regress/TARGET) and the seeds (fuzz/corpus/TARGET) on each change.
 * With arguments, replays those files or directories instead. A target
 * that finds a broken promise aborts, which fails the test.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#ifndef FUZZ_TARGET
#error "FUZZ_TARGET names the target"
#endif

static int	replay_count;

static int
replay_file(const char *path)
{
	FILE		*f;
	uint8_t		*buf = NULL;
	size_t		 len = 0, cap = 0, n;

	if ((f = fopen(path, "rbe")) == NULL) {
		perror(path);
		return -1;
	}
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			if ((buf = realloc(buf, cap)) == NULL)
				abort();
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	/* An exact-size copy, as libFuzzer hands it: overreads show. */
	LLVMFuzzerTestOneInput(len ? buf : (const uint8_t *)"", len);
	free(buf);
	replay_count++;
	return 0;
}

static int
replay_path(const char *path, int missing_ok)
{
	struct dirent	**list;
	struct stat	  st;
	char		 *sub;
	int		  n, i, rc = 0;

	if (stat(path, &st) == -1) {
		if (missing_ok)
			return 0;
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path);
	if ((n = scandir(path, &list, NULL, alphasort)) == -1) {
		perror(path);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (list[i]->d_name[0] != '.') {
			if ((sub = malloc(strlen(path) +
			    strlen(list[i]->d_name) + 2)) == NULL)
				abort();
			sprintf(sub, "%s/%s", path, list[i]->d_name);
			if (replay_file(sub) == -1)
				rc = -1;
			free(sub);
		}
		free(list[i]);
	}
	free(list);
	return rc;
}

int
main(int argc, char **argv)
{
	const char	*top = getenv("top_srcdir");
	const char	*kinds[] = { "corpus", "regress" };
	char		 path[4096];
	int		 i, rc = 0;

	LLVMFuzzerInitialize(&argc, &argv);
	if (argc > 1) {
		for (i = 1; i < argc; i++)
			if (replay_path(argv[i], 0) == -1)
				rc = 1;
	} else {
		for (i = 0; i < 2; i++) {
			snprintf(path, sizeof path, "%s/fuzz/%s/%s",
			    top != NULL ? top : ".", kinds[i], FUZZ_TARGET);
			if (replay_path(path, i == 1) == -1)
				rc = 1;
		}
	}
	if (replay_count == 0) {
		fprintf(stderr, "replay %s: no input found\n", FUZZ_TARGET);
		return 1;
	}
	printf("replay %s: %d inputs\n", FUZZ_TARGET, replay_count);
	return rc;
}
