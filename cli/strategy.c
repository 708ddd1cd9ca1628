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

int cli_vm_tree(const char *requested, struct cli_base *base, struct dr_disk *disk,
		struct ut_tree **vm, struct cli_strategy *s, struct ut_err *err)
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
		int r;

		if (cli_base_tree(base, err) < 0)
			return ut_err_prefix(err, "base %s: ", base->spec);
		r = bd_block_tree(base->disk, base->tree, disk, vm, &s->block, s->reason,
				  sizeof(s->reason), err);
		if (r < 0)
			return -1;
		if (r > 0) {
			s->used = "block";
			snprintf(s->reason, sizeof(s->reason),
				 "the %s disk is %d layer%s above the template in its backing chain: %llu changed bytes, %llu inodes to look at",
				 dr_blockdev_format(dr_disk_blockdev(disk)), s->block.depth,
				 s->block.depth == 1 ? "" : "s",
				 (unsigned long long)s->block.changed_bytes,
				 (unsigned long long)s->block.dirty_inodes);
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
		json_object_set_new(o, "block", json_pack("{s:i, s:I, s:I, s:I, s:I, s:I}",
			"depth", s->block.depth, "lineage_bytes", (json_int_t)s->block.lineage_bytes,
			"changed_bytes", (json_int_t)s->block.changed_bytes,
			"dirty_inodes", (json_int_t)s->block.dirty_inodes,
			"dirty_paths", (json_int_t)s->block.dirty_paths,
			"entries_read", (json_int_t)s->block.entries_read));
	return o;
}
