/*
 * handoff.c - work handed from the loop to a worker thread and back.
 *
 * The writer and the report threads work the same way: the loop queues an
 * item; a worker thread takes it (the writer: every item queued, as one
 * batch), does the work off the loop, and puts it on a finished list;
 * an event wakes the loop, which runs the completions. This is that
 * queue, its finished list and the wake-up, once. Items embed a struct
 * handoff_item as their first member. The condition variable waits on
 * CLOCK_MONOTONIC, so a step of the wall clock does not stretch a timed
 * wait.
 */
#include "gongyou.h"

#include <string.h>
#include <time.h>

#include <event2/event.h>

int handoff_init(struct handoff *h, struct event_base *base, event_callback_fn on_done, void *arg)
{
    pthread_condattr_t ca;

    memset(h, 0, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    h->done_ev = event_new(base, -1, 0, on_done, arg);
    return h->done_ev ? GY_OK : GY_ERR;
}

void handoff_append(struct handoff_item **head, struct handoff_item **tail, struct handoff_item *list)
{
    struct handoff_item *last = list;

    while (last->next)
        last = last->next;
    if (*tail)
        (*tail)->next = list;
    else
        *head = list;
    *tail = last;
}

/* A worker waits only on an empty queue, so only the push that fills it
 * needs to wake one (a worker that leaves items behind wakes the next:
 * handoff_take); the signal comes after the unlock, so the woken worker
 * does not at once block on the mutex the loop still holds (that was two
 * futex calls per request at shift change). */
void handoff_push(struct handoff *h, struct handoff_item *it)
{
    bool was_empty;

    it->next = NULL;
    pthread_mutex_lock(&h->mu);
    was_empty = !h->head;
    handoff_append(&h->head, &h->tail, it);
    pthread_mutex_unlock(&h->mu);
    if (was_empty)
        pthread_cond_signal(&h->cv);
}

/* With h->mu held: wait until something is queued or stop, for WAIT_MS at
 * most (forever if negative). */
static void wait_for_work(struct handoff *h, int wait_ms)
{
    struct timespec until;

    if (wait_ms < 0) {
        while (!h->head && !h->stop)
            pthread_cond_wait(&h->cv, &h->mu);
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += wait_ms * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    while (!h->head && !h->stop)
        if (pthread_cond_timedwait(&h->cv, &h->mu, &until) != 0)
            return;
}

struct handoff_item *handoff_take(struct handoff *h, long max, int wait_ms, long *n)
{
    struct handoff_item *first, *last;
    bool more;

    *n = 0;
    pthread_mutex_lock(&h->mu);
    wait_for_work(h, wait_ms);
    if (!h->head) {
        pthread_mutex_unlock(&h->mu);
        return NULL;
    }
    first = last = h->head;
    *n = 1;
    while (last->next && *n < max) {
        last = last->next;
        (*n)++;
    }
    h->head = last->next;
    if (!h->head)
        h->tail = NULL;
    last->next = NULL;
    more = h->head != NULL;
    pthread_mutex_unlock(&h->mu);
    if (more)
        pthread_cond_signal(&h->cv);   /* left for another worker (reports) */
    return first;
}

void handoff_finished(struct handoff *h, struct handoff_item *list)
{
    pthread_mutex_lock(&h->mu);
    handoff_append(&h->done, &h->done_tail, list);
    pthread_mutex_unlock(&h->mu);
    event_active(h->done_ev, EV_READ, 0);
}

struct handoff_item *handoff_done(struct handoff *h)
{
    struct handoff_item *list;

    pthread_mutex_lock(&h->mu);
    list = h->done;
    h->done = h->done_tail = NULL;
    pthread_mutex_unlock(&h->mu);
    return list;
}

void handoff_stop(struct handoff *h)
{
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

bool handoff_stopping(struct handoff *h)
{
    bool stop;

    pthread_mutex_lock(&h->mu);
    stop = h->stop;
    pthread_mutex_unlock(&h->mu);
    return stop;
}

void handoff_destroy(struct handoff *h)
{
    if (h->done_ev)
        event_free(h->done_ev);
    h->done_ev = NULL;
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
}
