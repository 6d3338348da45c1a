/* error.h - the one error convention of testcell-shim (see ERRORS.md). */
#ifndef TC_ERROR_H
#define TC_ERROR_H

/*
 * A failure: errno, the protocol step (`op`, one of the names in PROTOCOL.md) and a message
 * naming the call and the path. Fixed size and flat, so the child can send it to the parent
 * through the sync pipe in one atomic write (sizeof < PIPE_BUF).
 */
typedef struct tc_error {
  int errnum;
  char op[16];
  char msg[1000];
} tc_error_t;

/**
 * tc_make_error() - record a failure and return -1.
 * @err: where to store it
 * @errnum: the errno to report (0 for a non-system error)
 * @fmt: printf format naming the call and the path in backticks, e.g. "mount overlay on `%s`"
 *
 * The message gets ": <strerror>" appended when @errnum is not 0; errno is set to @errnum.
 */
int tc_make_error (tc_error_t *err, int errnum, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* tc_error_wrap() - prefix context ("while preparing rootfs: ...") on the way up; returns -1. */
int tc_error_wrap (tc_error_t *err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

/* tc_error_set_op() - set the protocol step of @err unless a deeper function already did. */
void tc_error_set_op (tc_error_t *err, const char *op);

/* tc_diagnose() - append a hint saying what to do next for well-known kernel refusals. */
void tc_diagnose (tc_error_t *err);

#endif
