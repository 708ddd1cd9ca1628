/*
 * util.c - errors, buffers, sha256 and sorted file-system trees.
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

/* ---- errors ------------------------------------------------------------- */

int ut_err_set(struct ut_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int ut_err_prefix(struct ut_err *err, const char *fmt, ...)
{
	char prefix[UT_ERR_MAX / 2], old[UT_ERR_MAX];
	size_t n, room, olen;
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	/* Truncating a too-long message is the intent here. */
	n = strlen(prefix);
	memcpy(err->msg, prefix, n);
	room = sizeof(err->msg) - 1 - n;
	olen = strnlen(old, room);
	memcpy(err->msg + n, old, olen);
	err->msg[n + olen] = '\0';
	return -1;
}

/* ---- memory ------------------------------------------------------------- */

static void out_of_memory(size_t n)
{
	fprintf(stderr, "vm2oci: out of memory allocating %zu bytes\n", n);
	abort();
}

void *ut_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		out_of_memory(n);
	return p;
}

void *ut_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		out_of_memory(n * size);
	return p;
}

void *ut_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		out_of_memory(n);
	return q;
}

char *ut_strdup(const char *s)
{
	return ut_strndup(s, strlen(s));
}

char *ut_strndup(const char *s, size_t n)
{
	char *p = ut_malloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *ut_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		out_of_memory(0);
	s = ut_malloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* ---- growable buffer ---------------------------------------------------- */

void ut_buf_init(struct ut_buf *b, size_t cap)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
}

void ut_buf_release(struct ut_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
}

void ut_buf_reset(struct ut_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

int ut_buf_grow(struct ut_buf *b, size_t extra, struct ut_err *err)
{
	size_t need;

	if (extra > SIZE_MAX - b->len - 1)
		return ut_err_set(err, "buffer size overflow");
	need = b->len + extra + 1;
	if (b->cap && need - 1 > b->cap)
		return ut_err_set(err, "data larger than the %zu-byte limit", b->cap);
	if (need <= b->alloc)
		return 0;
	if (need < b->alloc * 2)
		need = b->alloc * 2;
	if (need < 64)
		need = 64;
	b->data = ut_realloc(b->data, need);
	if (!b->alloc)
		b->data[0] = '\0'; /* a fresh buffer is an empty string */
	b->alloc = need;
	return 0;
}

int ut_buf_add(struct ut_buf *b, const void *data, size_t len, struct ut_err *err)
{
	if (ut_buf_grow(b, len, err) < 0)
		return -1;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int ut_buf_addstr(struct ut_buf *b, const char *s, struct ut_err *err)
{
	return ut_buf_add(b, s, strlen(s), err);
}

int ut_buf_addf(struct ut_buf *b, struct ut_err *err, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return ut_err_set(err, "formatting failed");
	if (ut_buf_grow(b, (size_t)n, err) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

char *ut_buf_detach(struct ut_buf *b, size_t *len)
{
	char *p;

	if (!b->data)
		ut_buf_grow(b, 0, NULL);
	p = (char *)b->data;
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	return p;
}

int ut_buf_add_json_string(struct ut_buf *b, const char *s, struct ut_err *err)
{
	const unsigned char *p = (const unsigned char *)s;

	if (ut_buf_add(b, "\"", 1, err) < 0)
		return -1;
	for (; *p; p++) {
		int rc;

		switch (*p) {
		case '"': rc = ut_buf_add(b, "\\\"", 2, err); break;
		case '\\': rc = ut_buf_add(b, "\\\\", 2, err); break;
		case '\n': rc = ut_buf_add(b, "\\n", 2, err); break;
		case '\t': rc = ut_buf_add(b, "\\t", 2, err); break;
		case '\r': rc = ut_buf_add(b, "\\r", 2, err); break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				rc = ut_buf_addf(b, err, "\\u%04x", *p);
			} else if (*p >= 0x80) {
				/* JSON is UTF-8: a byte that is not becomes the text
				 * "\\xHH", as ut_buf_add_escaped writes it. */
				size_t n = ut_utf8_seq_len(p);

				if (n) {
					rc = ut_buf_add(b, p, n, err);
					p += n - 1;
				} else {
					rc = ut_buf_addf(b, err, "\\\\x%02x", *p);
				}
			} else {
				rc = ut_buf_add(b, p, 1, err);
			}
		}
		if (rc < 0)
			return -1;
	}
	return ut_buf_add(b, "\"", 1, err);
}

int ut_read_fd(int fd, const char *name, struct ut_buf *b, struct ut_err *err)
{
	char chunk[65536];

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ut_err_set(err, "%s: %s", name, strerror(errno));
		}
		if (n == 0)
			break;
		if (ut_buf_add(b, chunk, (size_t)n, err) < 0)
			return ut_err_prefix(err, "%s: ", name);
	}
	if (!b->data)
		ut_buf_grow(b, 0, NULL);
	return 0;
}

int ut_read_host_file(const char *path, struct ut_buf *b, struct ut_err *err)
{
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ut_err_set(err, "%s: %s", path, strerror(errno));
	rc = ut_read_fd(fd, path, b, err);
	close(fd);
	return rc;
}

void ut_rm_rf(const char *path)
{
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (lstat(path, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	d = opendir(path);
	if (d) {
		while ((de = readdir(d))) {
			char *sub;

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			sub = ut_asprintf("%s/%s", path, de->d_name);
			ut_rm_rf(sub);
			free(sub);
		}
		closedir(d);
	}
	rmdir(path);
}

char *ut_human_size(uint64_t b, char *out, size_t len)
{
	if (b >= (1ull << 40))
		snprintf(out, len, "%.2f TiB", (double)b / 1099511627776.0);
	else if (b >= (1ull << 30))
		snprintf(out, len, "%.2f GiB", (double)b / 1073741824.0);
	else if (b >= (1ull << 20))
		snprintf(out, len, "%.2f MiB", (double)b / 1048576.0);
	else if (b >= 1024)
		snprintf(out, len, "%.1f KiB", (double)b / 1024.0);
	else
		snprintf(out, len, "%llu B", (unsigned long long)b);
	return out;
}

/* ---- sha256 ------------------------------------------------------------- */

/* One EVP digest context behind both ut_sha256 and ut_hash. */
static int md_init(void **ctx, const EVP_MD *md)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	if (!c || EVP_DigestInit_ex(c, md, NULL) != 1) {
		EVP_MD_CTX_free(c);
		*ctx = NULL;
		return -1;
	}
	*ctx = c;
	return 0;
}

static void md_update(void *ctx, const void *data, size_t len)
{
	if (len)
		EVP_DigestUpdate(ctx, data, len);
}

static size_t md_final(void **ctx, unsigned char *out)
{
	unsigned int n = 0;

	EVP_DigestFinal_ex(*ctx, out, &n);
	EVP_MD_CTX_free(*ctx);
	*ctx = NULL;
	return n;
}

static void md_release(void **ctx)
{
	EVP_MD_CTX_free(*ctx);
	*ctx = NULL;
}

int ut_sha256_init(struct ut_sha256 *h)
{
	return md_init(&h->ctx, EVP_sha256());
}

void ut_sha256_update(struct ut_sha256 *h, const void *data, size_t len)
{
	md_update(h->ctx, data, len);
}

void ut_sha256_final(struct ut_sha256 *h, unsigned char out[UT_SHA256_LEN])
{
	md_final(&h->ctx, out);
}

void ut_sha256_release(struct ut_sha256 *h)
{
	md_release(&h->ctx);
}

int ut_hash_init(struct ut_hash *h, enum ut_hash_kind kind)
{
	return md_init(&h->ctx, kind == UT_HASH_MD5 ? EVP_md5() : kind == UT_HASH_SHA1 ? EVP_sha1()
										   : EVP_sha256());
}

void ut_hash_update(struct ut_hash *h, const void *data, size_t len)
{
	md_update(h->ctx, data, len);
}

size_t ut_hash_final(struct ut_hash *h, unsigned char out[UT_HASH_MAX])
{
	return md_final(&h->ctx, out);
}

void ut_hash_release(struct ut_hash *h)
{
	md_release(&h->ctx);
}

void ut_sha256_buf(const void *data, size_t len, unsigned char out[UT_SHA256_LEN])
{
	struct ut_sha256 h;

	if (ut_sha256_init(&h) < 0)
		out_of_memory(0);
	ut_sha256_update(&h, data, len);
	ut_sha256_final(&h, out);
}

void ut_hex(const unsigned char *bin, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[bin[i] >> 4];
		out[2 * i + 1] = digits[bin[i] & 15];
	}
	out[2 * len] = '\0';
}

/* ---- entries ------------------------------------------------------------ */

const char *ut_ftype_name(enum ut_ftype t)
{
	switch (t) {
	case UT_REG: return "file";
	case UT_DIR: return "dir";
	case UT_LNK: return "symlink";
	case UT_CHR: return "chardev";
	case UT_BLK: return "blockdev";
	case UT_FIFO: return "fifo";
	case UT_SOCK: return "socket";
	}
	return "unknown";
}

void ut_entry_release(struct ut_entry *e)
{
	size_t i;

	if (!e)
		return;
	if (!e->path_in_tree)
		free(e->path);
	free(e->link);
	for (i = 0; i < e->nxattrs; i++) {
		free(e->xattrs[i].name);
		free(e->xattrs[i].value);
	}
	free(e->xattrs);
	memset(e, 0, sizeof(*e));
}

void ut_entry_copy(struct ut_entry *dst, const struct ut_entry *src)
{
	size_t i;

	*dst = *src;
	dst->path = src->path ? ut_strdup(src->path) : NULL;
	dst->path_in_tree = 0;
	dst->link = src->link ? ut_strdup(src->link) : NULL;
	dst->xattrs = NULL;
	if (src->nxattrs) {
		dst->xattrs = ut_calloc(src->nxattrs, sizeof(*dst->xattrs));
		for (i = 0; i < src->nxattrs; i++) {
			dst->xattrs[i].name = ut_strdup(src->xattrs[i].name);
			dst->xattrs[i].len = src->xattrs[i].len;
			dst->xattrs[i].value = ut_malloc(src->xattrs[i].len);
			memcpy(dst->xattrs[i].value, src->xattrs[i].value, src->xattrs[i].len);
		}
	}
}

int ut_entry_add_xattr(struct ut_entry *e, const char *name, const void *value, size_t len)
{
	struct ut_xattr *x;

	if (e->nxattrs >= UT_MAX_XATTRS)
		return -1;
	e->xattrs = ut_realloc(e->xattrs, (e->nxattrs + 1) * sizeof(*e->xattrs));
	x = &e->xattrs[e->nxattrs++];
	x->name = ut_strdup(name);
	x->len = len;
	x->value = ut_malloc(len);
	if (len)
		memcpy(x->value, value, len);
	return 0;
}

static int xattr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ut_xattr *)a)->name, ((const struct ut_xattr *)b)->name);
}

void ut_entry_sort_xattrs(struct ut_entry *e)
{
	if (e->nxattrs > 1)
		qsort(e->xattrs, e->nxattrs, sizeof(*e->xattrs), xattr_cmp);
}

const struct ut_xattr *ut_entry_find_xattr(const struct ut_entry *e, const char *name)
{
	size_t i;

	for (i = 0; i < e->nxattrs; i++)
		if (!strcmp(e->xattrs[i].name, name))
			return &e->xattrs[i];
	return NULL;
}

int ut_content_stream(const struct ut_content *src, const struct ut_entry *e, void *buf,
		      size_t len, int (*fn)(void *ctx, const void *data, size_t n,
					    struct ut_err *err),
		      void *ctx, struct ut_err *err)
{
	void *handle = NULL;
	uint64_t total = 0;
	int rc = -1;

	if (!src || !src->ops)
		return ut_err_set(err, "%s: no content source to read it from", e->path);
	if (src->ops->open(src->ctx, e, &handle, err) < 0)
		return -1;
	for (;;) {
		ssize_t n = src->ops->read(src->ctx, handle, buf, len, err);

		if (n < 0)
			goto out;
		if (n == 0)
			break;
		/* Checked before fn sees the bytes: a writer must not emit more
		 * than the size it announced. */
		if ((uint64_t)n > e->size - total) {
			ut_err_set(err, "%s: content is longer than its size %llu", e->path,
				   (unsigned long long)e->size);
			goto out;
		}
		total += (uint64_t)n;
		if (fn(ctx, buf, (size_t)n, err) < 0)
			goto out;
	}
	if (total != e->size) {
		ut_err_set(err, "%s: read %llu bytes, expected %llu", e->path,
			   (unsigned long long)total, (unsigned long long)e->size);
		goto out;
	}
	rc = 0;
out:
	if (handle)
		src->ops->close(src->ctx, handle);
	return rc;
}

static int digest_chunk(void *ctx, const void *data, size_t n, struct ut_err *err)
{
	ut_sha256_update(ctx, data, n);
	return 0;
}

int ut_content_digest(const struct ut_content *src, struct ut_entry *e, struct ut_err *err)
{
	/* One buffer per thread for the process: digesting thousands of small
	 * files must not allocate per file (it dominates under ASan). */
	static __thread unsigned char buf[1 << 17];
	struct ut_sha256 h = { 0 };
	int rc = -1;

	if (e->type != UT_REG)
		return 0;
	if (ut_sha256_init(&h) < 0)
		return ut_err_set(err, "sha256 unavailable");
	if (ut_content_stream(src, e, buf, sizeof(buf), digest_chunk, &h, err) < 0)
		goto out;
	ut_sha256_final(&h, e->digest);
	e->has_digest = 1;
	rc = 0;
out:
	ut_sha256_release(&h);
	return rc;
}

struct read_all_ctx {
	struct ut_buf *b;
	const char *path;
};

static int buf_chunk(void *ctx, const void *data, size_t n, struct ut_err *err)
{
	struct read_all_ctx *c = ctx;

	if (ut_buf_add(c->b, data, n, err) < 0)
		return ut_err_prefix(err, "/%s: ", c->path);
	return 0;
}

int ut_content_read_all(const struct ut_content *src, const struct ut_entry *e,
			struct ut_buf *b, struct ut_err *err)
{
	unsigned char chunk[65536];
	struct read_all_ctx c = { b, e->path };

	if (e->type != UT_REG)
		return ut_err_set(err, "/%s: not a regular file", e->path);
	if (ut_content_stream(src, e, chunk, sizeof(chunk), buf_chunk, &c, err) < 0)
		return -1;
	if (!b->data)
		ut_buf_grow(b, 0, NULL);
	return 0;
}

/* ---- trees -------------------------------------------------------------- */

struct ut_tree *ut_tree_new(void)
{
	struct ut_tree *t = ut_calloc(1, sizeof(*t));

	t->sorted = 1;
	return t;
}

/*
 * The path arena: chunks that only grow, freed with the tree. A path costs
 * its bytes, not a malloc'd block's header and rounding; entries removed
 * from the tree leave their bytes until it is freed.
 */
struct ut_chunk {
	struct ut_chunk *next;
	size_t used, cap;
	char data[];
};

struct ut_strings {
	struct ut_chunk *head;
	size_t next_cap;
};

#define UT_CHUNK_MIN ((size_t)4 << 10)
#define UT_CHUNK_MAX ((size_t)1 << 20)

static char *strings_dup(struct ut_tree *t, const char *s)
{
	size_t len = strlen(s) + 1;
	struct ut_strings *a = t->strings;
	struct ut_chunk *c;

	if (!a) {
		a = t->strings = ut_calloc(1, sizeof(*a));
		a->next_cap = UT_CHUNK_MIN;
	}
	c = a->head;
	if (!c || c->cap - c->used < len) {
		size_t cap = len > a->next_cap ? len : a->next_cap;

		c = ut_malloc(sizeof(*c) + cap);
		c->cap = cap;
		c->used = 0;
		c->next = a->head;
		a->head = c;
		if (a->next_cap < UT_CHUNK_MAX)
			a->next_cap *= 2;
	}
	memcpy(c->data + c->used, s, len);
	c->used += len;
	return c->data + c->used - len;
}

static void strings_free(struct ut_strings *a)
{
	struct ut_chunk *c, *next;

	if (!a)
		return;
	for (c = a->head; c; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
}

void ut_tree_free(struct ut_tree *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->n; i++)
		ut_entry_release(&t->v[i]);
	free(t->v);
	strings_free(t->strings);
	free(t);
}

static struct ut_entry *tree_append(struct ut_tree *t)
{
	struct ut_entry *e;

	if (t->n == t->alloc) {
		t->alloc = t->alloc ? t->alloc * 2 : 256;
		t->v = ut_realloc(t->v, t->alloc * sizeof(*t->v));
	}
	e = &t->v[t->n++];
	memset(e, 0, sizeof(*e));
	return e;
}

struct ut_entry *ut_tree_add(struct ut_tree *t, const char *path)
{
	struct ut_entry *e = tree_append(t);

	e->path = strings_dup(t, path);
	e->path_in_tree = 1;
	/* Walks usually emit in order already; only sort when they did not. */
	t->sorted = t->n == 1 || (t->sorted && strcmp(t->v[t->n - 2].path, path) < 0);
	return e;
}

void ut_tree_take(struct ut_tree *t, struct ut_entry *src)
{
	struct ut_entry *e = tree_append(t);

	*e = *src;
	/* Another tree's arena may go before this tree: always copy. */
	e->path = strings_dup(t, src->path);
	e->path_in_tree = 1;
	if (!src->path_in_tree)
		free(src->path);
	memset(src, 0, sizeof(*src));
	t->sorted = t->n == 1 || (t->sorted && strcmp(t->v[t->n - 2].path, e->path) < 0);
}

void ut_tree_rename(struct ut_tree *t, struct ut_entry *e, const char *path)
{
	char *p = strings_dup(t, path);

	if (!e->path_in_tree)
		free(e->path);
	e->path = p;
	e->path_in_tree = 1;
	t->sorted = 0;
}

/* Pointers into t->v: address order is insertion order, which breaks path
 * ties so that "later replaces earlier". */
static int entry_ptr_cmp(const void *a, const void *b)
{
	const struct ut_entry *x = *(const struct ut_entry *const *)a;
	const struct ut_entry *y = *(const struct ut_entry *const *)b;
	int c = strcmp(x->path, y->path);

	if (c)
		return c;
	return x < y ? -1 : x > y;
}

/*
 * Sorts an array of pointers (8 bytes an entry, not a copy of every entry)
 * and then moves the entries into place along the permutation's cycles.
 */
void ut_tree_sort(struct ut_tree *t)
{
	struct ut_entry **order, tmp;
	size_t i, out = 0;

	if (t->sorted)
		return;
	order = ut_malloc((t->n + 1) * sizeof(*order));
	for (i = 0; i < t->n; i++)
		order[i] = &t->v[i];
	qsort(order, t->n, sizeof(*order), entry_ptr_cmp);
	/* order[i] - t->v is where position i's entry comes from; a moved
	 * position is marked by pointing order[i] at itself. */
	for (i = 0; i < t->n; i++) {
		size_t j = i, k;

		if (order[i] == &t->v[i])
			continue;
		tmp = t->v[i];
		for (;;) {
			k = (size_t)(order[j] - t->v);
			order[j] = &t->v[j];
			if (k == i) {
				t->v[j] = tmp;
				break;
			}
			t->v[j] = t->v[k];
			j = k;
		}
	}
	free(order);
	for (i = 0; i < t->n; i++) {
		if (i + 1 < t->n && !strcmp(t->v[i].path, t->v[i + 1].path)) {
			ut_entry_release(&t->v[i]);
			continue;
		}
		t->v[out++] = t->v[i];
	}
	t->n = out;
	t->sorted = 1;
}

size_t ut_tree_lower_bound(const struct ut_tree *t, const char *path)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(t->v[mid].path, path) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct ut_entry *ut_tree_find(const struct ut_tree *t, const char *path)
{
	size_t i = ut_tree_lower_bound(t, path);

	if (i < t->n && !strcmp(t->v[i].path, path))
		return &t->v[i];
	return NULL;
}

int ut_path_is_under(const char *child, const char *path)
{
	size_t n = strlen(path);

	if (n == 0)
		return 1; /* everything is under the root */
	if (strncmp(child, path, n))
		return 0;
	return child[n] == '\0' || child[n] == '/';
}

const char *ut_path_base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

size_t ut_path_parent_len(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? (size_t)(s - path) : 0;
}

/* The link's target, then what was left of the path to resolve (a slash
 * after the link's name stays: "lnk/" must be a directory). */
static void splice_link(struct ut_buf *pend, size_t pos, int slash, const char *link)
{
	struct ut_buf np;

	ut_buf_init(&np, 0);
	ut_buf_addstr(&np, link, NULL);
	if (slash) {
		ut_buf_add(&np, "/", 1, NULL);
		ut_buf_add(&np, pend->data + pos, pend->len - pos, NULL);
	}
	ut_buf_release(pend);
	*pend = np;
}

int ut_guest_resolve(const char *path, ut_guest_lookup_fn lookup, void *ctx, char **out,
		     struct ut_err *err)
{
	struct ut_buf res, pend;
	size_t pos = 0;
	int hops = 0, rc = -1;

	*out = NULL;
	ut_buf_init(&res, 0);
	ut_buf_init(&pend, 0);
	ut_buf_addstr(&pend, path, NULL);
	ut_buf_grow(&res, 0, NULL);
	res.data[0] = '\0';
	while (pos < pend.len) {
		const char *s = (const char *)pend.data + pos;
		size_t clen = strcspn(s, "/"), oldlen = res.len;
		enum ut_ftype type = 0;
		char *link = NULL;
		int r, slash = s[clen] == '/';

		pos += clen + slash;
		if (clen == 0 || (clen == 1 && s[0] == '.'))
			continue;
		if (clen == 2 && s[0] == '.' && s[1] == '.') {
			res.len = ut_path_parent_len((const char *)res.data);
			res.data[res.len] = '\0';
			continue;
		}
		if (res.len)
			ut_buf_add(&res, "/", 1, NULL);
		ut_buf_add(&res, s, clen, NULL);
		r = lookup(ctx, (const char *)res.data, &type, &link, err);
		if (r <= 0) {
			rc = r;
			goto out;
		}
		if (type == UT_LNK) {
			if (!link) {
				ut_err_set(err, "/%s: a symlink without a target", path);
				goto out;
			}
			if (++hops > UT_MAX_SYMLINKS) {
				free(link);
				ut_err_set(err, "/%s: too many levels of symbolic links", path);
				goto out;
			}
			res.len = link[0] == '/' ? 0 : oldlen;
			res.data[res.len] = '\0';
			splice_link(&pend, pos, slash, link);
			pos = 0;
			free(link);
			continue;
		}
		free(link);
		/* A slash after what is not a directory: no such path (ENOTDIR). */
		if (type != UT_DIR && slash) {
			rc = 0;
			goto out;
		}
	}
	*out = ut_buf_detach(&res, NULL);
	rc = 1;
out:
	ut_buf_release(&res);
	ut_buf_release(&pend);
	return rc;
}

void ut_tree_remove(struct ut_tree *t, const char *path)
{
	size_t i, out = 0;

	/* Children of "a" are not contiguous after it in strcmp order ("a.b"
	 * sorts between "a" and "a/x"), so filter the whole tail. */
	for (i = 0; i < t->n; i++) {
		if (ut_path_is_under(t->v[i].path, path)) {
			ut_entry_release(&t->v[i]);
			continue;
		}
		t->v[out++] = t->v[i];
	}
	t->n = out;
}

static int link_cmp(const void *a, const void *b)
{
	uint64_t x = (*(const struct ut_entry *const *)a)->link_id;
	uint64_t y = (*(const struct ut_entry *const *)b)->link_id;

	return x < y ? -1 : x > y;
}

void ut_tree_count_links(struct ut_tree *t)
{
	struct ut_entry **v;
	size_t i, n = 0, j;

	v = ut_malloc((t->n ? t->n : 1) * sizeof(*v));
	for (i = 0; i < t->n; i++) {
		if (t->v[i].link_id && t->v[i].type != UT_DIR)
			v[n++] = &t->v[i];
		else
			t->v[i].nlink = 1;
	}
	qsort(v, n, sizeof(*v), link_cmp);
	for (i = 0; i < n; i = j) {
		for (j = i; j < n && v[j]->link_id == v[i]->link_id; j++)
			;
		for (size_t k = i; k < j; k++)
			v[k]->nlink = (uint32_t)(j - i);
	}
	free(v);
}

int ut_tree_digest_all(struct ut_tree *t, struct ut_err *err)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		struct ut_entry *e = &t->v[i];

		if (e->type != UT_REG || e->has_digest)
			continue;
		if (ut_content_digest(&t->content, e, err) < 0)
			return -1;
	}
	return 0;
}

double ut_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- base64 (RFC 4648, the standard alphabet) ---- */

static int base64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int ut_base64_decode(const char *in, size_t len, struct ut_buf *out, struct ut_err *err)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t i;

	while (len && in[len - 1] == '=')
		len--;
	for (i = 0; i < len; i++) {
		int v = base64_value((unsigned char)in[i]);
		unsigned char byte;

		if (v < 0)
			return ut_err_set(err, "not base64 (byte 0x%02x)", (unsigned char)in[i]);
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			byte = (unsigned char)(acc >> bits);
			if (ut_buf_add(out, &byte, 1, err) < 0)
				return -1;
		}
	}
	return 0;
}

char *ut_base64_encode(const void *data, size_t len)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	char *out = ut_malloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		*o++ = tab[p[i] >> 2];
		*o++ = tab[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*o++ = tab[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		*o++ = tab[p[i + 2] & 63];
	}
	if (i < len) {
		*o++ = tab[p[i] >> 2];
		if (i + 1 < len) {
			*o++ = tab[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
			*o++ = tab[(p[i + 1] & 15) << 2];
		} else {
			*o++ = tab[(p[i] & 3) << 4];
			*o++ = '=';
		}
		*o++ = '=';
	}
	*o = '\0';
	return out;
}
