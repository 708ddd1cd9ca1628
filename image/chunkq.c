/*
 * chunkq.c - a bounded queue of fixed buffers between two threads, one
 * producer and one consumer, so the layer writer's stages (reading content,
 * tar framing, hashing and compressing) overlap while memory stays at
 * nslots buffers whatever the layer's size.
 *
 * A slot goes FREE -> (producer fills it) -> READY -> (consumer uses it) ->
 * FREE, in ring order, so chunks arrive in the order they were made.
 * Either side may fail the queue: the other side's next wait returns NULL
 * and the first reason stays in the queue for whoever reports it.
 */
#include "img_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct img_chunkq {
	struct img_chunk *slots;
	size_t nslots, cap;
	uint64_t head, tail; /* next slot to fill, next slot to consume */
	int failed;
	struct ut_err err;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

struct img_chunkq *img_chunkq_new(size_t nslots, size_t cap)
{
	struct img_chunkq *q = ut_calloc(1, sizeof(*q));
	size_t i;

	q->nslots = nslots;
	q->cap = cap;
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
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q);
}

size_t img_chunkq_cap(const struct img_chunkq *q)
{
	return q->cap;
}

struct img_chunk *img_chunkq_fill(struct img_chunkq *q)
{
	struct img_chunk *c = NULL;

	pthread_mutex_lock(&q->mu);
	while (!q->failed && q->head - q->tail == q->nslots)
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

struct img_chunk *img_chunkq_pop(struct img_chunkq *q)
{
	struct img_chunk *c = NULL;

	pthread_mutex_lock(&q->mu);
	while (!q->failed && q->head == q->tail)
		pthread_cond_wait(&q->cv, &q->mu);
	if (!q->failed)
		c = &q->slots[q->tail % q->nslots];
	pthread_mutex_unlock(&q->mu);
	return c;
}

void img_chunkq_release(struct img_chunkq *q)
{
	pthread_mutex_lock(&q->mu);
	q->tail++;
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
