/* strutil.c — see strutil.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/strutil.h"

int
str_has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

void
str_free_secret(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}
