/* json_min.h - a small JSON reader for test vectors: the whole document as a tree of
 * values (numbers as double). Test code only: inputs are the project's own files. */
#ifndef SKIM_TEST_JSON_MIN_H
#define SKIM_TEST_JSON_MIN_H

#include <stdbool.h>
#include <stddef.h>

typedef enum jm_kind { JM_NULL, JM_BOOL, JM_NUM, JM_STR, JM_ARR, JM_OBJ } jm_kind;

typedef struct jm_value {
    jm_kind kind;
    double num;
    char *str;               /* JM_STR; keys of an object's members are in `keys` */
    struct jm_value *items;  /* JM_ARR, JM_OBJ */
    char **keys;             /* JM_OBJ */
    size_t n;
} jm_value;

/* Parses text; NULL on a syntax error. Free with jm_free. */
jm_value *jm_parse(const char *text);
void jm_free(jm_value *v);
/* A member of an object (NULL when absent or v is not an object). */
const jm_value *jm_get(const jm_value *v, const char *key);
/* Element i of an array (NULL when out of range). */
const jm_value *jm_at(const jm_value *v, size_t i);
/* Reads the whole file (NUL-terminated); NULL when it cannot. */
char *jm_read_file(const char *path);

#endif
