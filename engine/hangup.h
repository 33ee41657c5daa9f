/* SIGHUP listeners: parts of a running pipeline that reload on their own
 * (the model operator's directory of versions) are told when SIGHUP comes,
 * before and whatever the pipeline file's own reload (engine/reload.h)
 * makes of it. A listener must return at once: it only wakes its own
 * thread, never loads anything on the caller's. */
#ifndef WEIR_HANGUP_H
#define WEIR_HANGUP_H

typedef void (*weir_hangup_fn)(void *ctx);

/* Adds (fn, ctx) once (a second add of the same pair does nothing).
 * Returns 0 or -ENOMEM. Any thread. */
int weir_hangup_listen(weir_hangup_fn fn, void *ctx);
/* Removes (fn, ctx); once it returns, fn is not running and never runs
 * again for ctx. */
void weir_hangup_unlisten(weir_hangup_fn fn, void *ctx);
/* Calls every listener (the thread that took SIGHUP). */
void weir_hangup_notify(void);

#endif
