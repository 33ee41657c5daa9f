/* SASL for the probe (connectors/kafka_probe.h): PLAIN, and SCRAM-SHA-256/512
 * as RFC 5802 and Kafka's KIP-84 define it (no channel binding), over
 * SaslHandshake v1 and SaslAuthenticate v1. */
#include "connectors/kafka_probe.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { API_SASL_HANDSHAKE = 17, API_SASL_AUTHENTICATE = 36, SCRAM_MAX = 1024 };

/* One SaslAuthenticate round: in, then the server's answer in out. */
static int sasl_round(struct weir_kprobe *p, const char *in, size_t n, char *out, size_t osize,
                      char *why, size_t size)
{
    struct weir_kwrite w = {0};
    weir_kwrite32(&w, (int32_t)n);
    if (n > sizeof w.b - w.n)
        return snprintf(why, size, "SASL message too long"), -1;
    memcpy(w.b + w.n, in, n);
    w.n += n;
    struct weir_kread r;
    if (weir_kprobe_call(p, API_SASL_AUTHENTICATE, 1, &w, &r, why, size) < 0)
        return -1;
    int16_t err = weir_kread16(&r);
    char msg[256];
    weir_kread_str(&r, msg, sizeof msg);
    int32_t len = weir_kread32(&r);
    int rc = 0;
    if (r.bad || err) {
        snprintf(why, size, "%s:%d: authentication refused (%s mechanism, error %d%s%s)", p->host,
                 p->port, r.bad ? "?" : "SASL", err, msg[0] ? ": " : "", msg);
        rc = -1;
    } else if (len < 0 || (size_t)len >= osize || (size_t)len > r.n - r.at) {
        snprintf(why, size, "%s:%d: a SASL answer out of shape", p->host, p->port);
        rc = -1;
    } else {
        memcpy(out, r.p + r.at, (size_t)len);
        out[len] = 0;
    }
    free((void *)r.p);
    return rc;
}

static int handshake(struct weir_kprobe *p, const char *mech, char *why, size_t size)
{
    struct weir_kwrite w = {0};
    weir_kwrite_str(&w, mech);
    struct weir_kread r;
    if (weir_kprobe_call(p, API_SASL_HANDSHAKE, 1, &w, &r, why, size) < 0)
        return -1;
    int16_t err = weir_kread16(&r);
    free((void *)r.p);
    if (r.bad || err) {
        snprintf(why, size, "%s:%d: the broker does not take SASL %s (error %d)", p->host,
                 p->port, mech, err);
        return -1;
    }
    return 0;
}

/* "=" and "," in a SCRAM user name are written =3D and =2C. */
static void scram_name(char *out, size_t size, const char *user)
{
    size_t n = 0;
    for (const char *s = user; *s && n + 4 < size; s++)
        n += (size_t)(*s == '=' ? snprintf(out + n, size - n, "=3D")
                      : *s == ',' ? snprintf(out + n, size - n, "=2C")
                                  : snprintf(out + n, size - n, "%c", *s));
    out[n] = 0;
}

static const char *attr(const char *msg, char name, char *out, size_t size)
{
    for (const char *s = msg; s && *s; s = strchr(s, ',') ? strchr(s, ',') + 1 : NULL)
        if (s[0] == name && s[1] == '=') {
            size_t n = strcspn(s + 2, ",");
            if (n >= size)
                return NULL;
            memcpy(out, s + 2, n);
            out[n] = 0;
            return out;
        }
    return NULL;
}

static int scram(struct weir_kprobe *p, const struct weir_kprobe_conf *c, char *why, size_t size)
{
    const EVP_MD *md = strcmp(c->mech, "SCRAM-SHA-512") == 0 ? EVP_sha512() : EVP_sha256();
    unsigned hl = (unsigned)EVP_MD_size(md);
    unsigned char raw[18], salted[64], ckey[64], skey[64], stored[64], sig[64], proof[64],
        salt[256];
    char nonce[32], user[256], first[SCRAM_MAX], server[SCRAM_MAX], final[SCRAM_MAX],
        auth[3 * SCRAM_MAX], r[256], s[256], it[32], b64[128];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return snprintf(why, size, "no random bytes for SCRAM"), -1;
    EVP_EncodeBlock((unsigned char *)nonce, raw, sizeof raw);
    scram_name(user, sizeof user, c->user);
    int fn = snprintf(first, sizeof first, "n,,n=%s,r=%s", user, nonce);
    if (sasl_round(p, first, (size_t)fn, server, sizeof server, why, size) < 0)
        return -1;
    if (!attr(server, 'r', r, sizeof r) || !attr(server, 's', s, sizeof s) ||
        !attr(server, 'i', it, sizeof it) || strncmp(r, nonce, strlen(nonce)) != 0)
        return snprintf(why, size, "%s:%d: SCRAM: an answer out of shape", p->host, p->port), -1;
    int sl = EVP_DecodeBlock(salt, (const unsigned char *)s, (int)strlen(s));
    for (size_t k = strlen(s); sl > 0 && k > 0 && s[k - 1] == '='; k--)
        sl--; /* EVP_DecodeBlock counts the padding */
    if (sl <= 0 || atoi(it) < 1 ||
        PKCS5_PBKDF2_HMAC(c->pass, (int)strlen(c->pass), salt, sl, atoi(it), md, (int)hl,
                          salted) != 1)
        return snprintf(why, size, "%s:%d: SCRAM: bad salt or iterations", p->host, p->port), -1;
    unsigned n;
    HMAC(md, salted, (int)hl, (const unsigned char *)"Client Key", 10, ckey, &n);
    EVP_Digest(ckey, hl, stored, &n, md, NULL);
    int without = snprintf(final, sizeof final, "c=biws,r=%s", r);
    snprintf(auth, sizeof auth, "%s,%s,%s", first + 3, server, final);
    HMAC(md, stored, (int)hl, (const unsigned char *)auth, strlen(auth), sig, &n);
    for (unsigned i = 0; i < hl; i++)
        proof[i] = ckey[i] ^ sig[i];
    EVP_EncodeBlock((unsigned char *)b64, proof, (int)hl);
    int total = snprintf(final + without, sizeof final - (size_t)without, ",p=%s", b64) + without;
    if (sasl_round(p, final, (size_t)total, server, sizeof server, why, size) < 0)
        return -1;
    /* The server proves it knows the password too. */
    HMAC(md, salted, (int)hl, (const unsigned char *)"Server Key", 10, skey, &n);
    HMAC(md, skey, (int)hl, (const unsigned char *)auth, strlen(auth), sig, &n);
    EVP_EncodeBlock((unsigned char *)b64, sig, (int)hl);
    if (!attr(server, 'v', s, sizeof s) || strcmp(s, b64) != 0)
        return snprintf(why, size, "%s:%d: SCRAM: the server's signature does not match", p->host,
                        p->port),
               -1;
    return 0;
}

int weir_kprobe_sasl(struct weir_kprobe *p, const struct weir_kprobe_conf *c, char *why,
                     size_t size)
{
    if (handshake(p, c->mech, why, size) < 0)
        return -1;
    if (strcmp(c->mech, "PLAIN") != 0)
        return scram(p, c, why, size);
    char msg[1024], out[256];
    int n = snprintf(msg, sizeof msg, "%c%s%c%s", 0, c->user, 0, c->pass);
    if (n < 0 || (size_t)n >= sizeof msg)
        return snprintf(why, size, "sasl.username or sasl.password too long"), -1;
    return sasl_round(p, msg, (size_t)n, out, sizeof out, why, size);
}
