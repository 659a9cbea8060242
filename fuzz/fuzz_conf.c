/*
 * Fuzz target: the configuration. The input is a main file and a drop-in,
 * split at the first NUL byte; both are written (mode 0600) into a private
 * directory as crvs-tokend.conf and clients.d/fuzz.conf, and conf_load
 * reads them as the daemon does at start and on reload: libinih, the key
 * checks, the drop-in scan and conf_finish's validation. The checks are
 * what the daemon relies on: an error names the file, a loaded
 * configuration has every client complete.
 */
#include "config.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "fuzz.h"
#include "log.h"
#include "util.h"

static char	*fuzz_conf_dir, *fuzz_conf_main, *fuzz_conf_dropdir;
static char	*fuzz_conf_dropin;

static void
fuzz_conf_cleanup(void)
{
	unlink(fuzz_conf_dropin);
	rmdir(fuzz_conf_dropdir);
	unlink(fuzz_conf_main);
	rmdir(fuzz_conf_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char	*tmp = getenv("TMPDIR");

	log_init(LOG_CRIT);
	/* A client_secret_credential is checked by name only. */
	unsetenv("CREDENTIALS_DIRECTORY");
	conf_set_check_only(1);
	fuzz_conf_dir = xasprintf("%s/crvs-fuzz-conf.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(fuzz_conf_dir) == NULL)
		abort();
	fuzz_conf_main = xasprintf("%s/crvs-tokend.conf", fuzz_conf_dir);
	fuzz_conf_dropdir = xasprintf("%s/clients.d", fuzz_conf_dir);
	fuzz_conf_dropin = xasprintf("%s/fuzz.conf", fuzz_conf_dropdir);
	if (mkdir(fuzz_conf_dropdir, 0700) == -1)
		abort();
	atexit(fuzz_conf_cleanup);
	return 0;
}

static void
fuzz_conf_write(const char *path, const uint8_t *data, size_t size)
{
	int	fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 || (size > 0 && write(fd, data, size) != (ssize_t)size))
		abort();
	close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t		*nul;
	struct conf		*conf;
	struct conf_client	*c;
	char			*cause = NULL;
	size_t			 i, n;

	if (fuzz_conf_main == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	nul = memchr(data, '\0', size);
	n = nul != NULL ? (size_t)(nul - data) : size;
	fuzz_conf_write(fuzz_conf_main, data, n);
	if (nul != NULL)
		fuzz_conf_write(fuzz_conf_dropin, nul + 1, size - n - 1);
	else
		unlink(fuzz_conf_dropin);

	conf = conf_load(fuzz_conf_main, &cause);
	if (conf == NULL) {
		/* Every error names the file it is about. */
		if (cause == NULL || strncmp(cause, fuzz_conf_dir,
		    strlen(fuzz_conf_dir)) != 0)
			abort();
		free(cause);
		return 0;
	}
	if (cause != NULL || conf->socket_path == NULL)
		abort();
	for (i = 0; i < conf->nclients; i++) {
		c = conf->clients[i];
		if (!conf_valid_name(c->name) || c->token_url == NULL ||
		    c->client_id == NULL || c->secret == NULL ||
		    c->min_valid >= c->fallback_lifetime ||
		    conf_find_client(conf, c->name) != c ||
		    conf_check_url(c->token_url, &cause) == -1)
			abort();
	}
	conf_free(conf);
	return 0;
}
