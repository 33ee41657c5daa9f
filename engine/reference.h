/* The pipeline reference (docs/pipeline.md), generated from the option tables
 * of every source, operator and sink type, so it cannot drift from the code. */
#ifndef WEIR_REFERENCE_H
#define WEIR_REFERENCE_H

#include <stdio.h>

void weir_reference_markdown(FILE *out);

#endif
