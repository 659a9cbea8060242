/* What every unit test program shares. */
#ifndef CRVS_UNIT_H
#define CRVS_UNIT_H

#include <stdlib.h>

#include <check.h>

/* Runs the suite; the exit status make check reads. */
static inline int
unit_run(Suite *s)
{
	SRunner	*sr = srunner_create(s);
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
