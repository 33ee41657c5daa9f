/* The file source's state (file_source.c), shared with the part that takes
 * over from a replaced source on a reload (file_source_resume.c), the gzip
 * files inflated ahead (file_source_ahead.c) and its load-time check against
 * the sinks (file_overlap.c). Nothing outside the
 * file connectors includes this. */
#ifndef WEIR_CONNECTORS_FILE_SOURCE_H
#define WEIR_CONNECTORS_FILE_SOURCE_H

#include <stdint.h>
#include <sys/types.h>

#include "connectors/connector.h"
#include "connectors/csv.h"
#include "connectors/file_list.h"
#include "connectors/gunzip.h"
#include "connectors/gunzip_ahead.h"
#include "connectors/linesplit.h"
#include "engine/buf.h"
#include "engine/error.h"
#include "engine/loop.h"

enum { FMT_AUTO, FMT_JSONL, FMT_CSV };

struct file_source_conf {
    const char *path;
    int format;
    int64_t max_record_bytes;
    int64_t read_size;
    const char *delimiter;
    int inflate_ahead;
    struct weir_file_list files; /* what path names, expanded at load */
    char tried[600]; /* where a relative path was looked for, when nowhere (for the open error) */
};

struct file_ticket {
    struct weir_ticket t;
    struct file_source *src;
    struct file_ticket *next;
};

struct file_source {
    struct weir_source *s;
    int fd;
    int format;
    off_t offset;       /* next read position; -1 for pipes and terminals */
    struct weir_linesplit ls;
    struct weir_gunzip gz;
    int gzip;           /* the current file is gzip: reads land in gz, lines come from inflating */
    size_t file;        /* which of the conf's files is being read (held: the next one) */
    const char *name;   /* its path, for the records' coordinates */
    const struct file_source_conf
        *opened_with;   /* the conf it opened with: the records'
                         * names point into its file list, whose version is held as long
                         * as the source is (a reload it takes as it runs lets go of its
                         * own sooner; weir_file_source_keeps: the same list) */
    int held;           /* the current file is one a reload found gone from its name
                         * (deleted, renamed, replaced), read through the old source's
                         * descriptor */
    char *held_name;    /* its path (records point at it: freed with the state) */
    size_t held_before; /* how many of the list's files come before it */
    off_t size_at_open; /* a regular file's size when opened (what the gzip helper read of it) */
    struct weir_event read_ev;
    int reading;        /* a read is in flight */
    struct weir_event yield_ev;
    int yielding;       /* gave way to the loop after a batch: yield_ev goes on */
    uint64_t batches;   /* dispatched */
    int at_eof;         /* the current file's bytes (inflated) are all in ls */
    int stopping;
    int finished;
    struct weir_batch *batch;   /* being filled */
    struct weir_csv_header header;
    int have_header;
    int in_quote;               /* the last CSV line ended inside a quoted field */
    struct weir_buf scratch;    /* a CSV row as JSON */
    struct file_ticket *free_tickets;
    unsigned tickets_out;       /* handed to the worker, not yet done */
    int closed;                 /* close() ran with tickets still out */
    uint64_t acked_lines;
    uint64_t stream_in;         /* bytes of the current file's stream (inflated) taken into ls */
    uint64_t skip_lines;        /* a reload's resume reads these lines again: dropped */
    char *header_line;          /* the current file's CSV header as read, for a reload's successor */
    struct weir_buf first_cols; /* the first CSV file's column names, each NUL-ended */
    size_t first_ncols;         /* 0: no header taken yet */
    char first_file[256];       /* its name, for the messages */
    char first_delim;           /* the delimiter its names were split at */
    size_t header_len;
    uint32_t part;              /* the worker's slot for these files (one partition) */
    struct weir_gunzip_ahead *ahead; /* gzip files inflated on a helper thread; NULL: none */
    int ahead_on;               /* the current file's bytes come from ahead, not from reads */
    int ahead_wait;             /* read_ev is a read of ahead's eventfd, not a loop turn */
    const char *ahead_data;     /* the current file's inflated bytes, taken from ahead */
    size_t ahead_len;
    size_t ahead_pos;           /* how much of them went into ls */
    size_t ahead_n;             /* the piece whose "read" is in flight */
    int ahead_lend;             /* that piece is lent to ls, not copied into it */
    uint64_t ahead_tick;        /* the eventfd's count, read */
    int failing;                /* reading failed: the worker fails once the sinks wrote the rest */
    struct weir_error failure;  /* why, for then */
    unsigned fail_turns;        /* loop turns waited */
    uint64_t failing_since;     /* weir_now_ns() */
};

/* Opens file k of the list (same_as >= 0: a duplicate of that descriptor)
 * and starts it at line 1 with its own CSV header. held: the file is that
 * path instead, gone from its name (read through same_as: the list may name
 * another file by it); file k comes after it. */
int weir_file_source_open_as(struct file_source *fs, size_t k, const char *held, int same_as,
                             struct weir_error *err);

/* Which file to start with, and where: prev is the source a reload
 * replaces (or NULL). */
int weir_file_source_open_start(struct file_source *fs, const struct weir_source *prev,
                                struct weir_error *err);

/* file_source.c's reading, for the parts split from it: turn the buffered
 * lines into records and go on; read (or inflate) more; stop reading on a
 * failure, once the sinks wrote what was handed on before it. */
void weir_file_source_drain(struct file_source *fs);
void weir_file_source_read(struct file_source *fs);
void weir_file_source_fail(struct file_source *fs, int code, const char *what);

/* gzip files inflated on a helper thread (file_source_ahead.c): start it at
 * open, read the current file's next piece from it, and take that piece (or
 * the helper's wake-up) when the loop says it is there. */
void weir_file_source_start_ahead(struct file_source *fs);
void weir_file_source_ahead_read(struct file_source *fs);
void weir_file_source_on_ahead(struct file_source *fs, int res);

/* A reload keeps the running source when its options and listing are the
 * same (file_source_resume.c). */
int weir_file_source_keeps(const void *conf, const void *next);

/* The file source's check(): no file sink writes a file it reads
 * (file_overlap.c). */
int weir_file_source_check(const void *conf, const struct weir_pipeline *pl, struct weir_diag *d);

/* Checks the header just taken (at line) against the first CSV file's (the first one
 * taken becomes that reference): -EINVAL (err set) for a line that names
 * none of its columns, a warning for other differences; -ENOMEM. */
int weir_file_source_header_check(struct file_source *fs, uint64_t line, struct weir_error *err);
/* A reload's new source (delimiter delim) goes on checking against the
 * first file's header old checked against: 0 or -ENOMEM. */
int weir_file_source_header_carry(struct file_source *fs, const struct file_source *old,
                                  char delim);

#endif
