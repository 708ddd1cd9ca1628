/*
 * fs_ext2.c - ext2/3/4 through libext2fs, read over our own block devices.
 *
 * libext2fs reads through an io_manager; ours (dr_io_manager) forwards every
 * block read to a struct dr_blockdev, so a filesystem inside a qcow2 or vmdk
 * partition is read without a temporary copy and without a loop device. The
 * io_manager's open() only receives a name, so dr_ext2 registers the blockdev
 * under a generated name ("dr-blockdev:N") just for the ext2fs_open2() call.
 *
 * The filesystem is opened without EXT2_FLAG_RW: libext2fs then never writes,
 * and our write callbacks refuse anyway. A journal that needs recovery (the VM
 * was not shut down cleanly) is replayed in memory (ext_journal.c): the
 * blocks its committed transactions carry form an overlay the io_manager lays
 * over every read, and the filesystem is opened again through it - what the
 * kernel would see after its own replay, with nothing written.
 */
#include "dr_internal.h"
#include "ext_journal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <et/com_err.h>
#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>

/* Deeper than any real tree (PATH_MAX allows ~2000 one-letter levels);
 * beyond it the filesystem is hostile or corrupt. */
#define EXT_MAX_DEPTH 1024
/* Linux refuses symlinks longer than a page. */
#define EXT_MAX_LINK 4096
/* One xattr value: the VFS limit. */
#define EXT_MAX_XATTR (64 * 1024)

/* ---- io_manager over a dr_blockdev -------------------------------------- */

struct ext_chan {
	struct dr_blockdev *bd;
	const struct dr_jnl_overlay *ov; /* replayed journal blocks, read first; may be NULL */
	int has_err;
	struct ut_err err; /* the blockdev's reason for the last failed read */
};

struct ext_reg {
	struct ext_reg *next;
	char name[40];
	struct dr_blockdev *bd;
	const struct dr_jnl_overlay *ov;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ext_reg *reg_head;
static unsigned long reg_seq;
static pthread_once_t et_once = PTHREAD_ONCE_INIT;

static void et_init(void)
{
	initialize_ext2_error_table();
}

static void reg_add(struct ext_reg *r, struct dr_blockdev *bd, const struct dr_jnl_overlay *ov)
{
	pthread_mutex_lock(&reg_lock);
	snprintf(r->name, sizeof(r->name), "dr-blockdev:%lu", ++reg_seq);
	r->bd = bd;
	r->ov = ov;
	r->next = reg_head;
	reg_head = r;
	pthread_mutex_unlock(&reg_lock);
}

static void reg_del(struct ext_reg *r)
{
	struct ext_reg **p;

	pthread_mutex_lock(&reg_lock);
	for (p = &reg_head; *p; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
}

static struct dr_blockdev *reg_find(const char *name, const struct dr_jnl_overlay **ov)
{
	struct dr_blockdev *bd = NULL;
	struct ext_reg *r;

	pthread_mutex_lock(&reg_lock);
	for (r = reg_head; r; r = r->next) {
		if (!strcmp(r->name, name)) {
			bd = r->bd;
			*ov = r->ov;
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	return bd;
}

static struct struct_io_manager dr_io_manager;

static errcode_t dio_open(const char *name, int flags, io_channel *channel)
{
	struct dr_blockdev *bd;
	const struct dr_jnl_overlay *ov = NULL;
	struct ext_chan *c = NULL;
	io_channel io = NULL;
	errcode_t rc;

	if (!name)
		return EXT2_ET_BAD_DEVICE_NAME;
	if (flags & IO_FLAG_RW)
		return EROFS;
	bd = reg_find(name, &ov);
	if (!bd)
		return EXT2_ET_BAD_DEVICE_NAME;
	rc = ext2fs_get_memzero(sizeof(*io), &io);
	if (rc)
		return rc;
	rc = ext2fs_get_memzero(sizeof(*c), &c);
	if (rc)
		goto fail;
	rc = ext2fs_get_mem(strlen(name) + 1, &io->name);
	if (rc)
		goto fail;
	strcpy(io->name, name);
	c->bd = bd;
	c->ov = ov;
	io->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	io->manager = &dr_io_manager;
	io->block_size = 1024;
	io->refcount = 1;
	io->private_data = c;
	*channel = io;
	return 0;
fail:
	ext2fs_free_mem(&c);
	ext2fs_free_mem(&io);
	return rc;
}

static errcode_t dio_close(io_channel io)
{
	if (--io->refcount > 0)
		return 0;
	ext2fs_free_mem(&io->private_data);
	ext2fs_free_mem(&io->name);
	ext2fs_free_mem(&io);
	return 0;
}

static errcode_t dio_set_blksize(io_channel io, int blksize)
{
	if (blksize <= 0 || blksize > 65536)
		return EXT2_ET_INVALID_ARGUMENT;
	io->block_size = blksize;
	return 0;
}

static errcode_t dio_read_blk64(io_channel io, unsigned long long block, int count,
				void *data)
{
	struct ext_chan *c = io->private_data;
	uint64_t len, off, avail;

	/* A negative count is a byte count (libext2fs' convention). */
	len = count < 0 ? (uint64_t)-(int64_t)count : (uint64_t)count * (uint64_t)io->block_size;
	if (block > UINT64_MAX / (uint64_t)io->block_size)
		return EXT2_ET_LLSEEK_FAILED;
	off = block * (uint64_t)io->block_size;
	if (len > SIZE_MAX)
		return EXT2_ET_SHORT_READ;
	if (off >= c->bd->size) {
		memset(data, 0, len);
		return EXT2_ET_SHORT_READ;
	}
	avail = c->bd->size - off;
	if (len > avail) {
		/* As unix_io: the part past the end reads as zeros, and the
		 * caller learns that the read was short. */
		memset((char *)data + avail, 0, len - avail);
		if (dr_blockdev_pread(c->bd, data, avail, off, &c->err) < 0)
			c->has_err = 1;
		dr_jnl_overlay_patch(c->ov, data, off, avail);
		return EXT2_ET_SHORT_READ;
	}
	if (dr_blockdev_pread(c->bd, data, len, off, &c->err) < 0) {
		c->has_err = 1;
		memset(data, 0, len);
		return EXT2_ET_SHORT_READ;
	}
	dr_jnl_overlay_patch(c->ov, data, off, len);
	return 0;
}

static errcode_t dio_read_blk(io_channel io, unsigned long block, int count, void *data)
{
	return dio_read_blk64(io, block, count, data);
}

static errcode_t dio_write_blk64(io_channel io, unsigned long long block, int count,
				 const void *data)
{
	return EROFS;
}

static errcode_t dio_write_blk(io_channel io, unsigned long block, int count,
			       const void *data)
{
	return EROFS;
}

static errcode_t dio_write_byte(io_channel io, unsigned long offset, int count,
				const void *data)
{
	return EROFS;
}

static errcode_t dio_flush(io_channel io)
{
	return 0;
}

static errcode_t dio_set_option(io_channel io, const char *option, const char *arg)
{
	return EXT2_ET_INVALID_ARGUMENT;
}

static errcode_t dio_discard(io_channel io, unsigned long long block,
			     unsigned long long count)
{
	return EXT2_ET_OP_NOT_SUPPORTED;
}

static errcode_t dio_zeroout(io_channel io, unsigned long long block,
			     unsigned long long count)
{
	return EXT2_ET_OP_NOT_SUPPORTED;
}

static struct struct_io_manager dr_io_manager = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "vm2oci blockdev I/O manager",
	.open = dio_open,
	.close = dio_close,
	.set_blksize = dio_set_blksize,
	.read_blk = dio_read_blk,
	.write_blk = dio_write_blk,
	.flush = dio_flush,
	.write_byte = dio_write_byte,
	.set_option = dio_set_option,
	.read_blk64 = dio_read_blk64,
	.write_blk64 = dio_write_blk64,
	.discard = dio_discard,
	.zeroout = dio_zeroout,
};

/* ---- helpers ------------------------------------------------------------ */

struct ext_priv {
	ext2_filsys fs;
	struct dr_jnl_overlay *ov; /* the replayed journal, NULL when none was */
	/* One whole on-disk inode: the in-inode xattrs lie past struct
	 * ext2_inode_large, and ext2fs_xattrs_read_inode() reads them there. */
	unsigned char *ibuf;
	size_t isize;
};

/* An open regular file: libext2fs' inline-data read returns the whole
 * inline area (60 bytes and more) whatever i_size says, so reads are
 * clamped to i_size here. */
struct ext_file {
	ext2_file_t f;
	uint64_t pos, size;
	int mapped;              /* read by block map (not inline data) */
	unsigned char *scratch;  /* 3 blocks: bmap's buffer, or a file's last block */
};

/* The reason for a libext2fs failure: the blockdev's own message when a read
 * failed underneath, else libext2fs' text. */
static int ext_err(struct dr_fs *fs, ext2_filsys efs, errcode_t code, struct ut_err *err,
		   const char *what)
{
	struct ext_chan *c = efs && efs->io ? efs->io->private_data : NULL;

	pthread_once(&et_once, et_init);
	if (c && c->has_err) {
		c->has_err = 0;
		return ut_err_set(err, "%s: %s: %s: %s", fs->bd->path, fs->info.type, what,
				  c->err.msg);
	}
	return ut_err_set(err, "%s: %s: %s: %s", fs->bd->path, fs->info.type[0] ? fs->info.type : "ext",
			  what, error_message(code));
}

/* ---- probe -------------------------------------------------------------- */

static void fmt_uuid(const unsigned char *u, char out[37])
{
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
		 u[12], u[13], u[14], u[15]);
}

static int ext_probe(struct dr_blockdev *bd, struct dr_fs_info *info, struct ut_err *err)
{
	unsigned char sb[1024];
	uint32_t compat, incompat, ro_compat, log_bs;
	size_t i;

	if (bd->size < 2048)
		return 0;
	if (dr_blockdev_pread(bd, sb, sizeof(sb), 1024, err) < 0)
		return -1;
	if (ut_le16(sb + 0x38) != EXT2_SUPER_MAGIC)
		return 0;
	log_bs = ut_le32(sb + 0x18);
	if (log_bs > 6) /* 64 KiB blocks at most */
		return 0;
	compat = ut_le32(sb + 0x5c);
	incompat = ut_le32(sb + 0x60);
	ro_compat = ut_le32(sb + 0x64);
	/* blkid's rule: anything ext3 does not know makes it ext4. */
	if ((incompat & ~(uint32_t)(EXT2_FEATURE_INCOMPAT_FILETYPE | EXT3_FEATURE_INCOMPAT_RECOVER |
				    EXT2_FEATURE_INCOMPAT_META_BG)) ||
	    (ro_compat & ~(uint32_t)(EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER |
				     EXT2_FEATURE_RO_COMPAT_LARGE_FILE |
				     0x0004 /* BTREE_DIR, never used */)))
		strcpy(info->type, "ext4");
	else if (compat & EXT3_FEATURE_COMPAT_HAS_JOURNAL)
		strcpy(info->type, "ext3");
	else
		strcpy(info->type, "ext2");
	fmt_uuid(sb + 0x68, info->uuid);
	for (i = 0; i < 16 && sb[0x78 + i]; i++)
		info->label[i] = (char)sb[0x78 + i];
	info->label[i] = '\0';
	return 1;
}

/* ---- open / close ------------------------------------------------------- */

static errcode_t open_efs(struct dr_fs *fs, const struct dr_jnl_overlay *ov, ext2_filsys *out)
{
	struct ext_reg reg;
	errcode_t rc;

	reg_add(&reg, fs->bd, ov);
	rc = ext2fs_open2(reg.name, NULL, EXT2_FLAG_64BITS | EXT2_FLAG_IGNORE_CSUM_ERRORS, 0, 0,
			  &dr_io_manager, out);
	reg_del(&reg);
	return rc;
}

/* The journal inode's blocks, journal block i at map[i] (0: a hole). */
struct jnl_map {
	blk64_t *map;
	uint32_t n;
	uint32_t bs;
	struct dr_blockdev *bd;
};

static int jnl_map_cb(ext2_filsys efs, blk64_t *blocknr, e2_blkcnt_t blockcnt, blk64_t ref_blk,
		      int ref_offset, void *priv)
{
	struct jnl_map *m = priv;

	if (blockcnt >= 0 && (uint64_t)blockcnt < m->n)
		m->map[blockcnt] = *blocknr;
	return 0;
}

static int jnl_read(void *ctx, uint32_t i, unsigned char *buf, struct ut_err *err)
{
	struct jnl_map *m = ctx;

	if (i >= m->n || !m->map[i])
		return ut_err_set(err, "%s: ext journal: the journal inode has no block %u",
				  m->bd->path, i);
	return dr_blockdev_pread(m->bd, buf, m->bs, (uint64_t)m->map[i] * m->bs, err);
}

/* Far beyond the largest journal mke2fs makes: a bigger inode is corrupt, and
 * the block map below would be its size / 8 in memory. */
#define EXT_MAX_JOURNAL_BLOCKS (1u << 26)

/*
 * Replays the internal journal of p->fs into p->ov and opens the filesystem
 * again through it. fs->note says what happened when the user should hear.
 */
static int replay_journal(struct dr_fs *fs, struct ext_priv *p, struct ut_err *err)
{
	struct ext2_super_block *sb = p->fs->super;
	const char *type = fs->info.type[0] ? fs->info.type : "ext";
	struct jnl_map m = { .bd = fs->bd, .bs = (uint32_t)p->fs->blocksize };
	struct dr_jnl_source src = { .read = jnl_read, .ctx = &m };
	struct dr_jnl_stats st;
	struct ext2_inode inode;
	char what[512];
	uint64_t size;
	errcode_t rc;
	int ret = -1;

	snprintf(what, sizeof(what), "%s: %s journal", fs->bd->path, type);
	if (!ext2fs_has_feature_journal(sb))
		return ut_err_set(err, "%s: needs_recovery is set but there is no journal", what);
	if (!sb->s_journal_inum || ext2fs_has_feature_journal_dev(sb))
		return ut_err_set(err, "%s is on an external device, which vm2oci does not read", what);
	rc = ext2fs_read_inode(p->fs, sb->s_journal_inum, &inode);
	if (rc)
		return ext_err(fs, p->fs, rc, err, "journal inode");
	size = EXT2_I_SIZE(&inode);
	if (size / m.bs > EXT_MAX_JOURNAL_BLOCKS)
		return ut_err_set(err, "%s: inode of %llu bytes", what, (unsigned long long)size);
	m.n = (uint32_t)(size / m.bs);
	m.map = ut_calloc(m.n ? m.n : 1, sizeof(*m.map));
	rc = ext2fs_block_iterate3(p->fs, sb->s_journal_inum,
				   BLOCK_FLAG_READ_ONLY | BLOCK_FLAG_DATA_ONLY, NULL, jnl_map_cb, &m);
	if (rc) {
		ext_err(fs, p->fs, rc, err, "journal inode blocks");
		goto out;
	}
	src.block_size = m.bs;
	src.nblocks = m.n;
	src.fs_blocks = ext2fs_blocks_count(sb);
	src.what = what;
	if (dr_jnl_replay(&src, &p->ov, &st, err) < 0)
		goto out;
	if (!st.clean)
		snprintf(fs->note, sizeof(fs->note),
			 "the journal needed recovery (the VM was not shut down cleanly): transactions %u to %u replayed in memory (%zu blocks)",
			 st.first_tid, st.end_tid - 1,
			 dr_jnl_overlay_blocks(p->ov));
	if (dr_jnl_overlay_blocks(p->ov)) {
		ext2fs_close_free(&p->fs);
		rc = open_efs(fs, p->ov, &p->fs);
		if (rc) {
			ut_err_set(err, "%s: %s: cannot open the filesystem after the journal replay: %s",
				   fs->bd->path, type, error_message(rc));
			goto out;
		}
	}
	ret = 0;
out:
	free(m.map);
	return ret;
}

static void ext_close(struct dr_fs *fs);

static int ext_open(struct dr_fs *fs, struct ut_err *err)
{
	struct ext_priv *p = ut_calloc(1, sizeof(*p));
	errcode_t rc;

	pthread_once(&et_once, et_init);
	fs->priv = p;
	rc = open_efs(fs, NULL, &p->fs);
	if (rc) {
		ut_err_set(err, "%s: %s: cannot open the filesystem: %s", fs->bd->path,
			   fs->info.type[0] ? fs->info.type : "ext", error_message(rc));
		goto fail;
	}
	if (ext2fs_has_feature_journal_needs_recovery(p->fs->super) &&
	    !(fs->flags & DR_FS_NO_REPLAY) && replay_journal(fs, p, err) < 0)
		goto fail;
	p->isize = EXT2_INODE_SIZE(p->fs->super);
	if (p->isize < sizeof(struct ext2_inode_large))
		p->isize = sizeof(struct ext2_inode_large);
	p->ibuf = ut_calloc(1, p->isize);
	return 0;
fail:
	ext_close(fs);
	return -1;
}

static void ext_close(struct dr_fs *fs)
{
	struct ext_priv *p = fs->priv;

	if (!p)
		return;
	if (p->fs)
		ext2fs_close_free(&p->fs);
	dr_jnl_overlay_free(p->ov);
	free(p->ibuf);
	free(p);
	fs->priv = NULL;
}

/* ---- inodes to entries -------------------------------------------------- */

/* Reads inode ino into p->ibuf (valid until the next read). */
static int read_inode(struct dr_fs *fs, ext2_ino_t ino, struct ext2_inode_large **in,
		      struct ut_err *err)
{
	struct ext_priv *p = fs->priv;
	errcode_t rc;

	memset(p->ibuf, 0, p->isize);
	*in = (struct ext2_inode_large *)p->ibuf;
	rc = ext2fs_read_inode_full(p->fs, ino, (struct ext2_inode *)p->ibuf,
				    (int)EXT2_INODE_SIZE(p->fs->super));
	if (rc) {
		char what[64];

		snprintf(what, sizeof(what), "inode %u", ino);
		return ext_err(fs, p->fs, rc, err, what);
	}
	return 0;
}

/* The large-inode field ending at field_end is present in this inode. */
static int fits_extra(const struct ext2_inode_large *in, size_t field_end)
{
	return (size_t)in->i_extra_isize + EXT2_GOOD_OLD_INODE_SIZE >= field_end;
}

static int read_link(struct dr_fs *fs, ext2_ino_t ino, struct ext2_inode_large *in, char **out,
		     struct ut_err *err)
{
	struct ext_priv *p = fs->priv;
	uint64_t size = EXT2_I_SIZE(in);
	ext2_file_t f = NULL;
	unsigned int got = 0;
	errcode_t rc;
	char *buf;

	if (size >= EXT_MAX_LINK)
		return ut_err_set(err, "%s: %s: inode %u: symlink of %llu bytes is too long",
				  fs->bd->path, fs->info.type, ino, (unsigned long long)size);
	buf = ut_malloc(size + 1);
	if (ext2fs_is_fast_symlink((struct ext2_inode *)in)) {
		if (size > sizeof(in->i_block)) {
			free(buf);
			return ut_err_set(err, "%s: %s: inode %u: fast symlink longer than i_block",
					  fs->bd->path, fs->info.type, ino);
		}
		memcpy(buf, in->i_block, size);
	} else {
		/* Slow and inline-data symlinks: fileio knows both layouts. */
		rc = ext2fs_file_open2(p->fs, ino, (struct ext2_inode *)in, 0, &f);
		if (!rc)
			rc = ext2fs_file_read(f, buf, (unsigned int)size, &got);
		if (f)
			ext2fs_file_close(f);
		if (!rc && got != size)
			rc = EXT2_ET_SHORT_READ;
		if (rc) {
			char what[64];

			free(buf);
			snprintf(what, sizeof(what), "inode %u: symlink target", ino);
			return ext_err(fs, p->fs, rc, err, what);
		}
	}
	buf[size] = '\0';
	*out = buf;
	return 0;
}

struct xattr_ctx {
	struct ut_entry *e;
	int toobig;
};

static int xattr_cb(char *name, char *value, size_t value_len, void *data)
{
	struct xattr_ctx *x = data;

	/* Inline file data lives in the "system.data" xattr: content, not an
	 * attribute the kernel ever lists. */
	if (!strcmp(name, "system.data"))
		return 0;
	if (value_len > EXT_MAX_XATTR) {
		x->toobig = 1;
		return XATTR_ABORT;
	}
	ut_entry_add_xattr(x->e, name, value, value_len);
	return 0;
}

/*
 * libext2fs' conversion to the Linux xattr ACL format (a u32 version, then
 * {u16 tag, u16 perm, u32 id} entries) leaves id 0 in the entries that have
 * no id, where the kernel's posix_acl_to_xattr() writes ACL_UNDEFINED_ID;
 * set it as the kernel does, so the bytes equal what getfattr shows.
 */
static void acl_undefined_ids(unsigned char *v, size_t len)
{
	size_t off;

	if (len < 4 || (len - 4) % 8 || ut_le32(v) != 2)
		return;
	for (off = 4; off + 8 <= len; off += 8) {
		uint16_t tag = ut_le16(v + off);

		if (tag != 0x02 && tag != 0x08) /* ACL_USER, ACL_GROUP carry an id */
			memset(v + off + 4, 0xff, 4);
	}
}

/* Whether the inode has any xattr at all, so that the common case costs no
 * extra reads: an external block, or the in-inode magic after extra_isize. */
static int has_xattrs(ext2_filsys efs, const struct ext2_inode_large *in)
{
	size_t isz = EXT2_INODE_SIZE(efs->super), off;
	const unsigned char *raw = (const unsigned char *)in;

	if (ext2fs_file_acl_block(efs, (struct ext2_inode *)in))
		return 1;
	if (isz <= EXT2_GOOD_OLD_INODE_SIZE)
		return 0;
	off = EXT2_GOOD_OLD_INODE_SIZE + (size_t)in->i_extra_isize;
	if (off + 4 > isz)
		return 0;
	return ut_le32(raw + off) == EXT2_EXT_ATTR_MAGIC;
}

static int read_xattrs(struct dr_fs *fs, ext2_ino_t ino, struct ext2_inode_large *in,
		       struct ut_entry *e, struct ut_err *err)
{
	struct ext_priv *p = fs->priv;
	struct ext2_xattr_handle *h = NULL;
	struct xattr_ctx x = { .e = e };
	char what[64];
	errcode_t rc;

	if (!has_xattrs(p->fs, in))
		return 0;
	snprintf(what, sizeof(what), "inode %u: xattrs", ino);
	rc = ext2fs_xattrs_open(p->fs, ino, &h);
	if (rc)
		return ext_err(fs, p->fs, rc, err, what);
	/* Without XATTR_HANDLE_FLAG_RAW, libext2fs turns ext4's compact POSIX
	 * ACLs into the Linux xattr format that getxattr(2) returns. */
	rc = ext2fs_xattrs_read_inode(h, in);
	if (!rc)
		rc = ext2fs_xattrs_iterate(h, xattr_cb, &x);
	/* ...but only ext2fs_xattr_get() converts; iterate gives raw values. */
	for (size_t i = 0; !rc && i < e->nxattrs; i++) {
		struct ut_xattr *xa = &e->xattrs[i];
		void *val = NULL;
		size_t len = 0;

		if (strcmp(xa->name, "system.posix_acl_access") &&
		    strcmp(xa->name, "system.posix_acl_default"))
			continue;
		rc = ext2fs_xattr_get(h, xa->name, &val, &len);
		if (rc)
			break;
		free(xa->value);
		xa->value = ut_malloc(len);
		memcpy(xa->value, val, len);
		xa->len = len;
		ext2fs_free_mem(&val);
		acl_undefined_ids(xa->value, xa->len);
	}
	ext2fs_xattrs_close(&h);
	if (rc)
		return ext_err(fs, p->fs, rc, err, what);
	if (x.toobig)
		return ut_err_set(err, "%s: %s: inode %u: xattr value larger than %d bytes",
				  fs->bd->path, fs->info.type, ino, EXT_MAX_XATTR);
	ut_entry_sort_xattrs(e);
	return 0;
}

/* Fills e (path untouched) from inode ino. */
static int fill_entry(struct dr_fs *fs, ext2_ino_t ino, struct ut_entry *e, struct ut_err *err)
{
	struct ext_priv *p = fs->priv;
	struct ext2_inode_large *ip;
	uint16_t fmt;

	if (read_inode(fs, ino, &ip, err) < 0)
		return -1;
	fmt = ip->i_mode & LINUX_S_IFMT;
	switch (fmt) {
	case LINUX_S_IFREG: e->type = UT_REG; break;
	case LINUX_S_IFDIR: e->type = UT_DIR; break;
	case LINUX_S_IFLNK: e->type = UT_LNK; break;
	case LINUX_S_IFCHR: e->type = UT_CHR; break;
	case LINUX_S_IFBLK: e->type = UT_BLK; break;
	case LINUX_S_IFIFO: e->type = UT_FIFO; break;
	case LINUX_S_IFSOCK: e->type = UT_SOCK; break;
	default:
		return ut_err_set(err, "%s: %s: inode %u has an invalid mode %#o", fs->bd->path,
				  fs->info.type, ino, ip->i_mode);
	}
	e->mode = ip->i_mode & 07777;
	e->uid = inode_uid(*ip);
	e->gid = inode_gid(*ip);
	e->size = e->type == UT_REG || e->type == UT_LNK ? EXT2_I_SIZE(ip) : 0;
	e->mtime_sec = (int32_t)ip->i_mtime;
	e->mtime_nsec = 0;
	if (EXT2_INODE_SIZE(p->fs->super) > EXT2_GOOD_OLD_INODE_SIZE &&
	    fits_extra(ip, offsetof(struct ext2_inode_large, i_mtime_extra) + sizeof(ip->i_mtime_extra))) {
		e->mtime_sec += (int64_t)(ip->i_mtime_extra & EXT4_EPOCH_MASK) << 32;
		e->mtime_nsec = ip->i_mtime_extra >> EXT4_EPOCH_BITS;
		if (e->mtime_nsec > 999999999)
			e->mtime_nsec = 0;
	}
	if (e->type == UT_CHR || e->type == UT_BLK) {
		uint32_t dev;

		if (ip->i_block[0]) {
			dev = ip->i_block[0];
			e->rdev_major = (dev >> 8) & 0xff;
			e->rdev_minor = dev & 0xff;
		} else {
			dev = ip->i_block[1];
			e->rdev_major = (dev & 0xfff00) >> 8;
			e->rdev_minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
		}
	}
	e->nlink = ip->i_links_count;
	e->link_id = ino;
	e->src_b = ino;
	free(e->link);
	e->link = NULL;
	if (e->type == UT_LNK && read_link(fs, ino, ip, &e->link, err) < 0)
		return -1;
	if (read_xattrs(fs, ino, ip, e, err) < 0)
		return -1;
	return 0;
}

/* ---- walk --------------------------------------------------------------- */

/* Directory inodes already walked: a hard-linked directory (corruption or
 * malice) would otherwise make the walk loop forever. */
struct ino_set {
	uint32_t *v;
	size_t n, alloc; /* alloc is a power of two */
};

static int ino_set_add(struct ino_set *s, uint32_t ino)
{
	size_t i, mask;

	if ((s->n + 1) * 2 > s->alloc) {
		struct ino_set t = { .alloc = s->alloc ? s->alloc * 2 : 1024 };

		t.v = ut_calloc(t.alloc, sizeof(*t.v));
		for (i = 0; i < s->alloc; i++)
			if (s->v[i])
				ino_set_add(&t, s->v[i]);
		free(s->v);
		*s = t;
	}
	mask = s->alloc - 1;
	for (i = (ino * 2654435761u) & mask; s->v[i]; i = (i + 1) & mask)
		if (s->v[i] == ino)
			return 0;
	s->v[i] = ino;
	s->n++;
	return 1;
}

struct child {
	char *name;
	ext2_ino_t ino;
};

struct dir_list {
	struct child *v;
	size_t n, alloc;
};

struct walk {
	struct dr_fs *fs;
	int (*cb)(void *ctx, struct ut_entry *e);
	void *ctx;
	struct ut_err *err;
	struct ino_set dirs;
	uint64_t ninodes;
};

static int list_cb(ext2_ino_t dir, int entry, struct ext2_dir_entry *dirent, int offset,
		   int blocksize, char *buf, void *priv)
{
	struct dir_list *l = priv;
	int len = ext2fs_dirent_name_len(dirent);

	if (entry == DIRENT_DOT_FILE || entry == DIRENT_DOT_DOT_FILE)
		return 0;
	if (len == 0 || !dirent->inode)
		return 0;
	if ((len == 1 && dirent->name[0] == '.') ||
	    (len == 2 && dirent->name[0] == '.' && dirent->name[1] == '.'))
		return 0;
	/* A '/' or NUL in a name is corruption (or an attempt to make "a/../x"
	 * appear as a path); the kernel cannot open such an entry either. */
	if (memchr(dirent->name, '/', (size_t)len) || memchr(dirent->name, '\0', (size_t)len))
		return 0;
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 16;
		l->v = ut_realloc(l->v, l->alloc * sizeof(*l->v));
	}
	l->v[l->n].name = ut_strndup(dirent->name, (size_t)len);
	l->v[l->n].ino = dirent->inode;
	l->n++;
	return 0;
}

static void dir_list_release(struct dir_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
}

static int walk_dir(struct walk *w, ext2_ino_t dir, const char *path, int depth)
{
	struct ext_priv *p = w->fs->priv;
	struct dir_list l = { 0 };
	struct ut_entry e;
	errcode_t rc;
	size_t i;
	int ret = -1;

	if (depth > EXT_MAX_DEPTH)
		return ut_err_set(w->err, "%s: %s: directories nested deeper than %d at /%s",
				  w->fs->bd->path, w->fs->info.type, EXT_MAX_DEPTH, path);
	rc = ext2fs_dir_iterate2(p->fs, dir, 0, NULL, list_cb, &l);
	if (rc) {
		char what[96];

		snprintf(what, sizeof(what), "directory inode %u", dir);
		ext_err(w->fs, p->fs, rc, w->err, what);
		goto out;
	}
	for (i = 0; i < l.n; i++) {
		ext2_ino_t ino = l.v[i].ino;
		int is_dir;

		if (ino > p->fs->super->s_inodes_count || ino < EXT2_ROOT_INO) {
			ut_err_set(w->err, "%s: %s: /%s%s%s names invalid inode %u", w->fs->bd->path,
				   w->fs->info.type, path, *path ? "/" : "", l.v[i].name, ino);
			goto out;
		}
		memset(&e, 0, sizeof(e));
		e.path = *path ? ut_asprintf("%s/%s", path, l.v[i].name) : ut_strdup(l.v[i].name);
		if (fill_entry(w->fs, ino, &e, w->err) < 0) {
			dr_err_at_path(w->err, w->fs->bd->path, e.path);
			ut_entry_release(&e);
			goto out;
		}
		is_dir = e.type == UT_DIR;
		w->ninodes++;
		if (is_dir && !ino_set_add(&w->dirs, ino)) {
			ut_err_set(w->err, "%s: %s: directory /%s is linked twice (inode %u): a loop",
				   w->fs->bd->path, w->fs->info.type, e.path, ino);
			ut_entry_release(&e);
			goto out;
		}
		if (is_dir) {
			char *sub = e.path;

			/* The callback may take e; keep our own copy of the path. */
			e.path = ut_strdup(sub);
			if (w->cb(w->ctx, &e) < 0) {
				ut_entry_release(&e);
				free(sub);
				goto out;
			}
			ut_entry_release(&e);
			if (walk_dir(w, ino, sub, depth + 1) < 0) {
				free(sub);
				goto out;
			}
			free(sub);
		} else {
			int r = w->cb(w->ctx, &e);

			ut_entry_release(&e);
			if (r < 0)
				goto out;
		}
	}
	ret = 0;
out:
	dir_list_release(&l);
	return ret;
}

static int ext_walk(struct dr_fs *fs, int (*cb)(void *ctx, struct ut_entry *e), void *ctx,
		    struct ut_err *err)
{
	struct walk w = { .fs = fs, .cb = cb, .ctx = ctx, .err = err };
	struct ut_entry e = { 0 };
	int ret = -1;

	e.path = ut_strdup("");
	if (fill_entry(fs, EXT2_ROOT_INO, &e, err) < 0)
		goto out;
	if (e.type != UT_DIR) {
		ut_err_set(err, "%s: %s: the root inode is not a directory", fs->bd->path,
			   fs->info.type);
		goto out;
	}
	ino_set_add(&w.dirs, EXT2_ROOT_INO);
	if (cb(ctx, &e) < 0)
		goto out;
	ret = walk_dir(&w, EXT2_ROOT_INO, "", 1);
out:
	ut_entry_release(&e);
	free(w.dirs.v);
	return ret;
}

/* ---- content ------------------------------------------------------------ */

static int ext_open_file(struct dr_fs *fs, uint64_t src_b, void **handle, struct ut_err *err)
{
	struct ext_priv *p = fs->priv;
	struct ext_file *h;
	ext2_file_t f;
	errcode_t rc;
	char what[64];

	if (src_b < EXT2_ROOT_INO || src_b > p->fs->super->s_inodes_count)
		return ut_err_set(err, "%s: %s: no inode %llu", fs->bd->path, fs->info.type,
				  (unsigned long long)src_b);
	rc = ext2fs_file_open(p->fs, (ext2_ino_t)src_b, 0, &f);
	if (rc) {
		snprintf(what, sizeof(what), "inode %llu", (unsigned long long)src_b);
		return ext_err(fs, p->fs, rc, err, what);
	}
	h = ut_calloc(1, sizeof(*h));
	h->f = f;
	h->size = EXT2_I_SIZE(ext2fs_file_get_inode(f));
	h->mapped = !(ext2fs_file_get_inode(f)->i_flags & EXT4_INLINE_DATA_FL);
	h->scratch = ut_malloc(3 * (size_t)p->fs->blocksize);
	*handle = h;
	return 0;
}

/*
 * Reads up to len bytes at h->pos (a block boundary) by the block map, one
 * device read per physically contiguous run, instead of libext2fs' block at
 * a time: holes and unwritten extents become zeros without reading the
 * disk, so a sparse file costs what its data costs. Returns the byte count
 * or -1 with *rc set.
 */
static ssize_t read_mapped(ext2_filsys efs, struct ext_file *h, unsigned char *buf, size_t len,
			   errcode_t *rc)
{
	uint64_t bs = efs->blocksize, lblk = h->pos / bs, nblk = (len + bs - 1) / bs, n;
	ext2_ino_t ino = ext2fs_file_get_inode_num(h->f);
	struct ext2_inode *inode = ext2fs_file_get_inode(h->f);
	blk64_t first = 0;
	int flags = 0, hole;
	size_t bytes, whole;

	*rc = ext2fs_bmap2(efs, ino, inode, (char *)h->scratch, 0, lblk, &flags, &first);
	if (*rc)
		return -1;
	hole = !first || (flags & BMAP_RET_UNINIT);
	for (n = 1; n < nblk; n++) {
		blk64_t pb = 0;
		int fl = 0;

		*rc = ext2fs_bmap2(efs, ino, inode, (char *)h->scratch, 0, lblk + n, &fl, &pb);
		if (*rc)
			return -1;
		if ((!pb || (fl & BMAP_RET_UNINIT)) != hole || (!hole && pb != first + n))
			break;
	}
	bytes = n * bs < len ? (size_t)(n * bs) : len;
	if (hole) {
		memset(buf, 0, bytes);
		return (ssize_t)bytes;
	}
	whole = bytes / bs;
	if (whole) {
		*rc = io_channel_read_blk64(efs->io, first, (int)whole, buf);
		if (*rc)
			return -1;
	}
	if (bytes > whole * bs) {
		/* The file's last, partial block. */
		*rc = io_channel_read_blk64(efs->io, first + whole, 1, h->scratch);
		if (*rc)
			return -1;
		memcpy(buf + whole * bs, h->scratch, bytes - whole * bs);
	}
	return (ssize_t)bytes;
}

static ssize_t ext_read_file(struct dr_fs *fs, void *handle, void *buf, size_t len,
			     struct ut_err *err)
{
	struct ext_priv *p = fs->priv;
	struct ext_file *h = handle;
	unsigned int got = 0;
	errcode_t rc;
	ssize_t n;

	if (len > (1u << 30))
		len = 1u << 30;
	if (len > h->size - h->pos)
		len = (size_t)(h->size - h->pos);
	if (!len)
		return 0;
	if (h->mapped && h->pos % p->fs->blocksize == 0) {
		n = read_mapped(p->fs, h, buf, len, &rc);
		if (n < 0)
			goto fail;
		h->pos += (uint64_t)n;
		return n;
	}
	rc = ext2fs_file_llseek(h->f, h->pos, EXT2_SEEK_SET, NULL);
	if (!rc)
		rc = ext2fs_file_read(h->f, buf, (unsigned int)len, &got);
	if (rc)
		goto fail;
	if (got > len)
		got = (unsigned int)len;
	h->pos += got;
	return (ssize_t)got;
fail:;
	char what[64];

	snprintf(what, sizeof(what), "inode %u: read", ext2fs_file_get_inode_num(h->f));
	return ext_err(fs, p->fs, rc, err, what);
}

static void ext_close_file(struct dr_fs *fs, void *handle)
{
	struct ext_file *h = handle;

	if (!h)
		return;
	ext2fs_file_close(h->f);
	free(h->scratch);
	free(h);
}

/* ---- lookup ------------------------------------------------------------- */

static int ext_lookup(struct dr_fs *fs, const char *path, struct ut_entry *e, struct ut_err *err)
{
	struct ext_priv *p = fs->priv;
	ext2_ino_t ino = EXT2_ROOT_INO;
	errcode_t rc;

	while (*path == '/')
		path++;
	if (*path) {
		rc = ext2fs_namei(p->fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, &ino);
		if (rc == EXT2_ET_FILE_NOT_FOUND || rc == EXT2_ET_NO_DIRECTORY)
			return 0;
		if (rc) {
			char what[64];

			snprintf(what, sizeof(what), "lookup of /%.40s", path);
			return ext_err(fs, p->fs, rc, err, what);
		}
	}
	if (ino < EXT2_ROOT_INO || ino > p->fs->super->s_inodes_count)
		return 0;
	memset(e, 0, sizeof(*e));
	e->path = ut_strdup(path);
	if (fill_entry(fs, ino, e, err) < 0) {
		ut_entry_release(e);
		return -1;
	}
	return 1;
}

/* ---- extents ------------------------------------------------------------ */

struct ext_run {
	ext2_filsys fs;
	int (*cb)(void *ctx, uint64_t logical, uint64_t physical, uint64_t len);
	void *ctx;
	uint64_t lblk, pblk, nblk; /* the run being coalesced */
	int stopped;
};

static int flush_run(struct ext_run *r)
{
	uint64_t bs = r->fs->blocksize;

	if (!r->nblk)
		return 0;
	if (r->cb(r->ctx, r->lblk * bs, r->pblk * bs, r->nblk * bs) < 0) {
		r->stopped = 1;
		return -1;
	}
	r->nblk = 0;
	return 0;
}

static int block_cb(ext2_filsys efs, blk64_t *blocknr, e2_blkcnt_t blockcnt, blk64_t ref_blk,
		    int ref_offset, void *priv)
{
	struct ext_run *r = priv;

	if (blockcnt < 0)
		return 0;
	if (r->nblk && (uint64_t)blockcnt == r->lblk + r->nblk && *blocknr == r->pblk + r->nblk) {
		r->nblk++;
		return 0;
	}
	if (flush_run(r) < 0)
		return BLOCK_ABORT;
	r->lblk = (uint64_t)blockcnt;
	r->pblk = *blocknr;
	r->nblk = 1;
	return 0;
}

static int ext_extents(struct dr_fs *fs, uint64_t src_b,
		       int (*cb)(void *ctx, uint64_t logical, uint64_t physical, uint64_t len),
		       void *ctx, struct ut_err *err)
{
	struct ext_priv *p = fs->priv;
	struct ext_run r = { .fs = p->fs, .cb = cb, .ctx = ctx };
	errcode_t rc;

	if (src_b < EXT2_ROOT_INO || src_b > p->fs->super->s_inodes_count)
		return ut_err_set(err, "%s: %s: no inode %llu", fs->bd->path, fs->info.type,
				  (unsigned long long)src_b);
	rc = ext2fs_block_iterate3(p->fs, (ext2_ino_t)src_b,
				   BLOCK_FLAG_READ_ONLY | BLOCK_FLAG_DATA_ONLY, NULL, block_cb, &r);
	/* Inline data has no blocks of its own: no extents. */
	if (rc == EXT2_ET_INLINE_DATA_CANT_ITERATE)
		return 0;
	if (r.stopped)
		return ut_err_set(err, "%s: %s: inode %llu: extent callback failed", fs->bd->path,
				  fs->info.type, (unsigned long long)src_b);
	if (rc) {
		char what[64];

		snprintf(what, sizeof(what), "inode %llu: block map", (unsigned long long)src_b);
		return ext_err(fs, p->fs, rc, err, what);
	}
	if (flush_run(&r) < 0)
		return ut_err_set(err, "%s: %s: inode %llu: extent callback failed", fs->bd->path,
				  fs->info.type, (unsigned long long)src_b);
	return 0;
}

const struct dr_fs_ops dr_ext2_ops = {
	.name = "ext2",
	.probe = ext_probe,
	.open = ext_open,
	.walk = ext_walk,
	.open_file = ext_open_file,
	.read_file = ext_read_file,
	.close_file = ext_close_file,
	.lookup = ext_lookup,
	.extents = ext_extents,
	.close = ext_close,
};

/* ---- for the block strategy (blockdiff) ---------------------------------- */

void *dr_fs_ext2_handle(struct dr_fs *fs)
{
	if (!fs || fs->ops != &dr_ext2_ops || !fs->priv)
		return NULL;
	return ((struct ext_priv *)fs->priv)->fs;
}

int dr_fs_ext2_walk_from(struct dr_fs *fs, uint64_t ino, const char *path, int recursive,
			 int (*cb)(void *ctx, struct ut_entry *e), void *ctx, struct ut_err *err)
{
	struct walk w = { .fs = fs, .cb = cb, .ctx = ctx, .err = err };
	struct ext_priv *p = fs->priv;
	struct ut_entry e = { 0 };
	int ret = -1, is_dir;

	if (!dr_fs_ext2_handle(fs))
		return ut_err_set(err, "%s: not an ext2/3/4 filesystem", fs->bd->path);
	if (ino < EXT2_ROOT_INO || ino > p->fs->super->s_inodes_count)
		return ut_err_set(err, "%s: %s: invalid inode %llu", fs->bd->path, fs->info.type,
				  (unsigned long long)ino);
	e.path = ut_strdup(path);
	if (fill_entry(fs, (ext2_ino_t)ino, &e, err) < 0) {
		ut_err_prefix(err, "/%s: ", path);
		goto out;
	}
	is_dir = e.type == UT_DIR;
	if (cb(ctx, &e) < 0)
		goto out;
	ret = 0;
	if (recursive && is_dir) {
		ino_set_add(&w.dirs, (uint32_t)ino);
		ret = walk_dir(&w, (ext2_ino_t)ino, path, 1);
	}
out:
	ut_entry_release(&e);
	free(w.dirs.v);
	return ret;
}
