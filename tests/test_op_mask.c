/* Tests for the mask operator: HMAC-SHA256 against RFC 4231's test vectors
 * (a short key, and a key longer than the block), truncation, the record
 * rewritten with every occurrence masked (duplicates, escaped keys, numbers,
 * nested values, null), the raw value gone from the record, records already
 * dead losing their raw bytes, random records against a brute-force
 * reference (OpenSSL's one-shot HMAC), and prepare errors. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/check.h"
#include "tests/op_harness.h"

extern const struct weir_operator_type weir_op_mask;

/* RFC 4231 test case 2: key "Jefe". */
#define JEFE_DATA "what do ya want for nothing?"
#define JEFE_HMAC "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"

static struct weir_batch *run(struct h_op *h, struct weir_batch_pool *pool, const char *json)
{
    struct weir_batch *b = weir_batch_get(pool);
    h_push_json(b, json);
    CHECK(h->type->process(&h->op, b) == WEIR_OP_CONTINUE);
    return b;
}

static const char *value_of(struct weir_batch *b, uint32_t i, char *buf, size_t size)
{
    snprintf(buf, size, "%.*s", (int)b->rec[i].value_len, b->rec[i].value);
    return buf;
}

static void hmac_ref(const char *key, size_t klen, const char *data, size_t len, char *hex)
{
    unsigned char md[32];
    unsigned int n = 0;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)data, len, md, &n);
    for (unsigned i = 0; i < n; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
}

static void test_vectors(void)
{
    struct h_pipe p;
    struct h_op h;
    char buf[512], want[600];
    setenv("WEIR_TEST_MASK_KEY", "Jefe", 1);
    h_pipe_init(&p);
    CHECK(h_build(&h, &weir_op_mask,
                  "{\"fields\": [\"card\", \"email\"], \"key_env\": \"WEIR_TEST_MASK_KEY\"}", &p,
                  1) == 0);
    struct weir_batch_pool *pool = h_pool(&p, 4);
    struct weir_batch *b = run(&h, pool, "{\"card\": \"" JEFE_DATA "\", \"n\": 1}");
    CHECK_STR(value_of(b, 0, buf, sizeof buf), "{\"card\": \"" JEFE_HMAC "\", \"n\": 1}");
    CHECK_STR(h_str(b, 0, 0, buf, sizeof buf), JEFE_HMAC);
    CHECK(h_str(b, 0, 1, buf, sizeof buf) == NULL); /* no email: absent */
    weir_batch_put(b);
    /* Escapes are decoded first ("\u0077" is 'w'); a duplicate key is masked
     * each time; an escaped key is recognised; null stays; nested values
     * hash their JSON text. */
    b = run(&h, pool,
            "{\"card\":\"\\u0077hat do ya want for nothing?\",\"x\":{\"card\":\"raw\"},"
            "\"card\" : \"" JEFE_DATA "\",\"\\u0065mail\":null,\"email\":[1,\"}\"]}");
    char arr[65];
    hmac_ref("Jefe", 4, "[1,\"}\"]", 7, arr);
    snprintf(want, sizeof want,
             "{\"card\":\"%s\",\"x\":{\"card\":\"raw\"},\"card\" : \"%s\",\"\\u0065mail\":null,"
             "\"email\":\"%s\"}",
             JEFE_HMAC, JEFE_HMAC, arr);
    CHECK_STR(value_of(b, 0, buf, sizeof buf), want);
    CHECK_STR(h_str(b, 0, 1, buf, sizeof buf), arr); /* the last occurrence */
    weir_batch_put(b);
    /* A dead record loses its raw bytes; its reason stays. */
    b = weir_batch_get(pool);
    h_push_json(b, "{\"card\": \"4111 1111 1111 1111\"");
    weir_batch_kill(b, 0, "invalid JSON at byte 30: unterminated object");
    CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
    CHECK(b->rec[0].value_len == 0 && !strstr(b->rec[0].reason, "4111"));
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* A key escaped past 256 bytes of text (60 "\u00e9", as Python's json.dumps
 * writes non-ASCII) is decoded and matched too: its value was left raw. */
static void test_long_escaped_key(void)
{
    struct h_pipe p;
    struct h_op h;
    char conf[512] = "{\"fields\": [\"", rec[1024] = "{\"", buf[1024];
    for (int i = 0; i < 60; i++) {
        strcat(conf, "\xc3\xa9");
        strcat(rec, "\\u00e9");
    }
    strcat(conf, "\"], \"key_env\": \"WEIR_TEST_MASK_KEY\"}");
    strcat(rec, "\": \"" JEFE_DATA "\"}");
    setenv("WEIR_TEST_MASK_KEY", "Jefe", 1);
    h_pipe_init(&p);
    CHECK(h_build(&h, &weir_op_mask, conf, &p, 1) == 0);
    struct weir_batch_pool *pool = h_pool(&p, 2);
    struct weir_batch *b = run(&h, pool, rec);
    const char *out = value_of(b, 0, buf, sizeof buf);
    CHECK(out && strstr(out, JEFE_HMAC) != NULL && strstr(out, JEFE_DATA) == NULL);
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* RFC 4231 test case 6: a 131-byte key, hashed first; from a key file,
 * truncated to 16 hex digits. */
static void test_long_key_file(void)
{
    struct h_pipe p;
    struct h_op h;
    char buf[256], path[] = "/tmp/weir-mask-key-XXXXXX";
    int fd = mkstemp(path);
    unsigned char key[132];
    memset(key, 0xaa, 131);
    key[131] = '\n'; /* stripped */
    CHECK(fd >= 0 && write(fd, key, sizeof key) == (ssize_t)sizeof key);
    close(fd);
    h_pipe_init(&p);
    char json[256];
    snprintf(json, sizeof json, "{\"fields\": [\"d\"], \"key_file\": \"%s\", \"length\": 16}",
             path);
    CHECK(h_build(&h, &weir_op_mask, json, &p, 1) == 0);
    struct weir_batch_pool *pool = h_pool(&p, 2);
    struct weir_batch *b =
        run(&h, pool, "{\"d\": \"Test Using Larger Than Block-Size Key - Hash Key First\"}");
    CHECK_STR(value_of(b, 0, buf, sizeof buf), "{\"d\": \"60e431591ee0b67f\"}");
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
    unlink(path);
}

/* A key of the largest size (4096 bytes) with its newline is taken (it was
 * "a longer file"); one byte more than that is not. */
static void test_full_size_key_file(void)
{
    static unsigned char key[4098];
    memset(key, 'k', sizeof key);
    key[4096] = '\r';
    key[4097] = '\n';
    for (int more = 0; more <= 1; more++) {
        struct h_pipe p;
        struct h_op h;
        char path[] = "/tmp/weir-mask-key-XXXXXX", json[256];
        int fd = mkstemp(path);
        size_t n = more ? 4097 : 4098;
        if (more)
            key[4096] = 'k';
        CHECK(fd >= 0 && write(fd, key, n) == (ssize_t)n);
        close(fd);
        h_pipe_init(&p);
        snprintf(json, sizeof json, "{\"fields\": [\"d\"], \"key_file\": \"%s\"}", path);
        CHECK((h_build(&h, &weir_op_mask, json, &p, 1) == 0) == !more);
        h_free(&h);
        h_pipe_free(&p);
        unlink(path);
    }
}

/* Random records: values of every kind under masked and other keys, each
 * compared with the reference built from the generated parts. */
static void test_random(void)
{
    static const char *const vals[] = {"\"4111-1111\"", "12345678901234", "\"a\\\"b\"", "\"\"",
                                       "{\"card\":1}", "[\"card\"]", "true", "-0.5e3"};
    static const char *const plain[] = {"4111-1111", "12345678901234", "a\"b", "",
                                        "{\"card\":1}", "[\"card\"]", "true", "-0.5e3"};
    static const char *const keys[] = {"card", "ip", "other", "cardx"};
    struct h_pipe p;
    struct h_op h;
    setenv("WEIR_TEST_MASK_KEY2", "s3cr3t key", 1);
    h_pipe_init(&p);
    h_feature(&p, "card", 0); /* an extract's number of the same name: no clash */
    CHECK(h_build(&h, &weir_op_mask, "{\"fields\": [\"card\", \"ip\"], \"key_env\": "
                                     "\"WEIR_TEST_MASK_KEY2\", \"length\": 40}",
                  &p, 1) == 0);
    struct weir_batch_pool *pool = h_pool(&p, 2);
    srand(7);
    for (int t = 0; t < 2000; t++) {
        char rec[2048] = "{", want[4096] = "{", hex[65];
        int n = rand() % 6;
        for (int m = 0; m < n; m++) {
            int k = rand() % 4, v = rand() % 8;
            const char *sep = m ? ", " : "";
            snprintf(rec + strlen(rec), sizeof rec - strlen(rec), "%s\"%s\":%s", sep, keys[k],
                     vals[v]);
            if (k < 2) {
                hmac_ref("s3cr3t key", 10, plain[v], strlen(plain[v]), hex);
                hex[40] = '\0';
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s\"%s\":\"%s\"", sep,
                         keys[k], hex);
            } else {
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s\"%s\":%s", sep,
                         keys[k], vals[v]);
            }
        }
        strcat(rec, "}");
        strcat(want, "}");
        struct weir_batch *b = run(&h, pool, rec);
        char got[4096];
        CHECK_STR(value_of(b, 0, got, sizeof got), want);
        weir_batch_put(b);
    }
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

static void test_errors(void)
{
    unsetenv("WEIR_TEST_UNSET");
    h_expect_prepare_error(&weir_op_mask, NULL, 1, "{\"fields\": [\"card\"]}",
                           "test.json: operators[1]: expected exactly one of \"key_file\" or "
                           "\"key_env\" (the key is never written in the pipeline), got neither");
    h_expect_prepare_error(&weir_op_mask, NULL, 1,
                           "{\"fields\": [\"card\"], \"key\": \"secret\", \"key_env\": \"X\"}",
                           "test.json: operators[1].key: unknown option; expected one of: fields, "
                           "key_file, key_env, length, message_key");
    h_expect_prepare_error(&weir_op_mask, NULL, 1,
                           "{\"fields\": [\"card\"], \"key_env\": \"WEIR_TEST_UNSET\"}",
                           "test.json: operators[1].key_env: expected the environment variable "
                           "WEIR_TEST_UNSET to hold the key (1 to 4096 bytes), got it unset");
    h_expect_prepare_error(&weir_op_mask, NULL, 1,
                           "{\"fields\": [\"/a/c~2\"], \"key_env\": \"WEIR_TEST_MASK_KEY\"}",
                           "test.json: operators[1].fields[0]: expected a JSON pointer (\"~\" only "
                           "as ~0 or ~1), got \"/a/c~2\"");
    h_expect_prepare_error(&weir_op_mask, NULL, 1,
                           "{\"fields\": [\"card\", \"/user/card\"], \"key_env\": "
                           "\"WEIR_TEST_MASK_KEY\"}",
                           "test.json: operators[1].fields[1]: expected fields whose columns "
                           "differ, got a second field for the column \"card\" (fields[0])");
    /* A field inside another would be masked whole with it, its own column
     * left empty. */
    h_expect_prepare_error(&weir_op_mask, NULL, 1,
                           "{\"fields\": [\"/user\", \"/user/email\"], \"key_env\": "
                           "\"WEIR_TEST_MASK_KEY\"}",
                           "test.json: operators[1].fields[1]: expected fields that do not nest, "
                           "got \"/user/email\" inside fields[0] (\"/user\"), which would be "
                           "masked whole with it");
    h_expect_prepare_error(&weir_op_mask, NULL, 1,
                           "{\"fields\": [\"/user/a~1b/c\", \"/user/a~1b\"], \"key_env\": "
                           "\"WEIR_TEST_MASK_KEY\"}",
                           "test.json: operators[1].fields[1]: expected fields that do not nest, "
                           "got \"/user/a~1b\" around fields[0] (\"/user/a~1b/c\"), which would "
                           "be masked whole with this one");
    h_expect_prepare_error(&weir_op_mask, NULL, 1,
                           "{\"fields\": [\"/a/b/c/d/e/f/g/h/i\"], \"key_env\": "
                           "\"WEIR_TEST_MASK_KEY\"}",
                           "test.json: operators[1].fields[0]: expected a JSON pointer of at most "
                           "8 segments, got \"/a/b/c/d/e/f/g/h/i\"");
    h_expect_prepare_error(&weir_op_mask, NULL, 1,
                           "{\"fields\": [\"card\"], \"key_file\": \"/nonexistent/key\"}",
                           "test.json: operators[1].key_file: expected a readable key file, got "
                           "/nonexistent/key: No such file or directory");
    h_expect_prepare_error(&weir_op_mask, NULL, 1,
                           "{\"fields\": [\"card\"], \"key_env\": \"WEIR_TEST_MASK_KEY\", "
                           "\"length\": 65}",
                           "test.json: operators[1].length: expected an integer in [8,64], got 65");
}

/* Pointers reach into nested objects (not arrays), in document order with
 * top-level fields, "~1" standing for '/'; the column is the last segment;
 * the message key is masked when asked, a missing key stays missing. */
static void test_nested_and_key(void)
{
    struct h_pipe p;
    struct h_op h;
    char buf[1024], want[1024], a[65], e[65], k[65], s[65];
    setenv("WEIR_TEST_MASK_KEY", "Jefe", 1);
    h_pipe_init(&p);
    CHECK(h_build(&h, &weir_op_mask,
                  "{\"fields\": [\"/user/card\", \"ip\", \"/user/a~1b/email\"], \"key_env\": "
                  "\"WEIR_TEST_MASK_KEY\", \"length\": 16, \"message_key\": true}",
                  &p, 1) == 0);
    struct weir_batch_pool *pool = h_pool(&p, 4);
    struct weir_batch *b = weir_batch_get(pool);
    h_push_json(b, "{\"card\": \"top\", \"user\": {\"card\": \"4111\", \"a/b\": {\"email\": "
                   "\"x@y\", \"n\": 1}, \"l\": [{\"card\": 1}]}, \"ip\": \"10.0.0.1\", "
                   "\"other\": {\"user\": {\"card\": \"keep\"}}}");
    b->rec[0].key = "card-42";
    b->rec[0].key_len = 7;
    h_push_json(b, "{\"user\": \"flat\", \"ip\": null}");
    CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
    hmac_ref("Jefe", 4, "4111", 4, a);
    hmac_ref("Jefe", 4, "x@y", 3, e);
    hmac_ref("Jefe", 4, "card-42", 7, k);
    hmac_ref("Jefe", 4, "10.0.0.1", 8, s);
    a[16] = e[16] = k[16] = s[16] = '\0';
    snprintf(want, sizeof want,
             "{\"card\": \"top\", \"user\": {\"card\": \"%s\", \"a/b\": {\"email\": \"%s\", "
             "\"n\": 1}, \"l\": [{\"card\": 1}]}, \"ip\": \"%s\", \"other\": {\"user\": "
             "{\"card\": \"keep\"}}}",
             a, e, s);
    CHECK_STR(value_of(b, 0, buf, sizeof buf), want);
    CHECK_STR(h_str(b, 0, 0, buf, sizeof buf), a); /* column "card" */
    CHECK_STR(h_str(b, 0, 2, buf, sizeof buf), e); /* column "email" */
    CHECK(b->rec[0].key_len == 16 && memcmp(b->rec[0].key, k, 16) == 0);
    CHECK_STR(value_of(b, 1, buf, sizeof buf), "{\"user\": \"flat\", \"ip\": null}");
    CHECK(b->rec[1].key == NULL && h_str(b, 1, 0, buf, sizeof buf) == NULL);
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

int main(void)
{
    test_long_escaped_key();
    test_nested_and_key();
    test_vectors();
    test_long_key_file();
    test_full_size_key_file();
    test_random();
    test_errors();
    return check_summary();
}
