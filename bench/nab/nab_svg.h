/* One SVG per NAB series: the values, the labelled windows, the probation
 * period, the anomaly score with the swept threshold, and the alerts. */
#ifndef WEIR_NAB_SVG_H
#define WEIR_NAB_SVG_H

#include "nab_corpus.h"

/* Writes DIR/<category>__<file>.svg. Returns 0 or -1. */
int nab_svg_write(const char *dir, const struct nab_series *s, const double *score,
                  const double *alert, double theta);

#endif
