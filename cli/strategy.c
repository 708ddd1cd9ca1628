/*
 * strategy.c - how convert finds the VM's tree: walking the whole disk
 * (file) or from the blocks changed since a template disk (block, through
 * blockdiff). Both give fsdiff the same tree, so the layer is the same.
 */
#include "blockdiff.h"
#include "cli.h"
#include "diskread.h"

#include <stdio.h>
#include <string.h>

static void block_reason(struct cli_strategy *s, struct dr_disk *disk)
{
	const struct bd_block_stats *b = &s->block;

	if (!strcmp(b->source, "lineage"))
		snprintf(s->reason, sizeof(s->reason),
			 "the %s disk is %d layer%s above the template in its backing chain: %llu changed bytes, %llu inodes to look at",
			 dr_blockdev_format(dr_disk_blockdev(disk)), b->depth, b->depth == 1 ? "" : "s",
			 (unsigned long long)b->changed_bytes, (unsigned long long)b->dirty_inodes);
	else
		snprintf(s->reason, sizeof(s->reason),
			 "the disk is a full copy of the template (same partitions and filesystems, no backing chain): its blocks hashed against the template's index, %llu changed bytes, %llu inodes to look at",
			 (unsigned long long)b->changed_bytes, (unsigned long long)b->dirty_inodes);
}

int cli_vm_tree(const char *requested, struct cli_base *base, struct dr_disk *disk,
		int threads, struct ut_tree **vm, struct cli_strategy *s, struct ut_err *err)
{
	memset(s, 0, sizeof(*s));
	s->requested = requested;
	s->used = "file";
	if (!strcmp(requested, "file")) {
		snprintf(s->reason, sizeof(s->reason), "asked for");
	} else if (dr_disk_count(disk) > 1) {
		snprintf(s->reason, sizeof(s->reason),
			 "the guest has %zu disks: the block strategy follows one disk's backing chain",
			 dr_disk_count(disk));
	} else if (!base->disk) {
		snprintf(s->reason, sizeof(s->reason),
			 "the block strategy needs a disk:TEMPLATE base to find changed blocks against");
	} else {
		struct bd_hash_set hashes;
		int r, depth;

		if (cli_base_tree(base, err) < 0)
			return ut_err_prefix(err, "base %s: ", base->spec);
		/* The template's block index only for a disk without lineage. */
		r = bd_lineage_find(dr_disk_blockdev(disk),
				    dr_blockdev_path(dr_disk_blockdev(base->disk)), &depth, err);
		if (r < 0)
			return -1;
		memset(&hashes, 0, sizeof(hashes));
		if (!r)
			cli_tcache_hashes(base->cache, &hashes);
		r = bd_block_tree(base->disk, base->tree, disk, r ? NULL : &hashes, threads, vm,
				  &s->block, s->reason, sizeof(s->reason), err);
		if (r > 0)
			cli_tcache_put_hashes(base->cache, &hashes);
		bd_hash_set_release(&hashes);
		if (r < 0)
			return -1;
		if (r > 0) {
			s->used = "block";
			block_reason(s, disk);
			return 0;
		}
		/* r == 0: the reason is why block cannot be exact. */
	}
	return dr_disk_tree(disk, 0, vm, err);
}

json_t *cli_strategy_json(const struct cli_strategy *s, struct dr_disk *disk)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "requested", s->requested, "used", s->used,
			      "reason", s->reason, "disk_bytes_read",
			      (json_int_t)dr_blockdev_bytes_read(dr_disk_blockdev(disk)));

	if (!strcmp(s->used, "block"))
		json_object_set_new(o, "block", json_pack("{s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			"source", s->block.source, "depth", s->block.depth,
			"lineage_bytes", (json_int_t)s->block.lineage_bytes,
			"hashed_bytes", (json_int_t)s->block.hashed_bytes,
			"template_hashed_bytes", (json_int_t)s->block.template_hashed_bytes,
			"changed_bytes", (json_int_t)s->block.changed_bytes,
			"dirty_inodes", (json_int_t)s->block.dirty_inodes,
			"dirty_paths", (json_int_t)s->block.dirty_paths,
			"entries_read", (json_int_t)s->block.entries_read));
	return o;
}
