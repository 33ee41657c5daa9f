/* Exactly-once takeovers: fencing the producer of a group member that left.
 *
 * A weir process killed with a transaction open leaves it open: read_committed
 * readers of every partition it wrote (the survivors' outputs there too), and
 * committed-offset fetches of its input partitions, wait until the broker
 * aborts it, transaction.timeout.ms after it began plus up to the broker's
 * abort scan interval (10 s each: 15.6-19.3 s measured). init_transactions
 * with the dead producer's transactional.id aborts it at once (and bumps its
 * epoch, so the dead one could never commit).
 *
 * Who left: under exactly-once a consumer's client.id is "weir-eos-" + its
 * worker's transactional.id (make_consumer), so the group's member list
 * (DescribeGroups) says which transactional ids are live. After every
 * assignment this worker's fencer thread lists the group; an id that was a
 * member at the previous listing and is not now, nor at a second listing a
 * second later, left the group (its session expired, or it left cleanly and
 * did not come straight back) and is fenced: a temporary producer with that
 * id runs init_transactions and is destroyed. A live member, one that merely
 * lost partitions in a rebalance, is still listed and is never fenced. Ids of
 * members that set their own client.id are never seen, so never fenced (their
 * transactions time out as before), and a worker that set its own fences no
 * one (a listing without itself proves nothing). Failures only warn: the
 * broker's timeout still aborts the transaction.
 *
 * The blocking calls (the listing, init_transactions) run on the fencer's own
 * thread: the rebalance callback, on the loop, only wakes it. */
#include <pthread.h>
#include <time.h>

#include "connectors/kafka_source.h"
#include "engine/log.h"

#define FENCE_CLIENT_PREFIX "weir-eos-"
#define FENCE_CONFIRM_MS    1000 /* a second listing this much later confirms an absence */

struct ks_fence {
    rd_kafka_t *rk; /* the source's consumer: lists the group */
    char group[256];
    char brokers[512];
    char own_tid[300];
    const json_t *props; /* the source's "kafka" properties (security ones apply) */
    int timeout_ms;
    struct weir_kafka_client cl; /* the temporary producers' opaque */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int requested, quit;
    char **members; /* transactional ids at the last listing */
    size_t nmembers;
    int listed; /* members holds a listing */
};

void ks_fence_client_id(const char *tid, char *out, size_t size)
{
    snprintf(out, size, FENCE_CLIENT_PREFIX "%s", tid);
}

/* The transactional ids of the group's members now; -1 when the group could
 * not be described (nothing is concluded from that). */
static int list_members(struct ks_fence *f, char ***out, size_t *n)
{
    const struct rd_kafka_group_list *gl = NULL;
    rd_kafka_resp_err_t e = rd_kafka_list_groups(f->rk, f->group, &gl, f->timeout_ms);
    if (e || !gl)
        return -1;
    int rc = -1;
    for (int g = 0; g < gl->group_cnt; g++) {
        const struct rd_kafka_group_info *gi = &gl->groups[g];
        if (strcmp(gi->group, f->group) != 0 || gi->err)
            continue;
        char **v = calloc((size_t)gi->member_cnt + 1, sizeof *v);
        size_t k = 0, plen = strlen(FENCE_CLIENT_PREFIX);
        for (int m = 0; v && m < gi->member_cnt; m++) {
            const char *cid = gi->members[m].client_id;
            if (cid && strncmp(cid, FENCE_CLIENT_PREFIX, plen) == 0 && (v[k] = strdup(cid + plen)))
                k++;
        }
        if (v) {
            *out = v;
            *n = k;
            rc = 0;
        }
        break;
    }
    rd_kafka_group_list_destroy(gl);
    return rc;
}

static void free_members(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static int member_of(char *const *v, size_t n, const char *tid)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], tid) == 0)
            return 1;
    return 0;
}

static void fence_one(struct ks_fence *f, const char *tid)
{
    char errstr[512];
    struct weir_error err;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    weir_kafka_conf_common(conf, &f->cl);
    if (weir_kafka_conf_set(conf, "bootstrap.servers", f->brokers, f->cl.what, &err) < 0 ||
        weir_kafka_conf_set(conf, "transactional.id", tid, f->cl.what, &err) < 0 ||
        weir_kafka_props_apply(conf, f->props, 1, f->cl.what, &err) < 0) {
        rd_kafka_conf_destroy(conf);
        weir_log(WEIR_LOG_WARN, "%s: cannot fence transactional id %s: %s\n", f->cl.what, tid,
                 err.msg);
        return;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        weir_log(WEIR_LOG_WARN, "%s: cannot fence transactional id %s: %s\n", f->cl.what, tid,
                 errstr);
        return;
    }
    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, f->timeout_ms);
    if (e) {
        weir_log(WEIR_LOG_WARN,
                 "%s: cannot fence transactional id %s of a member that left (its "
                 "open transaction, if any, ends at the transaction timeout): %s\n",
                 f->cl.what, tid, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else {
        weir_log(WEIR_LOG_INFO,
                 "%s: fenced transactional id %s of a member that left: its open "
                 "transaction aborted\n",
                 f->cl.what, tid);
    }
    rd_kafka_destroy(rk);
}

/* Waits ms unless told to quit; 1 if told. */
static int fence_pause(struct ks_fence *f, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&f->mu);
    while (!f->quit && pthread_cond_timedwait(&f->cv, &f->mu, &until) == 0)
        ;
    int quit = f->quit;
    pthread_mutex_unlock(&f->mu);
    return quit;
}

/* The group's members now, or -1 when the listing proves nothing: this
 * worker is assigned, so a member; a listing without it (its client.id set
 * through "kafka", or the group in transition) says nothing of the others. */
static int list_with_self(struct ks_fence *f, char ***now, size_t *n)
{
    if (list_members(f, now, n) < 0)
        return -1;
    if (!member_of(*now, *n, f->own_tid)) {
        free_members(*now, *n);
        return -1;
    }
    return 0;
}

/* One listing: fences who left since the last one. An absence is confirmed
 * by a second listing a moment later, because a member that leaves cleanly
 * and comes straight back (a quick restart) is away for about that long and
 * must not be fenced: its producer may already run again under that id. */
static void fence_round(struct ks_fence *f)
{
    char **now = NULL, **again = NULL;
    size_t n = 0, m = 0;
    if (list_with_self(f, &now, &n) < 0)
        return; /* the next assignment lists again */
    int gone = 0;
    for (size_t i = 0; f->listed && i < f->nmembers; i++)
        gone += !member_of(now, n, f->members[i]) && strcmp(f->members[i], f->own_tid) != 0;
    if (gone && !fence_pause(f, FENCE_CONFIRM_MS) && list_with_self(f, &again, &m) == 0) {
        for (size_t i = 0; i < f->nmembers; i++) {
            const char *tid = f->members[i];
            if (!member_of(now, n, tid) && !member_of(again, m, tid) &&
                strcmp(tid, f->own_tid) != 0)
                fence_one(f, tid);
        }
        free_members(now, n); /* the newer listing is the next one's baseline */
        now = again;
        n = m;
    }
    free_members(f->members, f->nmembers);
    f->members = now;
    f->nmembers = n;
    f->listed = 1;
}

static void *fence_main(void *arg)
{
    struct ks_fence *f = arg;
    pthread_setname_np(pthread_self(), "weir-kfence");
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->quit && !f->requested)
            pthread_cond_wait(&f->cv, &f->mu);
        if (f->quit)
            break;
        f->requested = 0;
        pthread_mutex_unlock(&f->mu);
        fence_round(f);
        pthread_mutex_lock(&f->mu);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

int ks_fence_start(struct kafka_source *ks, const char *own_tid)
{
    struct ks_fence *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->rk = ks->rk;
    snprintf(f->group, sizeof f->group, "%s", ks->group);
    snprintf(f->brokers, sizeof f->brokers, "%s", ks->cl.brokers);
    snprintf(f->own_tid, sizeof f->own_tid, "%s", own_tid);
    f->props = ks->c->kafka;
    f->timeout_ms = (int)(ks->c->connect_timeout_ns / 1000000u);
    snprintf(f->cl.what, sizeof f->cl.what, "%s fencer", ks->cl.what);
    snprintf(f->cl.brokers, sizeof f->cl.brokers, "%s", ks->cl.brokers);
    f->cl.started = 1;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    if (pthread_create(&f->thread, NULL, fence_main, f) != 0) {
        pthread_cond_destroy(&f->cv);
        pthread_mutex_destroy(&f->mu);
        free(f);
        return -EAGAIN;
    }
    ks->fence = f;
    return 0;
}

/* On the loop (the rebalance callback): never waits. */
void ks_fence_check(struct kafka_source *ks)
{
    struct ks_fence *f = ks->fence;
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->requested = 1;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* Before the consumer is destroyed: a round in progress finishes first. */
void ks_fence_stop(struct kafka_source *ks)
{
    struct ks_fence *f = ks->fence;
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->quit = 1;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    free_members(f->members, f->nmembers);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
    ks->fence = NULL;
}
