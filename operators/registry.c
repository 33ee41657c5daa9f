/* The operator catalogue: every operator type weir knows, by name. A new
 * operator is one file in operators/ plus one line here. */
#include <string.h>

#include "engine/operator.h"

extern const struct weir_operator_type weir_op_extract, weir_op_standardize, weir_op_score,
    weir_op_threshold;
extern const struct weir_operator_type weir_op_derive;
extern const struct weir_operator_type weir_op_filter;
extern const struct weir_operator_type weir_op_impute;
extern const struct weir_operator_type weir_op_clip;
extern const struct weir_operator_type weir_op_scale;
extern const struct weir_operator_type weir_op_deviation;
extern const struct weir_operator_type weir_op_hstrees;
extern const struct weir_operator_type weir_op_iforest, weir_op_forecast, weir_op_cad,
    weir_op_cad_ose, weir_op_calibrate, weir_op_flatline, weir_op_recurring;
extern const struct weir_operator_type weir_op_window, weir_op_dedup, weir_op_aggregate;
extern const struct weir_operator_type weir_op_model;
extern const struct weir_operator_type weir_op_mask, weir_op_encode;

static const struct weir_operator_type *const catalogue[] = {
    &weir_op_extract,
    &weir_op_standardize,
    &weir_op_score,
    &weir_op_threshold,
    &weir_op_derive,
    &weir_op_filter,
    &weir_op_impute,
    &weir_op_clip,
    &weir_op_scale,
    &weir_op_window,
    &weir_op_dedup,
    &weir_op_aggregate,
    &weir_op_deviation,
    &weir_op_hstrees,
    &weir_op_iforest,
    &weir_op_forecast,
    &weir_op_cad,
    &weir_op_cad_ose,
    &weir_op_calibrate,
    &weir_op_flatline,
    &weir_op_recurring,
    &weir_op_model,
    &weir_op_mask,
    &weir_op_encode,
    NULL,
};

const struct weir_operator_type *const *weir_operator_types(void)
{
    return catalogue;
}

const struct weir_operator_type *weir_operator_find(const char *name)
{
    for (size_t i = 0; catalogue[i]; i++)
        if (strcmp(catalogue[i]->name, name) == 0)
            return catalogue[i];
    return NULL;
}
