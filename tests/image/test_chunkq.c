/*
 * The layer writer's bounded queue (image/chunkq.c) with one producer and
 * two consumers at different speeds, as the tar's hash and the compressor
 * use it: each consumer sees every chunk in order and unchanged, the
 * producer is never more than nslots ahead of the slower one, and a failure
 * on one side stops the other two with its reason.
 */
#include "testutil.h"
#include "img_internal.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define SLOTS 4
#define CAP 64
#define NCHUNKS 2000

struct consumer {
	struct img_chunkq *q;
	size_t k;
	int slow;	  /* pauses now and then */
	int fail_at;	  /* > 0: fails the queue at this chunk */
	atomic_ulong done; /* chunks released */
	unsigned long seen, bad;
};

static void pause_briefly(void)
{
	struct timespec ts = { 0, 20000 };

	nanosleep(&ts, NULL);
}

static void *consume(void *arg)
{
	struct consumer *c = arg;
	struct img_chunk *ch;

	while ((ch = img_chunkq_pop(c->q, c->k))) {
		unsigned long n;

		memcpy(&n, ch->data, sizeof(n));
		/* Every byte after the sequence number repeats its low byte. */
		if (n != c->seen || ch->len != CAP || ch->data[CAP - 1] != (unsigned char)n)
			c->bad++;
		c->seen++;
		if (c->fail_at && c->seen == (unsigned long)c->fail_at) {
			struct ut_err err = { "" };

			ut_err_set(&err, "consumer %zu gave up", c->k);
			img_chunkq_fail(c->q, &err);
			return NULL;
		}
		if (c->slow && n % 7 == 0)
			pause_briefly();
		img_chunkq_release(c->q, c->k);
		atomic_fetch_add(&c->done, 1);
		if (n == NCHUNKS - 1)
			break;
	}
	return NULL;
}

/* Produces up to NCHUNKS; returns how many went in before a failure. */
static unsigned long produce(struct img_chunkq *q, struct consumer *c, size_t nc,
			     unsigned long *max_ahead)
{
	unsigned long n;

	for (n = 0; n < NCHUNKS; n++) {
		struct img_chunk *ch = img_chunkq_fill(q);
		unsigned long slowest = ULONG_MAX;
		size_t k;

		if (!ch)
			break;
		for (k = 0; k < nc; k++) {
			unsigned long d = atomic_load(&c[k].done);

			if (d < slowest)
				slowest = d;
		}
		/* Slot n is free only once every consumer released n - SLOTS. */
		if (n - slowest > *max_ahead)
			*max_ahead = n - slowest;
		memset(ch->data, (unsigned char)n, CAP);
		memcpy(ch->data, &n, sizeof(n));
		ch->len = CAP;
		img_chunkq_push(q);
	}
	return n;
}

static void test_two_consumers(void **state)
{
	struct img_chunkq *q = img_chunkq_new(SLOTS, CAP, 2);
	struct consumer c[2] = { { .q = q, .k = 0, .slow = 1 }, { .q = q, .k = 1 } };
	unsigned long ahead = 0;
	pthread_t th[2];

	(void)state;
	assert_int_equal(img_chunkq_cap(q), CAP);
	for (int k = 0; k < 2; k++)
		assert_int_equal(pthread_create(&th[k], NULL, consume, &c[k]), 0);
	assert_int_equal(produce(q, c, 2, &ahead), NCHUNKS);
	for (int k = 0; k < 2; k++) {
		pthread_join(th[k], NULL);
		assert_int_equal(c[k].seen, NCHUNKS);
		assert_int_equal(c[k].bad, 0);
	}
	fprintf(stderr, "producer at most %lu chunks ahead of the slower consumer\n", ahead);
	assert_true(ahead <= SLOTS);
	assert_int_equal(img_chunkq_error(q, NULL), 0);
	img_chunkq_free(q);
}

static void test_consumer_failure(void **state)
{
	struct img_chunkq *q = img_chunkq_new(SLOTS, CAP, 2);
	struct consumer c[2] = { { .q = q, .k = 0, .fail_at = 100 }, { .q = q, .k = 1, .slow = 1 } };
	struct ut_err err = { "" };
	unsigned long ahead = 0, made;
	pthread_t th[2];

	(void)state;
	for (int k = 0; k < 2; k++)
		assert_int_equal(pthread_create(&th[k], NULL, consume, &c[k]), 0);
	made = produce(q, c, 2, &ahead);
	for (int k = 0; k < 2; k++)
		pthread_join(th[k], NULL);
	/* The producer stopped within a queue's length of the failing chunk,
	 * and the other consumer stopped too instead of waiting forever. */
	assert_true(made >= 100 && made <= 100 + SLOTS);
	assert_int_equal(c[0].seen, 100);
	assert_true(c[1].seen <= made);
	assert_int_equal(c[1].bad, 0);
	assert_int_equal(img_chunkq_error(q, &err), -1);
	assert_string_equal(err.msg, "consumer 0 gave up");
	assert_null(img_chunkq_fill(q));
	assert_null(img_chunkq_pop(q, 1));
	img_chunkq_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_consumers),
		cmocka_unit_test(test_consumer_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
