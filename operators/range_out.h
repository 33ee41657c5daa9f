/* The expected range that scorers with "range": true write beside their
 * score (deviation, forecast): two features per input, "<f>_lo" and
 * "<f>_hi" unless "range_out" names them. */
#ifndef WEIR_OPERATORS_RANGE_OUT_H
#define WEIR_OPERATORS_RANGE_OUT_H

#include <jansson.h>
#include <stdio.h>

#include "engine/option.h"

/* The names, kept in the pipeline's JSON as "range_out" so the schema may
 * borrow them (as standardize's default "out"). NULL when out of memory. */
static inline const json_t *range_out_names(const struct weir_strlist *fields, const json_t *raw)
{
    const json_t *given = json_object_get(raw, "range_out");
    if (given)
        return given;
    json_t *arr = json_array();
    char name[300];
    for (size_t k = 0; arr && k < 2 * fields->n; k++) {
        snprintf(name, sizeof name, "%s%s", fields->v[k / 2], k % 2 ? "_hi" : "_lo");
        if (json_array_append_new(arr, json_string(name)) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (!arr || json_object_set_new((json_t *)raw, "range_out", arr) < 0)
        return NULL;
    return arr;
}

#endif
