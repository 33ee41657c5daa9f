/* Tests for the account text the model and iforest explanations share
 * (operators/scorer_explain.h): the inputs whose share has the account's
 * sign, largest first, at most explain_k, each with its value ("missing"
 * for NaN), the note and the range written upstream (only when both ends
 * are numbers); the rest summed; "none <verb> it" when no share has the
 * sign; every input listed leaves no tail; a note that is a range; a text cut short at the buffer
 * stays terminated inside it, ends with "..." and at a whole UTF-8 character. */
#include <math.h>
#include <string.h>

#include "operators/scorer_explain.h"
#include "tests/check.h"

static const char *const names[] = {"a", "b", "c", "d"};
static const int in_col[] = {0, 1, 2, 3};

static struct scorer_explain explain(int64_t k)
{
    struct scorer_explain e = {.on = 1, .k = k};
    for (size_t q = 0; q < 4; q++)
        e.lo_col[q] = e.hi_col[q] = -1;
    e.lo_col[1] = 4; /* b's range: row[4]..row[5] */
    e.hi_col[1] = 5;
    e.lo_col[2] = 6; /* c's: one end NaN */
    e.hi_col[2] = 7;
    return e;
}

static void account(const struct scorer_explain *e, const float *row, const double *share, int sign,
                    const float *note, char *buf, size_t size)
{
    struct scorer_account a = {.e = e,
                               .name = names,
                               .in_col = in_col,
                               .n = 4,
                               .row = row,
                               .share = share,
                               .sign = sign,
                               .note = note ? "mean" : NULL,
                               .note_value = note,
                               .verb = "raised"};
    size_t len = (size_t)snprintf(buf, size, "head");
    size_t got = scorer_explain_account(&a, buf, size, len);
    CHECK(got == strlen(buf) && got < size);
}

int main(void)
{
    char buf[512];
    float row[8] = {1, NAN, 3, 4, 0.5f, 2.5f, 1, NAN};
    double share[4] = {0.25, 2, -1, 0.5};
    float mean[4] = {0, 1, 2, 3};
    struct scorer_explain e = explain(2);
    account(&e, row, share, 1, NULL, buf, sizeof buf);
    CHECK_STR(buf, "head: b=missing +2 expected 0.5..2.5, d=4 +0.5; the other 2 -0.75");
    account(&e, row, share, -1, mean, buf, sizeof buf);
    CHECK_STR(buf, "head: c=3 -1 mean 2; the other 3 +2.75");
    double none[4] = {0, -1, -2, 0};
    account(&e, row, none, 1, NULL, buf, sizeof buf);
    CHECK_STR(buf, "head: none raised it; the other 4 -3");
    e = explain(16);
    account(&e, row, share, 1, NULL, buf, sizeof buf);
    CHECK_STR(buf, "head: b=missing +2 expected 0.5..2.5, d=4 +0.5, a=1 +0.25; the other 1 -1");
    double all[4] = {4, 3, 2, 1};
    account(&e, row, all, 1, NULL, buf, sizeof buf);
    CHECK_STR(buf, "head: a=1 +4, b=missing +3 expected 0.5..2.5, c=3 +2, d=4 +1");
    account(&e, row, all, 1, NULL, buf, 12);
    CHECK_STR(buf, "head: a=...");
    /* cut inside a name's UTF-8 sequence: at the character before it */
    static const char *const accented[] = {"\xc3\xa9\xc3\xa9\xc3\xa9", "b", "c", "d"};
    struct scorer_account cut = {.e = &e,
                                 .name = accented,
                                 .in_col = in_col,
                                 .n = 4,
                                 .row = row,
                                 .share = all,
                                 .sign = 1,
                                 .verb = "raised"};
    size_t head = (size_t)snprintf(buf, 13, "head");
    CHECK(scorer_explain_account(&cut, buf, 13, head) == strlen(buf));
    CHECK_STR(buf, "head: \xc3\xa9...");
    /* a note that is a range (hstrees' "seen lo..hi") */
    float top[4] = {9, 8, 7, 6};
    struct scorer_account a = {.e = &e,
                               .name = names,
                               .in_col = in_col,
                               .n = 4,
                               .row = row,
                               .share = share,
                               .sign = -1,
                               .note = "seen",
                               .note_value = mean,
                               .note_hi = top,
                               .verb = "lowered"};
    CHECK(scorer_explain_account(&a, buf, sizeof buf, 0) == strlen(buf));
    CHECK_STR(buf, ": c=3 -1 seen 2..7; the other 3 +2.75");
    a.share = all;
    scorer_explain_account(&a, buf, sizeof buf, 0);
    CHECK_STR(buf, ": none lowered it; the other 4 +10");
    /* an infinite input: a value as it is (a tree's), "missing" when a dense
     * model imputed it as it does NaN */
    row[2] = INFINITY;
    a = (struct scorer_account){.e = &e,
                                .name = names,
                                .in_col = in_col,
                                .n = 4,
                                .row = row,
                                .share = all,
                                .sign = 1,
                                .verb = "raised"};
    scorer_explain_account(&a, buf, sizeof buf, 0);
    CHECK_STR(buf, ": a=1 +4, b=missing +3 expected 0.5..2.5, c=inf +2, d=4 +1");
    a.imputed = 1;
    scorer_explain_account(&a, buf, sizeof buf, 0);
    CHECK_STR(buf, ": a=1 +4, b=missing +3 expected 0.5..2.5, c=missing +2, d=4 +1");
    return check_summary();
}
