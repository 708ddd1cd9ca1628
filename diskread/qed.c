/*
 * qed.c - QEMU Enhanced Disk images, read-only: a little-endian header, an
 * L1 table of L2 table offsets, L2 tables of cluster offsets (0: not
 * allocated, read from the backing file or as zeros; 1: a zero cluster),
 * and an optional backing file named in the header clusters.
 */
#include "dr_internal.h"

#include <stdlib.h>
#include <string.h>

#define QED_MAGIC "QED\0"
#define QED_HEADER_LEN 64
#define QED_MIN_CLUSTER (4U << 10)
#define QED_MAX_CLUSTER (64U << 20)
#define QED_MAX_TABLE_SIZE 16
/* A table is table_size clusters: up to 1 GiB by the format; more than
 * this is no image qemu writes (its default is 256 KiB). */
#define QED_MAX_TABLE_BYTES (32U << 20)
#define QED_MAX_BACKING_NAME 1023
#define QED_F_BACKING_FILE 0x01ULL
#define QED_F_NEED_CHECK 0x02ULL
#define QED_F_BACKING_FORMAT_NO_PROBE 0x04ULL
#define QED_F_KNOWN 0x07ULL
#define QED_CLUSTER_ZERO 1ULL
#define QED_L2_CACHE 4

struct l2_slot {
	uint64_t off; /* 0: empty */
	uint64_t stamp;
	uint64_t *table; /* host order */
};

struct qed {
	struct dr_mapped m; /* first: the generic pread reads it */
	uint32_t cluster_size;
	uint64_t table_bytes;
	uint64_t entries;   /* per table */
	unsigned l2_shift;  /* log2 of the bytes one L2 table maps */
	int has_backing;
	uint64_t *l1;
	struct l2_slot l2c[QED_L2_CACHE];
	uint64_t clock;
};

static int qed_map(struct dr_blockdev *bd, uint64_t off, uint64_t maxlen, struct dr_extent *x,
		   struct ut_err *err);

static int qed_probe(const unsigned char *head, size_t len)
{
	return len >= 4 && !memcmp(head, QED_MAGIC, 4) ? 100 : 0;
}

static int is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static unsigned log2_of(uint64_t v)
{
	unsigned n = 0;

	while (v > 1) {
		v >>= 1;
		n++;
	}
	return n;
}

/* Reads a table (L1 or L2) at a checked offset into host order. */
static int table_read(struct dr_blockdev *bd, uint64_t off, uint64_t *table, const char *what,
		      struct ut_err *err)
{
	struct qed *q = bd->priv;
	uint64_t i;

	if (off & (q->cluster_size - 1))
		return ut_err_set(err, "%s: QED %s table offset %llu is not cluster aligned",
				  bd->path, what, (unsigned long long)off);
	if (off >= q->m.f.size || q->table_bytes > q->m.f.size - off)
		return ut_err_set(err, "%s: QED %s table at %llu lies beyond the end of the file",
				  bd->path, what, (unsigned long long)off);
	if (dr_host_pread(q->m.f.fd, q->m.f.size, bd->path, table, q->table_bytes, off,
			  &bd->bytes_read, err) < 0)
		return -1;
	for (i = 0; i < q->entries; i++)
		table[i] = ut_le64(&table[i]);
	return 0;
}

static int qed_open(struct dr_blockdev *bd, const char *path, int depth, struct ut_err *err)
{
	struct qed *q = ut_calloc(1, sizeof(*q));
	unsigned char h[QED_HEADER_LEN];
	uint32_t table_size, header_clusters, name_off, name_len;
	uint64_t features, l1_off, size, max_size;
	char *name = NULL;
	int ret = -1;

	bd->priv = q;
	q->m.map = qed_map;
	if (dr_file_open(bd, &q->m.f, err) < 0)
		return -1;
	if (q->m.f.size < sizeof(h))
		return ut_err_set(err, "%s: truncated QED header (%llu bytes)", path,
				  (unsigned long long)q->m.f.size);
	if (dr_host_pread(q->m.f.fd, q->m.f.size, path, h, sizeof(h), 0, &bd->bytes_read, err) < 0)
		return -1;
	if (memcmp(h, QED_MAGIC, 4))
		return ut_err_set(err, "%s: not a QED image (bad magic)", path);
	q->cluster_size = ut_le32(h + 4);
	table_size = ut_le32(h + 8);
	header_clusters = ut_le32(h + 12);
	features = ut_le64(h + 16);
	l1_off = ut_le64(h + 40);
	size = ut_le64(h + 48);
	name_off = ut_le32(h + 56);
	name_len = ut_le32(h + 60);
	if (!is_pow2(q->cluster_size) || q->cluster_size < QED_MIN_CLUSTER ||
	    q->cluster_size > QED_MAX_CLUSTER)
		return ut_err_set(err, "%s: invalid QED cluster size %u", path, q->cluster_size);
	if (!is_pow2(table_size) || table_size > QED_MAX_TABLE_SIZE)
		return ut_err_set(err, "%s: invalid QED table size %u", path, table_size);
	if (features & ~QED_F_KNOWN)
		return ut_err_set(err, "%s: unsupported QED features 0x%llx", path,
				  (unsigned long long)(features & ~QED_F_KNOWN));
	q->table_bytes = (uint64_t)table_size * q->cluster_size;
	if (q->table_bytes > QED_MAX_TABLE_BYTES)
		return ut_err_set(err, "%s: QED tables of %llu bytes are too large", path,
				  (unsigned long long)q->table_bytes);
	q->entries = q->table_bytes / 8;
	q->l2_shift = log2_of(q->entries) + log2_of(q->cluster_size);
	/* entries L2 tables of entries clusters; past 2^64 anything fits. */
	max_size = q->l2_shift + log2_of(q->entries) >= 64 ? UINT64_MAX :
		   q->entries << q->l2_shift;
	if (size > max_size || size % 512)
		return ut_err_set(err, "%s: invalid QED image size %llu", path,
				  (unsigned long long)size);
	bd->size = size;
	q->has_backing = !!(features & QED_F_BACKING_FILE);
	q->l1 = ut_malloc(q->table_bytes);
	if (table_read(bd, l1_off, q->l1, "L1", err) < 0)
		return -1;
	if (q->has_backing) {
		uint64_t header_bytes = (uint64_t)header_clusters * q->cluster_size;

		if (!name_len || name_len > QED_MAX_BACKING_NAME)
			return ut_err_set(err, "%s: QED backing file name length %u is invalid", path,
					  name_len);
		if (name_off > header_bytes || name_len > header_bytes - name_off ||
		    name_off > q->m.f.size || name_len > q->m.f.size - name_off)
			return ut_err_set(err, "%s: QED backing file name lies outside the header",
					  path);
		name = ut_malloc(name_len + 1);
		if (dr_host_pread(q->m.f.fd, q->m.f.size, path, name, name_len, name_off,
				  &bd->bytes_read, err) < 0)
			goto out;
		name[name_len] = '\0';
		if (strlen(name) != name_len) {
			ut_err_set(err, "%s: QED backing file name contains a NUL byte", path);
			goto out;
		}
		if (!strncmp(name, "json:", 5) || strstr(name, "://")) {
			ut_err_set(err, "%s: backing file '%s' is not a plain file name", path, name);
			goto out;
		}
		if (dr_open_backing(bd, "backing file", name,
				    features & QED_F_BACKING_FORMAT_NO_PROBE ? "raw" : NULL, err) < 0)
			goto out;
	}
	ret = 0;
out:
	free(name);
	return ret;
}

static int l2_load(struct dr_blockdev *bd, uint64_t off, const uint64_t **table,
		   struct ut_err *err)
{
	struct qed *q = bd->priv;
	struct l2_slot *victim = &q->l2c[0];
	unsigned i;

	for (i = 0; i < QED_L2_CACHE; i++) {
		struct l2_slot *s = &q->l2c[i];

		if (s->off == off && s->table) {
			s->stamp = ++q->clock;
			*table = s->table;
			return 0;
		}
		if (s->stamp < victim->stamp)
			victim = s;
	}
	if (!victim->table)
		victim->table = ut_malloc(q->table_bytes);
	victim->off = 0;
	if (table_read(bd, off, victim->table, "L2", err) < 0)
		return -1;
	victim->off = off;
	victim->stamp = ++q->clock;
	*table = victim->table;
	return 0;
}

/* What the cluster holding off is: 0 unallocated, QED_CLUSTER_ZERO, or
 * its host offset. */
static int cluster_of(struct dr_blockdev *bd, uint64_t off, uint64_t *entry, struct ut_err *err)
{
	struct qed *q = bd->priv;
	uint64_t l1e = q->l1[off >> q->l2_shift];
	const uint64_t *l2;

	*entry = 0;
	if (!l1e)
		return 0;
	if (l2_load(bd, l1e, &l2, err) < 0)
		return -1;
	*entry = l2[(off >> log2_of(q->cluster_size)) & (q->entries - 1)];
	if (*entry > QED_CLUSTER_ZERO &&
	    ((*entry & (q->cluster_size - 1)) || *entry >= q->m.f.size))
		return ut_err_set(err, "%s: QED cluster for offset %llu at %llu is not a cluster of the file",
				  bd->path, (unsigned long long)off, (unsigned long long)*entry);
	return 0;
}

static int qed_map(struct dr_blockdev *bd, uint64_t off, uint64_t maxlen, struct dr_extent *x,
		   struct ut_err *err)
{
	struct qed *q = bd->priv;
	uint64_t entry, within = off & (q->cluster_size - 1);

	if (cluster_of(bd, off, &entry, err) < 0)
		return -1;
	x->len = q->cluster_size - within;
	if (!entry)
		x->kind = q->has_backing ? DR_EXT_BACKING : DR_EXT_ZERO;
	else if (entry == QED_CLUSTER_ZERO)
		x->kind = DR_EXT_ZERO;
	else {
		x->kind = DR_EXT_DATA;
		x->host = entry + within;
	}
	/* Host-contiguous clusters of one kind make one extent. */
	while (x->len < maxlen) {
		uint64_t next;
		enum dr_extent_kind kind;

		if (cluster_of(bd, off + x->len, &next, err) < 0)
			return -1;
		kind = !next ? (q->has_backing ? DR_EXT_BACKING : DR_EXT_ZERO) :
		       next == QED_CLUSTER_ZERO ? DR_EXT_ZERO : DR_EXT_DATA;
		if (kind != x->kind || (kind == DR_EXT_DATA && next != x->host + x->len))
			break;
		x->len += q->cluster_size;
	}
	if (x->len > maxlen)
		x->len = maxlen;
	return 0;
}

static void qed_close(struct dr_blockdev *bd)
{
	struct qed *q = bd->priv;
	unsigned i;

	if (!q)
		return;
	dr_file_close(&q->m.f);
	free(q->l1);
	for (i = 0; i < QED_L2_CACHE; i++)
		free(q->l2c[i].table);
	free(q);
	bd->priv = NULL;
}

const struct dr_blockdev_ops dr_qed_ops = {
	.name = "qed",
	.probe = qed_probe,
	.open = qed_open,
	.pread = dr_mapped_pread,
	.block_status = dr_mapped_block_status,
	.close = qed_close,
};
