#include "config.h"
#include <check.h>
#include "unit.h"
int
main(void)
{
	return 0;
}
