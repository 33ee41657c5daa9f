/* JSON numbers: weir_jnum_parse (the parse itself, correctly rounded, is
 * common/jsonnum.c's, shared with models/ and connectors/) and the number in
 * a scanned value. Split from jscan.c; see jscan.h for what weir_jnum_parse
 * and weir_jval_number promise. */
#include <errno.h>

#include "common/jsonnum.h"
#include "engine/jscan.h"

int weir_jnum_parse(const char *text, uint32_t len, double *out)
{
    return weir_decimal_parse(text, len, out);
}

int weir_jval_number(const char *text, const struct weir_jval *v, double *out)
{
    if (v->type == WEIR_JNUMBER)
        return weir_jnum_parse(text + v->off, v->len, out);
    if (v->type != WEIR_JSTRING)
        return -EINVAL;
    const char *p = text + v->off;
    uint32_t n = v->len;
    char tmp[64];
    if (v->escaped) {
        if (n > sizeof tmp)
            return -EINVAL;
        n = (uint32_t)weir_jstr_unescape(p, n, tmp);
        p = tmp;
    }
    while (n && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (!n)
        return -EINVAL;
    return weir_jnum_parse(p, n, out);
}
