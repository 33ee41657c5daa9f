/* Spans of a JSON text found without building a tree: a model file's bulk
 * (XGBoost's trees: a few numbers per node, tens of megabytes) is read
 * straight from its text, where jansson's tree of it took 8 to 20 times the
 * file's size. Only what a loader asks for is looked at closely: a value
 * passed over is checked for balanced brackets, closed strings and the
 * characters a scalar may hold, not for every rule of RFC 8259 (jansson
 * checks the rest of the file, where the loader reads it). */
#ifndef WEIR_MODELS_JSPAN_H
#define WEIR_MODELS_JSPAN_H

#include <jansson.h>
#include <stddef.h>

struct jspan {
    const char *p; /* the value's first byte; NULL: none */
    size_t n;      /* its length */
};

/* The value that starts at text (after whitespace): its span, or p NULL
 * when it is malformed or cut short. */
struct jspan jspan_value(const char *text, size_t len);

/* Members of an object: out[k] is the value of keys[k] (the last one of
 * that name, as jansson takes), p NULL when absent. Keys are compared as
 * written (no escapes). Returns how many times one of keys was met again
 * after its first (0 in a file without repeats: a loader that refuses
 * repeated keys checks it), or -1 when obj is not a well-formed object. */
int jspan_members(struct jspan obj, const char *const *keys, size_t n, struct jspan *out);

/* The items of an array, one by one: *at starts at 0; each call sets *item
 * and returns 1, then 0 at the end, -1 when the array is malformed. */
int jspan_next_item(struct jspan arr, size_t *at, struct jspan *item);

/* An array of numbers (true and false read as 1 and 0) into out[0..cap):
 * the count, or -1 when an item is not one, or there are more than cap. */
long jspan_numbers(struct jspan arr, double *out, size_t cap);

/* How many items an array holds, or -1 when it is malformed. */
long jspan_count(struct jspan arr);

/* jansson's tree of the text with the value at cut (a span of text, or p
 * NULL: none) replaced by [] (and its line breaks: jansson's error lines
 * are the file's), the loaders' way to read a file's small parts
 * with jansson and its bulk from the text; NULL with jerr filled. */
json_t *jspan_load_but(const char *text, size_t len, struct jspan cut, size_t flags,
                       json_error_t *jerr);

/* A model file's two parts: the array at the object path (n keys from the
 * root) in *arr, from the text, and jansson's tree of the rest (returned;
 * NULL with jerr filled). When the scanner does not find that array (a key
 * written with escapes, a NUL jansson passes over) and jansson does, *arr
 * spans jansson's dump of it, in *dumped (else NULL; the caller frees it);
 * *arr is p NULL when neither finds a non-empty array there. */
json_t *jspan_load_split(const char *text, size_t len, const char *const *path, size_t n,
                         size_t flags, struct jspan *arr, char **dumped, json_error_t *jerr);

#endif
