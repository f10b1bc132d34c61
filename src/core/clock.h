/*
 * clock.h — the one monotonic clock every deadline is measured on (conn,
 * sock, diag's elapsed times, relay), and the default network timeout.
 * On its own so that the byte stream and the diagnostics need not include
 * each other for it.
 */
#ifndef SX_CLOCK_H
#define SX_CLOCK_H

#include <stdint.h>

/*
 * Seconds any one network wait may take when the account sets no timeout
 * (the `timeout` key); also what a whole reply and a connect attempt get.
 */
#define CLOCK_DEFAULT_TIMEOUT_S 60

/* Milliseconds on CLOCK_MONOTONIC: for deadlines and durations, not dates. */
int64_t clock_now_ms(void);

#endif
