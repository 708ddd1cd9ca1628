/*
 * chunkq.c - a bounded queue of fixed buffers between threads, one
 * producer and one or more consumers, so the layer writer's stages (reading
 * content, tar framing, hashing and compressing) overlap while memory stays
 * at nslots buffers whatever the layer's size.
 *
 * A slot goes FREE -> (producer fills it) -> READY -> (every consumer uses
 * it, each at its own pace) -> FREE, in ring order, so chunks arrive in the
 * order they were made. Several consumers read the same slot, so two stages
 * that need the same bytes (the tar's hash and the compressor) run side by
 * side without a copy.
 * Either side may fail the queue: the other side's next wait returns NULL
 * and the first reason stays in the queue for whoever reports it.
 */
#include "img_internal.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct img_chunkq {
	struct img_chunk *slots;
	size_t nslots, cap, nconsumers;
	uint64_t head;	 /* next slot to fill */
	uint64_t *tails; /* each consumer's next slot to consume */
	int failed;
	struct ut_err err;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

struct img_chunkq *img_chunkq_new(size_t nslots, size_t cap, size_t nconsumers)
{
	struct img_chunkq *q = ut_calloc(1, sizeof(*q));
	size_t i;

	assert(nconsumers >= 1);
	q->nslots = nslots;
	q->cap = cap;
	q->nconsumers = nconsumers;
	q->tails = ut_calloc(nconsumers, sizeof(*q->tails));
	q->slots = ut_calloc(nslots, sizeof(*q->slots));
	for (i = 0; i < nslots; i++)
		q->slots[i].data = ut_malloc(cap);
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	return q;
}

void img_chunkq_free(struct img_chunkq *q)
{
	size_t i;

	if (!q)
		return;
	for (i = 0; i < q->nslots; i++)
		free(q->slots[i].data);
	free(q->slots);
	free(q->tails);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q);
}

size_t img_chunkq_cap(const struct img_chunkq *q)
{
	return q->cap;
}

/* The slowest consumer's next slot: slots before it are free. Under q->mu. */
static uint64_t slowest_tail(const struct img_chunkq *q)
{
	uint64_t t = q->tails[0];
	size_t k;

	for (k = 1; k < q->nconsumers; k++)
		if (q->tails[k] < t)
			t = q->tails[k];
	return t;
}

struct img_chunk *img_chunkq_fill(struct img_chunkq *q)
{
	struct img_chunk *c = NULL;

	pthread_mutex_lock(&q->mu);
	while (!q->failed && q->head - slowest_tail(q) == q->nslots)
		pthread_cond_wait(&q->cv, &q->mu);
	if (!q->failed) {
		c = &q->slots[q->head % q->nslots];
		c->len = 0;
		c->tag = NULL;
		c->flags = 0;
	}
	pthread_mutex_unlock(&q->mu);
	return c;
}

void img_chunkq_push(struct img_chunkq *q)
{
	pthread_mutex_lock(&q->mu);
	q->head++;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

struct img_chunk *img_chunkq_pop(struct img_chunkq *q, size_t consumer)
{
	struct img_chunk *c = NULL;

	assert(consumer < q->nconsumers);
	pthread_mutex_lock(&q->mu);
	while (!q->failed && q->head == q->tails[consumer])
		pthread_cond_wait(&q->cv, &q->mu);
	if (!q->failed)
		c = &q->slots[q->tails[consumer] % q->nslots];
	pthread_mutex_unlock(&q->mu);
	return c;
}

void img_chunkq_release(struct img_chunkq *q, size_t consumer)
{
	pthread_mutex_lock(&q->mu);
	q->tails[consumer]++;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

void img_chunkq_fail(struct img_chunkq *q, const struct ut_err *err)
{
	pthread_mutex_lock(&q->mu);
	if (!q->failed && err)
		q->err = *err;
	q->failed = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

int img_chunkq_error(struct img_chunkq *q, struct ut_err *err)
{
	int failed;

	pthread_mutex_lock(&q->mu);
	failed = q->failed;
	if (failed && err && q->err.msg[0])
		*err = q->err;
	pthread_mutex_unlock(&q->mu);
	return failed ? -1 : 0;
}
