/*
 * auth.c — bearer tokens (see auth.h): the table in force, the lookup of a
 * request's token (constant time, config/tokens.c), a token bucket per
 * token for its rate (bursts up to a minute's requests, refilled evenly)
 * and the count of its submits in flight for its queue quota.
 *
 * One mutex guards the table and the usage; the usage array runs parallel
 * to the table's entries and is rebuilt on a reload, carrying each name's
 * state over. Token values never leave this file and config/tokens.c: logs
 * and answers name the token's NAME.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "internal.h"

typedef struct {
    double budget;              /* requests it may make now (token bucket) */
    double at;                  /* monotonic time of budget */
    int in_flight;              /* submits between auth_submit_begin and _end */
} usage;

struct api_auth {
    pthread_mutex_t mu;
    tokens_table *table;        /* NULL: open access */
    usage *use;                 /* one per table entry */
    char path[512];
    int default_quota, default_rate;
};

/* A fresh usage array for t, each name's state taken from the old one. */
static usage *usage_for(const tokens_table *t, const tokens_table *old, const usage *old_use)
{
    usage *u = calloc(t->n ? t->n : 1, sizeof *u);
    if (!u) return NULL;
    double now = api_clock();
    for (size_t i = 0; i < t->n; i++) {
        u[i].budget = t->entries[i].rate_limit;
        u[i].at = now;
        for (size_t k = 0; old && k < old->n; k++) {
            if (strcmp(old->entries[k].name, t->entries[i].name) != 0) continue;
            u[i] = old_use[k];
            if (u[i].budget > t->entries[i].rate_limit) u[i].budget = t->entries[i].rate_limit;
            break;
        }
    }
    return u;
}

int auth_create(api_auth **out, tokens_table *table, const char *path, int default_quota,
                int default_rate)
{
    *out = NULL;
    api_auth *a = calloc(1, sizeof *a);
    if (!a || pthread_mutex_init(&a->mu, NULL) != 0) {
        free(a);
        tokens_free(table);
        return -1;
    }
    a->table = table;
    snprintf(a->path, sizeof a->path, "%s", path ? path : "");
    a->default_quota = default_quota;
    a->default_rate = default_rate;
    if (table && !(a->use = usage_for(table, NULL, NULL))) {
        auth_free(a);
        return -1;
    }
    *out = a;
    return 0;
}

void auth_free(api_auth *a)
{
    if (!a) return;
    tokens_free(a->table);
    free(a->use);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

int auth_enabled(api_auth *a)
{
    pthread_mutex_lock(&a->mu);
    int on = a->table != NULL;
    pthread_mutex_unlock(&a->mu);
    return on;
}

/* The token of an "Authorization: Bearer TOKEN" value: *tok and *len, or
 * -1 when the value is not of that form. */
static int bearer(const char *v, const char **tok, size_t *len)
{
    v += strspn(v, " \t");
    if (strncasecmp(v, "Bearer", 6) != 0 || (v[6] != ' ' && v[6] != '\t')) return -1;
    v += 6;
    v += strspn(v, " \t");
    size_t n = strcspn(v, " \t");
    if (n == 0 || v[n + strspn(v + n, " \t")] != 0) return -1;
    *tok = v;
    *len = n;
    return 0;
}

/* Spend one request of entry i's budget (under mu); 0, or the seconds
 * until one is there. */
static int spend(api_auth *a, size_t i)
{
    int rate = a->table->entries[i].rate_limit;
    if (rate <= 0) return 0;
    usage *u = &a->use[i];
    double now = api_clock(), per_s = rate / 60.0;
    u->budget += (now - u->at) * per_s;
    if (u->budget > rate) u->budget = rate;
    u->at = now;
    if (u->budget >= 1) {
        u->budget -= 1;
        return 0;
    }
    int wait = (int)ceil((1 - u->budget) / per_s);
    return wait < 1 ? 1 : wait;
}

auth_result auth_check(api_auth *a, const char *authorization, auth_principal *who,
                       int *retry_after_s)
{
    memset(who, 0, sizeof *who);
    *retry_after_s = 0;
    const char *tok = NULL;
    size_t len = 0;
    int form = authorization ? bearer(authorization, &tok, &len) : -1;
    pthread_mutex_lock(&a->mu);
    auth_result r = AUTH_OK;
    if (!a->table) {
        r = AUTH_OK;
    } else if (!authorization) {
        r = AUTH_MISSING;
    } else {
        long i = tokens_find(a->table, form == 0 ? tok : "", form == 0 ? len : 0);
        if (i < 0) {
            r = AUTH_INVALID;
        } else {
            const token_entry *e = &a->table->entries[i];
            who->known = 1;
            memcpy(who->name, e->name, sizeof who->name);
            who->role = e->role;
            who->queue_quota = e->queue_quota;
            who->rate_limit = e->rate_limit;
            if ((*retry_after_s = spend(a, (size_t)i)) > 0) r = AUTH_RATE_LIMITED;
        }
    }
    pthread_mutex_unlock(&a->mu);
    return r;
}

int auth_reload(api_auth *a, size_t *n, char *err, size_t errlen)
{
    *n = 0;
    if (!a->path[0]) return 1;
    tokens_table *t = NULL;
    if (tokens_load(a->path, a->default_quota, a->default_rate, &t, err, errlen) < 0) return -1;
    pthread_mutex_lock(&a->mu);
    usage *u = usage_for(t, a->table, a->use);
    if (u) {
        tokens_free(a->table);
        free(a->use);
        a->table = t;
        a->use = u;
        *n = t->n;
    }
    pthread_mutex_unlock(&a->mu);
    if (!u) {
        tokens_free(t);
        snprintf(err, errlen, "%s: out of memory", a->path);
        return -1;
    }
    return 0;
}

/* The index of the entry named name, or -1 (under mu). */
static long find_name(api_auth *a, const char *name)
{
    for (size_t i = 0; a->table && i < a->table->n; i++)
        if (strcmp(a->table->entries[i].name, name) == 0) return (long)i;
    return -1;
}

int auth_submit_begin(api_auth *a, const auth_principal *who, jobs *jb, int *active)
{
    *active = 0;
    if (!who->known || who->queue_quota <= 0) return 0;
    jobs_filter f = {who->name, 1u << JOB_QUEUED | 1u << JOB_RUNNING};
    job_info *items;
    int n, total = 0;
    pthread_mutex_lock(&a->mu);
    long i = find_name(a, who->name);
    int rc = 0;
    if (i >= 0) {   /* else the token went in a reload: its request still runs, uncounted */
        if (jobs_list(jb, &f, 0, 0, &items, &n, &total) == 0) jobs_list_free(items, n);
        *active = total + a->use[i].in_flight;
        rc = *active >= who->queue_quota ? -1 : 1;
        if (rc == 1) a->use[i].in_flight++;
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

void auth_submit_end(api_auth *a, const auth_principal *who)
{
    pthread_mutex_lock(&a->mu);
    long i = find_name(a, who->name);
    if (i >= 0 && a->use[i].in_flight > 0) a->use[i].in_flight--;
    pthread_mutex_unlock(&a->mu);
}
