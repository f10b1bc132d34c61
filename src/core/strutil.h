/* strutil.h — small string checks and the one way to drop a secret. */
#ifndef SX_STRUTIL_H
#define SX_STRUTIL_H

#include <stddef.h>

/* Does s hold a control byte (below 0x20, or DEL)?  Tab counts as one. */
int str_has_ctl(const char *s);

/* Wipe a string that held a secret and free it (NULL is fine). */
void str_free_secret(char *s);

#endif
