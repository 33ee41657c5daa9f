/* Option tables: validation, filling config structs, durations, "did you mean"
 * (see option.h). Messages follow "PATH: expected WHAT, got VALUE". */
#include "engine/option.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *weir_path_key(char *buf, size_t size, const char *path, const char *key)
{
    snprintf(buf, size, "%s%s%s", path, *path ? "." : "", key);
    return buf;
}

const char *weir_path_index(char *buf, size_t size, const char *path, size_t index)
{
    snprintf(buf, size, "%s[%zu]", path, index);
    return buf;
}

/* A short rendering of what the user wrote, for "got ...": 15 digits give
 * back the number as written (1e300), not its 17-digit expansion. */
static const char *json_brief(const json_t *v, char *buf, size_t size)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    if (!text) {
        snprintf(buf, size, "?");
        return buf;
    }
    if (strlen(text) > 40)
        snprintf(buf, size, "%.37s...", text);
    else
        snprintf(buf, size, "%s", text);
    free(text);
    return buf;
}

/* An integer option's value is an int64_t: past +-2^63 the conversion from
 * the double the file may hold (1e300) is undefined, so that is the edge of
 * every integer range, declared or not. */
#define INT64_EDGE 9223372036854775808.0 /* 2^63, exact as a double */

static int int64_fits(double x)
{
    return x >= -INT64_EDGE && x < INT64_EDGE;
}

/* What an option accepts, for "expected ...". clip: the value was beyond
 * int64_t, so an integer range without an upper bound names that bound. */
static void range_text(const struct weir_option *o, char *buf, size_t size, int clip)
{
    int is_int = o->kind == WEIR_OPT_INT;
    const char *noun = is_int ? "an integer" : "a number";
    if (is_int && clip && (!(o->flags & WEIR_OPT_RANGE) || isinf(o->max))) {
        if (o->flags & WEIR_OPT_RANGE && (o->min == 1 || o->min == 0))
            snprintf(buf, size, "a %s integer up to %" PRId64,
                     o->min == 1 ? "positive" : "non-negative", INT64_MAX);
        else if (o->flags & WEIR_OPT_RANGE)
            snprintf(buf, size, "an integer in [%.10g,%" PRId64 "]", o->min, INT64_MAX);
        else
            snprintf(buf, size, "an integer in [%" PRId64 ",%" PRId64 "]", INT64_MIN, INT64_MAX);
    } else if (!(o->flags & WEIR_OPT_RANGE)) {
        snprintf(buf, size, "%s", noun);
    } else if (is_int && (o->min == 1 || o->min == 0) && isinf(o->max)) {
        snprintf(buf, size, "a %s integer", o->min == 1 ? "positive" : "non-negative");
    } else if (is_int && (o->min == 1 || o->min == 0)) {
        snprintf(buf, size, "a %s integer up to %.0f", o->min == 1 ? "positive" : "non-negative",
                 o->max);
    } else if (isinf(o->max)) {
        snprintf(buf, size, "%s %s %.10g", noun, o->flags & WEIR_OPT_MIN_OPEN ? ">" : ">=", o->min);
    } else {
        snprintf(buf, size, "%s in %c%.10g,%.10g%c", noun, o->flags & WEIR_OPT_MIN_OPEN ? '(' : '[',
                 o->min, o->max, o->flags & WEIR_OPT_MAX_OPEN ? ')' : ']');
    }
}

static int in_range(const struct weir_option *o, double v)
{
    if (!(o->flags & WEIR_OPT_RANGE))
        return 1;
    if (o->flags & WEIR_OPT_MIN_OPEN ? v <= o->min : v < o->min)
        return 0;
    if (o->flags & WEIR_OPT_MAX_OPEN ? v >= o->max : v > o->max)
        return 0;
    return 1;
}

/* v of a unit worth unit_ns nanoseconds, in range or -ERANGE: the check
 * comes before the conversion, which past 2^64 would be undefined. Rounded
 * to the nearest: "4.1s" is 4099999999.9999995 ns in a double, and cut
 * down it was a millisecond short (4099 ms). */
static int duration_ns(double v, double unit_ns, uint64_t *ns)
{
    double x = v * unit_ns;
    if (!(x >= 0) || x > (double)WEIR_DURATION_MAX_NS)
        return -ERANGE;
    *ns = (uint64_t)llround(x);
    return 0;
}

int weir_duration_whole_ms(uint64_t ns, int64_t *ms)
{
    uint64_t whole = (ns + 500000u) / 1000000u, at = whole * 1000000u;
    *ms = (int64_t)whole;
    return (ns > at ? ns - at : at - ns) <= 1000u ? 0 : -1;
}

/* The decimal number a duration starts with: digits, a point, an exponent,
 * as `weir schema`'s pattern says (strtod alone also takes leading spaces,
 * a sign, hex and "inf"). The length, or 0. */
static size_t decimal_len(const char *s)
{
    size_t i = 0, digits = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++)
        digits++;
    if (s[i] == '.')
        for (i++; s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    if (!digits)
        return 0;
    if (s[i] == 'e' || s[i] == 'E') {
        size_t j = i + 1 + (s[i + 1] == '+' || s[i + 1] == '-');
        if (s[j] >= '0' && s[j] <= '9') {
            for (i = j; s[i] >= '0' && s[i] <= '9'; i++)
                ;
        }
    }
    return i;
}

int weir_duration_parse(const char *s, uint64_t *ns)
{
    char *end;
    size_t len = decimal_len(s);
    double v = len ? strtod(s, &end) : 0;
    if (!len || end != s + len)
        return -EINVAL;
    static const struct { const char *unit; double ns; } units[] = {
        {"", 1e6}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}, {"d", 86400e9},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].unit) == 0)
            return duration_ns(v, units[i].ns, ns); /* "1e999s" is inf: -ERANGE */
    }
    return -EINVAL;
}

static int choice_index(const char *choices, const char *s)
{
    size_t len = strlen(s);
    int idx = 0;
    for (const char *p = choices; *p; idx++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncmp(p, s, n) == 0)
            return idx;
        if (!bar)
            break;
        p = bar + 1;
    }
    return -1;
}

/* "welford|ewm" → "\"welford\" or \"ewm\"" */
static void choices_text(const char *choices, char *buf, size_t size)
{
    size_t o = 0;
    const char *p = choices;
    while (*p && o + 4 < size) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        o += (size_t)snprintf(buf + o, size - o, "%s\"%.*s\"", o ? (bar ? ", " : " or ") : "",
                              (int)n, p);
        if (!bar)
            break;
        p = bar + 1;
    }
}

const char *weir_strlist_path(char *buf, size_t size, const char *path,
                              const struct weir_strlist *l, size_t k)
{
    if (l->one) {
        snprintf(buf, size, "%s", path);
        return buf;
    }
    return weir_path_index(buf, size, path, k);
}

static int fill_strings(const json_t *v, struct weir_strlist *out, struct weir_diag *d,
                        const char *path)
{
    char got[64], ip[256];
    if (json_is_string(v)) {
        out->v = malloc(sizeof *out->v);
        if (!out->v) {
            weir_diag_add(d, path, "out of memory");
            return 1;
        }
        out->v[0] = json_string_value(v);
        out->n = 1;
        out->one = 1;
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) == 0) {
        weir_diag_add(d, path, "expected a string or a non-empty array of strings, got %s",
                      json_brief(v, got, sizeof got));
        return 1;
    }
    out->v = calloc(json_array_size(v), sizeof *out->v);
    if (!out->v) {
        weir_diag_add(d, path, "out of memory");
        return 1;
    }
    out->n = json_array_size(v);
    int bad = 0;
    for (size_t i = 0; i < out->n; i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e)) {
            weir_diag_add(d, weir_path_index(ip, sizeof ip, path, i),
                          "expected a string, got %s", json_brief(e, got, sizeof got));
            bad++;
        } else {
            out->v[i] = json_string_value(e);
        }
    }
    return bad;
}

/* Checks and stores one value; returns the number of problems (0 or 1). */
static int fill_one(const struct weir_option *o, const json_t *v, void *conf,
                    struct weir_diag *d, const char *path)
{
    char got[64], want[96];
    int clip = 0; /* a number beyond what the field can hold */
    void *field = (char *)conf + o->offset;
    switch (o->kind) {
    case WEIR_OPT_BOOL:
        if (!json_is_boolean(v))
            break;
        *(int *)field = json_is_true(v);
        return 0;
    case WEIR_OPT_INT: {
        double x = json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v);
        if (!json_is_number(v) || x != floor(x) || !in_range(o, x))
            break;
        if (!json_is_integer(v) && !int64_fits(x)) {
            clip = 1;
            break;
        }
        *(int64_t *)field = json_is_integer(v) ? json_integer_value(v) : (int64_t)x;
        return 0;
    }
    case WEIR_OPT_NUMBER:
        if (!json_is_number(v) || !in_range(o, json_number_value(v)))
            break;
        *(double *)field = json_number_value(v);
        return 0;
    case WEIR_OPT_STRING:
        if (!json_is_string(v) || json_string_length(v) == 0)
            break;
        *(const char **)field = json_string_value(v);
        return 0;
    case WEIR_OPT_ENUM: {
        int idx = json_is_string(v) ? choice_index(o->choices, json_string_value(v)) : -1;
        if (idx < 0)
            break;
        *(int *)field = idx;
        return 0;
    }
    case WEIR_OPT_STRINGS:
        return fill_strings(v, (struct weir_strlist *)field, d, path);
    case WEIR_OPT_DURATION: {
        uint64_t ns;
        int rc = json_is_number(v) && json_number_value(v) >= 0
                     ? duration_ns(json_number_value(v), 1e6, &ns) /* milliseconds */
                 : json_is_string(v) ? weir_duration_parse(json_string_value(v), &ns)
                                     : -EINVAL;
        clip = rc == -ERANGE;
        if (rc < 0)
            break;
        *(uint64_t *)field = ns;
        return 0;
    }
    case WEIR_OPT_JSON:
        *(const json_t **)field = v;
        return 0;
    }
    switch (o->kind) {
    case WEIR_OPT_BOOL: snprintf(want, sizeof want, "true or false"); break;
    case WEIR_OPT_STRING: snprintf(want, sizeof want, "a non-empty string"); break;
    case WEIR_OPT_ENUM: choices_text(o->choices, want, sizeof want); break;
    case WEIR_OPT_DURATION:
        snprintf(want, sizeof want, clip ? "a duration of at most %s" : "%s",
                 clip ? WEIR_DURATION_MAX_TEXT : "a duration like \"250ms\" or \"1h\"");
        break;
    default: range_text(o, want, sizeof want, clip); break;
    }
    weir_diag_add(d, path, "expected %s, got %s", want, json_brief(v, got, sizeof got));
    return 1;
}

static int is_ignored(const char *key, const char *const *ignore)
{
    for (size_t i = 0; ignore && ignore[i]; i++)
        if (strcmp(ignore[i], key) == 0)
            return 1;
    return 0;
}

/* Reports the keys of obj declared in none of the tables and not in ignore. */
static int check_unknown_in(const struct weir_option *const *tables, size_t ntables,
                            const json_t *obj, const char *const *ignore, struct weir_diag *d,
                            const char *path)
{
    const char *names[128];
    size_t n = 0;
    for (size_t t = 0; t < ntables; t++)
        for (const struct weir_option *o = tables[t]; o->name && n < 128; o++)
            names[n++] = o->name;
    int bad = 0;
    const char *key;
    json_t *v;
    char kp[256], known[512];
    json_object_foreach((json_t *)obj, key, v) {
        int declared = is_ignored(key, ignore);
        for (size_t i = 0; i < n && !declared; i++)
            declared = strcmp(names[i], key) == 0;
        if (declared)
            continue;
        bad++;
        const char *close = weir_did_you_mean(key, names, n);
        if (close) {
            weir_diag_add(d, weir_path_key(kp, sizeof kp, path, key),
                          "unknown option (did you mean \"%s\"?)", close);
            continue;
        }
        size_t o = 0;
        known[0] = '\0';
        for (size_t i = 0; i < n && o + 2 < sizeof known; i++)
            o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", i ? ", " : "", names[i]);
        weir_diag_add(d, weir_path_key(kp, sizeof kp, path, key),
                      "unknown option; expected one of: %s", n ? known : "(none)");
    }
    return bad;
}

static int check_unknown(const struct weir_option *opts, const json_t *obj,
                         const char *const *ignore, struct weir_diag *d, const char *path)
{
    return check_unknown_in(&opts, 1, obj, ignore, d, path);
}

int weir_options_check_unknown(const struct weir_option *const *tables, size_t ntables,
                               const json_t *obj, struct weir_diag *d, const char *path)
{
    return json_is_object(obj) ? check_unknown_in(tables, ntables, obj, NULL, d, path) : 0;
}

int weir_options_apply(const struct weir_option *opts, const json_t *obj, void *conf,
                       const char *const *ignore, struct weir_diag *d, const char *path)
{
    char got[64], kp[256];
    if (!json_is_object(obj)) {
        weir_diag_add(d, path, "expected an object, got %s", json_brief(obj, got, sizeof got));
        return 1;
    }
    int bad = check_unknown(opts, obj, ignore, d, path);
    for (const struct weir_option *o = opts; o->name; o++) {
        const json_t *v = json_object_get(obj, o->name);
        weir_path_key(kp, sizeof kp, path, o->name);
        json_t *def = NULL;
        if (!v && o->def) {
            /* The defaults are valid JSON: only memory can be short here, and
             * an option silently left at zero would be worse than an error. */
            v = def = json_loads(o->def, JSON_DECODE_ANY, NULL);
            if (!def) {
                weir_diag_add(d, kp, "out of memory");
                bad++;
                continue;
            }
        }
        if (!v) {
            if (o->flags & WEIR_OPT_REQUIRED) {
                weir_diag_add(d, path, "missing required option \"%s\"", o->name);
                bad++;
            }
            continue;
        }
        /* Defaults of kind JSON/STRING/STRINGS must outlive this call: keep
         * them in the object (the pipeline owns it) instead of freeing. */
        if (def && (o->kind == WEIR_OPT_JSON || o->kind == WEIR_OPT_STRING ||
                    o->kind == WEIR_OPT_STRINGS)) {
            int rc = json_object_set_new((json_t *)obj, o->name, def); /* takes def */
            v = json_object_get(obj, o->name);
            def = NULL;
            if (rc < 0 || !v) {
                weir_diag_add(d, kp, "out of memory");
                bad++;
                continue;
            }
        }
        bad += fill_one(o, v, conf, d, kp);
        json_decref(def);
    }
    return bad;
}

void weir_options_release(const struct weir_option *opts, void *conf)
{
    if (!conf)
        return;
    for (const struct weir_option *o = opts; o->name; o++) {
        if (o->kind == WEIR_OPT_STRINGS) {
            struct weir_strlist *l = (struct weir_strlist *)((char *)conf + o->offset);
            free(l->v);
            l->v = NULL;
            l->n = 0;
            l->one = 0;
        }
    }
}

/* Optimal string alignment distance: insertions, deletions, substitutions and
 * transpositions of neighbours ("paht" for "path") each count one. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

const char *weir_did_you_mean(const char *word, const char *const *candidates, size_t n)
{
    const char *best = NULL;
    size_t best_d = 99, limit = strlen(word) <= 4 ? 1 : 2;
    for (size_t i = 0; i < n; i++) {
        size_t dist = edit_distance(word, candidates[i]);
        if (dist < best_d) {
            best_d = dist;
            best = candidates[i];
        }
    }
    return best_d <= limit ? best : NULL;
}

/* The values of one option, as filled, are the same. */
static int same_value(const struct weir_option *o, const void *a, const void *b)
{
    switch (o->kind) {
    case WEIR_OPT_BOOL:
    case WEIR_OPT_ENUM: return *(const int *)a == *(const int *)b;
    case WEIR_OPT_INT: return *(const int64_t *)a == *(const int64_t *)b;
    case WEIR_OPT_NUMBER: return *(const double *)a == *(const double *)b;
    case WEIR_OPT_DURATION: return *(const uint64_t *)a == *(const uint64_t *)b;
    case WEIR_OPT_STRING: return strcmp(*(const char *const *)a, *(const char *const *)b) == 0;
    default: return 0;
    }
}

/* given is the option's default by value, however written (3 and 3.0,
 * "100ms" and 100): a template that spells out every option says nothing
 * wrong. (A string option's default is in the object whether written or
 * not: apply() put it there.) 1 or 0; -1 when out of memory to tell. */
static int given_default(const struct weir_option *opts, const char *name, const json_t *given)
{
    const struct weir_option *o = opts;
    while (o && o->name && strcmp(o->name, name) != 0)
        o++;
    if (!o || !o->name || !o->def || o->kind == WEIR_OPT_STRINGS || o->kind == WEIR_OPT_JSON)
        return 0;
    json_t *def = json_loads(o->def, JSON_DECODE_ANY, NULL);
    size_t size = o->offset + sizeof(uint64_t) + sizeof(void *);
    char *a = calloc(1, size), *b = calloc(1, size);
    struct weir_diag quiet = {0}; /* a bad value is apply()'s to report */
    /* the default itself always fills: failing, memory was short */
    int same = !def || !a || !b || fill_one(o, def, a, &quiet, "") != 0
                   ? -1
                   : fill_one(o, given, b, &quiet, "") == 0 &&
                         same_value(o, a + o->offset, b + o->offset);
    weir_diag_free(&quiet);
    free(a);
    free(b);
    json_decref(def);
    return same;
}

int weir_options_only_with(const json_t *obj, const struct weir_option *opts,
                           const char *const *names, int cond, const char *with,
                           struct weir_diag *diag, const char *path)
{
    int bad = 0;
    char at[256];
    for (size_t k = 0; !cond && names[k]; k++) {
        const json_t *given = json_object_get(obj, names[k]);
        int is_default = given ? given_default(opts, names[k], given) : 1;
        if (is_default == 1)
            continue;
        if (is_default < 0)
            weir_diag_add(diag, weir_path_key(at, sizeof at, path, names[k]), "out of memory");
        else
            weir_diag_add(diag, weir_path_key(at, sizeof at, path, names[k]),
                          "expected only with %s: without it this option does nothing", with);
        bad++;
    }
    return bad;
}
