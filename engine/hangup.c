/* SIGHUP listeners (hangup.h): a small list under one mutex. notify holds
 * the mutex while it calls them, so unlisten waits for a call in progress. */
#include "engine/hangup.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct listener {
    weir_hangup_fn fn;
    void *ctx;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct listener *list;
static size_t n, cap;

int weir_hangup_listen(weir_hangup_fn fn, void *ctx)
{
    int rc = 0;
    pthread_mutex_lock(&mu);
    size_t i = 0;
    while (i < n && !(list[i].fn == fn && list[i].ctx == ctx))
        i++;
    if (i == n && n == cap) {
        size_t ncap = cap ? cap * 2 : 8;
        struct listener *l = realloc(list, ncap * sizeof *l);
        if (l) {
            list = l;
            cap = ncap;
        } else {
            rc = -ENOMEM;
        }
    }
    if (i == n && rc == 0)
        list[n++] = (struct listener){fn, ctx};
    pthread_mutex_unlock(&mu);
    return rc;
}

void weir_hangup_unlisten(weir_hangup_fn fn, void *ctx)
{
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < n; i++)
        if (list[i].fn == fn && list[i].ctx == ctx) {
            list[i] = list[--n];
            break;
        }
    if (n == 0) { /* the last one gone: nothing left for a leak checker to see */
        free(list);
        list = NULL;
        cap = 0;
    }
    pthread_mutex_unlock(&mu);
}

void weir_hangup_notify(void)
{
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < n; i++)
        list[i].fn(list[i].ctx);
    pthread_mutex_unlock(&mu);
}
