/* What a file source's "path" names: one file, standard input ("-"), a glob
 * ("daily/2018-0[4-7]-*.csv.gz") or a directory (its data files). A pattern or
 * a directory becomes a list of files in name order, read one after another
 * as one stream: daily files named by date come in time order. */
#ifndef WEIR_FILE_LIST_H
#define WEIR_FILE_LIST_H

#include <stddef.h>

struct weir_file_list {
    char **paths;  /* each malloc'd */
    size_t n;
};

/* Expands path. Returns 0, or -1 with why in reason (the list stays empty):
 * no such file or directory, a pattern or directory with no data files. */
int weir_file_list_expand(struct weir_file_list *l, const char *path, char *reason, size_t reason_len);
void weir_file_list_free(struct weir_file_list *l);

/* 1 when the name ends in ".gz" (read through gunzip). */
int weir_file_is_gzip(const char *path);
/* 1 when the name, without ".gz", ends in ".csv". */
int weir_file_is_csv(const char *path);

#endif
