/* Ending Kafka transactions off the loop.
 *
 * send_offsets_to_transaction and commit_transaction wait for the
 * transaction coordinator (and commit flushes the producer first); after an
 * abort, rewinding reads the group's committed offsets. Each is a broker
 * round trip, so a worker's transactional producer has one thread of its own
 * that runs them while the loop goes on serving delivery reports (they are
 * events on the producer's main queue, served by the loop: in event mode
 * rd_kafka_flush only waits for the count of undelivered messages to reach
 * zero, it serves nothing itself). The loop learns that a job finished
 * through an eventfd. One job at a time; the source does not produce while
 * one runs.
 *
 * A fenced producer (another one with its transactional.id initialized
 * transactions: a survivor took this member for gone, e.g. after the
 * process was stopped past the session timeout) cannot end its transaction:
 * nothing of it was committed. The job then re-creates the producer with
 * the same transactional.id (init_transactions fences the fencer in turn),
 * once the loop has served the old one's last delivery reports, and rewinds
 * the consumer as after an abort; the loop swaps the new producer in
 * (kafka_sink.c) and destroys the old one here. Bounded: fenced a fourth
 * time within a minute (another process runs with this identity), or the
 * new producer cannot start, the worker fails as before. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "connectors/kafka_common.h"
#include "engine/log.h"
#include "engine/loop.h"

#define RECOVER_MAX       3     /* re-creations ... (the message says "4th") */
#define RECOVER_WINDOW_MS 60000 /* ... within this long; one more fails the worker */

struct weir_kafka_txn_runner {
    rd_kafka_t *rk;
    rd_kafka_conf_t *conf;  /* the producer's, to re-create it */
    rd_kafka_t *dispose;    /* a replaced producer, destroyed on the runner's thread */
    uint64_t recovered_ms[RECOVER_MAX]; /* the last re-creations, a ring */
    unsigned nrecovered;
    const char *what, *brokers; /* borrowed, for messages */
    struct weir_loop *loop;
    int efd;
    struct weir_event ev;
    int armed;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct weir_kafka_txn_end *job; /* submitted, not yet handed back */
    int job_done;
    int quit;
};

static uint64_t mono_ms(void)
{
    return weir_now_ns() / 1000000u;
}

static void describe(struct weir_kafka_txn_end *e, const char *what, const char *brokers,
                     const char *doing, rd_kafka_error_t *err)
{
    rd_kafka_resp_err_t code = rd_kafka_error_code(err);
    int fenced = code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED;
    snprintf(e->msg, sizeof e->msg, "%s: %s on Kafka brokers %s failed: %s%s", what, doing, brokers,
             rd_kafka_error_string(err),
             fenced ? " (another producer with this transactional.id started: two weir processes "
                      "of this group on one host need distinct \"transactional_id\"s; or another "
                      "member fenced this one as gone from the group: evicted, or restarted and "
                      "not back within a second)" : "");
}

int weir_kafka_fenced(rd_kafka_t *rk)
{
    char why[256];
    rd_kafka_resp_err_t code = rk ? rd_kafka_fatal_error(rk, why, sizeof why) : 0;
    return code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
           code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

/* Calls op until it succeeds, fails for good, or the time is up. */
#define RETRY(err, call, deadline)                                                                 \
    while (((err) = (call)) && rd_kafka_error_is_retriable(err) && mono_ms() < (deadline))       \
        rd_kafka_error_destroy(err)

rd_kafka_topic_partition_list_t *
weir_kafka_rewind_seeks(const rd_kafka_topic_partition_list_t *committed,
                        const rd_kafka_topic_partition_list_t *started, int start_latest)
{
    rd_kafka_topic_partition_list_t *seek = rd_kafka_topic_partition_list_new(committed->cnt + 1);
    for (int i = 0; i < committed->cnt; i++) {
        const rd_kafka_topic_partition_t *c = &committed->elems[i];
        const rd_kafka_topic_partition_t *s =
            started ? rd_kafka_topic_partition_list_find(started, c->topic, c->partition) : NULL;
        if (started && !s)
            continue;
        /* Without a committed offset: where this assignment's first record
         * was (with "start": "latest" the end is further on by then: the
         * records read since, their transaction aborted, were skipped) */
        rd_kafka_topic_partition_list_add(seek, c->topic, c->partition)->offset =
            c->offset >= 0        ? c->offset
            : s && s->offset >= 0 ? s->offset
            : start_latest        ? RD_KAFKA_OFFSET_END
                                  : RD_KAFKA_OFFSET_BEGINNING;
    }
    return seek;
}

/* Seeks every partition of seek. A partition's own error counts as much as
 * the call's: a pause or resume from the loop that takes a newer version of
 * the partition meanwhile makes its seek __OUTDATED, and the consumer would
 * fetch on past the aborted records, which the next commit then skipped.
 * Such a partition is sought again; one that still fails fails the end
 * (its offsets are not committed: the next owner reads them again). */
static void seek_all(struct weir_kafka_txn_end *e, const rd_kafka_topic_partition_list_t *first)
{
    rd_kafka_topic_partition_list_t *seek = rd_kafka_topic_partition_list_copy(first);
    for (int round = 0; seek->cnt; round++) {
        if (round == 3) { /* e->msg names the last partition that failed */
            e->rc = -EIO;
            break;
        }
        rd_kafka_error_t *se = rd_kafka_seek_partitions(e->consumer, seek, e->timeout_ms);
        if (se) {
            snprintf(e->msg, sizeof e->msg, "cannot rewind after an aborted transaction: %s",
                     rd_kafka_error_string(se));
            rd_kafka_error_destroy(se);
            e->rc = -EIO;
            break;
        }
        rd_kafka_topic_partition_list_t *again = rd_kafka_topic_partition_list_new(seek->cnt);
        for (int i = 0; i < seek->cnt; i++) {
            const rd_kafka_topic_partition_t *p = &seek->elems[i];
            /* one no longer assigned, or being revoked, is fetched from no
             * more: nothing to skip */
            if (!p->err || p->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
                p->err == RD_KAFKA_RESP_ERR__STATE || p->err == RD_KAFKA_RESP_ERR__PREV_IN_PROGRESS)
                continue;
            snprintf(e->msg, sizeof e->msg,
                     "cannot rewind %s [%" PRId32 "] after an aborted transaction: %s", p->topic,
                     p->partition, rd_kafka_err2str(p->err));
            rd_kafka_topic_partition_list_add(again, p->topic, p->partition)->offset = p->offset;
        }
        rd_kafka_topic_partition_list_destroy(seek);
        seek = again;
        if (seek->cnt) /* (this thread's own: the loop's pause or resume goes first) */
            poll(NULL, 0, 20);
    }
    rd_kafka_topic_partition_list_destroy(seek);
}

/* After an abort: the assigned partitions go back to their committed offsets
 * (or to the start rule when they have none); those whose fetch had not
 * started are left to start there (weir_kafka_rewind_seeks). */
static void rewind_consumer(struct weir_kafka_txn_end *e)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    rd_kafka_resp_err_t code = rd_kafka_assignment(e->consumer, &l);
    if (!code && l->cnt == 0) { /* none (the assignment was lost): nothing to rewind */
        e->rewound = l;
        return;
    }
    if (!code)
        code = rd_kafka_committed(e->consumer, l, e->timeout_ms);
    if (code) {
        snprintf(e->msg, sizeof e->msg, "cannot rewind to the committed offsets after an aborted "
                 "transaction: %s", rd_kafka_err2str(code));
        e->rc = -EIO;
        if (l)
            rd_kafka_topic_partition_list_destroy(l);
        return;
    }
    rd_kafka_topic_partition_list_t *seek = weir_kafka_rewind_seeks(l, e->started, e->start_latest);
    seek_all(e, seek);
    rd_kafka_topic_partition_list_destroy(seek);
    e->rewound = l;
}

/* Recovery failed: one line, the fenced error first, then why it stays so. */
static void recover_failed(struct weir_kafka_txn_runner *r, struct weir_kafka_txn_end *e,
                           const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void recover_failed(struct weir_kafka_txn_runner *r, struct weir_kafka_txn_end *e,
                           const char *fmt, ...)
{
    char why[256], tail[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tail, sizeof tail, fmt, ap);
    va_end(ap);
    rd_kafka_fatal_error(r->rk, why, sizeof why);
    snprintf(e->msg, sizeof e->msg, "%s: the producer on Kafka brokers %s was fenced (%.200s); %s",
             r->what, r->brokers, why, tail);
}

/* The producer is fenced (e->msg says how it showed, for when it is not
 * re-created: at close, or when the worker failed): the old one's last
 * delivery reports are served by the loop (what it still holds is purged
 * first), a new producer with the same transactional.id initializes
 * transactions, and the consumer is rewound as after an abort. Otherwise
 * rc stays -EIO and e->msg says why (recover_failed). */
static void recover(struct weir_kafka_txn_runner *r, struct weir_kafka_txn_end *e)
{
    char errstr[512];
    uint64_t now = mono_ms();
    e->rc = -EIO;
    if (!r->conf || !e->recover || e->abort)
        return;
    if (r->nrecovered >= RECOVER_MAX &&
        now - r->recovered_ms[r->nrecovered % RECOVER_MAX] < RECOVER_WINDOW_MS) {
        recover_failed(r, e, "fenced again, a 4th time within a minute: another process runs "
                       "with this transactional.id (two weir processes of one group on one host "
                       "need distinct \"transactional_id\"s), so the producer is not re-created");
        return;
    }
    uint64_t deadline = now + (uint64_t)e->timeout_ms;
    rd_kafka_purge(r->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    while (rd_kafka_outq_len(r->rk) > 0 && mono_ms() < deadline)
        usleep(10000); /* the loop serves the purged messages' reports */
    if (rd_kafka_outq_len(r->rk) > 0) {
        recover_failed(r, e, "not re-created: the old producer's delivery reports were not "
                       "served within the timeout");
        return;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(r->conf);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        recover_failed(r, e, "cannot re-create the producer: %s", errstr);
        return;
    }
    rd_kafka_error_t *err;
    deadline = mono_ms() + (uint64_t)e->timeout_ms;
    RETRY(err, rd_kafka_init_transactions(rk, e->timeout_ms), deadline);
    if (err) {
        recover_failed(r, e, "re-created the producer, but init_transactions failed: %s",
                       rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
        rd_kafka_destroy(rk);
        return;
    }
    r->recovered_ms[r->nrecovered++ % RECOVER_MAX] = now;
    e->replacement = rk;
    e->rc = -EAGAIN;
    if (e->consumer)
        rewind_consumer(e);
}

/* The blocking part: runs on the runner's thread (or at close on the
 * worker's own, once its loop has stopped). */
static void txn_end_run(struct weir_kafka_txn_runner *r, struct weir_kafka_txn_end *e)
{
    rd_kafka_error_t *err = NULL;
    uint64_t deadline = mono_ms() + (uint64_t)e->timeout_ms;
    int aborting = e->abort;
    e->rc = 0;
    e->msg[0] = 0;
    e->replacement = NULL;
    if (e->init) { /* a reload's new producer: fences an earlier one with its transactional.id */
        RETRY(err, rd_kafka_init_transactions(r->rk, e->timeout_ms), deadline);
        if (err) {
            describe(e, r->what, r->brokers, "init_transactions", err);
            rd_kafka_error_destroy(err);
            e->rc = -EIO;
        }
        return;
    }
    if (!e->abort && weir_kafka_fenced(r->rk)) { /* seen before the end: nothing to try */
        char why[256];
        rd_kafka_fatal_error(r->rk, why, sizeof why);
        snprintf(e->msg, sizeof e->msg, "%s: the producer on Kafka brokers %s was fenced: %s",
                 r->what, r->brokers, why);
        recover(r, e);
        return;
    }
    if (!aborting && !e->abort_rewind) {
        if (e->offsets && e->offsets->cnt > 0) {
            rd_kafka_consumer_group_metadata_t *md = rd_kafka_consumer_group_metadata(e->consumer);
            RETRY(err, rd_kafka_send_offsets_to_transaction(r->rk, e->offsets, md, e->timeout_ms),
                  deadline);
            rd_kafka_consumer_group_metadata_destroy(md);
            if (err)
                describe(e, r->what, r->brokers, "send_offsets_to_transaction", err);
        }
        if (!err) {
            RETRY(err, rd_kafka_commit_transaction(r->rk, e->timeout_ms), deadline);
            if (err)
                describe(e, r->what, r->brokers, "commit_transaction", err);
        }
        if (!err)
            return;
        int abortable = rd_kafka_error_txn_requires_abort(err);
        rd_kafka_error_destroy(err);
        if (!abortable) {
            e->rc = -EIO;
            if (weir_kafka_fenced(r->rk))
                recover(r, e);
            return;
        }
        weir_log(WEIR_LOG_ERROR, "%s; aborting the transaction\n", e->msg);
        aborting = 1;
    }
    deadline = mono_ms() + (uint64_t)e->timeout_ms;
    RETRY(err, rd_kafka_abort_transaction(r->rk, e->timeout_ms), deadline);
    if (err) {
        describe(e, r->what, r->brokers, "abort_transaction", err);
        rd_kafka_error_destroy(err);
        e->rc = -EIO;
        if (weir_kafka_fenced(r->rk))
            recover(r, e);
        return;
    }
    if (e->abort)
        return; /* asked for: the worker failed, nothing more to do */
    e->rc = -EAGAIN;
    if (e->consumer)
        rewind_consumer(e);
}

static void *runner_main(void *arg)
{
    struct weir_kafka_txn_runner *r = arg;
    pthread_setname_np(pthread_self(), "weir-ktxn");
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->quit && !r->dispose && (!r->job || r->job_done))
            pthread_cond_wait(&r->cv, &r->mu); /* also woken by run_here's waits: harmless */
        if (r->dispose) {
            rd_kafka_t *old = r->dispose;
            r->dispose = NULL;
            pthread_mutex_unlock(&r->mu);
            rd_kafka_destroy(old); /* fenced, nothing in flight: quick, but not on the loop */
            pthread_mutex_lock(&r->mu);
            continue;
        }
        if (r->quit)
            break;
        struct weir_kafka_txn_end *e = r->job;
        pthread_mutex_unlock(&r->mu);
        txn_end_run(r, e);
        pthread_mutex_lock(&r->mu);
        r->job_done = 1;
        pthread_cond_broadcast(&r->cv);
        uint64_t one = 1;
        if (write(r->efd, &one, sizeof one) < 0) {
            /* saturated: a wake-up is pending anyway */
        }
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void arm(struct weir_kafka_txn_runner *r)
{
    if (!r->armed && weir_loop_poll(r->loop, r->efd, POLLIN, &r->ev) == 0)
        r->armed = 1;
}

static void on_done(struct weir_event *ev, int res)
{
    struct weir_kafka_txn_runner *r =
        (struct weir_kafka_txn_runner *)((char *)ev - offsetof(struct weir_kafka_txn_runner, ev));
    uint64_t v;
    r->armed = 0;
    if (read(r->efd, &v, sizeof v) < 0) {
        /* nothing to read: spurious */
    }
    pthread_mutex_lock(&r->mu);
    struct weir_kafka_txn_end *e = r->job_done ? r->job : NULL;
    if (e) {
        r->job = NULL;
        r->job_done = 0;
    }
    pthread_mutex_unlock(&r->mu);
    if (e)
        e->done(e, e->ctx); /* may submit the next job */
    else if (!r->quit)
        arm(r);
}

int weir_kafka_txn_runner_new(struct weir_kafka_txn_runner **out, rd_kafka_t *rk,
                              rd_kafka_conf_t *conf, struct weir_loop *loop, const char *what,
                              const char *brokers, struct weir_error *err)
{
    struct weir_kafka_txn_runner *r = calloc(1, sizeof *r);
    if (!r) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        return weir_error_set(err, -ENOMEM, "out of memory");
    }
    r->rk = rk;
    r->conf = conf;
    r->loop = loop;
    r->what = what;
    r->brokers = brokers;
    r->ev.done = on_done;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->efd < 0 || pthread_create(&r->thread, NULL, runner_main, r) != 0) {
        weir_kafka_txn_runner_free(r);
        return weir_error_set(err, -EAGAIN, "%s: cannot start the transaction thread", what);
    }
    r->started = 1;
    *out = r;
    return 0;
}

int weir_kafka_txn_runner_submit(struct weir_kafka_txn_runner *r, struct weir_kafka_txn_end *e)
{
    pthread_mutex_lock(&r->mu);
    int busy = r->job != NULL;
    if (!busy) {
        r->job = e;
        r->job_done = 0;
        e->rewound = NULL;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    if (busy)
        return -EBUSY;
    arm(r);
    return 0;
}

void weir_kafka_txn_runner_swap(struct weir_kafka_txn_runner *r, rd_kafka_t *new_rk)
{
    pthread_mutex_lock(&r->mu);
    rd_kafka_t *older = r->dispose; /* not destroyed yet: it goes now, on this thread */
    r->dispose = r->rk;
    r->rk = new_rk;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (older)
        rd_kafka_destroy(older);
}

int weir_kafka_txn_runner_busy(struct weir_kafka_txn_runner *r)
{
    pthread_mutex_lock(&r->mu);
    int busy = r->job != NULL;
    pthread_mutex_unlock(&r->mu);
    return busy;
}

/* The loop has stopped with a job out, whose answer it will never deliver:
 * waits for it here, serving the delivery reports its commit or abort waits
 * for, and takes it back. The job's done() is the caller's to settle. */
struct weir_kafka_txn_end *weir_kafka_txn_runner_wait(struct weir_kafka_txn_runner *r,
                                                      void (*serve)(void *ctx, int timeout_ms),
                                                      void *ctx)
{
    pthread_mutex_lock(&r->mu);
    struct weir_kafka_txn_end *e = r->job;
    while (e && !r->job_done) {
        pthread_mutex_unlock(&r->mu);
        serve(ctx, 10);
        pthread_mutex_lock(&r->mu);
    }
    r->job = NULL;
    r->job_done = 0;
    pthread_mutex_unlock(&r->mu);
    return e;
}

/* The loop has stopped: the job still runs on the runner's thread (commits
 * and aborts in event mode wait for their delivery reports to be served),
 * while this thread serves them. */
void weir_kafka_txn_runner_run_here(struct weir_kafka_txn_runner *r, struct weir_kafka_txn_end *e,
                                    void (*serve)(void *ctx, int timeout_ms), void *ctx)
{
    weir_kafka_txn_runner_wait(r, serve, ctx); /* an earlier end that never came back */
    pthread_mutex_lock(&r->mu);
    r->job = e;
    r->job_done = 0;
    e->rewound = NULL;
    pthread_cond_broadcast(&r->cv);
    for (;;) {
        int done = r->job_done;
        pthread_mutex_unlock(&r->mu);
        if (done)
            break;
        serve(ctx, 10);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_lock(&r->mu);
    r->job = NULL;
    r->job_done = 0;
    pthread_mutex_unlock(&r->mu);
}

void weir_kafka_txn_runner_free(struct weir_kafka_txn_runner *r)
{
    if (!r)
        return;
    if (r->started) {
        pthread_mutex_lock(&r->mu);
        r->quit = 1;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->thread, NULL); /* a running job ends within its timeout */
    }
    if (r->dispose)
        rd_kafka_destroy(r->dispose);
    if (r->conf)
        rd_kafka_conf_destroy(r->conf);
    if (r->efd >= 0)
        close(r->efd);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
